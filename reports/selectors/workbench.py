"""The workbench (我的工作台) on the admin home: from the other apps' models and selectors, one aggregate statement
per figure at most, never a loop over rows."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from logistics.models import Shipment
from orders import selectors as order_selectors
from orders.models import FINAL_STATES, AddressChange, Alert, Order, Status
from reports.models import HourlyOrderFigures
from reports.selectors.health import HealthFigure, health_figures
from rules.models import Rule
from warehouse.picklist import PICKLIST_MAX_ORDERS
from warehouse.selectors import allocation_settings

# The roles with a workbench block, in the order the blocks show (group names as orders.roles.ROLES has them).
WORKBENCH_ROLES = ("客服", "仓库", "运营主管", "财务")

# The holds customer service works through (the others: stock is the system's, approval the approver's, an
# amount mismatch finance's).
CS_HOLD_KINDS = (Order.HoldKind.REFUND, Order.HoldKind.DUPLICATE, Order.HoldKind.CUSTOMER)

# Who may open the pick list page (warehouse.views.FULFIL_PERMISSION, the warehouse steps' permission).
PICK_PERMISSION = "orders.fulfil_order"

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
    """Four statements: late orders, holds, alerts, today's address changes."""
    now = now or timezone.now()
    late = Q(state_deadline__lt=now) & ~Q(status__in=FINAL_STATES) & order_selectors.orders_in_nodes_owned_by(user)
    held = Q(status=Status.ON_HOLD, hold_kind__in=CS_HOLD_KINDS)
    # Two counts, not one aggregate: each alone is an index(-only) scan (5 ms over 1,000,000 orders); one statement
    # over "late OR held" reads every such row from the table (320 ms).
    orders = {"late": Order.objects.filter(late).count(), "holds": Order.objects.filter(held).count()}
    alerts = order_selectors.alerts_open().filter(order_selectors.alerts_owned_by(user)).count()
    today = local_day_start(now)
    changes = AddressChange.objects.filter(created_at__gte=today, created_at__lt=today + timedelta(days=1)).count()
    return CustomerServiceFigures(
        late_orders=orders["late"], open_alerts=alerts, holds=orders["holds"], address_changes_today=changes
    )


@dataclass(frozen=True)
class PickWave:
    """What one warehouse's pick list (/warehouse/picklist/?warehouse=…) holds now: its allocated orders, printed
    PICKLIST_MAX_ORDERS to a sheet (warehouse.picklist: one wave's pick list and labels)."""

    warehouse_code: str  # "" for allocated orders without a warehouse (the pick list's "—" group)
    warehouse_name: str
    orders: int

    @property
    def waves(self) -> int:
        return -(-self.orders // PICKLIST_MAX_ORDERS)


@dataclass(frozen=True)
class WarehouseFigures:
    queue: int  # paid orders waiting in 'allocating'
    queue_wait_minutes: float
    breaker_tripped: bool
    to_print: int  # allocated
    to_hand_over: int  # printed
    stalled_parcels: int
    pick_waves: tuple[PickWave, ...] = ()  # per warehouse, by code: the allocated orders waiting to be picked


def workbench_warehouse() -> WarehouseFigures:
    """Four statements: the queue's aggregate, the allocation settings row, the allocated and printed orders per
    status and warehouse (one GROUP BY: the pick waves, and their sums to print and to hand over), the stalled
    parcels."""
    backlog, wait = order_selectors.allocation_queue_stats()
    tripped = allocation_settings().breaker_tripped
    rows = (
        Order.objects.filter(status__in=(Status.ALLOCATED, Status.PRINTED))
        .values_list("status", "warehouse__code", "warehouse__name")
        .annotate(n=Count("pk"))
        .order_by("status", "warehouse__code")
    )
    waves, to_print, to_hand_over = [], 0, 0
    for status, code, name, n in rows:
        if status == Status.ALLOCATED:
            to_print += n
            waves.append(PickWave(code or "", name or "", n))
        else:
            to_hand_over += n
    stalled = Shipment.objects.filter(stalled_since__isnull=False, is_finished=False, is_active=True).count()
    return WarehouseFigures(
        queue=backlog,
        queue_wait_minutes=wait,
        breaker_tripped=tripped,
        to_print=to_print,
        to_hand_over=to_hand_over,
        stalled_parcels=stalled,
        pick_waves=tuple(waves),
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
class OpsHeadline:
    """The dashboard's headline figures of today, from the reports app's rows (as fresh as the last refresh)."""

    day: date
    orders: int
    gmv: Decimal
    consistency: HealthFigure
    breakpoints: HealthFigure


def workbench_ops_headline(*, day: date) -> OpsHeadline:
    """Four statements: today's hour rows, and the health figures of today (settings, rows, lookups)."""
    totals = HourlyOrderFigures.objects.filter(day=day).aggregate(orders=Sum("orders"), gmv=Sum("gmv"))
    health = {figure.key: figure for figure in health_figures(start=day, end=day)}
    return OpsHeadline(
        day=day,
        orders=totals["orders"] or 0,
        gmv=totals["gmv"] or Decimal("0.00"),
        consistency=health["consistency"],
        breakpoints=health["breakpoint"],
    )


@dataclass(frozen=True)
class FinanceFigures:
    to_confirm: int  # waiting for a person to confirm the payment (orders.selectors.orders_payment_to_confirm)
    mismatches: int  # held by the payment check (金额不符)


def workbench_finance() -> FinanceFigures:
    """One aggregate statement."""
    to_confirm, mismatches = order_selectors.orders_payment_to_confirm(), order_selectors.orders_payment_mismatch()
    orders = Order.objects.filter(to_confirm | mismatches).aggregate(
        to_confirm=Count("pk", filter=to_confirm), mismatches=Count("pk", filter=mismatches)
    )
    return FinanceFigures(to_confirm=orders["to_confirm"], mismatches=orders["mismatches"])
