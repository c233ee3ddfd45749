"""Everything said to and by carriers: the tracking registry (register a parcel once, store each carrier event
once, keep the parcel's state and stall flag), subscribe, poll and receive pushes through the adapter registry.
What an event means for the order is decided in orders.services.tracking: a poll hands its new events over by
job name (FOLLOW_PARCEL_JOB); a push is received by orders' entry service, which calls carrier_push_receive.

The parcel registry is the one record of an order's tracking numbers (the order has no number column). The only
door for writing one is `shipment_register` (and `waybill_reserve` for a waybill request before its number is
known, then `waybill_record` for the carrier's answer); readers go through logistics.selectors (`primary_parcel`,
`orders_with_tracking_number`).

Retiring, the one rule: a parcel stops counting for its order (is_active off, cancelled_at set, no more polls)
when the order is re-routed (a request changes the carrier or the warehouse it already had), when it is
cancelled, or when a new number is registered for the same parcel index (a corrected or relabelled number).
A plain number is only marked so; a waybill that was ordered or printed becomes `cancel_pending`, for the
waybill cancel job to cancel at the carrier (sellers pay for unused numbers). Retired parcels stay in the
registry, so a scan or a late carrier push of the old number still names the order."""

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connections, transaction
from django.db.models import Case, F, Q, Value, When, sql
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from config.queue import job_enqueue_on_commit
from logistics.carriers import ADAPTERS, Adapter, adapter_for, adapter_names, manual
from logistics.carriers.base import (
    BadSignature,
    CarrierEvent,
    CarrierUnavailable,
    PushRequest,
    TrackingAnswer,
    Waybill,
    WaybillRefused,
)
from logistics.defaults import DEFAULT_STATE_MAPPINGS
from logistics.exceptions import Conflict, InvalidInput, LogisticsErrorCode
from logistics.models import (
    Carrier,
    CarrierStateMapping,
    Shipment,
    TrackingEvent,
    TrackingLookupCount,
    WaybillNumberRange,
)
from orders.models import Status

logger = logging.getLogger(__name__)


TRACKING_NUMBER_MAX = 32
CALLBACK_SECRET_BYTES = 24
POLL_SPACING_SECONDS = 1.2  # Kuaidi100 allows about one query per second per account
SUBSCRIBE_JOB = "logistics.jobs.subscribe_parcel"
POLL_JOB = "logistics.jobs.poll_parcel"
WAYBILL_CANCEL_JOB = "logistics.jobs.waybill_cancel"
# How an unused waybill's cancel ended is orders' business (the alert): handed over by job name.
WAYBILL_CANCEL_FOLLOW_JOB = "orders.jobs.follow_waybill_cancel"
# The order follows its parcel in orders (above us): new polled events are handed over by job name.
FOLLOW_PARCEL_JOB = "orders.jobs.follow_parcel"
# A push from a sender we do not know is answered in Kuaidi100's convention (it is the one that retries).
UNKNOWN_SENDER = ADAPTERS[Carrier.Adapter.KUAIDI100]


def carrier_callback_secret_new() -> str:
    """A random callback secret (Kuaidi100 salt / generic HMAC key)."""
    return secrets.token_urlsafe(CALLBACK_SECRET_BYTES)


def carrier_save(*, carrier: Carrier, actor: AbstractBaseUser | None) -> Carrier:
    """Save a carrier row. A push adapter without a callback secret is refused on the field: its callback
    would accept unsigned pushes. (The admin form generates one and shows it once before it gets here.)"""
    if adapter_for(carrier).pushes and not carrier.callback_secret:
        raise InvalidInput(
            _("%(adapter)s needs a callback secret: without one anybody could push tracking events.")
            % {"adapter": carrier.get_adapter_display()},
            code=LogisticsErrorCode.CALLBACK_SECRET_REQUIRED,
            extra={"field": "callback_secret"},
        )
    if actor is not None and actor.is_authenticated:
        carrier._history_user = actor  # the history row names who saved it (keys and secrets are not recorded)
    carrier.save()
    return carrier


def waybill_number_take(*, carrier: Carrier, key: str) -> str:
    """The next number of the carrier's number ranges (号段) for this idempotency key; the same key gives the
    same number. Raises WaybillRefused when every range is used up."""
    return manual.number_take(carrier=carrier, key=key)


def _range_invalid(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=LogisticsErrorCode.INVALID_NUMBER_RANGE, extra={"field": field})


