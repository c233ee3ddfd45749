"""The dashboard's figures, each one set-based query over the reports app's own rows (reports.services.daily keeps
them fresh), never over orders: the hour rows (orders and GMV per hour, channel and warehouse), the status snapshot,
the daily node rows. Every query's size is bounded by days × channels × warehouses, whatever the number of orders."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Max, Q, Sum

from orders.models import Channel, Status
from reports.models import DailyChannelFigures, DailyNodeFigures, HourlyOrderFigures, StatusSnapshot

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


# --- the dashboard page: hour rows, status snapshot, node rows ------------------------------------------
ZERO = Decimal("0.00")


def _hour_rows(*, channel_id: int | None, warehouse_id: int | None):
    rows = HourlyOrderFigures.objects.order_by()
    if channel_id is not None:
        rows = rows.filter(channel_id=channel_id)
    if warehouse_id is not None:
        rows = rows.filter(warehouse_id=warehouse_id)
    return rows


@dataclass(frozen=True)
class OrderSeries:
    """One channel's orders and GMV per day of the range (zeros on days without orders)."""

    channel_id: int
    orders: list[int]
    gmv: list[Decimal]

    @property
    def total_orders(self) -> int:
        return sum(self.orders)

    @property
    def total_gmv(self) -> Decimal:
        return sum(self.gmv, ZERO)


def order_day_series(
    *, start: date, end: date, channel_id: int | None = None, warehouse_id: int | None = None
) -> tuple[list[date], list[OrderSeries]]:
    """The days from start to end (both included) and, per channel with orders in them (or the one asked for), its
    orders and GMV per day: one GROUP BY (day, channel) over the hour rows."""
    days = _days(start, end)
    index = {day: position for position, day in enumerate(days)}
    rows = (
        _hour_rows(channel_id=channel_id, warehouse_id=warehouse_id)
        .filter(day__gte=start, day__lte=end)
        .values("day", "channel_id")
        .annotate(n=Sum("orders"), gmv=Sum("gmv"))
    )
    series: dict[int, OrderSeries] = {}
    if channel_id is not None:
        series[channel_id] = OrderSeries(channel_id, [0] * len(days), [ZERO] * len(days))
    for row in rows:
        each = series.setdefault(row["channel_id"], OrderSeries(row["channel_id"], [0] * len(days), [ZERO] * len(days)))
        each.orders[index[row["day"]]] = row["n"]
        each.gmv[index[row["day"]]] = row["gmv"] or ZERO
    return days, list(series.values())


@dataclass(frozen=True)
class WarehouseTotal:
    warehouse_id: int | None  # None: not allocated yet
    orders: int
    gmv: Decimal


def orders_by_warehouse(
    *, start: date, end: date, channel_id: int | None = None, warehouse_id: int | None = None
) -> list[WarehouseTotal]:
    """Orders and GMV of the range per warehouse (None: not allocated yet), largest first: one GROUP BY."""
    _days(start, end)
    rows = (
        _hour_rows(channel_id=channel_id, warehouse_id=warehouse_id)
        .filter(day__gte=start, day__lte=end)
        .values("warehouse_id")
        .annotate(n=Sum("orders"), gmv=Sum("gmv"))
    )
    totals = [WarehouseTotal(row["warehouse_id"], row["n"], row["gmv"] or ZERO) for row in rows]
    return sorted(totals, key=lambda item: (-item.orders, item.warehouse_id is None, item.warehouse_id or 0))


def orders_per_hour(*, day: date, channel_id: int | None = None, warehouse_id: int | None = None) -> list[int]:
    """Orders placed in each local hour 0..23 of `day`: one GROUP BY hour over that day's hour rows."""
    counts = [0] * 24
    rows = _hour_rows(channel_id=channel_id, warehouse_id=warehouse_id).filter(day=day)
    for hour, n in rows.values_list("hour").annotate(n=Sum("orders")):
        counts[hour] = n
    return counts


@dataclass(frozen=True)
class StatusCounts:
    rows: list[tuple[str, str, int]]  # (status, label, orders) for every status in the lifecycle's order
    taken_at: datetime | None  # when the snapshot was counted; None: never yet

    @property
    def total(self) -> int:
        return sum(n for _status, _label, n in self.rows)


def status_distribution(*, channel_id: int | None = None, warehouse_id: int | None = None) -> StatusCounts:
    """Orders per status now, as the snapshot counted them (every minute): one GROUP BY over its rows."""
    wanted = Q()
    if channel_id is not None:
        wanted &= Q(channel_id=channel_id)
    if warehouse_id is not None:
        wanted &= Q(warehouse_id=warehouse_id)
    # Over the whole snapshot (statuses × channels × warehouses rows), so its time shows even when the filter
    # leaves no orders.
    rows = StatusSnapshot.objects.order_by().values_list("status")
    counts, taken_at = {}, None
    for status, n, at in rows.annotate(n=Sum("orders", filter=wanted), at=Max("taken_at")):
        counts[status] = n or 0
        taken_at = at if taken_at is None else max(taken_at, at)
    return StatusCounts([(value, str(label), counts.get(value, 0)) for value, label in Status.choices], taken_at)


@dataclass(frozen=True)
class NodeSummary:
    """One status node over a range of days: entries, ended stays, and the day's p50 / p90 averaged over the days
    weighted by each day's ended stays (percentiles of days cannot be added up; this is their stays-weighted mean)."""

    status: str
    label: str
    entered: int
    left: int
    p50_minutes: Decimal | None
    p90_minutes: Decimal | None
    over_timeout: int | None


def node_duration_summary(*, start: date, end: date) -> list[NodeSummary]:
    """Per status node with figures in the range, in the status machine's order: one GROUP BY over the node rows."""
    _days(start, end)
    weighted = DecimalField(max_digits=24, decimal_places=4)
    rows = (
        DailyNodeFigures.objects.filter(day__gte=start, day__lte=end)
        .order_by()
        .values("status")
        .annotate(
            entered_sum=Sum("entered"),
            left_sum=Sum("left"),
            p50_weight=Sum(ExpressionWrapper(F("p50_minutes") * F("left"), output_field=weighted)),
            p90_weight=Sum(ExpressionWrapper(F("p90_minutes") * F("left"), output_field=weighted)),
            measured=Sum("left", filter=Q(p50_minutes__isnull=False)),
            over=Sum("over_timeout"),
        )
    )
    by_status = {row["status"]: row for row in rows}
    quantum = Decimal("0.01")
    result = []
    for status in Status:
        row = by_status.get(status.value)
        if row is None:
            continue
        measured = row["measured"] or 0

        def mean(total, measured=measured):
            return (Decimal(total) / measured).quantize(quantum) if measured and total is not None else None

        result.append(
            NodeSummary(
                status=status.value,
                label=str(status.label),
                entered=row["entered_sum"] or 0,
                left=row["left_sum"] or 0,
                p50_minutes=mean(row["p50_weight"]),
                p90_minutes=mean(row["p90_weight"]),
                over_timeout=row["over"],
            )
        )
    return result
