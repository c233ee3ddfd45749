"""A channel reporting an order again updates it through the lifecycle (channel_order_take), never a second one."""

from decimal import Decimal

import pytest

from orders.drafts import ChannelEvent
from orders.models import AddressChange, Alert, Order, OrderEvent, Source, Status
from orders.services.channel_intake import Outcome
from orders.services.transitions import order_transition
from tests.channels.reports import channel_no, later, report, take
from tests.factories import CarrierFactory, SkuFactory, order_payload
from warehouse.models import StockLock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

PAY = [("pay", {})]
ALLOCATE = [*PAY, ("start_allocation", {}), ("allocate", {})]
PRINT = [*ALLOCATE, ("print_label", {"carrier": "shunfeng", "tracking_number": "SF7770001"})]
PICK_UP = [*PRINT, ("pick_up", {})]
DELIVERED = [*PICK_UP, ("transit", {}), ("deliver", {})]


def placed(no: str, **kwargs) -> Order:
    result = take(report(no, **kwargs))
    assert result.outcome == Outcome.CREATED, result
    return result.order


def moved(no: str, steps, **kwargs) -> Order:
    """A paid order moved through `steps` (paid by the channel's first report)."""
    order = placed(no, paid="198.00", **kwargs)
    CarrierFactory()
    sources = {"pick_up": Source.CARRIER, "print_label": Source.SCAN, "transit": Source.CARRIER}
    sources["deliver"] = Source.CARRIER
    for name, changes in steps[1:] if steps and steps[0][0] == "pay" else steps:
        order = order_transition(
            order=order, transition=name, actor=None, source=sources.get(name, Source.SYSTEM), changes=changes
        )
    return order


def new_events(order: Order, before: int) -> list[OrderEvent]:
    return list(order.events.order_by("id")[before:])


def test_identical_report_again_is_unchanged_and_writes_nothing():
    no = channel_no()
    order = placed(no)
    before = (order.events.count(), order.history.count())
    again = take(report(no))
    assert again.outcome == Outcome.UNCHANGED and again.order.pk == order.pk
    assert (order.events.count(), order.history.count()) == before
    assert Order.objects.filter(channel_order_no=no).count() == 1


def test_changed_items_buyer_and_time_update_the_same_order_never_a_conflict():
    no = channel_no()
    order = placed(no)
    SkuFactory(code="SAMPLE-3")
    before = order.events.count()
    changed = report(
        no,
        modified=later(5),
        lines=(("MASK-001", 3, "99.00"), ("SAMPLE-3", 1, "10.00")),
        buyer_id="buyer-1b",
        ordered_at=later(-2),
    )
    result = take(changed)
    assert result.outcome == Outcome.UPDATED, result
    assert Order.objects.filter(channel_order_no=no).count() == 1
    order.refresh_from_db()
    lines = sorted((line.sku.code, line.quantity) for line in order.lines.all())
    assert lines == [("MASK-001", 3), ("SAMPLE-3", 1)]
    assert (order.subtotal, order.buyer_id, order.ordered_at) == (Decimal("307.00"), "buyer-1b", later(-2))
    assert order.channel_modified_at == later(5)
    # ONE timeline event naming the channel
    (event,) = new_events(order, before)
    assert "tmall" in event.actor_label and event.source == Source.WEBHOOK
    assert "SAMPLE-3 × 1" in event.reason and "2 → 3" in event.reason
    # the same report again changes nothing (the fingerprint follows the new content)
    assert take(changed).outcome == Outcome.UNCHANGED


def test_removed_item_before_allocation_is_dropped():
    no = channel_no()
    SkuFactory(code="SAMPLE-3")
    order = placed(no, lines=(("MASK-001", 2, "99.00"), ("SAMPLE-3", 1, "10.00")))
    assert take(report(no, modified=later(1))).outcome == Outcome.UPDATED
    order.refresh_from_db()
    assert [line.sku.code for line in order.lines.all()] == ["MASK-001"] and order.subtotal == Decimal("198.00")