def waybill_number_range_check(*, number_range: WaybillNumberRange) -> None:
    """Check (and normalise) a number range before it is saved; raises InvalidInput naming the field. A new range
    starts at its first number; afterwards only its last number (never below what was handed out) and active flag
    change, and no two ranges of a carrier can make the same number."""
    rng = number_range
    rng.prefix = "".join(rng.prefix.split()).upper()
    if rng.prefix and not (rng.prefix.isascii() and rng.prefix.isalnum()):
        raise _range_invalid(_("A prefix is letters and digits only."), "prefix")
    if rng.pk is None:
        rng.next_number = rng.first_number
    else:
        stored = WaybillNumberRange.objects.get(pk=rng.pk)
        # Numbers already handed out stay handed out: start, counter and format are the service's.
        rng.first_number, rng.next_number = stored.first_number, stored.next_number
        rng.prefix, rng.width, rng.carrier_id = stored.prefix, stored.width, stored.carrier_id
    if rng.last_number < rng.first_number:
        raise _range_invalid(_("The last number must not be below the first number."), "last_number")
    if rng.last_number < rng.next_number - 1:
        raise _range_invalid(
            _("Numbers up to %(n)s are already handed out: the last number cannot be below that.")
            % {"n": rng.number(rng.next_number - 1)},
            "last_number",
        )
    if len(rng.number(rng.last_number)) > TRACKING_NUMBER_MAX:
        raise _range_invalid(
            _("A tracking number is at most %(n)d characters.") % {"n": TRACKING_NUMBER_MAX}, "last_number"
        )
    # Same prefix and overlapping numbers could make one number twice (also with another zero padding).
    overlapping = (
        WaybillNumberRange.objects.filter(
            carrier_id=rng.carrier_id,
            prefix=rng.prefix,
            first_number__lte=rng.last_number,
            last_number__gte=rng.first_number,
        )
        .exclude(pk=rng.pk)
        .first()
    )
    if overlapping is not None:
        raise _range_invalid(
            _("This range overlaps the range %(other)s of the same carrier.") % {"other": overlapping}, "first_number"
        )


def waybill_number_range_save(
    *, number_range: WaybillNumberRange, actor: AbstractBaseUser | None
) -> WaybillNumberRange:
    """Save a number range after waybill_number_range_check."""
    rng = number_range
    with transaction.atomic():
        if rng.pk is not None:  # the counter may move while a person edits: check against the locked row
            WaybillNumberRange.objects.select_for_update().filter(pk=rng.pk).first()
        waybill_number_range_check(number_range=rng)
        if actor is not None and actor.is_authenticated:
            rng._history_user = actor
        rng.save()
    return rng


def tracking_number_clean(value) -> str:
    number = "".join(str(value or "").split()).upper()
    if not number or len(number) > TRACKING_NUMBER_MAX or not number.isascii() or not number.isalnum():
        raise InvalidInput(
            _("A tracking number is 1 to %(n)d letters and digits.") % {"n": TRACKING_NUMBER_MAX},
            code="invalid_field",
            extra={"field": "tracking_number"},
        )
    return number


def shipment_register(*, order, carrier: Carrier, tracking_number: str, source: str, parcel_index: int = 1) -> Shipment:
    """Register a parcel of an order once, as soon as its number exists (typed, scanned, given by the channel or
    the carrier's waybill answer). The same number again for the same order returns the parcel (active again if
    it had been retired as a plain number); for another order it is refused, naming that order. The order's other
    active parcels of the same index are retired (see the module docstring). The caller holds the order's lock."""
    number = tracking_number_clean(tracking_number)
    existing = Shipment.objects.filter(carrier=carrier, tracking_number=number).select_related("order").first()
    if existing is None:
        try:
            with transaction.atomic():
                existing = Shipment.objects.create(
                    order=order,
                    channel_id=order.channel_id,
                    carrier=carrier,
                    tracking_number=number,
                    source=source,
                    parcel_index=parcel_index,
                    next_poll_at=timezone.now() if adapter_for(carrier).polls else None,
                )
        except IntegrityError:  # registered by another process a moment ago
            existing = Shipment.objects.select_related("order").get(carrier=carrier, tracking_number=number)
    if existing.order_id != order.pk:
        raise Conflict(
            _("Tracking number %(number)s of %(carrier)s already belongs to order %(order)s.")
            % {"number": number, "carrier": carrier.name, "order": existing.order.number},
            code=LogisticsErrorCode.TRACKING_NUMBER_TAKEN,
            extra={"field": "tracking_number", "order": existing.order.number},
        )
    if not existing.is_active:
        if existing.waybill_state:  # its cancel at the carrier is on its way: a new waybill is needed
            raise Conflict(
                _("Waybill %(number)s was cancelled for this order: order a new one.") % {"number": number},
                code=LogisticsErrorCode.WAYBILL_CANCELLED,
                extra={"field": "tracking_number"},
            )
        Shipment.objects.filter(pk=existing.pk).update(
            is_active=True,
            cancelled_at=None,
            next_poll_at=None if existing.is_finished or not adapter_for(carrier).polls else timezone.now(),
        )
        existing.is_active, existing.cancelled_at = True, None
    shipments_retire(order=order, parcel_index=existing.parcel_index, keep=existing)
    if adapter_for(carrier).subscribes and existing.subscribed_at is None:
        job_enqueue_on_commit(job=SUBSCRIBE_JOB, queue="carriers", shipment_id=existing.pk)
    return existing


