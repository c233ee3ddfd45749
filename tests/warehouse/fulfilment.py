"""Orders made ready for the warehouse through the real services: paid, routed to SH01, stock locked."""

from decimal import Decimal

from orders.models import Order, OrderLine, Source
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, make_order
from warehouse.models import Sku

_tracking = iter(range(100000001, 999999999))


def next_tracking_number() -> str:
    return f"SF{next(_tracking)}"


def allocated_order(
    *, gift_note: str | None = None, tracking_number: str | None = "", warehouse="SH01", carrier="shunfeng", **payload
):
    """An order in 'allocated' at `warehouse`. gift_note: add a SAMPLE-3 × 3 gift line with that note first.
    tracking_number: "" gives a fresh one, None leaves the order without one."""
    order = make_order(**payload)
    if gift_note is not None:
        OrderLine.objects.create(
            order=order,
            sku=Sku.objects.get(code="SAMPLE-3"),
            quantity=3,
            unit_price=Decimal("0"),
            is_gift=True,
            note=gift_note,
        )
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    order = order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    changes = {"warehouse": warehouse}
    if tracking_number is not None:
        CarrierFactory(code=carrier, name=carrier)
        changes |= {"carrier": carrier, "tracking_number": tracking_number or next_tracking_number()}
    return order_transition(order=order, transition="allocate", actor=None, source=Source.SYSTEM, changes=changes)


def printed_order(**kwargs) -> Order:
    order = allocated_order(**kwargs)
    return order_transition(order=order, transition="print_label", actor=None, source=Source.ADMIN)
