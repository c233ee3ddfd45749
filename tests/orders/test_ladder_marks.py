"""Ladder levels "at % of the allowed time" counted in the node's own clock, on a moved clock (issue 13): their
moments are set on entering the node (working time where the node counts it), survive a pause without double
counting, repeat, and are found by the sweep through the order's ladder row, which it advances."""

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from orders.calendar import TZ
from orders.models import Alert, EscalationLevel, NodeClock, OrderLadder, Status, StatusNode
from orders.services.deadlines import deadline_enter, ladder_levels_forget
from orders.services.sweeps import overdue_alerts_raise
from tests.factories import make_order
from tests.orders.test_deadlines import calendar_with, node_set
from tests.orders.test_ladders import level_form

pytestmark = pytest.mark.django_db


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def level(status: str, percent: int, *, repeat: int = 0, number: int = 5) -> EscalationLevel:
    node = StatusNode.objects.get(status=status)
    created = EscalationLevel.objects.create(
        node=node,
        level=number,
        after_percent=percent,
        repeat_minutes=repeat,
        notify_group=Group.objects.get(name="运营主管"),
    )
    ladder_levels_forget()  # as the node admin does on saving its ladder
    return created


def enter(order, to_status: str, now: datetime):
    """What the lifecycle core does on a transition at a chosen instant, saved."""
    from_status, order.status = order.status, to_status
    order.state_entered_at = now
    deadline_enter(order=order, from_status=from_status, now=now)
    order.save()
    return order


def fired(order, lv: EscalationLevel) -> list[str]:
    """The keys of the level's alerts on the order, oldest first."""
    alerts = Alert.objects.filter(order=order, dedupe_key__contains=f":L{lv.pk}:").order_by("pk")
    return list(alerts.values_list("dedupe_key", flat=True))


def test_a_percent_level_on_a_working_time_node_fires_at_the_working_time_moment_across_the_weekend():
    calendar_with("总部", default=True)  # Mon–Fri 09:00–18:00
    node_set(Status.ALLOCATED, timeout_minutes=480, clock=NodeClock.WORKING)
    half = level(Status.ALLOCATED, 50)
    order = make_order()
    order.status = Status.ALLOCATING
    enter(order, Status.ALLOCATED, at(2026, 11, 20, 17))  # Friday 17:00: 1 h left today, then Monday
    assert order.state_deadline == at(2026, 11, 23, 16)
    assert order.deadline_basis["marks"] == {str(half.pk): {"at": at(2026, 11, 23, 12).isoformat(), "percent": 50}}
    assert OrderLadder.objects.get(order=order).next_at == at(2026, 11, 23, 12)

    overdue_alerts_raise(now=at(2026, 11, 20, 21, 30))  # clock time would say half the time is gone
    overdue_alerts_raise(now=at(2026, 11, 23, 11, 59))
    assert fired(order, half) == []
    assert overdue_alerts_raise(now=at(2026, 11, 23, 12)).raised == 1  # Monday 12:00: 4 working hours gone
    [key] = fired(order, half)
    assert key.endswith(":R0") and "50%" in Alert.objects.get(dedupe_key=key).message
    assert not OrderLadder.objects.filter(order=order).exists()  # nothing left to fire in this stay
    assert overdue_alerts_raise(now=at(2026, 11, 23, 12, 30)).raised == 0


def test_a_percent_level_skips_the_national_day_holiday():
    calendar_with("总部", default=True)
    node_set(Status.ALLOCATED, timeout_minutes=120, clock=NodeClock.WORKING)
    most = level(Status.ALLOCATED, 75)  # 90 working minutes: 1 h on 30 September, 30 min after the holiday
    order = make_order()
    order.status = Status.ALLOCATING
    enter(order, Status.ALLOCATED, at(2026, 9, 30, 17))
    overdue_alerts_raise(now=at(2026, 10, 5, 12))
    assert fired(order, most) == []
    overdue_alerts_raise(now=at(2026, 10, 8, 9, 30))
    assert len(fired(order, most)) == 1


def test_after_a_pause_a_passed_mark_is_not_fired_again_and_the_next_continues_from_the_time_left():
    node_set(Status.ALLOCATED, timeout_minutes=240, clock=NodeClock.CLOCK, pause_states=[Status.ON_HOLD])
    node_set(Status.ON_HOLD, timeout_minutes=120)
    quarter, most = level(Status.ALLOCATED, 25), level(Status.ALLOCATED, 75, number=6)
    t0 = at(2026, 11, 16, 9)
    order = make_order()
    order.status = Status.ALLOCATING
    enter(order, Status.ALLOCATED, t0)
    overdue_alerts_raise(now=t0 + timedelta(minutes=61))  # 25 % of 240 min: 60 min
    assert len(fired(order, quarter)) == 1 and fired(order, most) == []

    enter(order, Status.ON_HOLD, t0 + timedelta(minutes=90))  # paused with 150 minutes left
    overdue_alerts_raise(now=t0 + timedelta(minutes=200))  # 75 % would have come at 180 min in clock time
    assert fired(order, most) == []

    resumed = t0 + timedelta(minutes=390)
    enter(order, Status.ALLOCATED, resumed)
    assert order.state_deadline == resumed + timedelta(minutes=150)
    assert set(order.deadline_basis["marks"]) == {str(most.pk)}  # 25 % passed before the pause
    overdue_alerts_raise(now=resumed + timedelta(minutes=1))
    overdue_alerts_raise(now=resumed + timedelta(minutes=89))
    assert len(fired(order, quarter)) == 1 and fired(order, most) == []  # no second 25 % in the resumed stay
    overdue_alerts_raise(now=resumed + timedelta(minutes=90))  # 180 − 90 minutes used before the pause
    assert len(fired(order, most)) == 1
    assert overdue_alerts_raise(now=resumed + timedelta(minutes=91)).raised == 0