def shipments_register_imported(*, parcels: list[tuple]) -> int:
    """Register the parcels of imported (legacy) orders in bulk: (order, carrier, tracking number) each, so the
    orders are found by their tracking number like any other. Their tracking is long over: finished, never
    polled, no subscription. A number that is no tracking number, or that the registry already has, is left
    out (the legacy order keeps it in its timeline). Returns how many were registered."""
    rows = []
    for order, carrier, number in parcels:
        try:
            cleaned = tracking_number_clean(number)
        except InvalidInput:
            continue
        rows.append(
            Shipment(
                order=order,
                channel_id=order.channel_id,
                carrier=carrier,
                tracking_number=cleaned,
                source=Shipment.Source.IMPORT,
                is_finished=True,
                next_poll_at=None,
            )
        )
    return len(Shipment.objects.bulk_create(rows, ignore_conflicts=True))


def _update_returning(queryset, returning: tuple[str, ...], **values) -> list[tuple]:
    """queryset.update(**values) in its one statement, also returning `returning` of the rows it changed
    (UPDATE … RETURNING, PostgreSQL and SQLite ≥ 3.35): what changed is known without a second query."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    text, params = query.get_compiler(queryset.db).as_sql()
    if not text:
        return []
    connection = connections[queryset.db]
    columns = ", ".join(connection.ops.quote_name(queryset.model._meta.get_field(f).column) for f in returning)
    with transaction.mark_for_rollback_on_error(using=queryset.db), connection.cursor() as cursor:
        cursor.execute(f"{text} RETURNING {columns}", params)
        return list(cursor.fetchall())


def shipments_retire(
    *,
    order,
    parcel_index: int | None = None,
    keep: Shipment | None = None,
    reason: str = "",
    cancel_waybills: bool = True,
) -> int:
    """Retire the order's active parcels (all, or those of one parcel index), except `keep`: plain numbers are
    marked not active, ordered or printed waybills also `cancel_pending`, and each of those gets its cancel job
    (WAYBILL_CANCEL_JOB, on commit; `reason` goes to the carrier). One statement. Returns how many.

    Only a waybill the carrier has not scanned yet (no carrier event) is unused; `cancel_waybills=False` when the
    caller knows the parcel was handed over (re-routed from 已揽收 or later): retired, never cancelled."""
    active = Shipment.objects.filter(order=order, is_active=True)
    if parcel_index is not None:
        active = active.filter(parcel_index=parcel_index)
    if keep is not None:
        active = active.exclude(pk=keep.pk)
    unused_waybill = When(
        waybill_state__in=[Shipment.WaybillState.ORDERED, Shipment.WaybillState.PRINTED],
        last_event_at__isnull=True,
        then=Value(Shipment.WaybillState.CANCEL_PENDING),
    )
    waybill_state = Case(unused_waybill, default=F("waybill_state")) if cancel_waybills else F("waybill_state")
    retired = _update_returning(
        active,
        ("id", "waybill_state"),
        is_active=False,
        cancelled_at=timezone.now(),
        next_poll_at=None,
        waybill_state=waybill_state,
    )
    # Only rows active a moment ago are updated, so a cancel_pending one became so just now: one job each.
    for pk, state in retired:
        if state == Shipment.WaybillState.CANCEL_PENDING:
            waybill_cancel_enqueue(shipment_id=pk, reason=reason)
    return len(retired)


def waybill_cancel_enqueue(*, shipment_id: int, reason: str = "") -> None:
    job_enqueue_on_commit(job=WAYBILL_CANCEL_JOB, queue="carriers", shipment_id=shipment_id, reason=reason[:100])


def waybill_key_for(*, order, parcel_index: int) -> str:
    """Our idempotency key of a waybill request (Kuaidi100 `orderId`): "<order number>-<parcel index>"."""
    return f"{order.number}-{parcel_index}"


def waybill_reserve(*, order, carrier: Carrier, parcel_index: int = 1) -> Shipment:
    """The registry row a waybill request for this parcel of the order goes by, made before the carrier is asked:
    got or created by its waybill key, so a retried request (after a timeout) or a second packer finds the same
    row and the same key, never a second waybill. The caller holds the order's row lock. The row has no number
    until the carrier answers (waybill_record); it is not the order's parcel before that.

    A parcel whose waybill was retired (re-routed, cancelled) keeps its key for the cancel; the new request gets
    the next key of that parcel, "<order number>-<parcel index>-<n>"."""
    reserved = Shipment.objects.filter(order=order, parcel_index=parcel_index, is_active=True).exclude(waybill_key="")
    current = reserved.select_related("carrier").first()
    if current is not None:
        if current.carrier_id != carrier.pk:
            raise Conflict(
                _("Parcel %(index)d of order %(order)s has a waybill of %(carrier)s already.")
                % {"index": parcel_index, "order": order.number, "carrier": current.carrier.name},
                code=LogisticsErrorCode.WAYBILL_OF_ANOTHER_CARRIER,
                extra={"waybill_key": current.waybill_key},
            )
        return current
    base = waybill_key_for(order=order, parcel_index=parcel_index)
    earlier = Shipment.objects.filter(Q(waybill_key=base) | Q(waybill_key__startswith=f"{base}-"), order=order)
    count = earlier.count()
    shipment, _created = Shipment.objects.get_or_create(
        waybill_key=base if not count else f"{base}-{count + 1}",
        defaults={
            "order": order,
            "channel_id": order.channel_id,
            "carrier": carrier,
            "tracking_number": "",
            "source": Shipment.Source.WAREHOUSE,
            "parcel_index": parcel_index,
            "waybill_state": Shipment.WaybillState.ORDERED,
        },
    )
    return shipment


# --- cancelling unused waybills (sellers pay for numbers they do not use) -----------------------------------
WAYBILL_CANCELLABLE = (Shipment.WaybillState.CANCEL_PENDING, Shipment.WaybillState.CANCEL_FAILED)
# Told to the carrier with the cancel when the retiring step gave no reason.
CANCEL_REASON_ORDER_CANCELLED = "订单取消"
CANCEL_REASON_REROUTED = "改派"


def _waybill_cancel_failed(*, shipment: Shipment, reason: str) -> None:
    Shipment.objects.filter(pk=shipment.pk).update(
        waybill_state=Shipment.WaybillState.CANCEL_FAILED, last_error=reason[:255]
    )
    job_enqueue_on_commit(job=WAYBILL_CANCEL_FOLLOW_JOB, shipment_id=shipment.pk)


def shipment_waybill_cancel(*, shipment_id: int, reason: str = "", raise_unavailable: bool = True) -> str:
    """Cancel one retired, unused waybill at its carrier (the cancel job). Idempotent: a cancelled waybill (or one
    in use, or a plain number) is skipped, never cancelled twice; the row lock keeps a job, the sweep and a
    person's retry from racing. Outcomes: "cancelled" (after a failure, orders is told so its alert resolves),
    "refused" (WaybillRefused: cancel_failed with the carrier's reason, orders raises the alert), "unavailable"
    (timeout, 5xx, garbage: the error is kept and, with raise_unavailable, CarrierUnavailable is raised after
    commit so RQ retries with backoff; the state stays as it was), "skipped".

    A waybill whose number never reached us (the order call timed out) is cancelled by its key alone."""
    unavailable: CarrierUnavailable | None = None
    with transaction.atomic():
        shipment = (
            Shipment.objects.select_for_update(of=("self",))
            .select_related("carrier", "order")
            .filter(pk=shipment_id)
            .first()
        )
        if shipment is None or shipment.waybill_state not in WAYBILL_CANCELLABLE:
            return "skipped"
        if not reason:
            cancelled = shipment.order.status == Status.CANCELLED
            reason = CANCEL_REASON_ORDER_CANCELLED if cancelled else CANCEL_REASON_REROUTED
        try:
            adapter_for(shipment.carrier).waybill_cancel(
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                key=shipment.waybill_key,
                reason=reason,
            )
        except WaybillRefused as exc:
            logger.warning("cancel of waybill %s refused: %s", shipment, exc)
            _waybill_cancel_failed(shipment=shipment, reason=str(exc))
            return "refused"
        except CarrierUnavailable as exc:
            logger.warning("cancel of waybill %s failed: %s", shipment, exc)
            Shipment.objects.filter(pk=shipment.pk).update(last_error=str(exc)[:255])
            unavailable = exc
        else:
            Shipment.objects.filter(pk=shipment.pk).update(waybill_state=Shipment.WaybillState.CANCELLED, last_error="")
            if shipment.waybill_state == Shipment.WaybillState.CANCEL_FAILED:
                job_enqueue_on_commit(job=WAYBILL_CANCEL_FOLLOW_JOB, shipment_id=shipment.pk)
            return "cancelled"
    if raise_unavailable:
        raise unavailable
    return "unavailable"


def waybills_cancel_retry(*, shipments, actor: AbstractBaseUser | None) -> dict[str, int]:
    """A person asks again (admin 重新取消面单) for waybills whose cancel failed: each is tried now, in this
    request; others are skipped. Returns how many ended how ("cancelled", "refused", "unavailable", "skipped")."""
    outcomes: dict[str, int] = {}
    for pk, state in shipments.values_list("pk", "waybill_state"):
        if state != Shipment.WaybillState.CANCEL_FAILED:
            outcome = "skipped"
        else:
            outcome = shipment_waybill_cancel(shipment_id=pk, raise_unavailable=False)
            logger.info("waybill cancel of shipment %s retried by %s: %s", pk, actor, outcome)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def waybill_cancels_sweep(*, now=None) -> dict[str, int]:
    """The scheduler's look at waybills still cancel_pending (every 10 minutes). Past the cancel job's own retries
    (WAYBILL_CANCEL_REQUEUE_MINUTES) the job is enqueued again — it may have been lost with Redis, and running
    it twice is harmless; past WAYBILL_CANCEL_GIVE_UP_MINUTES the waybill becomes cancel_failed with the last
    error seen and orders raises the alert. Returns {"requeued": n, "given_up": m}."""
    now = now or timezone.now()
    pending = Shipment.objects.filter(waybill_state=Shipment.WaybillState.CANCEL_PENDING)
    give_up = now - timedelta(minutes=settings.WAYBILL_CANCEL_GIVE_UP_MINUTES)
    silent = _("no answer from the carrier within %(n)d minutes") % {"n": settings.WAYBILL_CANCEL_GIVE_UP_MINUTES}
    given_up = 0
    for pk in list(pending.filter(cancelled_at__lte=give_up).values_list("pk", flat=True)[:500]):
        # Conditional: a cancel job holding the row finishes first, and a cancelled waybill is left alone.
        if Shipment.objects.filter(pk=pk, waybill_state=Shipment.WaybillState.CANCEL_PENDING).update(
            waybill_state=Shipment.WaybillState.CANCEL_FAILED,
            last_error=Case(When(last_error="", then=Value(silent)), default=F("last_error")),
        ):
            job_enqueue_on_commit(job=WAYBILL_CANCEL_FOLLOW_JOB, shipment_id=pk)
            given_up += 1
    requeue = now - timedelta(minutes=settings.WAYBILL_CANCEL_REQUEUE_MINUTES)
    waiting = pending.filter(cancelled_at__lte=requeue, cancelled_at__gt=give_up).values_list("pk", flat=True)
    requeued = 0
    for pk in list(waiting[:500]):
        waybill_cancel_enqueue(shipment_id=pk)
        requeued += 1
    return {"requeued": requeued, "given_up": given_up}


def carrier_callback_url(carrier: Carrier) -> str:
    """Our tracking push callback for this carrier, as the provider must call it (ORDERHUB_PUBLIC_URL)."""
    return settings.ORDERHUB_PUBLIC_URL.rstrip("/") + reverse("api-carrier-callback", kwargs={"carrier": carrier.code})


def waybill_record(*, shipment: Shipment, waybill: Waybill) -> Shipment:
    """Write the carrier's answer on the reserved waybill row (waybill_reserve): its number, routing text (大头笔),
    sorting code, label link and raw answer — the only door for a waybill's number. The caller holds the order's
    lock, in the transaction that reserved the row. A number another parcel of the carrier holds is refused, naming
    its order; the order's other active parcels of the same index retire (as for any new number); a number the
    carrier did not subscribe in the same call is subscribed by the subscribe job."""
    number = tracking_number_clean(waybill.tracking_number)
    taken = (
        Shipment.objects.filter(carrier_id=shipment.carrier_id, tracking_number=number)
        .exclude(pk=shipment.pk)
        .select_related("order")
        .first()
    )
    if taken is not None:
        raise Conflict(
            _("Tracking number %(number)s of %(carrier)s already belongs to order %(order)s.")
            % {"number": number, "carrier": shipment.carrier.name, "order": taken.order.number},
            code=LogisticsErrorCode.TRACKING_NUMBER_TAKEN,
            extra={"field": "tracking_number", "order": taken.order.number},
        )
    now = timezone.now()
    adapter = adapter_for(shipment.carrier)
    shipment.tracking_number = number
    shipment.waybill_state = Shipment.WaybillState.ORDERED
    shipment.routing_text = waybill.routing_text[:100]
    shipment.sorting_code = waybill.sorting_code[:64]
    shipment.label_url = waybill.label_url[:500]
    shipment.waybill_raw = json.loads(json.dumps(waybill.raw or {}, default=str))
    shipment.ordered_at = now
    shipment.subscribed_at = now if waybill.subscribed else None
    shipment.next_poll_at = now if adapter.polls else None
    shipment.save(
        update_fields=[
            "tracking_number",
            "waybill_state",
            "routing_text",
            "sorting_code",
            "label_url",
            "waybill_raw",
            "ordered_at",
            "subscribed_at",
            "next_poll_at",
        ]
    )
    shipments_retire(order=shipment.order, parcel_index=shipment.parcel_index, keep=shipment)
    if adapter.subscribes and shipment.subscribed_at is None:
        job_enqueue_on_commit(job=SUBSCRIBE_JOB, queue="carriers", shipment_id=shipment.pk)
    return shipment


def waybills_mark_printed(*, shipment_ids) -> int:
    """The labels of these waybills were printed: ordered → printed (a re-print changes nothing). Returns how many
    moved."""
    return Shipment.objects.filter(pk__in=list(shipment_ids), waybill_state=Shipment.WaybillState.ORDERED).update(
        waybill_state=Shipment.WaybillState.PRINTED
    )


def tracking_events_record(
    *, shipment: Shipment, events: list[CarrierEvent], via: str, finished: bool = False
) -> list[TrackingEvent]:
    """Store the events not seen before (a redelivered event is stored once) and update the parcel.
    Returns the new events, oldest first."""
    now = timezone.now()
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
        known = set(shipment.events.values_list("fingerprint", flat=True))
        fresh = {}
        for event in events:
            fingerprint = event.fingerprint()
            if fingerprint in known or fingerprint in fresh:
                continue
            fresh[fingerprint] = TrackingEvent(
                shipment=shipment,
                occurred_at=event.occurred_at,
                carrier_state=event.carrier_state[:32],
                description=event.description[:500],
                location=event.location[:100],
                raw=json.loads(json.dumps(event.raw or {}, default=str)),
                fingerprint=fingerprint,
                received_via=via,
            )
        created = TrackingEvent.objects.bulk_create(list(fresh.values()))
        newest = shipment.events.order_by("-occurred_at", "-id").first()
        if newest is not None:
            shipment.last_event_at = newest.occurred_at
            shipment.carrier_state = newest.carrier_state
        if created:
            shipment.stalled_since = None  # events resumed: the stall flag clears by itself
        shipment.is_finished = shipment.is_finished or finished
        shipment.poll_failures, shipment.last_error = 0, ""
        done = shipment.is_finished or not shipment.is_active  # a retired parcel is not polled again
        shipment.next_poll_at = None if done else now + timedelta(minutes=shipment.carrier.poll_minutes)
        shipment.save()
    return sorted(created, key=lambda e: (e.occurred_at, e.pk))


def shipment_poll_failed(*, shipment: Shipment, error: str) -> Shipment:
    """A carrier timed out or answered nonsense: keep everything stored, try again later, each time later."""
    failures = shipment.poll_failures + 1
    delay = min(timedelta(minutes=5) * 2 ** (failures - 1), timedelta(hours=12))
    Shipment.objects.filter(pk=shipment.pk).update(
        poll_failures=failures, last_error=error[:255], next_poll_at=timezone.now() + delay
    )
    shipment.refresh_from_db()
    return shipment


def shipments_mark_stalled(*, now=None) -> list[Shipment]:
    """Parcels with no carrier event for their carrier's stall hours (counted from registration when none
    came yet). Returns the parcels newly flagged; flagged parcels are re-queried now."""
    now = now or timezone.now()
    flagged = []
    for carrier in Carrier.objects.all():
        quiet_since = now - timedelta(hours=carrier.stall_hours)
        quiet = Q(last_event_at__lte=quiet_since) | Q(last_event_at__isnull=True, created_at__lte=quiet_since)
        stalled = Shipment.objects.filter(
            quiet, carrier=carrier, is_active=True, is_finished=False, stalled_since__isnull=True
        ).exclude(tracking_number="")  # a reserved waybill without its number yet is not on its way
        for shipment in stalled.select_related("carrier", "order"):
            if Shipment.objects.filter(pk=shipment.pk, stalled_since__isnull=True).update(
                stalled_since=now, next_poll_at=now
            ):
                shipment.stalled_since = now
                flagged.append(shipment)
    return flagged


def carrier_state_mappings_ensure() -> int:
    """Create the default state mappings that are missing (never changes edited ones). Returns how many."""
    created = 0
    for state, label, effect in DEFAULT_STATE_MAPPINGS:
        _row, made = CarrierStateMapping.objects.get_or_create(
            carrier=None, carrier_state=state, defaults={"label": label, "effect": effect}
        )
        created += made
    return created


def _tracked(shipment_id: int) -> Shipment | None:
    return Shipment.objects.select_related("carrier", "order").filter(pk=shipment_id).first()


def shipment_subscribe(*, shipment_id: int) -> str:
    """Ask the provider to push this parcel's events to us (the subscribe job). Polling goes on whether or not
    this works."""
    shipment = _tracked(shipment_id)
    if shipment is None or shipment.subscribed_at or not adapter_for(shipment.carrier).subscribes:
        return "skipped"
    callback = carrier_callback_url(shipment.carrier)
    try:
        adapter_for(shipment.carrier).subscribe(
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


def shipment_poll(*, shipment_id: int) -> str:
    """Query the carrier for one parcel now (the poll job) and store what is new; the order follows in a job
    of its own. Failures are logged and retried with backoff; safe to run twice."""
    shipment = _tracked(shipment_id)
    if shipment is None or not adapter_for(shipment.carrier).polls:
        return "skipped"
    try:
        answer = adapter_for(shipment.carrier).query(
            carrier=shipment.carrier, tracking_number=shipment.tracking_number, phone=shipment.order.receiver_phone
        )
    except CarrierUnavailable as exc:
        shipment_poll_failed(shipment=shipment, error=str(exc))
        logger.warning("poll of %s failed: %s", shipment, exc)
        return "failed"
    new = tracking_events_record(shipment=shipment, events=answer.events, via="poll", finished=answer.finished)
    if new:
        job_enqueue_on_commit(job=FOLLOW_PARCEL_JOB, shipment_id=shipment.pk, event_ids=[e.pk for e in new])
    return f"{len(new)} new"


def shipments_poll_due(*, limit: int = 200) -> int:
    """Enqueue a poll job for every parcel due (the scheduler runs this). Each poll is its own job, so one
    failing carrier delays only its own parcels; jobs of one carrier are spaced out (one query a second)."""
    due = Shipment.objects.filter(
        is_active=True,
        is_finished=False,
        next_poll_at__lte=timezone.now(),
        carrier__adapter__in=adapter_names(polls=True),
    ).values_list("pk", "carrier_id")[:limit]
    per_carrier: dict[int, int] = {}
    for pk, carrier_id in due:
        position = per_carrier[carrier_id] = per_carrier.get(carrier_id, -1) + 1
        delay = timedelta(seconds=POLL_SPACING_SECONDS * position) if position else None
        job_enqueue_on_commit(job=POLL_JOB, queue="carriers", delay=delay, shipment_id=pk)
    return len(due)


class PushRefused(Exception):
    """A push we answer with an error and store nothing of: unknown carrier or number, bad signature, garbage."""

    def __init__(self, *, adapter: Adapter, code: str, message: str, status: int):
        super().__init__(message)
        self.adapter, self.code, self.message, self.status = adapter, code, message, status

    def reply(self) -> dict:
        return self.adapter.push_reply(ok=False, code=self.code, message=self.message, status=self.status, extra={})


@dataclass
class PushReceived:
    shipment: Shipment
    adapter: Adapter
    new: list[TrackingEvent]  # stored now, oldest first; a redelivered push brings none
    gave_up: bool  # the provider stopped tracking without a result

    def reply(self) -> dict:
        message = _("成功 stored %(n)d new events") % {"n": len(self.new)}
        return self.adapter.push_reply(
            ok=True, code="ok", message=message, status=200, extra={"new_events": len(self.new)}
        )


def carrier_push_receive(*, carrier_code: str, push: PushRequest) -> PushReceived:
    """Verify, read and store one push to our callback. Raises PushRefused (nothing stored). Idempotent: the
    same push again stores nothing new. The caller (orders' tracking entry service) lets the order follow."""
    carrier = Carrier.objects.filter(code=carrier_code, is_active=True).first()
    adapter = adapter_for(carrier) if carrier is not None else UNKNOWN_SENDER
    if carrier is None or not adapter.pushes:
        message = _("Unknown carrier '%(c)s'.") % {"c": carrier_code[:32]}
        raise PushRefused(adapter=UNKNOWN_SENDER, code=LogisticsErrorCode.UNKNOWN_CARRIER, message=message, status=404)
    try:
        answer: TrackingAnswer = adapter.parse_push(carrier=carrier, push=push)
        number = tracking_number_clean(answer.tracking_number)
    except BadSignature as exc:
        # Unsigned, wrongly signed, or the carrier has no secret: nothing is stored, nothing moves.
        logger.warning("callback of %s refused: %s", carrier_code, exc)
        message = _("Signature does not match.")
        raise PushRefused(adapter=adapter, code=LogisticsErrorCode.BAD_SIGNATURE, message=message, status=403) from exc
    except (CarrierUnavailable, ApplicationError) as exc:
        logger.warning("callback of %s unreadable: %s", carrier_code, exc)
        message = _("Unreadable callback: %(why)s") % {"why": str(exc)[:200]}
        raise PushRefused(adapter=adapter, code=LogisticsErrorCode.BAD_PAYLOAD, message=message, status=400) from exc
    shipment = Shipment.objects.select_related("carrier", "order").filter(carrier=carrier, tracking_number=number)
    shipment = shipment.first()
    if shipment is None:
        message = _("Unknown tracking number %(n)s.") % {"n": number}
        code = LogisticsErrorCode.UNKNOWN_TRACKING_NUMBER
        raise PushRefused(adapter=adapter, code=code, message=message, status=404)
    new = tracking_events_record(shipment=shipment, events=answer.events, via="callback", finished=answer.finished)
    shipment.refresh_from_db()
    return PushReceived(shipment=shipment, adapter=adapter, new=new, gave_up=answer.gave_up)


LOOKUP_TZ = ZoneInfo("Asia/Shanghai")


def tracking_lookup_count(*, door: str, outcome: str, now: datetime | None = None) -> None:
    """Count one customer lookup (客户自助查单) of `door` that ended with `outcome`, on its Asia/Shanghai day:
    one upsert of the day's counter row (n = n + 1), so concurrent lookups never lose a count. Keeps nothing
    of what was typed."""
    if door not in TrackingLookupCount.Door.values:
        raise ValueError(f"unknown lookup door {door!r}")
    if outcome not in TrackingLookupCount.Outcome.values:
        raise ValueError(f"unknown lookup outcome {outcome!r}")
    day = (now or timezone.now()).astimezone(LOOKUP_TZ).date()
    table = TrackingLookupCount._meta.db_table
    connection = connections[TrackingLookupCount.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (day, door, outcome, n) VALUES (%s, %s, %s, 1)
                ON CONFLICT (day, door, outcome) DO UPDATE SET n = {table}.n + 1""",  # noqa: S608 - table from the model
            [connection.ops.adapt_datefield_value(day), door, outcome],
        )