def test_older_report_after_a_newer_one_changes_nothing():
    no = channel_no()
    order = placed(no, modified=later(0))
    assert take(report(no, modified=later(10), detail="文三路 300 号")).outcome == Outcome.UPDATED
    before = (order.events.count(), order.history.count())
    stale = take(report(no, modified=later(5), detail="文三路 200 号", event=ChannelEvent.CANCELLED))
    assert stale.outcome == Outcome.STALE and "过期" in stale.reason
    order.refresh_from_db()
    assert order.address_detail == "文三路 300 号" and order.status == Status.PLACED
    assert order.channel_modified_at == later(10)
    assert (order.events.count(), order.history.count()) == before
    # equal time, identical content: unchanged
    assert take(report(no, modified=later(10), detail="文三路 300 号")).outcome == Outcome.UNCHANGED


def test_paid_report_goes_through_the_payment_service_with_one_line_naming_the_channel():
    no = channel_no()
    order = placed(no)
    assert order.status == Status.PLACED
    before = order.events.count()
    result = take(report(no, event=ChannelEvent.PAID, paid="198.00", modified=later(3)))
    assert result.outcome == Outcome.UPDATED and result.reason
    order.refresh_from_db()
    assert (order.status, order.payment_status, order.payment_reference) == (Status.PAID, "paid", f"trade-{no}")
    events = new_events(order, before)
    assert [e.kind for e in events] == [OrderEvent.Kind.NOTE, OrderEvent.Kind.TRANSITION]  # 收款, then 'pay'
    assert all(e.actor_label == "tmall" and e.source == Source.WEBHOOK for e in events)


def test_presale_arrives_twice_deposit_then_balance():
    no = channel_no()
    first = take(report(no, presale_deposit="50.00", paid="50.00"))
    assert first.outcome == Outcome.CREATED
    order = first.order
    order.refresh_from_db()
    assert (order.status, order.payment_status) == (Status.PLACED, Order.PaymentStatus.DEPOSIT_PAID)
    balance = take(report(no, presale_deposit="50.00", paid="198.00", event=ChannelEvent.PAID, modified=later(60)))
    assert balance.outcome == Outcome.UPDATED
    order.refresh_from_db()
    assert (order.status, order.payment_status, order.paid_amount) == (Status.PAID, "paid", Decimal("198.00"))


def test_paid_report_with_a_wrong_amount_holds_the_order():
    no = channel_no()
    order = placed(no)
    take(report(no, event=ChannelEvent.PAID, paid="150.00", modified=later(1)))
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD and "金额不符" in order.status_reason


@pytest.mark.parametrize("steps", [[], PAY, ALLOCATE], ids=["placed", "paid", "allocated"])
def test_refund_request_holds_for_refund_review_where_the_order_can_be_held(steps):
    no = channel_no()
    order = moved(no, steps) if steps else placed(no)
    status_before = order.status
    before = order.events.count()
    result = take(report(no, event=ChannelEvent.REFUND_REQUESTED, reason="不想要了", modified=later(30)))
    assert result.outcome == Outcome.UPDATED and result.reason
    order.refresh_from_db()
    assert (order.status, order.hold_kind, order.resume_status) == (Status.ON_HOLD, "refund", status_before)
    assert "退款审核" in order.status_reason and "不想要了" in order.status_reason
    (event,) = new_events(order, before)
    assert event.transition == "hold" and event.actor_label == "tmall" and "天猫旗舰店" in event.reason
    # reported again: no second hold, no alert
    again = take(report(no, event=ChannelEvent.REFUND_REQUESTED, reason="不想要了", modified=later(31)))
    assert again.outcome == Outcome.UNCHANGED and not Alert.objects.filter(order=order).exists()
    # releasing it is the normal release
    order = order_transition(order=order, transition="release", actor=None, source=Source.ADMIN)
    assert order.status == status_before and order.hold_kind == ""