def test_a_percent_level_repeats_at_its_interval_and_a_missed_repeat_is_not_sent_late():
    node_set(Status.ALLOCATED, timeout_minutes=60, clock=NodeClock.CLOCK)
    half = level(Status.ALLOCATED, 50, repeat=10)
    t0 = at(2026, 11, 16, 9)
    order = make_order()
    order.status = Status.ALLOCATING
    enter(order, Status.ALLOCATED, t0)
    overdue_alerts_raise(now=t0 + timedelta(minutes=30))
    assert overdue_alerts_raise(now=t0 + timedelta(minutes=35)).raised == 0
    assert OrderLadder.objects.get(order=order).next_at == t0 + timedelta(minutes=40)
    overdue_alerts_raise(now=t0 + timedelta(minutes=41))
    assert overdue_alerts_raise(now=t0 + timedelta(minutes=41)).raised == 0
    overdue_alerts_raise(now=t0 + timedelta(minutes=75))  # R2 and R3 were never swept: only the latest, R4
    assert [key.rsplit(":", 1)[1] for key in fired(order, half)] == ["R0", "R1", "R4"]
    assert OrderLadder.objects.get(order=order).next_at == t0 + timedelta(minutes=80)


def test_a_killed_sweep_of_percent_levels_resumes_and_fires_each_mark_once():
    node_set(Status.ALLOCATED, timeout_minutes=60, clock=NodeClock.CLOCK)
    half = level(Status.ALLOCATED, 50)
    t0 = at(2026, 11, 16, 9)
    orders = []
    for _ in range(5):
        order = make_order()
        order.status = Status.ALLOCATING
        orders.append(enter(order, Status.ALLOCATED, t0))
    # batches: overdue (none due), levels by minutes (none due), then levels by percent, 2 orders a batch
    first = overdue_alerts_raise(now=t0 + timedelta(minutes=31), batch=2, max_batches=3)
    assert (first.raised, first.stopped) == (2, True)
    second = overdue_alerts_raise(now=t0 + timedelta(minutes=32), batch=2)
    assert second.stopped is False and first.raised + second.raised == 5
    assert all(len(fired(order, half)) == 1 for order in orders)
    assert not OrderLadder.objects.exists()
    assert overdue_alerts_raise(now=t0 + timedelta(minutes=33)).raised == 0


def test_a_level_changed_later_applies_to_stays_that_start_after_it():
    node_set(Status.ALLOCATED, timeout_minutes=60, clock=NodeClock.CLOCK)
    half = level(Status.ALLOCATED, 50)
    t0 = at(2026, 11, 16, 9)
    early = make_order()
    early.status = Status.ALLOCATING
    enter(early, Status.ALLOCATED, t0)
    half.after_percent = 90
    half.save()
    ladder_levels_forget()
    late = make_order()
    late.status = Status.ALLOCATING
    enter(late, Status.ALLOCATED, t0)
    overdue_alerts_raise(now=t0 + timedelta(minutes=31))
    assert (len(fired(early, half)), len(fired(late, half))) == (1, 0)
    overdue_alerts_raise(now=t0 + timedelta(minutes=54))
    assert (len(fired(early, half)), len(fired(late, half))) == (1, 1)
    assert "90%" in Alert.objects.get(dedupe_key=fired(late, half)[0]).message


def test_a_percent_level_saved_in_the_node_admin_applies_to_the_next_order_entering_the_node(client, yunying):
    node = node_set(Status.ALLOCATED, timeout_minutes=60, clock=NodeClock.CLOCK)
    t0 = at(2026, 11, 16, 9)
    before = make_order()
    before.status = Status.ALLOCATING
    enter(before, Status.ALLOCATED, t0)  # this process has read the node's (no) percent levels
    assert "marks" not in before.deadline_basis
    client.force_login(yunying)
    ops = str(Group.objects.get(name="运营主管").pk)
    response = client.post(
        reverse("admin:orders_statusnode_change", args=[node.pk]),
        level_form(node, after_percent="50", notify_group=ops),
    )
    assert response.status_code == 302
    after = make_order()
    after.status = Status.ALLOCATING
    enter(after, Status.ALLOCATED, t0)
    [saved] = node.escalations.filter(after_percent=50)
    half_of_the_new_timeout = (t0 + timedelta(minutes=45)).isoformat()  # the form also set 90 minutes
    assert after.deadline_basis["marks"] == {str(saved.pk): {"at": half_of_the_new_timeout, "percent": 50}}
    overdue_alerts_raise(now=t0 + timedelta(minutes=45))
    assert (fired(before, saved), len(fired(after, saved))) == ([], 1)
