"""Reads of the reports app: the workbench on the admin home (from the other apps' models and selectors, one
aggregate statement per figure at most, never a loop over rows); the series of the daily rows (reports.services keeps
them fresh); and the dashboard's live figures, each one set-based query (GROUP BY) over orders, to be switched to the
daily rows without the page changing."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from logistics.models import Shipment
from orders import selectors as order_selectors
from orders.models import FINAL_STATES, AddressChange, Alert, Channel, Order, Status
from reports.models import DailyChannelFigures, DailyNodeFigures
from rules.models import Rule
from warehouse.selectors import allocation_settings

# The roles with a workbench block, in the order the blocks show (group names as orders.roles.ROLES has them).
WORKBENCH_ROLES = ("客服", "仓库", "运营主管", "财务")

# The holds customer service works through (the others: stock is the system's, approval the approver's, an
# amount mismatch finance's).
CS_HOLD_KINDS = (Order.HoldKind.REFUND, Order.HoldKind.DUPLICATE, Order.HoldKind.CUSTOMER)

# "Recent" rule errors: as the admin's date filter says "past 7 days".
RULE_ERROR_DAYS = 7


def workbench_roles(*, user) -> list[str]:
    """The workbench blocks the user qualifies for, by group membership (one statement)."""
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in WORKBENCH_ROLES if role in names]


def local_day_start(now: datetime | None = None) -> datetime:
    """Midnight today in the current time zone (Asia/Shanghai), as the admin's date filters count days."""
    return timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class CustomerServiceFigures:
    late_orders: int  # over their node deadline, in nodes the user or the user's groups own
    open_alerts: int  # owned by the user or the user's groups, not acknowledged or resolved
    holds: int  # on hold, of the kinds customer service handles
    address_changes_today: int


def workbench_customer_service(*, user, now: datetime | None = None) -> CustomerServiceFigures:
    """Three statements: orders (late and held, one aggregate), alerts, today's address changes."""
    now = now or timezone.now()
    late = Q(state_deadline__lt=now) & ~Q(status__in=FINAL_STATES) & order_selectors.orders_in_nodes_owned_by(user)
    held = Q(status=Status.ON_HOLD, hold_kind__in=CS_HOLD_KINDS)
    orders = Order.objects.aggregate(late=Count("pk", filter=late), holds=Count("pk", filter=held))
    alerts = order_selectors.alerts_open().filter(order_selectors.alerts_owned_by(user)).count()
    today = local_day_start(now)
    changes = AddressChange.objects.filter(created_at__gte=today, created_at__lt=today + timedelta(days=1)).count()
    return CustomerServiceFigures(
        late_orders=orders["late"], open_alerts=alerts, holds=orders["holds"], address_changes_today=changes
    )


@dataclass(frozen=True)
class WarehouseFigures:
    queue: int  # paid orders waiting in 'allocating'
    queue_wait_minutes: float
    breaker_tripped: bool
    to_print: int  # allocated
    to_hand_over: int  # printed
    stalled_parcels: int


def workbench_warehouse() -> WarehouseFigures:
    """Four statements: the queue's aggregate, the allocation settings row, the print / hand-over aggregate,
    the stalled parcels."""
    backlog, wait = order_selectors.allocation_queue_stats()
    tripped = allocation_settings().breaker_tripped
    orders = Order.objects.aggregate(
        to_print=Count("pk", filter=Q(status=Status.ALLOCATED)),
        to_hand_over=Count("pk", filter=Q(status=Status.PRINTED)),
    )
    stalled = Shipment.objects.filter(stalled_since__isnull=False, is_finished=False, is_active=True).count()
    return WarehouseFigures(
        queue=backlog,
        queue_wait_minutes=wait,
        breaker_tripped=tripped,
        to_print=orders["to_print"],
        to_hand_over=orders["to_hand_over"],
        stalled_parcels=stalled,
    )


@dataclass(frozen=True)
class OpsFigures:
    rules_with_errors: int  # rules whose last run-time error is from the past RULE_ERROR_DAYS days
    approval_overdue: int  # 审批滞留
    rule_error_alerts: int  # open
    channel_pull_failures: int  # open channel_pull_failing alerts


def workbench_ops(*, now: datetime | None = None) -> OpsFigures:
    """Three statements: the rules, 审批滞留, the open alerts of the two kinds (one aggregate)."""
    since = local_day_start(now) - timedelta(days=RULE_ERROR_DAYS)
    rules = Rule.objects.filter(last_error_at__gte=since).count()
    alerts = order_selectors.alerts_open().aggregate(
        rule_errors=Count("pk", filter=Q(kind=Alert.Kind.RULE_ERROR)),
        pulls=Count("pk", filter=Q(kind=Alert.Kind.CHANNEL_PULL_FAILING)),
    )
    return OpsFigures(
        rules_with_errors=rules,
        approval_overdue=order_selectors.orders_approval_overdue_count(),
        rule_error_alerts=alerts["rule_errors"],
        channel_pull_failures=alerts["pulls"],
    )


@dataclass(frozen=True)
class FinanceFigures:
    to_confirm: int  # placed: the payment is not verified yet
    mismatches: int  # held by the payment check (金额不符)


def workbench_finance() -> FinanceFigures:
    """One aggregate statement."""
    orders = Order.objects.aggregate(
        to_confirm=Count("pk", filter=Q(status=Status.PLACED)),
        mismatches=Count("pk", filter=order_selectors.orders_payment_mismatch()),
    )
    return FinanceFigures(to_confirm=orders["to_confirm"], mismatches=orders["mismatches"])


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