@pytest.mark.parametrize("steps", [PRINT, PICK_UP], ids=["printed", "picked_up"])
def test_refund_request_with_the_carrier_alerts_customer_service_to_intercept(steps):
    no = channel_no()
    order = moved(no, steps)
    status = order.status
    result = take(report(no, event=ChannelEvent.REFUND_REQUESTED, reason="拍错了", modified=later(30)))
    assert result.outcome == Outcome.UPDATED
    order.refresh_from_db()
    assert order.status == status
    alert = Alert.objects.get(order=order)
    assert alert.owner_group.name == "客服"
    assert order.number in alert.message and "SF7770001" in alert.message and "退款申请" in alert.message
    assert order.events.filter(kind=OrderEvent.Kind.ALERT, reason__contains="退款申请").count() == 1
    take(report(no, event=ChannelEvent.REFUND_REQUESTED, reason="拍错了", modified=later(31)))
    assert Alert.objects.filter(order=order).count() == 1  # one open alert, not one per report


@pytest.mark.parametrize("steps", [[], PAY, ALLOCATE, PRINT], ids=["placed", "paid", "allocated", "printed"])
def test_cancel_report_cancels_with_the_platforms_reason_and_releases_stock(steps):
    no = channel_no()
    order = moved(no, steps) if steps else placed(no)
    result = take(report(no, event=ChannelEvent.CANCELLED, reason="买家取消", modified=later(30)))
    assert result.outcome == Outcome.UPDATED and result.reason
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    assert "买家取消" in order.status_reason and "天猫旗舰店" in order.status_reason
    assert not StockLock.objects.filter(order=order, state=StockLock.State.ACTIVE).exists()
    event = order.events.get(transition="cancel")
    assert event.actor_label == "tmall" and event.source == Source.WEBHOOK
    # reported again: nothing more
    assert take(report(no, event=ChannelEvent.CANCELLED, modified=later(31))).outcome == Outcome.UNCHANGED


def test_cancel_report_of_a_parcel_with_the_carrier_alerts_instead():
    no = channel_no()
    order = moved(no, PICK_UP)
    take(report(no, event=ChannelEvent.CANCELLED, reason="买家取消", modified=later(30)))
    order.refresh_from_db()
    assert order.status == Status.PICKED_UP
    alert = Alert.objects.get(order=order)
    assert "渠道已取消" in alert.message and order.number in alert.message and "SF7770001" in alert.message


def test_first_report_already_cancelled_creates_and_cancels():
    result = take(report(channel_no(), event=ChannelEvent.CANCELLED, reason="超时关闭"))
    assert result.outcome == Outcome.CREATED
    result.order.refresh_from_db()
    assert result.order.status == Status.CANCELLED


def test_new_address_follows_the_address_change_rules_before_the_label():
    no = channel_no()
    order = moved(no, ALLOCATE)
    before = order.events.count()
    result = take(report(no, city="苏州", detail="平江路 8 号", receiver_phone="139****0000", modified=later(9)))
    assert result.outcome == Outcome.UPDATED
    order.refresh_from_db()
    # allocated: a person's change is applied at this status, so is the channel's (masked phone kept as given)
    assert (order.city, order.address_detail, order.receiver_phone) == ("苏州", "平江路 8 号", "139****0000")
    assert order.status == Status.ALLOCATED
    change = AddressChange.objects.get(order=order)
    assert change.state == AddressChange.State.APPLIED and change.old_address["city"] == "杭州"
    (event,) = new_events(order, before)
    assert "shipping_address.city" in event.reason and "tmall" in event.actor_label


def test_new_address_after_the_label_is_an_intercept():
    no = channel_no()
    order = moved(no, PRINT)
    take(report(no, detail="平江路 8 号", modified=later(9)))
    order.refresh_from_db()
    assert order.status == Status.EXCEPTION and "拦截改址" in order.status_reason
    assert order.address_detail == "文三路 100 号"
    assert AddressChange.objects.get(order=order).state == AddressChange.State.INTERCEPT
    assert Alert.objects.filter(order=order, message__contains="SF7770001").count() == 1
    # the same report again: no second change, no error
    assert take(report(no, detail="平江路 8 号", modified=later(10))).outcome != Outcome.REJECTED
    assert AddressChange.objects.filter(order=order).count() == 1


