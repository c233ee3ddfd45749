"""How an order's tracking numbers reach the parcel registry (logistics), the one record of them: a number a
request gives (admin, API, scan, demo, a channel) is registered in the same transaction, whatever the
transition; re-routing and cancelling retire the order's parcels (the rule is in logistics.services), and an
unused waybill among them is cancelled at its carrier by the registry's cancel job (sellers pay for unused numbers;
a failed cancel comes back to orders as an alert, orders/services/waybill_cancels.py).

An effect provider: imports models, the core's types and logistics services only, never the lifecycle."""

from django.utils.translation import gettext as _

from logistics import services as registry
from logistics.models import Shipment
from orders.exceptions import InvalidInput, OrderErrorCode
from orders.models import Order, Source, Status
from orders.services.core import Move, Run

# Statuses in which the parcel has not been handed to the carrier: its waybill is unused when the order is
# re-routed from one of them. From 已揽收 on (or from 异常, which may have come from there) it was used: never
# cancelled at the carrier.
BEFORE_HANDOVER = frozenset(
    {Status.PLACED, Status.PAID, Status.ON_HOLD, Status.ALLOCATING, Status.ALLOCATED, Status.PRINTED}
)


def _registry_source(source: str) -> str:
    return Shipment.Source.MANUAL if source == Source.ADMIN else Shipment.Source.WAREHOUSE


def order_register_parcel(*, order: Order, tracking_number: str, source: str) -> Shipment:
    """Register a number for the order's primary parcel with the order's carrier (the caller holds the order's
    lock). A number without a carrier cannot be tracked, nor told apart from another carrier's: refused."""
    if order.carrier_id is None:
        raise InvalidInput(
            _("Choose the carrier of tracking number %(number)s first.") % {"number": tracking_number},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "carrier"},
        )
    shipment = registry.shipment_register(
        order=order, carrier=order.carrier, tracking_number=tracking_number, source=source
    )
    order.tracking_number = shipment.tracking_number
    return shipment


def parcels_follow_request(*, run: Run, move: Move) -> None:
    """Effect of the asked move: what the request set. A changed carrier or warehouse retires the parcels of the
    old route (an unused waybill of it is cancelled at its carrier); a given tracking number is registered (after
    that, so it is the order's primary parcel)."""
    if run.rerouted:
        registry.shipments_retire(
            order=run.order,
            reason=registry.CANCEL_REASON_REROUTED,
            cancel_waybills=move.from_status in BEFORE_HANDOVER,
        )
        run.order.tracking_number = ""
    number = run.asked.get("tracking_number")
    if number:
        order_register_parcel(order=run.order, tracking_number=number, source=_registry_source(move.source))


def parcels_retire_on_cancel(*, run: Run, move: Move) -> None:
    """Effect of cancel: the order's parcels stop counting; unused waybills become cancel_pending and their cancel
    job is enqueued on commit, with the cancel's reason for the carrier. No extra statement: the retiring UPDATE
    returns which rows were waybills."""
    why = registry.CANCEL_REASON_ORDER_CANCELLED
    registry.shipments_retire(order=run.order, reason=f"{why}：{move.reason}" if move.reason else why)
    run.order.tracking_number = ""
