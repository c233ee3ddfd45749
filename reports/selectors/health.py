"""The sellers' health figures of the dashboard (健康度), read from the daily rows reports.services.health keeps
(DailyHealthFigures, DailyExceptionCauses) and the tracking page's lookup counters (logistics.TrackingLookupCount):
a few aggregate queries whatever the range, the channels or the warehouses.

A ratio is computed here from the summed numerator and denominator of the range, never stored; with nothing to
count (denominator 0) its value is None, shown as "—" (never 0 % or 100 %)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.translation import gettext as _

from logistics.models import TrackingLookupCount
from orders.models import Order, Status
from reports.models import DailyExceptionCauses, DailyHealthFigures
from reports.services.health import HEALTH_COLUMNS
from reports.services.settings import report_settings

REPORT_TZ = ZoneInfo("Asia/Shanghai")
MAX_RANGE_DAYS = 366
PERCENT, PER_THOUSAND = "%", "‰"
ORDERS_LIST = "admin:orders_order_changelist"


@dataclass(frozen=True)
class HealthFigure:
    key: str  # the test's and the page's hook: data-health="…"
    label: str
    definition: str
    numerator: int
    denominator: int
    value: Decimal | None  # percent, or per 1,000 orders; None when the denominator is 0
    unit: str  # "%" or "‰" (per 1,000 orders)
    url: str | None  # the admin list behind the figure, where a list filter can express it

    @property
    def display(self) -> str:
        return "—" if self.value is None else f"{self.value}{self.unit}"


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise ValueError(f"the range has {days} days; at most {MAX_RANGE_DAYS}")


def _ratio(numerator: int, denominator: int, scale: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) * scale / Decimal(denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _rows(model, *, start: date, end: date, channel_id: int | None, warehouse_id: int | None):
    rows = model.objects.filter(day__gte=start, day__lte=end)
    if channel_id is not None:
        rows = rows.filter(channel_id=channel_id)
    if warehouse_id is not None:
        rows = rows.filter(warehouse_id=warehouse_id)
    return rows


def _url(name: str, **query) -> str:
    query = {key: value for key, value in query.items() if value is not None}
    url = reverse(name)
    return f"{url}?{urlencode(query)}" if query else url


def _local(day: date) -> str:
    return datetime.combine(day, time.min, tzinfo=REPORT_TZ).isoformat()


def _scope(channel_id: int | None, warehouse_id: int | None) -> dict:
    return {"channel__id__exact": channel_id, "warehouse__id__exact": warehouse_id}


def health_figures(
    *, start: date, end: date, channel_id: int | None = None, warehouse_id: int | None = None
) -> list["HealthFigure"]:
    """The health figures of the days start..end (both included), of one channel and/or warehouse or all.
    Three statements: the settings row, the daily rows' sums, the lookup counters' sums."""
    _check_range(start, end)
    settings = report_settings()
    sums = _rows(DailyHealthFigures, start=start, end=end, channel_id=channel_id, warehouse_id=warehouse_id).aggregate(
        **{name: Sum(name) for name in HEALTH_COLUMNS}
    )
    f = {name: sums[name] or 0 for name in HEALTH_COLUMNS}
    # Lookups have no channel or warehouse (a number not found belongs to none): counted for the whole hub only.
    if channel_id is None and warehouse_id is None:
        # The customers' own doors only: the lookup API is the staff's and the integrators' (counted, not here).
        customers = (TrackingLookupCount.Door.PAGE, TrackingLookupCount.Door.LINK)
        lookups = TrackingLookupCount.objects.filter(day__gte=start, day__lte=end, door__in=customers).aggregate(
            found=Sum("n", filter=Q(outcome=TrackingLookupCount.Outcome.FOUND)),
            not_found=Sum("n", filter=Q(outcome=TrackingLookupCount.Outcome.NOT_FOUND)),
        )
        found, not_found = lookups["found"] or 0, lookups["not_found"] or 0
        lookup_note = ""
    else:
        found = not_found = 0
        lookup_note = " " + _("Not split by channel or warehouse: shown for the whole hub only.")
    scope = _scope(channel_id, warehouse_id)
    # The daily rows count each order / parcel once a day; a range adds the days up.
    per_day_note = " " + _("Counted per day: an order or parcel seen on several days counts on each of them.")
    next_day = end + timedelta(days=1)
    not_legacy = {"is_legacy__exact": "0"}
    paid_range = {"paid_at__gte": _local(start), "paid_at__lt": _local(next_day), **not_legacy}
    created_range = {"created_at__gte": _local(start), "created_at__lt": _local(next_day), **not_legacy}

    def figure(key, label, definition, numerator, denominator, unit=PERCENT, url=None) -> HealthFigure:
        scale = 1000 if unit == PER_THOUSAND else 100
        return HealthFigure(
            key, label, definition, numerator, denominator, _ratio(numerator, denominator, scale), unit, url
        )

    return [
        figure(
            "consistency",
            _("Order status consistency"),
            _(
                "Status changes into printed, picked up or in transit made in the range whose physical step exists: "
                "printed ⇒ the order has a waybill (label) number, picked up / in transit ⇒ a carrier scan."
            ),
            f["steps_consistent"],
            f["steps_checked"],
            url=_url(ORDERS_LIST, evidence="missing", **scope),  # the orders to act on: now without their evidence
        ),
        figure(
            "pickup_on_time",
            _("Picked up on time"),
            _(
                "Orders paid in the range (not those cancelled before pickup) that the carrier picked up within "
                "%(hours)s h of payment."
            )
            % {"hours": settings.pickup_within_hours},
            f["picked_up_on_time"],
            f["paid"],
            url=_url(ORDERS_LIST, **paid_range, **scope),
        ),
        figure(
            "lookup_success",
            _("Self-service tracking success"),
            _(
                "Customers' lookups on the public tracking page and its SMS links that found the order, of all "
                "well-formed ones (malformed and rate-limited attempts are not counted; the staff's lookup API is not "
                "self-service)."
            )
            + lookup_note,
            found,
            found + not_found,
        ),
        figure(
            "trail",
            _("Change audit trail completeness"),
            _(
                "Status changes and people's edits in the range with a history row and a named actor (a change "
                "from the admin, the API or a scan without a user counts as missing)."
            ),
            f["changes_traced"],
            f["changes"],
        ),
        figure(
            "breakpoint",
            _("Order flow breakpoint rate"),
            _(
                "Orders that left a step in the range where a step lasted longer than its node's timeout (clock "
                "time) by more than %(minutes)s minutes."
            )
            % {"minutes": settings.breakpoint_grace_minutes}
            + per_day_note,
            f["orders_breakpoint"],
            f["orders_moved"],
            url=_url(ORDERS_LIST, overdue_by=settings.breakpoint_grace_minutes, **scope),  # breakpoints open now
        ),
        figure(
            "interventions",
            _("Manual interventions per 1,000 orders"),
            _(
                "Holds, releases, cancels, address changes and edits made by people in the admin in the range, per "
                "1,000 orders created in the range."
            ),
            f["interventions"],
            f["orders_created"],
            unit=PER_THOUSAND,
            url=_url(ORDERS_LIST, **created_range, **scope),
        ),
        figure(
            "stall",
            _("Stall rate"),
            _("Parcels in carrier hands in the range that are stalled (no carrier event for too long).") + per_day_note,
            f["parcels_stalled"],
            f["parcels_in_transit"],
            url=_url(
                "admin:logistics_shipment_changelist",
                stalled_since__isempty="0",
                is_finished__exact="0",
                is_active__exact="1",
            ),
        ),
    ]


def cause_label(cause: str) -> str:
    kind, _sep, detail = cause.partition(":")
    if kind == "hold":
        return _("Hold: %(kind)s") % {
            "kind": Order.HoldKind(detail).label if detail in Order.HoldKind.values else detail
        }
    if detail == "carrier":
        return _("Carrier exception")
    return _("Exception flagged by staff")


def _cause_url(cause: str, scope: dict) -> str:
    kind, _sep, detail = cause.partition(":")
    if kind == "hold":
        return _url(ORDERS_LIST, status__exact=Status.ON_HOLD, hold_kind__exact=detail, **scope)
    return _url(ORDERS_LIST, status__exact=Status.EXCEPTION, **scope)


def exceptions_by_cause(
    *, start: date, end: date, channel_id: int | None = None, warehouse_id: int | None = None
) -> list[tuple[str, int, str]]:
    """Holds and exceptions entered in the range, by cause, most first: (label, count, the list of the orders now
    held or in exception for that cause). One statement."""
    _check_range(start, end)
    rows = (
        _rows(DailyExceptionCauses, start=start, end=end, channel_id=channel_id, warehouse_id=warehouse_id)
        .values("cause")
        .annotate(total=Sum("count"))
        .order_by("-total", "cause")
    )
    scope = _scope(channel_id, warehouse_id)
    return [(cause_label(row["cause"]), row["total"], _cause_url(row["cause"], scope)) for row in rows]
