"""The order follows its parcels: carrier events (polled or pushed) move it forward through picked_up,
in_transit and delivered, or flag an exception; never backwards. Stalled parcels alert the order's owner."""

import logging

import django_rq
from django.db import transaction
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from logistics import services as registry
from logistics.carriers import CarrierUnavailable, TrackingAnswer, kuaidi100
from logistics.models import Carrier, CarrierStateMapping, Shipment, TrackingEvent
from orders import selectors
from orders.models import Alert, Order, Source, Status
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.transitions import order_transition

logger = logging.getLogger(__name__)

# How far along the parcel is; an event only ever moves the order further.
PROGRESS = {Status.PRINTED: 0, Status.PICKED_UP: 1, Status.IN_TRANSIT: 2, Status.DELIVERED: 3}
EFFECT_PROGRESS = {"pick_up": 1, "transit": 2, "deliver": 3}
POLL_SPACING_SECONDS = 1.2


def parcel_subscribe(*, shipment_id: int) -> str:
    """Ask the provider to push this parcel's events to us. Polling goes on whether or not this works."""
    from django.conf import settings
    from django.urls import reverse
    from django.utils import timezone

    shipment = Shipment.objects.select_related("carrier", "order").filter(pk=shipment_id).first()
    if shipment is None or shipment.subscribed_at or shipment.carrier.adapter != Carrier.Adapter.KUAIDI100:
        return "skipped"
    callback = settings.ORDERHUB_PUBLIC_URL.rstrip("/") + reverse(
        "api-carrier-callback", kwargs={"carrier": shipment.carrier.code}
    )
    try:
        kuaidi100.subscribe(
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            callback_url=callback,
            phone=shipment.order.receiver_phone,
        )
    except CarrierUnavailable as exc:
        logger.warning("subscribe of %s failed: %s", shipment, exc)
        return "failed"
    Shipment.objects.filter(pk=shipment.pk).update(subscribed_at=timezone.now())
    return "subscribed"


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
    """Apply new carrier events, oldest first, to the order by the carrier's state mapping."""
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
    return order


def parcel_record(*, shipment: Shipment, answer: TrackingAnswer, via: str) -> list[TrackingEvent]:
    """Store what the carrier said and let the order follow. Safe to run twice with the same answer."""
    with transaction.atomic():
        new = registry.tracking_events_record(
            shipment=shipment, events=answer.events, via=via, finished=answer.finished
        )
        shipment.refresh_from_db()
        order_follow_parcel(shipment=shipment, events=new)
        if new:  # the registry cleared the parcel's stall flag: its stall alert closes with it
            alert_resolve(
                alerts=Alert.objects.filter(dedupe_key=_stall_alert_key(shipment.pk)),
                resolution=_("the parcel is moving again (new carrier event)"),
            )
    if answer.gave_up and not new:
        parcel_stalled(shipment=shipment, why=_("the tracking provider stopped tracking it"))
    return new


def parcel_poll(*, shipment_id: int) -> str:
    """Query the carrier for one parcel now (the poll job). Failures are logged and retried with backoff."""
    shipment = Shipment.objects.select_related("carrier", "order").filter(pk=shipment_id).first()
    if shipment is None or shipment.carrier.adapter != Carrier.Adapter.KUAIDI100:
        return "skipped"
    try:
        answer = kuaidi100.query(
            carrier=shipment.carrier, tracking_number=shipment.tracking_number, phone=shipment.order.receiver_phone
        )
    except CarrierUnavailable as exc:
        registry.shipment_poll_failed(shipment=shipment, error=str(exc))
        logger.warning("poll of %s failed: %s", shipment, exc)
        return "failed"
    return f"{len(parcel_record(shipment=shipment, answer=answer, via='poll'))} new"


def parcels_poll_due(*, limit: int = 200) -> int:
    """Enqueue a poll job for every parcel due (the scheduler runs this). Each poll is its own job, so one
    failing carrier delays only its own parcels; jobs of one carrier are spaced out, because Kuaidi100
    allows about one query per second per account."""
    from datetime import timedelta

    from django.utils import timezone

    due = Shipment.objects.filter(
        is_finished=False, next_poll_at__lte=timezone.now(), carrier__adapter=Carrier.Adapter.KUAIDI100
    ).values_list("pk", "carrier_id")[:limit]
    queue = django_rq.get_queue("carriers")
    per_carrier: dict[int, int] = {}
    for pk, carrier_id in due:
        position = per_carrier[carrier_id] = per_carrier.get(carrier_id, -1) + 1
        if position == 0:
            queue.enqueue("orders.jobs.poll_parcel", pk)
        else:
            queue.enqueue_in(timedelta(seconds=POLL_SPACING_SECONDS * position), "orders.jobs.poll_parcel", pk)
    return len(due)


def _stall_alert_key(shipment_id: int) -> str:
    return f"stall:{shipment_id}"


def parcel_stalled(*, shipment: Shipment, why: str) -> None:
    """Flag the order, alert its current owner, and record it on the timeline (once per stall)."""
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
        owner_group=node.owner_group if node else None,
        owner_user=node.owner_user if node else None,
        message=message,
        dedupe_key=_stall_alert_key(shipment.pk),
    )


def parcels_stall_sweep() -> int:
    """Parcels quiet for their carrier's stall hours: flag, alert, re-query now."""
    flagged = registry.shipments_mark_stalled()
    for shipment in flagged:
        hours = shipment.carrier.stall_hours
        parcel_stalled(shipment=shipment, why=_("no carrier event for %(h)d hours") % {"h": hours})
    if flagged:
        parcels_poll_due()
    return len(flagged)
