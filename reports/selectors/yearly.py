"""Figures of the yearly fulfilment report (我的年度履约报告) of customers, by set-based statements.

Whatever the number of customers asked for, the figures are four statements: one aggregate per customer, one per
customer and month, one listing the exception orders, one for the node timeouts. The definitions, printed on the
report as DEFINITIONS:

- The year's orders: the customer's orders placed (ordered_at) in [1 Jan 00:00, next 1 Jan 00:00) Asia/Shanghai.
- Shipped: the first time the order entered a carrier state (已揽收, 运输中 or 已签收: handed over to the carrier),
  from the timeline.
- Ship-by deadline: the earlier of the seller's promised ship-by and the platform's ship-by deadline; an order
  with neither has payment time + the node timeouts before the handover (支付已校验, 待分仓, 仓单已生成, 已打单;
  nodes without a timeout add nothing, working-time nodes count their minutes as clock minutes); no deadline at
  all when none of them has a timeout.
- On-time ship rate: orders shipped by their deadline / rated orders. Rated: orders with a deadline that were
  shipped, or were not shipped although paid, neither cancelled nor on hold for review now, and whose deadline
  has passed (late, unshipped).
- Average delivery time: payment (paid_at, else the timeline's pay step) to the first 已签收, over delivered orders.
- Exception orders: the year's orders that entered 异常 at any time (or are in it now).
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    BooleanField,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, ExtractMonth, Least
from django.utils import timezone

from orders.models import Order, OrderEvent, Status, StatusNode
from reports.models import YearlyReport

# The nodes an order passes between payment and handover: their timeouts make the deadline of an order that has
# neither a promised nor a platform ship-by.
BEFORE_HANDOVER = [Status.PAID, Status.ALLOCATING, Status.ALLOCATED, Status.PRINTED]
SHIPPED_STATES = [Status.PICKED_UP, Status.IN_TRANSIT, Status.DELIVERED]
# An unshipped order in one of these is not counted late: not paid, cancelled, or waiting for a review (a refund
# request, an address change, approval) that decides whether it ships at all.
NOT_YET_LATE = [Status.PLACED, Status.CANCELLED, Status.ON_HOLD]
EXCEPTIONS_LISTED = 200  # per report; the count is always complete

DEFINITIONS = [
    ("订单 Orders", "该年（北京时间 1 月 1 日 0 点起至次年 1 月 1 日 0 点前）下单的全部订单。"),
    (
        "发货 Shipped",
        "订单首次进入承运商状态（已揽收、运输中或已签收，即交接给快递）的时间，取自订单时间线。",
    ),
    (
        "发货期限 Ship-by deadline",
        "承诺发货时间与平台发货截止时间中较早者；两者皆无时，为支付时间加上交接前各节点（支付已校验、待分仓、"
        "仓单已生成、已打单）的超时时长之和（无超时的节点不计，按工作时间计的节点按自然分钟计）。",
    ),
    (
        "准时发货率 On-time ship rate",
        "在期限前（含）发货的订单数 ÷ 计入考核的订单数。计入考核：有期限且已发货的订单，以及已支付、未取消、"
        "当前不在人工复核中、期限已过仍未发货的订单（计为超时）。",
    ),
    ("平均送达时长 Average delivery time", "已签收订单从支付到首次签收的平均时长（小时）。"),
    ("异常订单 Exception orders", "该年订单中曾进入或当前处于“异常”状态的订单。"),
]


@dataclass
class ExceptionOrder:
    number: str
    ordered_at: str  # local time, "YYYY-MM-DD HH:MM"
    exception_at: str  # when it (last) entered 异常, local time; "" when in it without a timeline step
    status: str  # the status value now
    # No reason: it is staff-internal text and the report goes to the customer (as the fulfilment certificate).


@dataclass
class MonthFigures:
    month: int
    orders: int = 0
    rated: int = 0
    on_time: int = 0
    exceptions: int = 0


@dataclass
class YearlyFigures:
    customer_id: int
    year: int
    orders: int = 0
    gmv: Decimal = Decimal("0.00")
    cancelled: int = 0
    shipped: int = 0
    rated: int = 0
    on_time: int = 0
    delivered: int = 0
    delivery_hours_avg: Decimal | None = None  # two decimals
    exceptions: int = 0
    months: list[MonthFigures] = field(default_factory=list)
    exception_orders: list[ExceptionOrder] = field(default_factory=list)

    @property
    def on_time_rate(self) -> Decimal | None:
        """Percent, one decimal; None when no order is rated."""
        if not self.rated:
            return None
        return (Decimal(100 * self.on_time) / self.rated).quantize(Decimal("0.1"))

    def as_json(self) -> dict:
        data = asdict(self)
        data["gmv"] = str(self.gmv)
        data["delivery_hours_avg"] = None if self.delivery_hours_avg is None else str(self.delivery_hours_avg)
        data["on_time_rate"] = None if self.on_time_rate is None else str(self.on_time_rate)
        return data


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[local 1 Jan 00:00, next local 1 Jan 00:00) of the year, Asia/Shanghai."""
    tz = ZoneInfo(settings.TIME_ZONE)
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


