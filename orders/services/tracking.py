"""The order follows its parcels: carrier events that logistics received (polled or pushed) move it forward
through picked_up, in_transit and delivered, or flag an exception; never backwards. Stalled parcels alert the
order's owner.

An entry service: logistics does every carrier call and stores the events; this module only decides what they
mean for the order and moves it through the lifecycle. Pushes come in through `parcel_push_receive` (the
callback view), polled events through `parcel_follow` (the job logistics names after a poll)."""

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from logistics import services as registry
from logistics.carriers import PushRequest
from logistics.models import Carrier, CarrierStateMapping, Shipment, TrackingEvent
from orders import selectors
from orders.models import Alert, Order, Source, Status
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.notify import parcel_stalled_notice
from orders.services.transitions import order_transition

logger = logging.getLogger(__name__)

# How far along the parcel is; an event only ever moves the order further.
PROGRESS = {Status.PRINTED: 0, Status.PICKED_UP: 1, Status.IN_TRANSIT: 2, Status.DELIVERED: 3}
EFFECT_PROGRESS = {"pick_up": 1, "transit": 2, "deliver": 3}


def _mappings(carrier: Carrier) -> dict[str, CarrierStateMapping]:
    rows = CarrierStateMapping.objects.filter(carrier__isnull=True) | CarrierStateMapping.objects.filter(
        carrier=carrier
    )
    found: dict[str, CarrierStateMapping] = {}
    for row in rows.order_by("carrier_id"):  # default rows (no carrier) first; the carrier's own rows win
        found[row.carrier_state] = row
    return found


def _steps_to(status: str, effect: str) -> list[str]:
    """The transitions that take an order from `status` to where this carrier effect says the parcel is."""
    if effect == "flag_exception":
        return ["flag_exception"] if status in (Status.PRINTED, Status.PICKED_UP, Status.IN_TRANSIT) else []
    if status not in PROGRESS or EFFECT_PROGRESS.get(effect, 0) <= PROGRESS[status]:
        return []  # not shipped yet, or an older event arriving late: never backwards
    steps = [] if PROGRESS[status] >= 1 else ["pick_up"]
    if effect == "transit" and PROGRESS[status] < 2:
        steps.append("transit")
    if effect == "deliver":
        steps.append("deliver")
    return steps


def order_follow_parcel(*, shipment: Shipment, events: list[TrackingEvent]) -> Order:
    """Apply new carrier events, oldest first, to the order by the carrier's state mapping. Safe to run twice
    with the same events: an event only moves the order to where it has not been yet."""
    mappings = _mappings(shipment.carrier)
    order = shipment.order
    for event in events:
        mapping = mappings.get(event.carrier_state)
        if mapping is None or not mapping.effect:
            continue
        order.refresh_from_db()
        for step in _steps_to(order.status, mapping.effect):
            reason = f"{mapping.label}: {event.description}"[:255] if step == "flag_exception" else ""
            try:
                order = order_transition(
                    order=order,
                    transition=step,
                    actor=None,
                    source=Source.CARRIER,
                    actor_label=shipment.carrier.name,
                    reason=reason,
                )
            except ApplicationError as refusal:  # e.g. a legacy order: keep the event, leave the order
                logger.info("carrier event not applied to %s: %s", order.number, refusal.message)
                break
    if events:  # the registry cleared the parcel's stall flag: its stall alert closes with it
        alert_resolve(
            alerts=Alert.objects.filter(dedupe_key=_stall_alert_key(shipment.pk)),
            resolution=_("the parcel is moving again (new carrier event)"),
        )
    return order


def parcel_follow(*, shipment_id: int, event_ids: list[int]) -> str:
    """The order follows events logistics stored after a poll (the job logistics enqueues by name)."""
    shipment = Shipment.objects.select_related("carrier", "order").filter(pk=shipment_id).first()
    if shipment is None:
        return "skipped"
    events = list(shipment.events.filter(pk__in=event_ids).order_by("occurred_at", "pk"))
    order = order_follow_parcel(shipment=shipment, events=events)
    return order.status


def parcel_push_receive(*, carrier_code: str, push: PushRequest) -> registry.PushReceived:
    """A carrier's push to our callback: logistics verifies, reads and stores it, then the order follows, in one
    transaction (a failure stores nothing, so the carrier's retry finds the events new). Raises
    logistics.services.PushRefused (nothing stored)."""
    with transaction.atomic():
        received = registry.carrier_push_receive(carrier_code=carrier_code, push=push)
        order_follow_parcel(shipment=received.shipment, events=received.new)
    if received.gave_up and not received.new:
        parcel_stalled(shipment=received.shipment, why=_("the tracking provider stopped tracking it"))
    return received


def _stall_alert_key(shipment_id: int) -> str:
    return f"stall:{shipment_id}"


def parcel_stalled(*, shipment: Shipment, why: str) -> None:
    """Flag the order, alert its current owner, and record it on the timeline (once per stall); tell the customer
    (once per order, issue 13)."""
    order = shipment.order
    node = selectors.status_node_for(status=order.status)
    message = _("物流停滞 Parcel %(number)s (%(carrier)s) stalled: %(why)s") % {
        "number": shipment.tracking_number,
        "carrier": shipment.carrier.name,
        "why": why,
    }
    alert_raise(  # with an order, the alert is also a line on the order's timeline
        kind=Alert.Kind.PARCEL_STALLED,
        order=order,
        node=node,
        message=message,
        dedupe_key=_stall_alert_key(shipment.pk),
    )
    parcel_stalled_notice(order=order)


def parcels_stall_sweep() -> int:
    """Parcels quiet for their carrier's stall hours: flag, alert, re-query now."""
    flagged = registry.shipments_mark_stalled()
    for shipment in flagged:
        hours = shipment.carrier.stall_hours
        parcel_stalled(shipment=shipment, why=_("no carrier event for %(h)d hours") % {"h": hours})
    if flagged:
        registry.shipments_poll_due()
    return len(flagged)
