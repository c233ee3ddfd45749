"""The tracking registry and carrier events: register a parcel once, store each carrier event once, keep the
parcel's state and stall flag. What an event means for the order is decided in orders.services.tracking."""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.exceptions import Conflict, InvalidInput, LogisticsErrorCode
from logistics.models import Carrier, Shipment, TrackingEvent

TRACKING_NUMBER_MAX = 32
CALLBACK_SECRET_BYTES = 24


@dataclass(frozen=True)
class CarrierEvent:
    """One event as an adapter parsed it."""

    occurred_at: datetime
    description: str
    carrier_state: str = ""
    location: str = ""
    raw: dict | None = None

    def fingerprint(self) -> str:
        # Not the state: Kuaidi100 states the parcel, so the same event comes with and without one.
        key = f"{self.occurred_at.astimezone(UTC).isoformat()}|{self.description}|{self.location}"
        return hashlib.sha256(key.encode()).hexdigest()


def carrier_callback_secret_new() -> str:
    """A random callback secret (Kuaidi100 salt / generic HMAC key)."""
    return secrets.token_urlsafe(CALLBACK_SECRET_BYTES)


def carrier_save(*, carrier: Carrier, actor: AbstractBaseUser | None) -> Carrier:
    """Save a carrier row. A push adapter without a callback secret is refused on the field: its callback
    would accept unsigned pushes. (The admin form generates one and shows it once before it gets here.)"""
    if carrier.adapter in Carrier.PUSH_ADAPTERS and not carrier.callback_secret:
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


def tracking_number_clean(value) -> str:
    number = "".join(str(value or "").split()).upper()
    if not number or len(number) > TRACKING_NUMBER_MAX or not number.isascii() or not number.isalnum():
        raise InvalidInput(
            _("A tracking number is 1 to %(n)d letters and digits.") % {"n": TRACKING_NUMBER_MAX},
            code="invalid_field",
            extra={"field": "tracking_number"},
        )
    return number


def shipment_register(*, order, carrier: Carrier, tracking_number: str, source: str) -> Shipment:
    """Register a parcel of an order once. The same number again for the same order returns the parcel;
    for another order it is refused, naming that order."""
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
                    next_poll_at=timezone.now() if carrier.adapter == Carrier.Adapter.KUAIDI100 else None,
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
    return existing


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
        shipment.next_poll_at = None if shipment.is_finished else now + timedelta(minutes=shipment.carrier.poll_minutes)
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
        stalled = Shipment.objects.filter(quiet, carrier=carrier, is_finished=False, stalled_since__isnull=True)
        for shipment in stalled.select_related("carrier", "order"):
            if Shipment.objects.filter(pk=shipment.pk, stalled_since__isnull=True).update(
                stalled_since=now, next_poll_at=now
            ):
                shipment.stalled_since = now
                flagged.append(shipment)
    return flagged


def carrier_state_mappings_ensure() -> int:
    """Create the default state mappings that are missing (never changes edited ones). Returns how many."""
    from logistics.defaults import DEFAULT_STATE_MAPPINGS
    from logistics.models import CarrierStateMapping

    created = 0
    for state, label, effect in DEFAULT_STATE_MAPPINGS:
        _row, made = CarrierStateMapping.objects.get_or_create(
            carrier=None, carrier_state=state, defaults={"label": label, "effect": effect}
        )
        created += made
    return created
