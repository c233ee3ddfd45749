"""Channel replays (same fingerprint) whose content differs are never dropped."""

from decimal import Decimal

import pytest

from orders.models import Alert, Order, OrderEvent, Source
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, order_payload
from warehouse.models import StockLock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

URL = "/api/v1/orders/"


def post(api, payload):
    response = api.post(URL, payload, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def step(order: Order, *steps) -> Order:
    for name, changes in steps:
        order = order_transition(order=order, transition=name, actor=None, source=Source.SYSTEM, changes=changes)
    return order


ALLOCATE = [("pay", {}), ("start_allocation", {}), ("allocate", {"warehouse": "SH01"})]


def three_masks(payload: dict) -> dict:
    return dict(payload, lines=[{"sku": "MASK-001", "quantity": 3, "unit_price": "99.00"}])


def test_order_create_identical_replay_stays_duplicate_and_changes_nothing(api):
    payload = order_payload(promo_code="DOUBLE11", tags=["vip"])
    created = post(api, payload)
    order = Order.objects.get(number=created["number"])
    before = (order.events.count(), order.history.count(), order.lines.get().history.count())
    body = post(api, payload)
    assert body["duplicate"] is True
    assert (body["differences"], body["updated"], body["held"], body["flagged"]) == ([], [], False, False)
    assert (order.events.count(), order.history.count(), order.lines.get().history.count()) == before


def test_order_create_replay_with_changed_quantity_before_allocation_updates_with_one_event(api):
    payload = order_payload()
    created = post(api, payload)
    order = Order.objects.get(number=created["number"])
    events_before = order.events.count()
    changed = dict(three_masks(payload), shipping_address=dict(payload["shipping_address"], detail="文三路 200 号"))
    body = post(api, changed)
    # then the order now says what the channel says, and the caller is told what changed
    assert body["duplicate"] is True and body["held"] is False
    assert body["updated"] == ["lines[0].quantity", "subtotal", "shipping_address.detail"]
    assert {"field": "subtotal", "old": "198.00", "new": "297.00"} in body["differences"]
    order.refresh_from_db()
    line = order.lines.get()
    assert (line.quantity, order.subtotal, order.address_detail) == (3, Decimal("297.00"), "文三路 200 号")
    # ONE timeline event listing old → new, and history rows for the order and its line
    assert order.events.count() == events_before + 1
    event = order.events.last()
    assert event.kind == OrderEvent.Kind.NOTE and "2 → 3" in event.reason and "198.00 → 297.00" in event.reason
    assert [d["field"] for d in event.data["replay_update"]] == body["updated"]
    assert line.history.first().quantity == 3 and line.history.count() == 2
    assert order.history.first().history_change_reason.startswith("channel replay")
    assert not StockLock.objects.filter(order=order).exists()  # nothing is locked before allocation
    # the same changed replay again is now identical
    assert post(api, changed)["updated"] == []


def test_order_create_replay_with_changed_quantity_of_paid_order_updates_and_holds_for_amount(api):
    payload = order_payload(paid_at="2026-11-22T10:00:00+08:00")
    created = post(api, payload)
    assert created["status"] == "paid"
    body = post(api, three_masks(payload))
    assert body["updated"] == ["lines[0].quantity", "subtotal"]
    assert body["held"] is True and body["status"] == "on_hold"
    assert (
        "金额不符" in body["status_reason"] and "297.00" in body["status_reason"] and "198.00" in body["status_reason"]
    )


def test_order_create_replay_after_allocation_holds_with_differences(api):
    payload = order_payload()
    created = post(api, payload)
    order = step(Order.objects.get(number=created["number"]), *ALLOCATE)
    assert order.status == "allocated"
    body = post(api, three_masks(payload))
    assert body["duplicate"] is True and body["held"] is True and body["updated"] == []
    assert body["status"] == "on_hold" and body["differences"][0] == {
        "field": "lines[0].quantity",
        "old": "2",
        "new": "3",
    }
    order.refresh_from_db()
    assert order.lines.get().quantity == 2 and order.resume_status == "allocated"  # not changed, locks stand
    assert StockLock.objects.get(order=order, state="active").quantity == 2
    assert "lines[0].quantity: 2 → 3" in order.status_reason
    note = order.events.get(kind=OrderEvent.Kind.NOTE, data__has_key="replay_digest")
    assert note.data["differences"] == body["differences"]
    # the same replay again records nothing new
    events = order.events.count()
    again = post(api, three_masks(payload))
    assert again["held"] is True and order.events.count() == events


def test_order_create_replay_after_label_printed_raises_alert_and_keeps_the_order(api):
    CarrierFactory()
    payload = order_payload()
    created = post(api, payload)
    order = step(
        Order.objects.get(number=created["number"]),
        *ALLOCATE,
        ("print_label", {"carrier": "shunfeng", "tracking_number": "SF1400000002"}),
    )
    changed = dict(payload, shipping_address=dict(payload["shipping_address"], city="宁波"))
    body = post(api, changed)
    assert (body["status"], body["held"], body["flagged"]) == ("printed", False, True)
    alert = Alert.objects.get(order=order)
    assert "杭州 → 宁波" in alert.message and alert.owner_group.name == "客服"
    assert order.events.filter(kind=OrderEvent.Kind.ALERT).count() == 1
    post(api, changed)
    assert Alert.objects.filter(order=order).count() == 1


def test_order_create_replay_with_paid_at_of_order_verified_by_hand_records_the_time(api):
    payload = order_payload()
    created = post(api, payload)
    order = step(Order.objects.get(number=created["number"]), ("pay", {}))
    assert order.paid_at is None
    body = post(api, dict(payload, paid_at="2026-11-22T10:00:00+08:00"))
    assert (body["status"], body["held"], body["payment_recorded"]) == ("paid", False, True)
    order.refresh_from_db()
    assert order.paid_at.isoformat() == "2026-11-22T02:00:00+00:00"


def test_order_create_replay_with_other_amount_of_paid_order_holds_for_review(api):
    payload = order_payload(paid_at="2026-11-22T10:00:00+08:00")
    post(api, payload)
    body = post(api, dict(payload, paid_amount="150.00"))
    assert (body["status"], body["held"]) == ("on_hold", True)
    assert body["differences"] == [{"field": "paid_amount", "old": "198.00", "new": "150.00"}]
    assert Order.objects.get(number=body["number"]).paid_amount == Decimal("198.00")  # a verified payment stays
