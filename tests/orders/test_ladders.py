"""Escalation ladders, approval timeouts (审批滞留) and the set-based overdue sweep, on a moved clock (issue 13)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from orders.models import Alert, EscalationLevel, NotificationChannel, Order, Source, StaffProfile, Status, StatusNode
from orders.services.deadlines import deadline_enter, node_settings_forget
from orders.services.sweeps import alerts_resolve_stale, overdue_alerts_raise
from orders.services.transitions import order_transition
from rules.models import Rule
from rules.services import rule_save
from tests.factories import make_order, user_with_role
from tests.orders.test_status_node_admin import node_form

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)  # the moved clock starts here


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def placed(*, timeout: int = 60, entered: float = 0):
    """A placed order that entered its node at T0 + `entered` minutes and must leave it `timeout` minutes later
    (its deadline and ladder marks set as the lifecycle core sets them, on the placed node's clock)."""
    StatusNode.objects.filter(status=Status.PLACED).update(timeout_minutes=timeout)
    node_settings_forget()
    order = make_order()
    order.state_entered_at = at(entered)
    deadline_enter(order=order, from_status=Status.PLACED, now=at(entered))
    order.save(update_fields=["state_entered_at", "state_deadline", "deadline_basis"])
    assert order.state_deadline == at(entered + timeout)
    return order


@pytest.fixture
def ladder():
    """The placed node with no levels of its own: each test builds the ladder it needs."""
    node = StatusNode.objects.get(status=Status.PLACED)
    node.escalations.all().delete()
    return node


def escalations(order) -> list[Alert]:
    return list(Alert.objects.filter(order=order, dedupe_key__startswith="escalate:").order_by("pk"))


def test_level_by_minutes_fires_once_after_the_deadline_to_its_group(ladder):
    ops = Group.objects.get(name="运营主管")
    EscalationLevel.objects.create(node=ladder, level=1, after_minutes=30, notify_group=ops)
    order = placed(timeout=60)
    # at the deadline + 20 min: only the node owner's overdue alert
    assert overdue_alerts_raise(now=at(80)).raised == 1
    owner_alert = Alert.objects.get(order=order)
    assert owner_alert.owner_group.name == "客服" and owner_alert.dedupe_key.startswith("overdue:")
    assert escalations(order) == []
    # at the deadline + 31 min: level 1, critical, to 运营主管, with a history row and a timeline line
    assert overdue_alerts_raise(now=at(91)).raised == 1
    [level_alert] = escalations(order)
    assert (level_alert.owner_group, level_alert.severity, level_alert.created_at) == (ops, "critical", at(91))
    assert level_alert.history.count() == 1
    assert order.events.filter(kind="alert", data__alert_id=level_alert.pk).exists()
    assert order.number in level_alert.message
    # no repeat: later sweeps raise nothing
    assert overdue_alerts_raise(now=at(500)).raised == 0


def test_level_by_percent_fires_before_the_deadline_to_its_user(ladder):
    lead = user_with_role("仓库", "cangku-lead")
    EscalationLevel.objects.create(node=ladder, level=1, after_percent=50, notify_user=lead)
    order = placed(timeout=60)
    assert overdue_alerts_raise(now=at(29)).raised == 0
    assert overdue_alerts_raise(now=at(30)).raised == 1
    [alert] = escalations(order)
    assert alert.owner_user == lead and alert.owner_group is None
    assert "50%" in alert.message
    assert not Alert.objects.filter(order=order, dedupe_key__startswith="overdue:").exists()  # not late yet


def test_level_repeats_at_its_interval_until_the_order_moves(ladder):
    ops = Group.objects.get(name="运营主管")
    EscalationLevel.objects.create(node=ladder, level=1, after_minutes=0, repeat_minutes=30, notify_group=ops)
    order = placed(timeout=60)
    overdue_alerts_raise(now=at(65))
    assert [a.dedupe_key.rsplit(":", 1)[1] for a in escalations(order)] == ["R0"]
    assert overdue_alerts_raise(now=at(80)).raised == 0  # within the interval
    overdue_alerts_raise(now=at(95))
    assert [a.dedupe_key.rsplit(":", 1)[1] for a in escalations(order)] == ["R0", "R1"]
    # the order moves on (paid): its alerts close and the ladder stops
    order_transition(order=order, transition="pay", actor=None, source=Source.API)
    assert alerts_resolve_stale() == 3  # the overdue alert and both repeats
    assert all(a.resolved_at is not None for a in Alert.objects.filter(order=order, kind="node_overdue"))
    assert overdue_alerts_raise(now=at(300)).raised == 0
    assert len(escalations(order)) == 2


def test_a_new_stay_in_the_node_restarts_the_ladder(ladder, yunying):
    ops = Group.objects.get(name="运营主管")
    EscalationLevel.objects.create(node=ladder, level=1, after_minutes=10, notify_group=ops)
    order = placed(timeout=60)
    overdue_alerts_raise(now=at(75))
    [first] = escalations(order)
    # held and released: a new stay in 'placed'
    order_transition(order=order, transition="hold", actor=yunying, source=Source.ADMIN, reason="核对地址")
    order_transition(order=Order.objects.get(pk=order.pk), transition="release", actor=yunying, source=Source.ADMIN)
    order.refresh_from_db()
    assert order.status == Status.PLACED and order.state_entered_at > first.created_at
    alerts_resolve_stale()
    first.refresh_from_db()
    assert first.resolved_at is not None
    later = order.state_entered_at + timedelta(minutes=75)
    Order.objects.filter(pk=order.pk).update(state_deadline=order.state_entered_at + timedelta(minutes=60))
    assert overdue_alerts_raise(now=later).raised == 2  # the owner's alert and level 1 again, for this stay
    second = escalations(order)[-1]
    assert second.pk != first.pk and second.dedupe_key != first.dedupe_key and second.resolved_at is None


def test_level_to_a_channel_writes_the_alert_with_that_channel(ladder):
    robot = NotificationChannel.objects.create(
        name="老板钉钉机器人", kind=NotificationChannel.Kind.DINGTALK, url="http://127.0.0.1:9/robot"
    )
    EscalationLevel.objects.create(node=ladder, level=3, after_minutes=120, notify_channel=robot)
    order = placed(timeout=60)
    overdue_alerts_raise(now=at(181))
    [alert] = escalations(order)
    assert alert.notify_channel == robot and alert.owner_group is None and alert.owner_user is None


def test_acknowledged_alerts_are_not_raised_again(ladder, yunying):
    EscalationLevel.objects.create(
        node=ladder, level=1, after_minutes=0, notify_group=Group.objects.get(name="运营主管")
    )
    order = placed(timeout=60)
    overdue_alerts_raise(now=at(61))
    Alert.objects.filter(order=order).update(acknowledged_at=at(62), acknowledged_by=yunying)
    assert overdue_alerts_raise(now=at(120)).raised == 0


def test_a_killed_sweep_picks_up_where_it_stopped_and_fires_each_once(ladder):
    EscalationLevel.objects.create(
        node=ladder, level=1, after_minutes=0, notify_group=Group.objects.get(name="运营主管")
    )
    orders = [placed(timeout=60) for _ in range(5)]
    first = overdue_alerts_raise(now=at(70), batch=2, max_batches=1)
    assert (first.raised, first.stopped) == (2, True)
    second = overdue_alerts_raise(now=at(71), batch=2)
    assert second.stopped is False and first.raised + second.raised == 10  # 5 owner alerts + 5 level alerts
    for order in orders:
        keys = list(Alert.objects.filter(order=order).values_list("dedupe_key", flat=True))
        assert len(keys) == len(set(keys)) == 2
    assert overdue_alerts_raise(now=at(72)).raised == 0


def _statements(now) -> int:
    with CaptureQueriesContext(connection) as ctx:
        overdue_alerts_raise(now=now)
    return len(ctx.captured_queries)


def test_sweep_statement_count_does_not_grow_with_the_due_orders(ladder):
    ops = Group.objects.get(name="运营主管")
    EscalationLevel.objects.create(node=ladder, level=1, after_minutes=0, notify_group=ops)
    EscalationLevel.objects.create(node=ladder, level=2, after_percent=50, repeat_minutes=10, notify_group=ops)
    for _ in range(2):
        placed(timeout=60)
    few = _statements(at(70))
    assert Alert.objects.count() == 6
    for _ in range(12):
        placed(timeout=60, entered=60)
    many = _statements(at(130))
    assert Alert.objects.count() == 6 + 12 * 3 + 2  # 12 new orders × 3, and a repeat of level 2 for the first two
    assert many == few


def approval_rule(group: str, minutes: int = 120) -> Rule:
    return rule_save(
        rule=Rule(
            kind="approval",
            name="大额订单审批",
            enabled=True,
            condition={"all": [{"fact": "paid_amount", "op": "gt", "value": "1"}]},
            action={"group": group, "timeout_minutes": minutes},
        ),
        actor=None,
    )


def held_for_approval():
    order = make_order()
    order_transition(order=order, transition="pay", actor=None, source=Source.API)
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD
    waiting = Alert.objects.get(order=order, kind=Alert.Kind.APPROVAL_WAITING)
    return order, waiting


def stalled(order) -> list[Alert]:
    return list(Alert.objects.filter(order=order, kind=Alert.Kind.APPROVAL_OVERDUE))


def test_approval_waiting_past_its_time_goes_to_the_approvers_superior(client):
    approval_rule("客服", minutes=120)
    approver, boss = user_with_role("客服", "kefu-lead"), user_with_role("运营主管", "ops-director")
    StaffProfile.objects.create(user=approver, leads_group=Group.objects.get(name="客服"), superior=boss)
    order, waiting = held_for_approval()
    assert overdue_alerts_raise(now=waiting.created_at + timedelta(minutes=119)).raised == 0
    assert stalled(order) == []
    overdue_alerts_raise(now=waiting.created_at + timedelta(minutes=121))
    [alert] = stalled(order)
    assert alert.owner_user == boss and alert.owner_group is None and alert.severity == "critical"
    overdue_alerts_raise(now=waiting.created_at + timedelta(minutes=400))  # the on-hold node's own ladder may fire
    assert len(stalled(order)) == 1  # 审批滞留 once


def test_approval_without_superior_goes_to_the_on_hold_groups_lead_then_to_the_route():
    approval_rule("客服", minutes=60)
    ops_lead = user_with_role("运营主管", "ops-lead")
    StaffProfile.objects.create(user=ops_lead, leads_group=Group.objects.get(name="运营主管"))
    order, waiting = held_for_approval()
    overdue_alerts_raise(now=waiting.created_at + timedelta(minutes=61))
    assert stalled(order)[0].owner_user == ops_lead  # no lead of 客服, so no superior: the on-hold node's group lead
    StaffProfile.objects.all().delete()
    other, waiting = held_for_approval()
    overdue_alerts_raise(now=waiting.created_at + timedelta(minutes=61))
    [alert] = stalled(other)
    assert (alert.owner_group.name, alert.owner_user) == ("运营主管", None)  # the approval_overdue route


def test_approval_overdue_shows_on_list_filter_order_page_and_home_then_clears_when_released(client, yunying):
    approval_rule("运营主管", minutes=120)
    order, waiting = held_for_approval()
    calm = make_order()
    # held 130 minutes ago (the clock moved back, so that the release below comes after the sweep)
    Order.objects.filter(pk=order.pk).update(state_entered_at=F("state_entered_at") - timedelta(minutes=130))
    Alert.objects.filter(pk=waiting.pk).update(created_at=F("created_at") - timedelta(minutes=130))
    overdue_alerts_raise()
    client.force_login(yunying)
    with translation.override("zh-hans"):
        label = translation.gettext("Approval overdue")
    assert label == "审批滞留"
    listed = client.get(reverse("admin:orders_order_changelist"), {"approval_overdue": "yes"}).content.decode()
    assert order.number in listed and calm.number not in listed and "oh-approval-overdue" in listed
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "oh-approval-overdue" in page
    assert (
        "oh-approval-overdue" not in client.get(reverse("admin:orders_order_change", args=[calm.pk])).content.decode()
    )
    home = client.get(reverse("admin:index")).content.decode()
    counter = home.split('id="approval-overdue"')[1].split("</p>")[0]
    assert "1 " in counter and "approval_overdue=yes" in counter
    # released by the approver: the order moves, 审批滞留 clears
    order_transition(order=order, transition="release", actor=yunying, source=Source.ADMIN)
    alerts_resolve_stale()
    listed = client.get(reverse("admin:orders_order_changelist"), {"approval_overdue": "yes"}).content.decode()
    assert order.number not in listed
    assert "0 " in client.get(reverse("admin:index")).content.decode().split('id="approval-overdue"')[1][:200]


def level_form(node: StatusNode, **level) -> dict:
    return node_form(node, **{"after_minutes": "", **level})


def test_manager_saves_a_percent_level_that_repeats_and_is_refused_minutes_and_percent_together(
    client, yunying, ladder
):
    client.force_login(yunying)
    url = reverse("admin:orders_statusnode_change", args=[ladder.pk])
    ops = str(Group.objects.get(name="运营主管").pk)
    response = client.post(url, level_form(ladder, after_minutes="30", after_percent="50", notify_group=ops))
    assert response.status_code == 200
    with translation.override("zh-hans"):
        expected = translation.gettext(
            "Fill in either the minutes after the deadline or the share of the allowed time, not both."
        )
    assert expected in response.content.decode() and not ladder.escalations.exists()
    response = client.post(url, level_form(ladder, after_percent="50", repeat_minutes="30", notify_group=ops))
    assert response.status_code == 302
    level = ladder.escalations.get()
    assert (level.after_minutes, level.after_percent, level.repeat_minutes) == (None, 50, 30)


def test_customer_service_sees_ladder_levels_and_staff_profiles_without_editing(client, kefu, ladder):
    robot = NotificationChannel.objects.create(
        name="仓库企微群", kind=NotificationChannel.Kind.WECOM, url="http://127.0.0.1:9/"
    )
    EscalationLevel.objects.create(node=ladder, level=1, after_percent=80, notify_channel=robot)
    client.force_login(kefu)
    html = client.get(reverse("admin:orders_statusnode_change", args=[ladder.pk])).content.decode()
    assert "仓库企微群" in html and 'name="escalations-0-after_percent"' not in html
    assert client.get(reverse("admin:orders_staffprofile_changelist")).status_code == 403  # 运营主管 configures


def test_manager_sets_a_superior_in_the_staff_profile_admin_with_history(client, yunying):
    approver, boss = user_with_role("客服", "kefu-a"), user_with_role("运营主管", "boss-a")
    client.force_login(yunying)
    response = client.post(
        reverse("admin:orders_staffprofile_add"),
        {"user": str(approver.pk), "superior": str(boss.pk), "leads_group": ""},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    profile = StaffProfile.objects.get(user=approver)
    assert profile.superior == boss and profile.history.get().history_user == yunying
