"""The dashboard's figures: the series of the daily rows (reports.services.daily keeps them fresh), and the live
figures, each one set-based query (GROUP BY) over orders, to be switched to the daily rows without the page changing."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from orders.models import Channel, Order, Status
from reports.models import DailyChannelFigures, DailyNodeFigures

# --- the dashboard's series: the daily rows only ---------------------------------------------------------
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class ChannelDay:
    day: date
    orders: int
    gmv: Decimal


@dataclass(frozen=True)
class ChannelSeries:
    channel: Channel
    days: list[ChannelDay]

    @property
    def orders(self) -> int:
        return sum(point.orders for point in self.days)

    @property
    def gmv(self) -> Decimal:
        return sum((point.gmv for point in self.days), Decimal("0.00"))


@dataclass(frozen=True)
class NodeDay:
    day: date
    entered: int
    left: int
    p50_minutes: Decimal | None
    p90_minutes: Decimal | None
    over_timeout: int | None


@dataclass
class NodeDurations:
    status: str
    label: str
    days: list[NodeDay] = field(default_factory=list)

    @property
    def entered(self) -> int:
        return sum(point.entered for point in self.days)

    @property
    def left(self) -> int:
        return sum(point.left for point in self.days)


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    count = (end - start).days + 1
    if count > MAX_RANGE_DAYS:
        raise ValueError(f"the range has {count} days; at most {MAX_RANGE_DAYS}")
    return [start + timedelta(days=offset) for offset in range(count)]


def channel_day_series(*, start: date, end: date, channel: Channel | None = None) -> list[ChannelSeries]:
    """Orders and GMV per channel per day from start to end (both included), every day present (zeros where
    nothing happened). Channels: the one asked for, else the active ones and any other with figures in the range."""
    days = _days(start, end)
    rows = DailyChannelFigures.objects.filter(day__gte=start, day__lte=end)
    if channel is not None:
        rows = rows.filter(channel=channel)
        channels = [channel]
    else:
        with_rows = rows.values("channel_id")
        channels = list(Channel.objects.filter(is_active=True) | Channel.objects.filter(pk__in=with_rows))
    figures = {(row.channel_id, row.day): row for row in rows.only("channel_id", "day", "orders", "gmv")}
    zero = Decimal("0.00")
    series = []
    for each in sorted(channels, key=lambda item: item.code):
        points = []
        for day in days:
            row = figures.get((each.pk, day))
            points.append(ChannelDay(day=day, orders=row.orders if row else 0, gmv=row.gmv if row else zero))
        series.append(ChannelSeries(channel=each, days=points))
    return series


def node_durations(*, start: date, end: date) -> list[NodeDurations]:
    """Per status node (in the status machine's order), each day's entries, ended stays and their p50 / p90
    minutes from start to end (both included). Percentiles are the day's: they do not add up across days."""
    days = _days(start, end)
    rows = {(row.status, row.day): row for row in DailyNodeFigures.objects.filter(day__gte=start, day__lte=end)}
    statuses = {status for status, _day in rows}
    result = []
    for status in Status:
        if status.value not in statuses:
            continue
        node = NodeDurations(status=status.value, label=str(status.label))
        for day in days:
            row = rows.get((status.value, day))
            node.days.append(
                NodeDay(
                    day=day,
                    entered=row.entered if row else 0,
                    left=row.left if row else 0,
                    p50_minutes=row.p50_minutes if row else None,
                    p90_minutes=row.p90_minutes if row else None,
                    over_timeout=row.over_timeout if row else None,
                )
            )
        result.append(node)
    return result


# --- the dashboard's live figures ------------------------------------------------------------------------
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
class ChannelDays:
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


def channel_daily_figures(last_day: date, days: int = 14) -> tuple[list[date], list[ChannelDays]]:
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
    series: dict[int, ChannelDays] = {}
    for row in rows:
        s = series.get(row["channel_id"])
        if s is None:
            s = series[row["channel_id"]] = ChannelDays(
                row["channel_id"], row["channel__code"], row["channel__name"], [0] * days, [Decimal("0.00")] * days
            )
        i = index[row["day"]]
        s.orders[i] = row["n"]
        s.gmv[i] = row["gmv"] or Decimal("0.00")
    return day_list, sorted(series.values(), key=lambda s: s.code)
