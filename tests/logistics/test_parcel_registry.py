"""The parcel registry is the one record of an order's tracking numbers: registered as soon as a number exists,
retired (not deleted) when the order is re-routed or cancelled, read through logistics.selectors."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.exceptions import ApplicationError
from logistics.models import Shipment
from logistics.selectors import orders_with_tracking_number, primary_parcel
from logistics.services import shipment_register, waybill_reserve
from orders import selectors
from orders.models import Order, Source, Status
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, WarehouseFactory
from tests.warehouse.fulfilment import allocated_order, printed_order

pytestmark = pytest.mark.usefixtures("stocked")


def test_number_given_at_allocation_is_registered_before_printing():
    # when: the warehouse order is created with its carrier and number (as a channel- or hand-given number)
    order = allocated_order(tracking_number="SF5100000001")
    # then: the registry holds it while the order is still 'allocated', as its primary parcel
    parcel = primary_parcel(order=order)
    assert order.status == Status.ALLOCATED
    assert (parcel.tracking_number, parcel.carrier.code, parcel.parcel_index, parcel.is_active) == (
        "SF5100000001",
        "shunfeng",
        1,
        True,
    )
    assert parcel.waybill_key == "" and parcel.waybill_state == Shipment.WaybillState.NONE


def test_print_label_guard_asks_the_registry():
    order = allocated_order(tracking_number=None)
    with pytest.raises(ApplicationError) as refused:
        order_transition(order=Order.objects.get(pk=order.pk), transition="print_label", actor=None, source=Source.SCAN)
    assert refused.value.code == "transition_not_allowed"
    # given: a number registered for the order directly in the registry (no order column to fill)
    shipment_register(order=order, carrier=CarrierFactory(), tracking_number="SF5100000002", source="manual")
    # then: a fresh copy of the order passes the guard
    fresh = Order.objects.get(pk=order.pk)
    printed = order_transition(order=fresh, transition="print_label", actor=None, source=Source.SCAN)
    assert printed.status == Status.PRINTED and printed.tracking_number == "SF5100000002"


def test_number_without_a_carrier_is_refused_and_nothing_changes():
    order = allocated_order(tracking_number=None)
    with pytest.raises(ApplicationError) as refused:
        order_transition(
            order=order,
            transition="print_label",
            actor=None,
            source=Source.SCAN,
            changes={"tracking_number": "SF5100000003"},
        )
    assert refused.value.extra == {"field": "carrier"}
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED and not Shipment.objects.filter(order=order).exists()


def test_rerouting_to_another_carrier_retires_the_old_parcel_and_the_new_number_is_primary():
    order = allocated_order(tracking_number="SF5100000004")
    CarrierFactory(code="zhongtong", name="中通")
    order = order_transition(
        order=order,
        transition="print_label",
        actor=None,
        source=Source.ADMIN,
        changes={"carrier": "zhongtong", "tracking_number": "ZT5100000004"},
    )
    old = Shipment.objects.get(tracking_number="SF5100000004")
    assert (old.is_active, old.cancelled_at is not None, old.next_poll_at) == (False, True, None)
    assert primary_parcel(order=order).tracking_number == "ZT5100000004"
    # the old number still names the order in the registry (a late push, a scan), but the order's number is new
    assert selectors.order_get(number=order.number).tracking_number == "ZT5100000004"


def test_changing_the_warehouse_retires_the_parcel_and_a_waybill_awaits_its_cancel():
    order = allocated_order(tracking_number="SF5100000005")
    Shipment.objects.filter(order=order).update(
        waybill_key=f"{order.number}-1", waybill_state=Shipment.WaybillState.PRINTED
    )
    WarehouseFactory(code="BJ01", name="北京仓")
    order = order_transition(
        order=order, transition="hold", actor=None, source=Source.ADMIN, reason="改仓", changes={"warehouse": "BJ01"}
    )
    parcel = Shipment.objects.get(order=order)
    assert (parcel.is_active, parcel.waybill_state) == (False, Shipment.WaybillState.CANCEL_PENDING)
    assert primary_parcel(order=order) is None and order.tracking_number == ""


def test_cancel_retires_the_orders_parcels():
    order = allocated_order(tracking_number="SF5100000006")
    order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="客户取消")
    parcel = Shipment.objects.get(order=order)
    assert not parcel.is_active and parcel.waybill_state == Shipment.WaybillState.NONE
    assert selectors.order_get(number=order.number).tracking_number == ""


def test_registering_the_same_number_again_returns_the_same_parcel():
    order = printed_order(tracking_number="SF5100000007")
    again = shipment_register(order=order, carrier=CarrierFactory(), tracking_number="sf 5100 0000 07", source="api")
    assert again == primary_parcel(order=order) and Shipment.objects.filter(order=order).count() == 1


def test_order_list_reads_tracking_numbers_in_one_query():
    orders = [allocated_order(tracking_number=f"SF52000000{n:02d}") for n in range(3)]
    orders.append(allocated_order(tracking_number=None))
    with CaptureQueriesContext(connection) as few:
        listed = {o.number: o.tracking_number for o in selectors.order_list()}
    assert len(few.captured_queries) == 1
    assert listed == {o.number: f"SF52000000{n:02d}" for n, o in enumerate(orders[:3])} | {orders[3].number: ""}
    annotated = orders_with_tracking_number(Order.objects.filter(pk=orders[0].pk)).get()
    assert annotated.tracking_number == "SF5200000000"


def test_reading_an_unloaded_tracking_number_says_how_to_load_it():
    order = allocated_order(tracking_number=None)
    with pytest.raises(AttributeError, match=r"logistics\.selectors"):
        Order.objects.get(pk=order.pk).tracking_number  # noqa: B018


# --- waybill reservation (issue 11 hangs its carrier calls off this row) ---
def test_waybill_reserve_is_idempotent_by_order_number_and_parcel_index():
    order = allocated_order(tracking_number=None)
    carrier = CarrierFactory()
    first = waybill_reserve(order=order, carrier=carrier)
    again = waybill_reserve(order=order, carrier=carrier)
    assert again.pk == first.pk and first.waybill_key == f"{order.number}-1"
    assert (first.waybill_state, first.tracking_number, first.is_active) == (Shipment.WaybillState.ORDERED, "", True)
    second_parcel = waybill_reserve(order=order, carrier=carrier, parcel_index=2)
    assert second_parcel.waybill_key == f"{order.number}-2"
    # a reserved waybill without its number is not the order's parcel: the guard still wants a number
    assert primary_parcel(order=order) is None


def test_waybill_reserved_for_two_orders_without_numbers_do_not_collide():
    carrier = CarrierFactory()
    one, two = (waybill_reserve(order=allocated_order(tracking_number=None), carrier=carrier) for _ in range(2))
    assert one.pk != two.pk and one.tracking_number == two.tracking_number == ""


def test_waybill_reserve_after_the_parcel_was_retired_takes_the_next_key():
    order = allocated_order(tracking_number=None)
    carrier = CarrierFactory()
    retired = waybill_reserve(order=order, carrier=carrier)
    order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="客户取消")
    retired.refresh_from_db()
    assert (retired.is_active, retired.waybill_state) == (False, Shipment.WaybillState.CANCEL_PENDING)
    fresh = waybill_reserve(order=order, carrier=carrier)
    assert fresh.pk != retired.pk and fresh.waybill_key == f"{order.number}-1-2"
    assert waybill_reserve(order=order, carrier=carrier).pk == fresh.pk


def test_waybill_reserve_for_another_carrier_than_the_reserved_one_is_refused():
    order = allocated_order(tracking_number=None)
    waybill_reserve(order=order, carrier=CarrierFactory())
    with pytest.raises(ApplicationError) as refused:
        waybill_reserve(order=order, carrier=CarrierFactory(code="zhongtong", name="中通"))
    assert refused.value.code == "waybill_of_another_carrier"
    assert refused.value.extra == {"waybill_key": f"{order.number}-1"}
