"""Parcel registration, an effect provider below the lifecycle: when the label is printed, the order's
tracking number goes into the one registry of tracking numbers (logistics), and a subscription is asked for."""

from config.queue import job_enqueue_on_commit
from logistics import services as registry
from logistics.models import Carrier, Shipment
from orders.models import Order, Source
from orders.services.core import Move, Run


def order_register_parcel(*, order: Order, source: str) -> Shipment | None:
    """Put the order's tracking number in the registry (once)."""
    if not order.tracking_number or order.carrier_id is None:
        return None
    shipment = registry.shipment_register(
        order=order, carrier=order.carrier, tracking_number=order.tracking_number, source=source
    )
    if shipment.carrier.adapter == Carrier.Adapter.KUAIDI100 and shipment.subscribed_at is None:
        job_enqueue_on_commit(job="orders.jobs.subscribe_parcel", queue="carriers", shipment_id=shipment.pk)
    return shipment


def parcel_register_on_print(*, run: Run, move: Move) -> None:
    """Effect of print_label."""
    order_register_parcel(order=run.order, source="manual" if move.source == Source.ADMIN else "warehouse")
