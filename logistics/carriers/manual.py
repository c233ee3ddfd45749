"""A carrier without a tracking feed: numbers are registered, events are typed in by staff (if at all).

Its waybills come from the seller's pre-bought number ranges (号段) on the carrier row: handed out in order,
never twice. This module is the only writer of a range's counter (logistics.services.waybill_number_take is
the service entry for callers outside the adapters)."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.carriers.base import Adapter, Waybill, WaybillRefused, WaybillRequest
from logistics.models import Carrier, WaybillNumberIssue, WaybillNumberRange


def _issued(carrier: Carrier, key: str) -> WaybillNumberIssue | None:
    return WaybillNumberIssue.objects.filter(carrier=carrier, key=key, cancelled_at__isnull=True).first()


def number_take(*, carrier: Carrier, key: str) -> str:
    """The next number of the carrier's active ranges (oldest range first) for this key; the same key again
    gives the same number. Two callers at once: the range row lock serialises them, so the second sees the
    first's number for the same key, or takes the next one for another key."""
    issued = _issued(carrier, key)
    if issued is not None:
        return issued.tracking_number
    try:
        with transaction.atomic():
            open_ranges = WaybillNumberRange.objects.filter(
                carrier=carrier, is_active=True, next_number__lte=F("last_number")
            ).order_by("pk")
            number_range = open_ranges.select_for_update().first()
            if number_range is None:
                raise WaybillRefused(_("Waybill number range used up") + f" ({carrier.name})")
            issued = _issued(carrier, key)  # taken by the caller we waited for
            if issued is not None:
                return issued.tracking_number
            number = number_range.number(number_range.next_number)
            # One UPDATE on the locked row; the counter is not history-tracked (the issue row is the record).
            WaybillNumberRange.objects.filter(pk=number_range.pk).update(next_number=F("next_number") + 1)
            WaybillNumberIssue.objects.create(
                number_range=number_range, carrier=carrier, key=key, tracking_number=number
            )
    except IntegrityError:  # the same key got its number in a concurrent call a moment ago
        issued = _issued(carrier, key)
        if issued is None:
            raise
        return issued.tracking_number
    return number


def number_cancel(*, carrier: Carrier, tracking_number: str, key: str, reason: str) -> None:
    """Mark a taken number cancelled: never handed out again; its key may get a new number. Without a number
    (its answer never reached the registry), the number the key was given is cancelled, if it got one."""
    if not tracking_number:
        issued = _issued(carrier, key)
        if issued is None:
            return  # nothing was handed out for this key: nothing to cancel
    else:
        issued = WaybillNumberIssue.objects.filter(
            carrier=carrier, tracking_number=tracking_number, cancelled_at__isnull=True
        ).first()
    if issued is None:
        raise WaybillRefused(
            _("%(number)s was not taken from a number range of %(carrier)s.")
            % {"number": tracking_number, "carrier": carrier.name}
        )
    if key and issued.key != key:
        raise WaybillRefused(
            _("%(number)s belongs to %(key)s, not %(other)s.")
            % {"number": tracking_number, "key": issued.key, "other": key}
        )
    WaybillNumberIssue.objects.filter(pk=issued.pk).update(cancelled_at=timezone.now(), cancel_reason=reason[:200])


class Manual(Adapter):
    issues_waybills = True  # from the carrier's number ranges, when it has an open one

    def waybill_ready(self, *, carrier: Carrier) -> bool:
        return WaybillNumberRange.objects.filter(
            carrier=carrier, is_active=True, next_number__lte=F("last_number")
        ).exists()

    def waybill_order(self, *, carrier: Carrier, request: WaybillRequest) -> Waybill:
        number = number_take(carrier=carrier, key=request.key)
        return Waybill(tracking_number=number, raw={"source": "number_range", "key": request.key})

    def waybill_cancel(self, *, carrier: Carrier, tracking_number: str, key: str, reason: str) -> None:
        number_cancel(carrier=carrier, tracking_number=tracking_number, key=key, reason=reason)
