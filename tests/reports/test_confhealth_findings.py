"""配置健康度报告: every kind of finding against a hand-built configuration with known answers, a clean configuration
with none, and the rules' hits per day counted by real rule evaluations and summed over 30 days across a month edge."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders.models import (
    EscalationLevel,
    MessageTemplate,
    NotificationChannel,
    NotificationGroupRoute,
    NotificationSettings,
    StatusNode,
)
from reports.selectors.confhealth import config_health_findings, rule_findings
from reports.services.confhealth import config_health_report_build
from reports.services.settings import report_settings
from rules.models import RuleDayHits
from rules.services import Decision, rules_decide, rules_record
from tests.factories import ChannelFactory, make_order, user_with_role
from tests.reports.confhealth_config import clean_config, cmp, rule, template_sent

SH = ZoneInfo("Asia/Shanghai")


def findings_now():
    now = timezone.now()
    return config_health_findings(now=now, today=timezone.localdate(now), rarely_below=5)


def pairs(findings) -> set[tuple[str, str]]:
    return {(f.kind, f.fix_url) for f in findings}


def numbers(text: str) -> list[int]:
    return sorted(int(n) for n in re.findall(r"\d+", text))


def rule_url(r) -> str:
    return reverse("admin:rules_rule_change", args=[r.pk])


def node_url(status: str) -> str:
    return reverse("admin:orders_statusnode_change", args=[StatusNode.objects.get(status=status).pk])


def hits(r, n: int, days_ago: int = 1) -> None:
    RuleDayHits.objects.create(rule=r, day=timezone.localdate() - timedelta(days=days_ago), hits=n)


def test_a_clean_configuration_has_no_finding(db):
    clean_config()
    MessageTemplate.objects.create(key="status:paid", body="订单 {order_number} 已付款")
    template_sent("status:paid", timezone.now() - timedelta(days=3))
    assert findings_now() == []
    report = config_health_report_build()
    assert report.findings_count == 0 and report.findings.count() == 0


def test_every_kind_of_finding_with_known_answers(db):
    people = clean_config()
    # rules: hits per day of the last 30 days
    big = rule("大额", {"all": [cmp("paid_amount", "gte", "1000")]}, position=10, stop_after_match=True)
    hits(big, 10)
    vip = rule("超大额VIP", {"all": [cmp("paid_amount", "gte", "5000"), cmp("member_level", "eq", "vip")]}, position=20)
    small = rule("小额", {"all": [cmp("paid_amount", "lt", "100")]}, position=30)
    hits(small, 3)
    hits(small, 40, days_ago=30)  # the 31st day back: not counted
    gift_big = rule("大额赠品", {"all": [cmp("paid_amount", "gte", "1000")]}, kind="gift", position=10)
    hits(gift_big, 10)
    gift_vip = rule("VIP赠品", {"all": [cmp("member_level", "eq", "vip")]}, kind="gift", position=20)
    hits(gift_vip, 6)
    off = rule("停用规则", {"all": [cmp("presale", "is_true")]}, enabled=False)
    # an escalation rule naming a group with no active member (采购 has nobody here)
    escalate = rule(
        "采购升级", {"all": [cmp("hours_since_paid", "gt", "48")]}, kind="escalation", action={"group": "采购"}
    )
    hits(escalate, 5)
    # status nodes: 已揽收 without owner and timeout
    StatusNode.objects.filter(status="picked_up").update(owner_group=None, timeout_minutes=None)
    # escalation levels: an inactive user; a group with nobody; a channel that reaches (no finding)
    gone = user_with_role("客服", "gone")
    gone.is_active = False
    gone.save()
    robot = NotificationChannel.objects.create(name="仓库群", kind="wecom", url="http://127.0.0.1:9/robot")
    paid, allocated = StatusNode.objects.get(status="paid"), StatusNode.objects.get(status="allocated")
    EscalationLevel.objects.create(node=paid, level=1, after_minutes=30, notify_user=gone)
    purchasing = Group.objects.get(name="采购")
    EscalationLevel.objects.create(node=allocated, level=1, after_minutes=30, notify_group=purchasing)
    EscalationLevel.objects.create(node=allocated, level=2, after_minutes=90, notify_channel=robot)
    # people: 财务 + 仓库 (confirm payments and ship) and 客服 + 仓库 (overlap only)
    both = user_with_role("财务", "caiwu-cangku")
    both.groups.add(Group.objects.get(name="仓库"))
    two = user_with_role("客服", "kefu-cangku")
    two.groups.add(Group.objects.get(name="仓库"))
    # channels: tmall has an order today, the old one none in 90 days; an inactive one is not reported
    make_order()
    old = ChannelFactory(code="old-shop", name="旧店铺")
    ChannelFactory(code="closed", name="已关店", is_active=False)
    # message templates: one never sent, one sent 10 days ago, the default alert text used by an alert kind
    # without its own template
    never = MessageTemplate.objects.create(key="status:printed", body="订单 {order_number} 已打单")
    MessageTemplate.objects.create(key="status:paid", body="订单 {order_number} 已付款")
    template_sent("status:paid", timezone.now() - timedelta(days=10))
    MessageTemplate.objects.create(key="alert:*", body="{message}")
    template_sent("alert:stock_shortfall", timezone.now() - timedelta(days=2))
    stale = MessageTemplate.objects.create(key="status:delivered", body="订单 {order_number} 已签收")
    template_sent("status:delivered", timezone.now() - timedelta(days=91))
    # notification channels: one nobody routes to, one by a group route, one by a person, one switched off
    boss = NotificationChannel.objects.create(name="老板钉钉", kind="dingtalk", url="http://127.0.0.1:9/boss")
    routed = NotificationChannel.objects.create(name="运营群", kind="wecom", url="http://127.0.0.1:9/ops")
    NotificationGroupRoute.objects.create(group=Group.objects.get(name="运营主管"), channel=routed)
    mail = NotificationChannel.objects.create(name="邮件", kind="email")
    NotificationSettings.objects.create(user=people["客服"]).channels.add(mail)
    NotificationChannel.objects.create(name="旧机器人", kind="wecom", url="http://127.0.0.1:9/x", is_active=False)

    found = findings_now()

    user_url = lambda u: reverse("admin:auth_user_change", args=[u.pk])  # noqa: E731
    assert pairs(found) == {
        ("rule_shadowed", rule_url(vip)),
        ("rule_never_hit", rule_url(vip)),
        ("rule_rarely_hit", rule_url(small)),
        ("rule_overlap", rule_url(gift_vip)),
        ("rule_disabled", rule_url(off)),
        ("escalation_rule_nobody", rule_url(escalate)),
        ("node_no_owner", node_url("picked_up")),
        ("node_no_timeout", node_url("picked_up")),
        ("escalation_nobody", node_url("paid")),
        ("escalation_nobody", node_url("allocated")),
        ("user_duty_conflict", user_url(both)),
        ("user_groups_overlap", user_url(two)),
        ("channel_idle", reverse("admin:orders_channel_change", args=[old.pk])),
        ("template_unsent", reverse("admin:orders_messagetemplate_change", args=[never.pk])),
        ("template_unsent", reverse("admin:orders_messagetemplate_change", args=[stale.pk])),
        ("notify_channel_unused", reverse("admin:orders_notificationchannel_change", args=[boss.pk])),
    }
    assert len(found) == 16
    by_kind = {f.kind: f for f in found}
    assert numbers(by_kind["rule_rarely_hit"].what) == [3, 5, 30]
    assert "大额" in by_kind["rule_shadowed"].what
    escalations = {f.fix_url: f.what for f in found if f.kind == "escalation_nobody"}
    assert "gone" in escalations[node_url("paid")]
    assert "采购" in escalations[node_url("allocated")]
    assert "财务" in by_kind["user_duty_conflict"].what and "仓库" in by_kind["user_duty_conflict"].what
    assert "orders.pay_order" in by_kind["user_duty_conflict"].what

    # stored as rows of one report, in the same order
    report = config_health_report_build()
    assert report.findings_count == 16
    assert list(report.findings.values_list("kind", "fix_url")) == [(f.kind, f.fix_url) for f in found]


def test_a_group_reaches_somebody_through_a_robot_route_and_a_superuser_is_no_overlap(db):
    clean_config()
    purchasing = Group.objects.get(name="采购")
    robot = NotificationChannel.objects.create(name="采购群", kind="wecom", url="http://127.0.0.1:9/p")
    NotificationGroupRoute.objects.create(group=purchasing, channel=robot)
    EscalationLevel.objects.create(
        node=StatusNode.objects.get(status="allocated"), level=1, after_minutes=5, notify_group=purchasing
    )
    boss = user_with_role("财务", "boss")
    boss.groups.add(Group.objects.get(name="仓库"))
    boss.is_superuser = True
    boss.save()
    assert findings_now() == []
    # the robot switched off: the level now reaches nobody, and the channel is no longer counted as routed
    NotificationChannel.objects.filter(pk=robot.pk).update(is_active=False)
    assert {f.kind for f in findings_now()} == {"escalation_nobody"}


def test_an_order_in_the_window_keeps_a_channel_busy_and_one_older_than_90_days_does_not(db):
    clean_config()
    order = make_order()
    assert findings_now() == []
    type(order).objects.filter(pk=order.pk).update(ordered_at=timezone.now() - timedelta(days=91))
    assert {f.kind for f in findings_now()} == {"channel_idle"}


# --- the rules' hits per day, counted by the rules service ----------------------------------------------------


FACTS = {"paid_amount": Decimal("1500"), "member_level": "vip"}


def local(y, m, d, hh, mm) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_day_hits_are_counted_by_rule_evaluation_per_local_day_and_summed_over_30_days_across_a_month_edge(db):
    big = rule("大额", {"all": [cmp("paid_amount", "gte", "1000")]}, position=10)
    rule("从不命中", {"all": [cmp("paid_amount", "lt", "10")]}, position=20)
    # given: real evaluations through the rules service, on both sides of midnight Asia/Shanghai at a month edge
    for at in (local(2026, 10, 31, 23, 50), local(2026, 10, 31, 23, 59), local(2026, 11, 1, 0, 5)):
        decisions, failures = rules_decide(kinds=("tag",), facts=FACTS, at=at)
        assert [d.rule_name for d in decisions] == ["大额"] and failures == []
    rules_decide(kinds=("tag",), facts=FACTS, at=local(2026, 11, 30, 12, 0))
    # then: one row per rule per local day (16:05 UTC on Oct 31 is Nov 1 in Shanghai)
    assert dict(RuleDayHits.objects.filter(rule=big).values_list("day", "hits")) == {
        date(2026, 10, 31): 2,
        date(2026, 11, 1): 1,
        date(2026, 11, 30): 1,
    }
    big.refresh_from_db()
    assert big.hit_count == 4

    def hits_30d(today: date) -> dict[str, str]:
        return {f.subject.split(" · ")[-1]: f.kind for f in rule_findings(today=today, rarely_below=5)}

    # the 30 days up to Nov 29 are Oct 31 … Nov 29: the 3 hits on both sides of the month edge (rarely hit)
    assert hits_30d(date(2026, 11, 29)) == {"大额": "rule_rarely_hit", "从不命中": "rule_never_hit"}
    assert rarely_hits(date(2026, 11, 29)) == [3, 5, 30]
    # up to Nov 30 they are Nov 1 … Nov 30: Oct 31 has left the window, Nov 30 came in
    assert rarely_hits(date(2026, 11, 30)) == [2, 5, 30]
    # up to Dec 1: Nov 2 … Dec 1, only the Nov 30 hit
    assert rarely_hits(date(2026, 12, 1)) == [1, 5, 30]
    # with a threshold of 1, one hit is not rare; by Jan 1 nothing is left in the window
    assert "大额" not in {f.subject.split(" · ")[-1] for f in rule_findings(today=date(2026, 12, 1), rarely_below=1)}
    assert hits_30d(date(2027, 1, 1)) == {"大额": "rule_never_hit", "从不命中": "rule_never_hit"}


def rarely_hits(today: date) -> list[int]:
    found = rule_findings(today=today, rarely_below=5)
    return numbers(next(f.what for f in found if f.kind == "rule_rarely_hit"))


def test_a_batch_of_decisions_is_one_upsert_of_day_rows(db):
    first = rule("一", {"all": [cmp("paid_amount", "gte", "1")]})
    second = rule("二", {"all": [cmp("paid_amount", "gte", "2")]})
    at = timezone.now()
    decisions = [Decision(r.pk, r.name, 1, "tag", {}) for r in (first, second, first, second, first)]
    rules_record(decisions=decisions, failures=[], at=at)
    with CaptureQueriesContext(connection) as queries:
        rules_record(decisions=decisions, failures=[], at=at)
    day_statements = [q["sql"] for q in queries.captured_queries if "rules_ruledayhits" in q["sql"]]
    assert len(day_statements) == 1 and day_statements[0].startswith("INSERT")
    assert dict(RuleDayHits.objects.values_list("rule__name", "hits")) == {"一": 6, "二": 4}


@pytest.mark.parametrize("threshold,expected", [(1, set()), (4, {"rule_rarely_hit"})])
def test_the_rarely_hit_threshold_comes_from_the_settings(db, threshold, expected):
    r = rule("三次", {"all": [cmp("paid_amount", "gte", "1")]})
    hits(r, 3)
    settings = report_settings()
    settings.rarely_hit_below = threshold
    settings.save()
    report = config_health_report_build()
    assert set(report.findings.filter(fix_url=rule_url(r)).values_list("kind", flat=True)) == expected