def test_new_lines_after_allocation_are_held_for_review():
    no = channel_no()
    order = moved(no, ALLOCATE)
    result = take(report(no, lines=(("MASK-001", 5, "99.00"),), modified=later(9)))
    assert result.outcome == Outcome.UPDATED and result.reason
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD and order.lines.get().quantity == 2


def test_paid_and_new_address_in_one_report_does_both():
    no = channel_no()
    order = placed(no)
    before = order.events.count()
    take(report(no, event=ChannelEvent.PAID, paid="198.00", detail="文三路 200 号", modified=later(2)))
    order.refresh_from_db()
    assert (order.status, order.address_detail) == (Status.PAID, "文三路 200 号")
    kinds = [(e.kind, e.transition) for e in new_events(order, before)]
    assert kinds == [(OrderEvent.Kind.NOTE, ""), (OrderEvent.Kind.NOTE, ""), (OrderEvent.Kind.TRANSITION, "pay")]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"lines": (("NOPE-1", 1, "1.00"),)}, "unknown_sku", "lines"),
        ({"buyer_phone": "12345"}, "invalid_field", "customer.phone"),
        ({"receiver_phone": "1381234"}, "invalid_field", "shipping_address.phone"),
        ({"lines": ()}, "invalid_field", "lines"),
    ],
)
def test_bad_report_is_rejected_with_a_reason_and_nothing_written(changes, code, field):
    no = channel_no()
    result = take(report(no, **changes))
    assert result.outcome == Outcome.REJECTED and result.code == code and result.reason
    assert result.extra["field"] == field
    assert not Order.objects.filter(channel_order_no=no).exists()


def test_bad_update_of_an_existing_order_changes_nothing():
    no = channel_no()
    order = placed(no)
    result = take(report(no, lines=(("NOPE-1", 1, "1.00"),), modified=later(4)))
    assert result.outcome == Outcome.REJECTED
    order.refresh_from_db()
    assert order.channel_modified_at is None or order.channel_modified_at < later(4)


def test_an_order_taken_by_the_api_is_updated_by_its_channels_report(api):
    payload = order_payload(channel_order_no=channel_no())
    response = api.post("/api/v1/orders/", payload, format="json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    # the platform's own report has another buyer id and time: the API would call that a conflict, the channel
    # report is an update of the same order
    result = take(report(payload["channel_order_no"], buyer_id="tm-9", detail="文三路 500 号", modified=later(1)))
    assert result.outcome == Outcome.UPDATED and result.order.pk == order.pk
    order.refresh_from_db()
    assert (order.buyer_id, order.address_detail) == ("tm-9", "文三路 500 号")
    assert Order.objects.filter(channel_order_no=payload["channel_order_no"]).count() == 1


@pytest.mark.parametrize(
    ("event", "words"),
    [(ChannelEvent.REFUND_REQUESTED, "退款申请"), (ChannelEvent.CANCELLED, "渠道已取消")],
    ids=["refund", "cancel"],
)
def test_refund_or_cancel_of_a_delivered_order_alerts_and_changes_nothing(event, words):
    no = channel_no()
    order = moved(no, DELIVERED)
    assert order.status == Status.DELIVERED
    result = take(report(no, event=event, reason="七天无理由", modified=later(30)))
    assert result.outcome == Outcome.UPDATED
    order.refresh_from_db()
    assert order.status == Status.DELIVERED
    alert = Alert.objects.get(order=order)
    assert words in alert.message and order.number in alert.message and alert.owner_group.name == "客服"


def test_paid_report_of_a_cancelled_order_is_not_recorded_but_put_in_front_of_a_person():
    no = channel_no()
    order = placed(no)
    order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="客服取消")
    result = take(report(no, event=ChannelEvent.PAID, paid="198.00", modified=later(5)))
    assert result.outcome == Outcome.UPDATED
    order.refresh_from_db()
    assert (order.status, order.payment_status, order.paid_amount) == (Status.CANCELLED, "unpaid", Decimal("0"))
    assert Alert.objects.filter(order=order, message__contains="paid_amount").count() == 1
