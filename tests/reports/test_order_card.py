"""The per-order health card (订单健康卡) on the order page (issue 15), against a hand-built order history with
known answers: two steps over their node timeout (one by less than the 15-minute grace), a hold and a release by
客服 beside a system hold, a carrier gap of 30 h beside shorter ones, two notifications of this order beside one of
another; a clean order says so; the deadlines and hold kinds of past stays from the order's history rows (a working-time
node, a hold that pauses the clock); seven statements whatever the history."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from logistics.models import Shipment, TrackingEvent
from orders.models import Notification, NotificationChannel, Order, OrderEvent, Source, Status, StatusNode
from orders.services.timeline import EDITABLE_FIELDS, actor_display
from reports.selectors import order_card as selectors
from reports.selectors.order_card import order_card
from reports.services.settings import report_settings
from tests.factories import CarrierFactory, make_order, user_with_role

pytestmark = pytest.mark.django_db

CARD_STATEMENTS = 7


def node(status: str, minutes: int | None, pauses=()) -> None:
    StatusNode.objects.update_or_create(
        status=status,
        defaults={"timeout_minutes": minutes, "clock": "clock", "pause_states": list(pauses), "customer_label": status},
    )


def event(
    order: Order, at, *, kind=OrderEvent.Kind.TRANSITION, actor=None, source=Source.ADMIN, **fields
) -> OrderEvent:
    row = OrderEvent.objects.create(
        order=order, kind=kind, actor=actor, actor_label=actor_display(actor, "system"), source=source, **fields
    )
    OrderEvent.objects.filter(pk=row.pk).update(created_at=at)
    return row


def move(order, at, from_status, to_status, transition, actor=None, reason=""):
    return event(
        order, at, transition=transition, from_status=from_status, to_status=to_status, actor=actor, reason=reason
    )


@pytest.fixture
def history(kefu):
    """One order's whole life, minute by minute (t0 = two days ago)."""
    t0 = timezone.now() - timedelta(hours=48)
    node(Status.PLACED, None)
    node(Status.PAID, 60)
    node(Status.ON_HOLD, None)
    node(Status.ALLOCATING, 30)
    node(Status.ALLOCATED, 120)
    node(Status.PRINTED, 240, pauses=[Status.EXCEPTION])
    node(Status.IN_TRANSIT, None)
    order = make_order()
    OrderEvent.objects.filter(order=order).delete()  # the intake's own lines: replaced by the history below
    t = t0
    event(order, t, kind=OrderEvent.Kind.CREATED)
    move(order, t := t + timedelta(minutes=10), Status.PLACED, Status.PAID, "pay")
    # paid for 90 min against 60: a breakpoint of 30 min; 客服 holds it to ask the buyer, then releases it
    move(order, t := t + timedelta(minutes=90), Status.PAID, Status.ON_HOLD, "hold", kefu, "问买家地址")
    move(order, t := t + timedelta(minutes=30), Status.ON_HOLD, Status.PAID, "release", kefu, "买家已确认")
    move(order, t := t + timedelta(minutes=5), Status.PAID, Status.ALLOCATING, "start_allocation")
    # 40 min against 30: over by 10, inside the 15-minute grace
    move(order, t := t + timedelta(minutes=40), Status.ALLOCATING, Status.ALLOCATED, "allocate")
    # a hold by the system (a rule) is not a person's intervention; on hold 20 min, back to allocated
    move(order, t := t + timedelta(minutes=20), Status.ALLOCATED, Status.ON_HOLD, "hold", None, "规则审批")
    move(order, t := t + timedelta(minutes=20), Status.ON_HOLD, Status.ALLOCATED, "release", None)
    event(order, t, kind=OrderEvent.Kind.RULE, reason="赠品规则命中")
    # a channel's change through its API account is the channel's report, not a person's intervention
    api = user_with_role("系统对接")
    event(order, t, kind=OrderEvent.Kind.NOTE, actor=api, source=Source.API, data={"priority": {"old": 0, "new": 2}})
    move(order, t := t + timedelta(minutes=50), Status.ALLOCATED, Status.PRINTED, "print_label")
    # printed: 200 min, then an exception (a pause state of 'printed') for 100 min, then 30 more: 230 < 240
    move(order, t := t + timedelta(minutes=200), Status.PRINTED, Status.EXCEPTION, "flag_exception")
    move(order, t := t + timedelta(minutes=100), Status.EXCEPTION, Status.PRINTED, "resolve_exception")
    move(order, t := t + timedelta(minutes=30), Status.PRINTED, Status.PICKED_UP, "pick_up")
    move(order, t := t + timedelta(minutes=60), Status.PICKED_UP, Status.IN_TRANSIT, "transit")
    Order.objects.filter(pk=order.pk).update(status=Status.IN_TRANSIT, state_deadline=None, state_entered_at=t)
    order.refresh_from_db()

    carrier = CarrierFactory(name="顺丰")
    parcel = Shipment.objects.create(
        order=order, channel=order.channel, carrier=carrier, tracking_number="SF7001", parcel_index=1
    )
    scans = [t0 + timedelta(hours=h) for h in (10, 12, 42, 46)]  # 2 h, 30 h (a gap), 4 h
    for i, when in enumerate(scans):
        TrackingEvent.objects.create(
            shipment=parcel, occurred_at=when, description=f"扫描 {i}", fingerprint=f"f{i}", received_via="poll"
        )
    Shipment.objects.filter(pk=parcel.pk).update(last_event_at=scans[-1])  # 2 h ago: no open gap

    sms = NotificationChannel.objects.create(name="短信网关", kind="sms", url="http://127.0.0.1:9/sms")
    mail = NotificationChannel.objects.create(name="邮件", kind="email")
    other = make_order()
    for key, target, channel, state in (
        ("a", order, sms, Notification.State.SENT),
        ("b", order, mail, Notification.State.FAILED),
        ("c", other, sms, Notification.State.SENT),
    ):
        Notification.objects.create(
            order=target,
            channel=channel,
            recipient="13800138000",
            title=f"发货通知 {key}",
            state=state,
            next_attempt_at=t0,
            dedupe_key=f"card-{key}",
        )
    report_settings()  # the row exists, as on any running site
    return order, t0


