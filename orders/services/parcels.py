"""Parcel registration, an effect of printing the label: the order's tracking number goes into the one registry
of tracking numbers (logistics), which also asks the carrier to push its events when it can.

An effect provider: imports models, the core's types and logistics services only, never the lifecycle."""

from logistics import services as registry
from logistics.models import Shipment
from orders.models import Order, Source
from orders.services.core import Move, Run


def order_register_parcel(*, order: Order, source: str) -> Shipment | None:
    """Put the order's tracking number in the registry (once). Called when the label is printed.
    `Order.tracking_number` stays as the order's primary parcel, shown on lists; the registry is the record
    every carrier call, event and lookup goes by."""
    if not order.tracking_number or order.carrier_id is None:
        return None
    return registry.shipment_register(
        order=order, carrier=order.carrier, tracking_number=order.tracking_number, source=source
    )


def parcel_register_on_print(*, run: Run, move: Move) -> None:
    """Effect of print_label."""
    order_register_parcel(order=run.order, source="manual" if move.source == Source.ADMIN else "warehouse")