def handover_timeout_minutes() -> int | None:
    """The node timeouts between payment and handover, summed; None when none of those nodes has one."""
    total = StatusNode.objects.filter(status__in=BEFORE_HANDOVER, timeout_minutes__isnull=False).aggregate(
        total=Sum("timeout_minutes")
    )["total"]
    return total or None


def _year_orders(year: int) -> QuerySet[Order]:
    start, end = year_bounds(year)
    return Order.objects.filter(ordered_at__gte=start, ordered_at__lt=end)


def _first_transition_at(**filters) -> Subquery:
    return Subquery(
        OrderEvent.objects.filter(order=OuterRef("pk"), kind=OrderEvent.Kind.TRANSITION, **filters)
        .order_by("created_at", "id")
        .values("created_at")[:1]
    )


def _rated_orders(year: int, customer_ids: list[int]) -> QuerySet[Order]:
    """The year's orders of these customers, each with its ship, delivery and deadline times and whether it is
    rated / on time / an exception (annotations the aggregates below count)."""
    fallback = handover_timeout_minutes()
    paid = Coalesce("paid_at", _first_transition_at(transition="pay"))
    deadline_parts = [Least("promised_ship_by", "platform_ship_by"), F("promised_ship_by"), F("platform_ship_by")]
    if fallback is not None:
        deadline_parts.append(F("paid") + Value(timedelta(minutes=fallback), output_field=DurationField()))
    # Least ignores NULLs on PostgreSQL and returns NULL on SQLite: the single deadlines after it cover both.
    now = timezone.now()
    return (
        _year_orders(year)
        .filter(customer_id__in=customer_ids)
        .annotate(
            paid=paid,
            shipped_at=_first_transition_at(to_status__in=SHIPPED_STATES),
            delivered_at=_first_transition_at(to_status=Status.DELIVERED),
            deadline=Coalesce(*deadline_parts),
            had_exception=Exists(
                OrderEvent.objects.filter(
                    order=OuterRef("pk"), kind=OrderEvent.Kind.TRANSITION, to_status=Status.EXCEPTION
                )
            ),
        )
        .annotate(
            is_rated=ExpressionWrapper(
                Q(deadline__isnull=False)
                & (
                    Q(shipped_at__isnull=False)
                    | (Q(paid__isnull=False, deadline__lt=now) & ~Q(status__in=NOT_YET_LATE))
                ),
                output_field=BooleanField(),
            ),
            is_exception=ExpressionWrapper(
                Q(had_exception=True) | Q(status=Status.EXCEPTION), output_field=BooleanField()
            ),
        )
    )


def _counts() -> dict:
    return {
        "orders": Count("id"),
        "rated": Count("id", filter=Q(is_rated=True)),
        "on_time": Count("id", filter=Q(is_rated=True, shipped_at__lte=F("deadline"))),
        "exceptions": Count("id", filter=Q(is_exception=True)),
    }