def test_card_of_a_hand_built_history_has_the_known_answers(history, kefu, django_assert_num_queries):
    order, t0 = history
    with django_assert_num_queries(CARD_STATEMENTS):
        card = order_card(order=order, now=t0 + timedelta(hours=48))
    assert card.grace_minutes == 15 and card.gap_hours == 24
    # only 'paid' (30 min over); 'allocating' 10 over is within the grace; 'printed' paused for the exception
    assert [(b.status, b.over_minutes, b.allowed_minutes) for b in card.breakpoints] == [(Status.PAID, 30, 60)]
    assert card.breakpoints[0].entered_at == t0 + timedelta(minutes=10)
    assert card.breakpoints[0].left_at == t0 + timedelta(minutes=100)
    assert [(i.kind, i.actor, i.reason) for i in card.interventions] == [
        ("hold", kefu.get_username(), "问买家地址"),
        ("release", kefu.get_username(), "买家已确认"),
    ]
    assert [(g.tracking_number, g.hours, g.since, g.until) for g in card.gaps] == [
        ("SF7001", 30, t0 + timedelta(hours=12), t0 + timedelta(hours=42))
    ]
    assert card.stalls == []
    assert [(n.channel, n.state) for n in card.notifications] == [("短信网关", "sent"), ("邮件", "failed")]
    assert not card.is_clean


def test_a_larger_grace_or_a_paused_clock_drops_the_breakpoint(history):
    order, t0 = history
    settings = report_settings()
    settings.breakpoint_grace_minutes = 30  # "by more than": 30 over is not more than 30
    settings.save()
    assert order_card(order=order, now=t0 + timedelta(hours=48)).breakpoints == []
    settings.breakpoint_grace_minutes = 5  # now the allocating step (10 over) is one too
    settings.save()
    card = order_card(order=order, now=t0 + timedelta(hours=48))
    assert [(b.status, b.over_minutes) for b in card.breakpoints] == [(Status.PAID, 30), (Status.ALLOCATING, 10)]
    # 'paid' pausing for a hold: the time before the hold (90) and after it (5) add up, 95 against 60
    node(Status.PAID, 60, pauses=[Status.ON_HOLD])
    card = order_card(order=order, now=t0 + timedelta(hours=48))
    assert [(b.status, b.over_minutes) for b in card.breakpoints] == [(Status.PAID, 35), (Status.ALLOCATING, 10)]


