"""Reads of the reports app: only its daily rows (reports.services keeps them fresh), never every order."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from orders.models import Channel, Status
from reports.models import DailyChannelFigures, DailyNodeFigures

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