def customers_year_figures(*, customer_ids: list[int], year: int) -> dict[int, YearlyFigures]:
    """The year's figures of each customer that has orders that year (customers without any are left out)."""
    if not customer_ids:
        return {}
    rows = _rated_orders(year, customer_ids)
    delivered = Q(delivered_at__isnull=False, paid__isnull=False)
    totals = rows.values("customer_id").annotate(
        **_counts(),
        gmv=Sum("paid_amount"),
        cancelled=Count("id", filter=Q(status=Status.CANCELLED)),
        shipped=Count("id", filter=Q(shipped_at__isnull=False)),
        delivered=Count("id", filter=delivered),
        delivery_total=Sum(
            ExpressionWrapper(F("delivered_at") - F("paid"), output_field=DurationField()), filter=delivered
        ),
    )
    figures: dict[int, YearlyFigures] = {}
    for row in totals.order_by():
        average = None
        if row["delivered"] and row["delivery_total"] is not None:
            hours = Decimal(row["delivery_total"].total_seconds()) / 3600 / row["delivered"]
            average = hours.quantize(Decimal("0.01"))
        figures[row["customer_id"]] = YearlyFigures(
            customer_id=row["customer_id"],
            year=year,
            orders=row["orders"],
            gmv=(row["gmv"] or Decimal(0)).quantize(Decimal("0.01")),
            cancelled=row["cancelled"],
            shipped=row["shipped"],
            rated=row["rated"],
            on_time=row["on_time"],
            delivered=row["delivered"],
            delivery_hours_avg=average,
            exceptions=row["exceptions"],
            months=[MonthFigures(month=m) for m in range(1, 13)],
        )
    # ExtractMonth counts in the current time zone (Asia/Shanghai): local months.
    monthly = rows.annotate(month=ExtractMonth("ordered_at")).values("customer_id", "month").annotate(**_counts())
    for row in monthly.order_by():
        month = figures[row["customer_id"]].months[row["month"] - 1]
        month.orders, month.rated, month.on_time, month.exceptions = (
            row["orders"],
            row["rated"],
            row["on_time"],
            row["exceptions"],
        )
    entered = Subquery(
        OrderEvent.objects.filter(order=OuterRef("pk"), kind=OrderEvent.Kind.TRANSITION, to_status=Status.EXCEPTION)
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )
    listed = (
        rows.filter(is_exception=True)
        .annotate(exception_at=entered)
        .order_by("customer_id", "ordered_at", "id")
        .values_list("customer_id", "number", "ordered_at", "exception_at", "status")
    )
    tz = ZoneInfo(settings.TIME_ZONE)
    for customer_id, number, ordered_at, exception_at, status in listed:
        target = figures[customer_id].exception_orders
        if len(target) < EXCEPTIONS_LISTED:
            target.append(
                ExceptionOrder(
                    number=number,
                    ordered_at=ordered_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    exception_at=exception_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if exception_at else "",
                    status=status,
                )
            )
    return figures


def top_customers(*, year: int, limit: int, by: str = "orders") -> list[int]:
    """One statement: the ids of the `limit` customers with the most orders (or GMV) placed in the year."""
    order_by = ["-orders", "-gmv"] if by == "orders" else ["-gmv", "-orders"]
    return list(
        _year_orders(year)
        .values("customer_id")
        .annotate(orders=Count("id"), gmv=Coalesce(Sum("paid_amount"), Decimal(0)))
        .order_by(*order_by, "customer_id")
        .values_list("customer_id", flat=True)[:limit]
    )


def customer_yearly_reports(*, customer_id: int) -> list[YearlyReport]:
    """The stored reports of one customer, newest year first, without their PDFs."""
    return list(
        YearlyReport.objects.filter(customer_id=customer_id)
        .only("pk", "customer_id", "year", "orders", "generated_at")
        .order_by("-year")
    )