def test_the_current_step_counts_against_the_deadline_it_entered_with_and_stalls_and_open_gaps_show(
    history, django_assert_num_queries
):
    order, t0 = history
    now = t0 + timedelta(hours=48)
    Order.objects.filter(pk=order.pk).update(state_deadline=now - timedelta(minutes=16))
    Shipment.objects.filter(order=order).update(
        last_event_at=now - timedelta(hours=25), stalled_since=now - timedelta(hours=1)
    )
    order.refresh_from_db()
    with django_assert_num_queries(CARD_STATEMENTS):
        card = order_card(order=order, now=now)
    current = card.breakpoints[-1]
    assert (current.status, current.left_at, current.over_minutes) == (Status.IN_TRANSIT, None, 16)
    assert [(g.hours, g.until) for g in card.gaps] == [(30, t0 + timedelta(hours=42)), (25, None)]
    assert [s.since for s in card.stalls] == [now - timedelta(hours=1)]


def test_a_clean_order_says_so_in_the_same_statements(django_assert_num_queries):
    order = make_order()
    report_settings()
    with django_assert_num_queries(CARD_STATEMENTS):
        card = order_card(order=order)
    assert card.is_clean and card.notifications == []


def test_edit_keys_are_the_timeline_services_editable_fields():
    assert selectors.EDIT_KEYS == EDITABLE_FIELDS


def test_order_page_shows_the_card_to_customer_service(client, history, kefu):
    order, _ = history
    client.force_login(kefu)
    with translation.override("zh-hans"):
        html = client.get(
            reverse("admin:orders_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
        ).content.decode()
    assert 'id="oh-health-card"' in html and "订单健康卡" in html
    assert 'data-over="30"' in html and "问买家地址" in html and "SF7001" in html and "短信网关" in html
    assert 'id="oh-card-clean"' not in html


def test_order_page_of_a_clean_order_says_so(client, kefu):
    order = make_order()
    client.force_login(kefu)
    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'id="oh-card-clean"' in html


def saved(order: Order, at, status: str, *, deadline=None, hold_kind: str = "") -> None:
    """The order's history row as the lifecycle saves it on entering a status, a moment before its timeline line."""
    order.status, order.state_deadline, order.hold_kind = status, deadline, hold_kind
    order.save()
    row = order.history.latest()
    Order.history.filter(history_id=row.history_id).update(history_date=at - timedelta(milliseconds=3))


def test_past_stays_count_against_the_deadline_and_hold_kind_their_history_rows_kept(kefu, django_assert_num_queries):
    t0 = timezone.now() - timedelta(hours=48)
    node(Status.PLACED, None)
    node(Status.PAID, 60, pauses=["hold:customer"])  # waiting for the customer stops the clock
    StatusNode.objects.update_or_create(
        status=Status.ALLOCATING, defaults={"timeout_minutes": 30, "clock": "working", "customer_label": "分仓"}
    )
    order = make_order()
    OrderEvent.objects.filter(order=order).delete()
    event(order, t0, kind=OrderEvent.Kind.CREATED)
    move(order, t0 + timedelta(minutes=10), Status.PLACED, Status.PAID, "pay")
    # paid 40 min, held for the customer 30 min (its history row says which kind), back in paid 40 min: 80 of 60
    saved(order, t0 + timedelta(minutes=50), Status.ON_HOLD, hold_kind=Order.HoldKind.CUSTOMER)
    move(order, t0 + timedelta(minutes=50), Status.PAID, Status.ON_HOLD, "hold", kefu, "等买家回复")
    move(order, t0 + timedelta(minutes=80), Status.ON_HOLD, Status.PAID, "release", kefu)
    # allocating counts working time: its deadline, 2 h after entering (a lunch break), is in its history row
    saved(order, t0 + timedelta(minutes=120), Status.ALLOCATING, deadline=t0 + timedelta(minutes=240))
    move(order, t0 + timedelta(minutes=120), Status.PAID, Status.ALLOCATING, "start_allocation")
    move(order, t0 + timedelta(minutes=300), Status.ALLOCATING, Status.ALLOCATED, "allocate")
    Order.objects.filter(pk=order.pk).update(status=Status.ALLOCATED, state_deadline=None, hold_kind="")
    order.refresh_from_db()
    report_settings()
    with django_assert_num_queries(CARD_STATEMENTS):
        card = order_card(order=order, now=t0 + timedelta(hours=48))
    assert [(b.status, b.over_minutes, b.deadline) for b in card.breakpoints] == [
        (Status.PAID, 20, t0 + timedelta(minutes=100)),  # entered again at +80 with 20 of its 60 minutes left
        (Status.ALLOCATING, 60, t0 + timedelta(minutes=240)),
    ]
