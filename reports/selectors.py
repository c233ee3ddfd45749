"""Reads for the reports pages: each figure is one set-based query (GROUP BY), so it can later read the
pre-aggregated daily rows instead of orders without the pages changing."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from orders.models import Order, Status


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The start and end (exclusive) of a local calendar day (Asia/Shanghai) as aware datetimes."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    return start, start + timedelta(days=1)


def orders_per_hour(day: date) -> list[int]:
    """Orders placed (Order.ordered_at) in each local hour 0..23 of `day`."""
    start, end = local_day_bounds(day)
    rows = (
        Order.objects.filter(ordered_at__gte=start, ordered_at__lt=end)
        .annotate(hour=ExtractHour("ordered_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("hour")
        .annotate(n=Count("id"))
    )
    counts = [0] * 24
    for row in rows:
        counts[row["hour"]] = row["n"]
    return counts


def status_distribution() -> list[tuple[str, str, int]]:
    """(status, label, count) for every status, in the lifecycle's order, zeros included."""
    counts = dict(Order.objects.order_by().values_list("status").annotate(n=Count("id")))
    return [(value, str(label), counts.get(value, 0)) for value, label in Status.choices]


@dataclass
class ChannelSeries:
    channel_id: int
    code: str
    name: str
    orders: list[int] = field(default_factory=list)
    gmv: list[Decimal] = field(default_factory=list)

    @property
    def total_orders(self) -> int:
        return sum(self.orders)

    @property
    def total_gmv(self) -> Decimal:
        return sum(self.gmv, Decimal("0.00"))


def channel_daily_figures(last_day: date, days: int = 14) -> tuple[list[date], list[ChannelSeries]]:
    """Orders and GMV (sum of order subtotals) per channel per local day, for `days` days up to `last_day`.
    Days without orders are zeros; channels without orders in the range are left out."""
    first_day = last_day - timedelta(days=days - 1)
    start, _ = local_day_bounds(first_day)
    _, end = local_day_bounds(last_day)
    rows = (
        Order.objects.filter(ordered_at__gte=start, ordered_at__lt=end)
        .annotate(day=TruncDate("ordered_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day", "channel_id", "channel__code", "channel__name")
        .annotate(n=Count("id"), gmv=Sum("subtotal"))
    )
    day_list = [first_day + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(day_list)}
    series: dict[int, ChannelSeries] = {}
    for row in rows:
        s = series.get(row["channel_id"])
        if s is None:
            s = series[row["channel_id"]] = ChannelSeries(
                row["channel_id"], row["channel__code"], row["channel__name"], [0] * days, [Decimal("0.00")] * days
            )
        i = index[row["day"]]
        s.orders[i] = row["n"]
        s.gmv[i] = row["gmv"] or Decimal("0.00")
    return day_list, sorted(series.values(), key=lambda s: s.code)
