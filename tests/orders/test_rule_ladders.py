"""Escalation rules as ladders (levels, repeats, a group, a user or a channel) and the set-based facts the sweep
reads them with, on a moved clock against PostgreSQL (issue 13)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import selectors
from orders.models import (
    Alert,
    Notification,
    NotificationChannel,
    NotificationSettings,
    Order,
    OrderLine,
    Source,
    Status,
    StatusNode,
)
from orders.services.notify import alert_notifications_plan
from orders.services.notify_delivery import notifications_deliver_due
from orders.services.sweeps import alerts_resolve_stale, overdue_alerts_raise
from orders.services.transitions import order_transition
from rules.models import Rule
from rules.services import rule_save, rule_sentence
from tests.factories import SkuFactory, make_order, user_with_role
from tests.notify.peers import SMTPServer

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)  # the moved clock starts here
SHANGHAI = {"all": [{"fact": "province", "op": "eq", "value": "上海"}]}


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def placed(*, province: str = "上海", timeout: int = 60, **overrides) -> Order:
    """A placed order in `province` that entered its node at T0 and must leave it `timeout` minutes later."""
    address = {
        "receiver": "李四",
        "phone": "13912345678",
        "province": province,
        "city": "上海" if province == "上海" else "杭州",
        "district": "徐汇区",
        "detail": "漕溪北路 1 号",
    }
    order = make_order(shipping_address=address, **overrides)
    Order.objects.filter(pk=order.pk).update(state_entered_at=at(0), state_deadline=at(timeout))
    order.refresh_from_db()
    return order


@pytest.fixture(autouse=True)
def no_node_levels():
    """The placed node's own ladder is another test file's: here only rules escalate."""
    StatusNode.objects.get(status=Status.PLACED).escalations.all().delete()


@pytest.fixture
def boss_robot():
    return NotificationChannel.objects.create(
        name="老板钉钉机器人", kind=NotificationChannel.Kind.DINGTALK, url="http://127.0.0.1:9/robot"
    )


def rung(name: str, condition=SHANGHAI, **action) -> Rule:
    return rule_save(
        rule=Rule(kind="escalation", name=name, enabled=True, condition=condition, action=action), actor=None
    )


def rule_alerts(order) -> list[Alert]:
    return list(Alert.objects.filter(order=order, dedupe_key__contains=":rule").order_by("pk"))


def test_a_three_rung_rule_ladder_fires_each_rung_at_its_minute_repeats_and_stops_when_the_order_moves(boss_robot):
    lead = user_with_role("仓库", "cangku-lead")
    first = rung("上海超时 L1", level=1, after_minutes=30, group="运营主管")
    second = rung("上海超时 L2", level=2, after_minutes=60, user="cangku-lead")
    third = rung("上海超时 L3", level=3, after_minutes=120, channel="老板钉钉机器人", repeat_minutes=60)
    order = placed()  # deadline at minute 60
    other = placed(province="浙江")
    # before the first rung's minute: only the node owner's overdue alert
    overdue_alerts_raise(now=at(89))
    assert rule_alerts(order) == []
    # L1 at deadline + 30 min, to 运营主管, for the Shanghai order only
    overdue_alerts_raise(now=at(90))
    [l1] = rule_alerts(order)
    assert (l1.owner_group.name, l1.owner_user, l1.notify_channel, l1.severity) == ("运营主管", None, None, "critical")
    assert "L1" in l1.message and first.name in l1.message and order.number in l1.message
    assert rule_alerts(other) == []
    # L2 at deadline + 60 min, to the warehouse lead
    assert overdue_alerts_raise(now=at(119)).raised == 0
    overdue_alerts_raise(now=at(120))
    l2 = rule_alerts(order)[-1]
    assert (l2.owner_group, l2.owner_user, l2.notify_channel) == (None, lead, None) and "L2" in l2.message
    # L3 at deadline + 120 min, to the boss's robot, then again every 60 minutes
    assert overdue_alerts_raise(now=at(179)).raised == 0
    overdue_alerts_raise(now=at(180))
    l3 = rule_alerts(order)[-1]
    assert (l3.owner_group, l3.owner_user, l3.notify_channel) == (None, None, boss_robot)
    assert l3.dedupe_key.endswith(f":rule{third.pk}:R0")
    assert overdue_alerts_raise(now=at(239)).raised == 0  # within the interval
    overdue_alerts_raise(now=at(240))
    assert rule_alerts(order)[-1].dedupe_key.endswith(":R1")
    # no sweep ran for a while: only the latest repeat is sent, not the missed ones late
    assert overdue_alerts_raise(now=at(400)).raised == 1
    assert [a.dedupe_key.rsplit(":", 1)[1] for a in rule_alerts(order)[2:]] == ["R0", "R1", "R3"]
    assert rule_alerts(other) == []
    for rule, hits in ((first, 1), (second, 1), (third, 3)):
        rule.refresh_from_db()
        assert rule.hit_count == hits
    # the order moves on: its rule alerts close and the ladder stops
    order_transition(order=order, transition="pay", actor=None, source=Source.API)
    alerts_resolve_stale(now=at(401))
    assert all(a.resolved_at is not None for a in rule_alerts(order))
    overdue_alerts_raise(now=at(600))
    assert len(rule_alerts(order)) == 5


def test_a_rung_saved_before_ladders_keeps_its_key_and_fires_once():
    rule = rung("旧规则", after_minutes=40, group="管理员")
    assert rule.action == {"after_minutes": 40, "group": "管理员"}
    order = placed()
    overdue_alerts_raise(now=at(100))
    overdue_alerts_raise(now=at(1000))
    [alert] = rule_alerts(order)
    assert alert.dedupe_key.endswith(f":rule{rule.pk}") and alert.owner_group.name == "管理员"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"after_minutes": 30, "group": "不存在的组"}, "group '不存在的组' does not exist"),
        ({"after_minutes": 30, "user": "nobody-here"}, "user 'nobody-here' does not exist"),
        ({"after_minutes": 30, "channel": "没有这个机器人"}, "channel '没有这个机器人' does not exist"),
        ({"after_minutes": 30, "group": "", "user": ""}, "name a group, a user or a channel to notify"),
        ({"after_minutes": 30, "group": "运营主管", "level": 10}, "level must be a whole number from 1 to 9"),
        ({"after_minutes": 30, "group": "运营主管", "repeat_minutes": -5}, "repeat_minutes must be a whole number"),
    ],
)
def test_an_unknown_group_user_or_channel_is_refused_with_its_name_and_nothing_is_saved(action, expected):
    with pytest.raises(ValidationError) as refused:
        rung("坏规则", **action)
    assert any(expected in message for message in refused.value.message_dict["action"])
    assert not Rule.objects.exists()


def test_the_rules_sentence_names_level_targets_and_repeat(boss_robot):
    user_with_role("仓库", "cangku-lead")
    rule = rung(
        "上海超时 L3", level=3, after_minutes=120, group="运营主管", user="cangku-lead", channel="老板钉钉机器人",
        repeat_minutes=60,
    )  # fmt: skip
    assert rule_sentence(rule=rule) == (
        "省份 等于 上海 → L3 超时 120 分钟通知 运营主管、用户 cangku-lead、渠道 老板钉钉机器人，"
        "每 60 分钟重复直至订单离开该状态"
    )
    assert rule_sentence(rule=rule, lang="en").endswith(
        "L3 notify 运营主管, user cangku-lead, channel 老板钉钉机器人 after 120 min,"
        " again every 60 min until the order moves"
    )


def test_a_killed_rule_sweep_picks_up_where_it_stopped_and_fires_each_once():
    rung("上海超时", after_minutes=30, group="运营主管")
    orders = [placed() for _ in range(5)]
    overdue_alerts_raise(now=at(61))  # the owners' overdue alerts: no rule due yet
    # the node statements before the rules' part: one batch each when nothing of theirs is due
    before_rules = overdue_alerts_raise(now=at(62), batch=2).batches - 1
    # killed after the first batch of the rules' part
    first = overdue_alerts_raise(now=at(95), batch=2, max_batches=before_rules + 1)
    assert (first.raised, first.stopped) == (2, True)
    second = overdue_alerts_raise(now=at(96), batch=2)
    assert second.stopped is False and second.raised == 3
    assert [len(rule_alerts(o)) for o in orders] == [1] * 5
    assert overdue_alerts_raise(now=at(97)).raised == 0


def test_a_rung_to_a_channel_and_a_user_reaches_a_local_robot_and_the_persons_mailbox(httpserver, settings):
    httpserver.expect_request("/robot/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    robot = NotificationChannel.objects.create(
        name="仓库企微群", kind=NotificationChannel.Kind.WECOM, url=httpserver.url_for("/robot/send?key=k")
    )
    email = NotificationChannel.objects.create(name="邮件", kind=NotificationChannel.Kind.EMAIL)
    lead = user_with_role("仓库", "cangku-lead")
    NotificationSettings.objects.create(user=lead, email="lead@example.com").channels.add(email)
    rung("上海超时 L2", level=2, after_minutes=30, channel="仓库企微群")
    rung("上海超时 L3", level=3, after_minutes=60, user="cangku-lead")
    order = placed()
    with SMTPServer() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        overdue_alerts_raise(now=at(121))
        assert len(rule_alerts(order)) == 2
        alert_notifications_plan(now=at(122))
        notifications_deliver_due()
    bodies = [request.get_data(as_text=True) for request, _response in httpserver.log]
    assert len(bodies) == 1 and order.number in bodies[0] and "第 2 级" in bodies[0]
    assert Notification.objects.get(channel=robot).state == "sent"
    (mail,) = smtp.mails
    assert mail.recipients == ["lead@example.com"] and "第 3 级" in mail.data
    assert Notification.objects.get(channel=email).state == "sent"


def test_orders_facts_equal_order_facts_for_a_varied_batch():
    now = timezone.now()
    cream = SkuFactory(code="CREAM-9", name="面霜", category="护肤")
    vip = {"name": "王五", "phone": "13700000001", "member_level": "diamond"}
    repeat_buyer = [placed(buyer_id="buyer-vip", customer=vip) for _ in range(4)]  # one customer
    Order.objects.filter(pk=repeat_buyer[0].pk).update(ordered_at=now - timedelta(days=45))  # outside the window
    Order.objects.filter(pk=repeat_buyer[1].pk).update(ordered_at=now - timedelta(days=10))
    # the last two at one moment (the factory rounds to the second: under load two orders straddle one)
    Order.objects.filter(pk__in=[o.pk for o in repeat_buyer[2:]]).update(ordered_at=now - timedelta(days=1))
    gifted = placed(
        sku=cream,
        promo_code="618",
        tags=["加急"],
        is_presale=True,
        deposit_amount="50.00",
        customer={"name": "赵六", "phone": "13700000002", "member_level": "gold"},
    )
    OrderLine.objects.create(
        order=gifted, sku=SkuFactory(code="GIFT-1", name="小样"), quantity=1, unit_price="0.00", is_gift=True
    )
    elsewhere = placed(province="浙江")
    Order.objects.filter(pk=elsewhere.pk).update(created_at=now - timedelta(hours=30))  # not within 24 h
    paid = make_order()
    order_transition(order=paid, transition="pay", actor=None, source=Source.API)
    orders = list(Order.objects.select_related("channel", "customer").order_by("pk"))
    assert len(orders) == 7
    batch = selectors.orders_facts(orders=orders, now=now)
    singles = {o.pk: selectors.order_facts(order=o, now=now) for o in orders}
    assert batch == singles
    # the fixture varies what the batch counts and collects
    assert [batch[o.pk]["order_count_30d"] for o in repeat_buyer] == [1, 1, 3, 3]
    assert batch[gifted.pk]["order_count_30d"] == 1 and batch[gifted.pk]["member_level"] == "gold"
    # same receiver and address, created within 24 h: the five placed orders but the old one
    assert [batch[o.pk]["same_address_orders_24h"] for o in (*repeat_buyer, gifted, elsewhere, paid)] == [5] * 6 + [1]
    assert batch[gifted.pk]["presale"] is True and batch[gifted.pk]["promo_code"] == "618"
    assert batch[gifted.pk]["sku_codes"] == ["CREAM-9"] and batch[gifted.pk]["sku_categories"] == ["护肤"]
    with CaptureQueriesContext(connection) as ctx:
        selectors.orders_facts(orders=orders, now=now)
    assert len(ctx.captured_queries) == 2


def _sweep_statements(now) -> int:
    with CaptureQueriesContext(connection) as ctx:
        overdue_alerts_raise(now=now)
    return len(ctx.captured_queries)


def test_the_rule_sweeps_statement_count_is_the_same_for_5_and_50_due_orders(boss_robot):
    rung("上海超时 L1", level=1, after_minutes=30, group="运营主管")
    rung("上海超时 L2", level=2, after_minutes=30, channel="老板钉钉机器人", repeat_minutes=30)
    rung("浙江超时", condition={"all": [{"fact": "province", "op": "eq", "value": "浙江"}]}, after_minutes=30,
         group="管理员")  # fmt: skip
    for i in range(5):
        placed(province="浙江" if i % 2 else "上海")
    few = _sweep_statements(at(100))
    raised_few = Alert.objects.filter(dedupe_key__contains=":rule").count()
    assert raised_few == 3 * 2 + 2 * 1
    Alert.objects.all().delete()
    for i in range(45):
        placed(province="浙江" if i % 2 else "上海")
    many = _sweep_statements(at(100))
    assert Alert.objects.filter(dedupe_key__contains=":rule").count() == 26 * 2 + 24 * 1
    assert many == few
