"""Reads of the orders app: finding orders, their detail and their timeline."""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Avg,
    Case,
    CharField,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Right
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.models import Shipment, TrackingEvent
from logistics.selectors import active_parcel_order_ids, orders_with_tracking_number
from orders.exceptions import NotFound, OrderErrorCode
from orders.imports import normalize, plan, read
from orders.imports.fields import header_key, mapping_suggest
from orders.imports.plan import ORDER_KEYS, row_read
from orders.imports.plan import Row as ImportRow
from orders.models import (
    FINAL_STATES,
    IN_CARRIER_HANDS,
    Alert,
    AlertRoute,
    Channel,
    Customer,
    ErpEndpoint,
    ImportJob,
    ImportProblem,
    ImportTemplate,
    InboxDelivery,
    IntakeRecord,
    Order,
    OrderEvent,
    OrderLine,
    PromiseSettings,
    Status,
    StatusNode,
    WebhookRefusal,
)
from orders.phones import CN_MOBILE_PREFIX_RE, LAST4_RE, is_cn_mobile, is_masked_phone, normalize_phone
from warehouse.models import Warehouse

# --- promise lights: computed in SQL (lists and counters), thresholds from PromiseSettings -------------------
PROMISE_LIGHTS = ("green", "yellow", "red")
SHIPPED = (Status.PICKED_UP, Status.IN_TRANSIT, Status.DELIVERED)
NOT_PRINTED = (Status.PLACED, Status.PAID, Status.ON_HOLD, Status.ALLOCATING, Status.ALLOCATED)
NOT_SHIPPED = (*NOT_PRINTED, Status.PRINTED, Status.EXCEPTION)
PROMISE_TTL = 60.0  # seconds a process keeps the thresholds it read (promise_thresholds_forget drops them)
_promise_thresholds: dict = {}


def promise_thresholds() -> tuple[int, int]:
    """(yellow hours, red hours), read at most once a minute per process (the defaults while no row exists)."""
    if _promise_thresholds and time.monotonic() - _promise_thresholds["at"] < PROMISE_TTL:
        return _promise_thresholds["hours"]
    row = PromiseSettings.objects.filter(pk=1).values_list("yellow_hours", "red_hours").first()
    defaults = PromiseSettings()
    hours = row or (defaults.yellow_hours, defaults.red_hours)
    _promise_thresholds.update(at=time.monotonic(), hours=hours)
    return hours


def promise_thresholds_forget() -> None:
    _promise_thresholds.clear()


class HoursAfter(Func):
    """`start` + `hours` (an integer expression) as a timestamp, in SQL."""

    output_field = DateTimeField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL
        return super().as_sql(
            compiler, connection, template="(%(expressions)s * INTERVAL '1 hour')", arg_joiner=" + ", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):  # the demo: datetimes are UTC text, compared as text
        return super().as_sql(
            compiler,
            connection,
            template="strftime('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', %(expressions)s || ' hours')",
            arg_joiner=", '+' || ",
            **extra,
        )


def with_promise_light(qs: QuerySet[Order], *, now=None) -> QuerySet[Order]:
    """Annotate `promise_ship_by` (the earlier of the seller's promise and the platform's deadline) and
    `promise_light`: "" without either (or cancelled / returned), green, yellow (less than the yellow hours
    left and not picked up), red (less than the red hours left and not printed, or late and not shipped)."""
    now = now or timezone.now()
    ship_by = Case(
        When(promised_ship_by__isnull=True, then=F("platform_ship_by")),
        When(platform_ship_by__isnull=True, then=F("promised_ship_by")),
        When(promised_ship_by__lt=F("platform_ship_by"), then=F("promised_ship_by")),
        default=F("platform_ship_by"),
    )
    # The thresholds are read in the same statement (no read of their own): now + hours.
    defaults = PromiseSettings()
    red, yellow = (
        HoursAfter(
            Value(now, output_field=DateTimeField()),
            Coalesce(Subquery(PromiseSettings.objects.filter(pk=1).values(name)), Value(getattr(defaults, name))),
        )
        for name in ("red_hours", "yellow_hours")
    )
    light = Case(
        When(promise_ship_by__isnull=True, then=Value("")),
        When(status__in=SHIPPED, then=Value("green")),
        When(~Q(status__in=NOT_SHIPPED), then=Value("")),
        When(promise_ship_by__lte=now, then=Value("red")),
        When(promise_ship_by__lt=red, status__in=NOT_PRINTED, then=Value("red")),
        When(promise_ship_by__lt=yellow, then=Value("yellow")),
        default=Value("green"),
        output_field=CharField(),
    )
    return qs.annotate(promise_ship_by=ship_by).annotate(promise_light=light)


def promise_light_of(order: Order, *, now=None) -> str:
    """with_promise_light's answer for one order in memory (an order just created: no read)."""
    ship_by = min((t for t in (order.promised_ship_by, order.platform_ship_by) if t is not None), default=None)
    if ship_by is None:
        return ""
    if order.status in SHIPPED:
        return "green"
    if order.status not in NOT_SHIPPED:
        return ""
    now = now or timezone.now()
    yellow, red = promise_thresholds()
    if ship_by <= now or (ship_by < now + timedelta(hours=red) and order.status in NOT_PRINTED):
        return "red"
    return "yellow" if ship_by < now + timedelta(hours=yellow) else "green"


def promise_light_counts(*, now=None) -> dict[str, int]:
    """How many unshipped orders show each light (one aggregate statement)."""
    qs = with_promise_light(Order.objects.filter(status__in=NOT_SHIPPED), now=now)
    return qs.aggregate(**{light: Count("pk", filter=Q(promise_light=light)) for light in PROMISE_LIGHTS})


def order_list(*, status: str = "", channel: str = "", q: str = "") -> QuerySet[Order]:
    qs = orders_with_tracking_number(Order.objects.select_related("channel", "customer").order_by("-ordered_at", "-id"))
    qs = with_promise_light(qs)
    if status:
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel__code=channel)
    if q:
        qs = qs.filter(pk__in=order_lookup_ids(q=q))
    return qs


def order_lookup_ids(*, q: str, limit: int = 200) -> list[int]:
    """Ids of orders matching what a clerk typed, newest first: internal number, channel order no., tracking no.,
    phone (full, last 4 digits, or 7+ leading digits) or customer / receiver name (prefix).

    Each kind of match is its own indexed query (an OR across them would defeat the indexes), so the number of
    queries depends on the shape of `q`, never on how many orders match.
    """
    q = q.strip()
    if not q:
        return []
    phone = normalize_phone(q)  # '+86 138-1234-5678' finds 13812345678
    if is_cn_mobile(phone):
        return _newest([Order.objects.filter(customer__phone=phone), Order.objects.filter(receiver_phone=phone)], limit)
    if is_masked_phone(phone):  # stored as the platform masked it
        return _newest([Order.objects.filter(receiver_phone=phone)], limit)
    by_number = list(Order.objects.filter(number=q.upper()).order_by().values_list("id", flat=True))
    if by_number:
        return by_number
    orders = Order.objects
    customers = Customer.objects.order_by()
    found = [
        orders.filter(channel_order_no=q),
        orders.filter(shipments__tracking_number="".join(q.split()).upper()),  # any of its parcels in the registry
    ]
    if LAST4_RE.match(q):  # functional indexes on the last 4 digits
        found.append(orders.alias(last4=Right("receiver_phone", 4)).filter(last4=q))
        customers = customers.alias(last4=Right("phone", 4)).filter(last4=q)
    elif CN_MOBILE_PREFIX_RE.match(q):  # LIKE 'prefix%' on pattern_ops indexes
        found.append(orders.filter(receiver_phone__startswith=q))
        customers = customers.filter(phone__startswith=q)
    elif not any(char.isdigit() for char in q):  # names carry no digits; identifiers nearly always do
        found.append(orders.filter(receiver_name__startswith=q))
        customers = customers.filter(name__startswith=q)
    else:
        customers = None
    if customers is not None:
        # The LIMIT makes PostgreSQL find the customers first on their index, then their orders (a join lets it
        # walk every order newest first instead, hoping to meet matching customers soon).
        found.append(orders.filter(customer_id__in=customers.values("id")[:limit]))
    return _newest(found, limit)


def _newest(querysets: list[QuerySet[Order]], limit: int) -> list[int]:
    """The newest `limit` order ids over several queries, each cut at `limit` on its own index."""
    rows = set()
    for qs in querysets:
        rows |= set(qs.order_by("-ordered_at", "-id").values_list("ordered_at", "id")[:limit])
    return [pk for _, pk in sorted(rows, reverse=True)[:limit]]


def order_lookup(*, q: str, limit: int = 50) -> list[Order]:
    ids = order_lookup_ids(q=q, limit=limit)
    if not ids:
        return []
    orders = Order.objects.select_related("channel", "customer").filter(pk__in=ids).order_by("-ordered_at")
    return list(orders_with_tracking_number(orders))


def _by_number(qs: QuerySet[Order], number: str) -> Order:
    order = None
    if "\x00" not in number and len(number) <= 24:  # else it cannot be an order number (and PostgreSQL refuses NUL)
        order = qs.filter(number=number.strip().upper()).order_by().first()
    if order is None:
        raise NotFound(_("Order %(number)s not found.") % {"number": number[:24]}, code=OrderErrorCode.ORDER_NOT_FOUND)
    return order


def order_get(*, number: str) -> Order:
    """The order with what its detail shows, its tracking number from the registry included (same query)."""
    qs = Order.objects.select_related("channel", "customer", "warehouse", "carrier").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("sku"))
    )
    return _by_number(with_promise_light(orders_with_tracking_number(qs)), number)


def order_get_brief(*, number: str) -> Order:
    """Just the order row, for pages that show its timeline."""
    return _by_number(Order.objects.all(), number)


def order_timeline(*, order: Order) -> QuerySet[OrderEvent]:
    return OrderEvent.objects.filter(order=order).order_by("created_at", "id")


def order_is_overdue(*, order: Order) -> bool:
    return order.state_deadline is not None and order.state_deadline < timezone.now()


def status_node_for(*, status: str) -> StatusNode | None:
    return (
        StatusNode.objects.select_related("owner_group", "owner_user")
        .prefetch_related("escalations__notify_group", "escalations__notify_user")
        .filter(status=status)
        .first()
    )


def alert_route_for(*, kind: str) -> AlertRoute | None:
    """The routing row of an alert kind (one indexed read, on `kind`; read at every alert raised)."""
    return AlertRoute.objects.select_related("owner_group", "owner_user").filter(kind=kind).first()


def alerts_open() -> QuerySet[Alert]:
    """Alerts still waiting for a person: not acknowledged and not resolved by the system."""
    return Alert.objects.filter(acknowledged_at__isnull=True, resolved_at__isnull=True)


def alerts_owned_by(user) -> Q:
    """Alerts owned by one of the user's groups or by the user."""
    return Q(owner_user_id=user.pk) | Q(owner_group__in=user.groups.all())


def orders_in_nodes_owned_by(user) -> Q:
    """Orders in a status whose node the user, or one of the user's groups, owns (one subquery)."""
    nodes = StatusNode.objects.filter(Q(owner_user_id=user.pk) | Q(owner_group__in=user.groups.all()))
    return Q(status__in=nodes.values("status"))


# The payment check's hold reason starts so in every language (orders.services.payment.payment_mismatch_reason).
PAYMENT_MISMATCH_PREFIX = "金额不符"


def orders_status_unbacked() -> Q:
    """状态与实物不符: orders now printed without any registered parcel (no waybill number), or picked up / in
    transit without a carrier scan of any of their parcels (the health figure 订单全链路状态一致率 counts the same)."""
    parcels = Shipment.objects.filter(order=OuterRef("pk"))
    scans = TrackingEvent.objects.filter(shipment__order=OuterRef("pk"))
    return (Q(status=Status.PRINTED) & ~Exists(parcels)) | (Q(status__in=IN_CARRIER_HANDS) & ~Exists(scans))


def orders_overdue_by(*, minutes: int, now: datetime | None = None) -> Q:
    """Orders not in a final state whose status deadline passed more than `minutes` ago (订单流断点)."""
    since = (now or timezone.now()) - timedelta(minutes=minutes)
    return Q(state_deadline__lt=since) & ~Q(status__in=FINAL_STATES)


def orders_payment_mismatch() -> Q:
    """Orders held by the payment check because the amount paid did not match (金额不符)."""
    return Q(status=Status.ON_HOLD, status_reason__startswith=PAYMENT_MISMATCH_PREFIX)


# Channels whose buyers pay outside any platform (bank transfer, 对公转账, on account): a person confirms each payment.
PAYMENT_CONFIRMED_BY_PEOPLE = (Channel.Kind.B2B,)


def orders_payment_to_confirm() -> Q:
    """Orders waiting for a person to confirm their payment (财务's 确认收款; the payment service may record one now:
    'placed', not legacy, not paid in full), of two sorts:
    - a payment was recorded and not verified: the payment service keeps amount and time (paid_at) even when the
      amount did not match; once the 金额不符 hold is checked and released the order is back in 'placed' and waits
      for 支付校验 (a presale whose deposit is in counts once more than the deposit is recorded);
    - an order of a channel whose payments people confirm (PAYMENT_CONFIRMED_BY_PEOPLE: B2B), not paid in full.
    Platform orders not yet paid (Taobao, PDD …: an amount but no payment time) are the buyer's to pay and the
    platform's to report: not here."""
    reported = Q(paid_at__isnull=False) & (
        Q(payment_status=Order.PaymentStatus.UNPAID)
        | Q(payment_status=Order.PaymentStatus.DEPOSIT_PAID, paid_amount__gt=F("deposit_amount"))
    )
    by_people = Q(channel_id__in=Channel.objects.filter(kind__in=PAYMENT_CONFIRMED_BY_PEOPLE).values("pk"))
    open_payment = Q(status=Status.PLACED, is_legacy=False) & ~Q(payment_status=Order.PaymentStatus.PAID)
    return open_payment & (reported | by_people)


@dataclass
class AlertKindCount:
    kind: str
    label: str
    count: int


@dataclass
class AlertsSummary:
    mine: list[AlertKindCount] = field(default_factory=list)
    mine_total: int = 0
    others_total: int = 0
    newest_mine: list[Alert] = field(default_factory=list)


def alerts_open_summary(*, user, newest: int = 10) -> AlertsSummary:
    """What the admin home shows: the open alerts of the user's groups (and the user) per kind, most first,
    the newest few of them, and how many others are open. Two queries whatever the number of alerts."""
    mine = alerts_owned_by(user)
    rows = alerts_open().values("kind").annotate(total=Count("id"), mine=Count("id", filter=mine)).order_by()
    labels = dict(Alert.Kind.choices)
    summary = AlertsSummary()
    for row in sorted(rows, key=lambda r: (-r["mine"], r["kind"])):
        if row["mine"]:
            summary.mine.append(AlertKindCount(row["kind"], str(labels.get(row["kind"], row["kind"])), row["mine"]))
        summary.mine_total += row["mine"]
        summary.others_total += row["total"] - row["mine"]
    if summary.mine_total:
        summary.newest_mine = list(
            alerts_open()
            .filter(mine)
            .select_related("order", "owner_group", "owner_user")
            .order_by("-created_at")[:newest]
        )
    return summary


def _facts(order: Order, lines: list[OrderLine], *, order_count_30d: int, same_address_24h: int, now) -> dict:
    """The fact dict of one order from what was read for it (its non-gift lines with SKUs, the two counts)."""
    paid_at = order.paid_at or (order.state_entered_at if order.status != "placed" else None)
    return {
        "channel": order.channel.code,
        "member_level": order.customer.member_level,
        "customer_tags": list(order.customer.tags or []),
        "order_count_30d": order_count_30d,
        "subtotal": order.subtotal,
        "paid_amount": order.paid_amount,
        "sku_codes": [line.sku.code for line in lines],
        "sku_categories": sorted({line.sku.category for line in lines if line.sku.category}),
        "total_quantity": sum(line.quantity for line in lines),
        "promo_code": order.promo_code,
        "province": order.province,
        "city": order.city,
        "order_tags": list(order.tags or []),
        "presale": order.is_presale,
        "hours_since_paid": Decimal((now - paid_at).total_seconds() / 3600).quantize(Decimal("0.01"))
        if paid_at
        else Decimal("0"),
        "same_address_orders_24h": same_address_24h,
    }


def order_facts(*, order: Order, now=None) -> dict:
    """The plain fact dict rules read (see rules.engine.FACTS). Gift lines do not count as bought items."""
    now = now or timezone.now()
    lines = [line for line in order.lines.select_related("sku") if not line.is_gift]
    month_ago = order.ordered_at - timedelta(days=30)
    day_ago = now - timedelta(hours=24)
    return _facts(
        order,
        lines,
        order_count_30d=Order.objects.filter(
            customer_id=order.customer_id, ordered_at__gte=month_ago, ordered_at__lte=order.ordered_at
        ).count(),
        same_address_24h=Order.objects.filter(
            receiver_phone=order.receiver_phone, address_detail=order.address_detail, created_at__gte=day_ago
        ).count(),
        now=now,
    )


def _count(qs: QuerySet) -> Subquery:
    """COUNT(*) of a correlated queryset as a scalar subquery (no GROUP BY: always one row, 0 when none match)."""
    return Subquery(qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1])


def orders_facts(*, orders: list[Order], now=None) -> dict[int, dict]:
    """order_facts for a batch, by order id, in two queries whatever the batch's size: the non-gift lines with
    their SKUs, and both counts as correlated subqueries of one statement. `orders` come with channel and
    customer (select_related)."""
    if not orders:
        return {}
    now = now or timezone.now()
    pks = [o.pk for o in orders]
    lines: dict[int, list[OrderLine]] = {pk: [] for pk in pks}
    for line in OrderLine.objects.filter(order_id__in=pks, is_gift=False).select_related("sku").order_by("id"):
        lines[line.order_id].append(line)
    counts = {
        pk: (n30, n24)
        for pk, n30, n24 in Order.objects.filter(pk__in=pks)
        .annotate(
            n30=_count(
                Order.objects.filter(
                    customer_id=OuterRef("customer_id"),
                    ordered_at__gte=OuterRef("ordered_at") - timedelta(days=30),
                    ordered_at__lte=OuterRef("ordered_at"),
                )
            ),
            n24=_count(
                Order.objects.filter(
                    receiver_phone=OuterRef("receiver_phone"),
                    address_detail=OuterRef("address_detail"),
                    created_at__gte=now - timedelta(hours=24),
                )
            ),
        )
        .values_list("pk", "n30", "n24")
        .order_by()
    }
    return {
        o.pk: _facts(o, lines[o.pk], order_count_30d=counts[o.pk][0], same_address_24h=counts[o.pk][1], now=now)
        for o in orders
    }


def order_facts_recent(*, last: int = 50, numbers: list[str] | None = None) -> dict[str, dict]:
    """Facts of the given orders, or of the newest `last` ones, keyed by order number (for rule try-outs)."""
    qs = Order.objects.select_related("channel", "customer").order_by("-ordered_at", "-id")
    qs = qs.filter(number__in=[n.strip().upper() for n in numbers]) if numbers else qs[: max(1, min(last, 500))]
    orders = list(qs)
    facts = orders_facts(orders=orders)
    return {order.number: facts[order.pk] for order in orders}


UNLIMITED_CAPACITY = 999_999


def warehouse_remaining_capacity(*, now=None) -> dict[str, int]:
    """Today's remaining order capacity per warehouse code: daily capacity minus orders allocated there today.
    A warehouse with no daily capacity set has no limit (UNLIMITED_CAPACITY)."""
    start = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    used = dict(
        OrderEvent.objects.filter(transition="allocate", created_at__gte=start, order__warehouse__isnull=False)
        .values_list("order__warehouse__code")
        .annotate(n=Count("order_id", distinct=True))
        .order_by()
    )
    return {
        w.code: max(0, w.daily_capacity - used.get(w.code, 0)) if w.daily_capacity else UNLIMITED_CAPACITY
        for w in Warehouse.objects.filter(is_active=True)
    }


def orders_same_address_open(*, order: Order, hours: int) -> list[Order]:
    """Open orders to the same receiver and address in the last `hours` (candidates to ship together)."""
    from datetime import timedelta

    return list(
        Order.objects.filter(
            receiver_phone=order.receiver_phone,
            address_detail=order.address_detail,
            city=order.city,
            status__in=["allocated", "printed"],
            created_at__gte=timezone.now() - timedelta(hours=hours),
        ).order_by("id")
    )


def allocation_queue_stats(*, now=None) -> tuple[int, float]:
    """The allocation queue: how many orders wait in 'allocating' and their average wait in minutes, in one
    aggregate statement (the breaker reads it on every admission, so the queue's rows are never fetched)."""
    now = now or timezone.now()
    waited = ExpressionWrapper(Value(now) - F("state_entered_at"), output_field=DurationField())
    stats = Order.objects.filter(status="allocating").aggregate(backlog=Count("pk"), wait=Avg(waited))
    if not stats["backlog"]:
        return 0, 0.0
    return stats["backlog"], stats["wait"].total_seconds() / 60


def orders_by_scan_code(*, code: str) -> list[Order]:
    """Orders a scanned barcode names: the order with that number, else the orders with that tracking number.

    Order numbers are stored upper-case; tracking numbers are tried as scanned, upper- and lower-cased (a scanner
    with caps lock on or off), one indexed IN (iexact would bypass the index).
    """
    code = code.strip()
    if not code or "\x00" in code or len(code) > 64:  # no stored number looks like this (PostgreSQL refuses NUL)
        return []
    qs = orders_with_tracking_number(Order.objects.select_related("warehouse"))
    by_number = list(qs.filter(number=code.upper()).order_by()[:1])
    if by_number:
        return by_number
    # The registry: the orders whose active parcel has this number (stored upper-case, without spaces).
    numbers = {code, code.upper(), "".join(code.split()).upper()}
    tracked = qs.filter(pk__in=active_parcel_order_ids(numbers=numbers))
    return list(tracked.order_by("-created_at", "-id")[:20])


def orders_for_picklist(
    *, warehouse: str = "", province: str = "", numbers: list[str] | None = None, limit: int = 500
) -> list[Order]:
    """Orders waiting to be picked ('allocated'), most urgent first, then longest waiting, with lines and SKUs.

    Two queries whatever the count: orders (+ channel, warehouse), then their lines (+ SKU).
    """
    lines = OrderLine.objects.select_related("sku").order_by("is_gift", "id")
    qs = (
        Order.objects.filter(status="allocated")
        .select_related("channel", "warehouse")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("-priority", "state_entered_at", "id")
    )
    if warehouse:
        qs = qs.filter(warehouse__code=warehouse.strip())
    if province:
        qs = qs.filter(province=province.strip())
    if numbers is not None:
        qs = qs.filter(number__in=[n.strip().upper() for n in numbers if n.strip()])
    return list(qs[:limit])


def orders_by_numbers(*, numbers: list[str]) -> tuple[list[Order], list[str]]:
    """The orders with these numbers in the order given (each once), and the numbers no order has."""
    wanted = list(dict.fromkeys(n.strip().upper() for n in numbers if n.strip()))
    found = {o.number: o for o in Order.objects.select_related("carrier", "warehouse").filter(number__in=wanted)}
    return [found[n] for n in wanted if n in found], [n for n in wanted if n not in found]


# --- the active ERP endpoints: read on every accepted order and every status change -----------------------
_erp_endpoints: tuple[float, list[ErpEndpoint]] | None = None


def erp_endpoints_active() -> list[ErpEndpoint]:
    """The active ERP endpoints, as this process read them at most ERP_ENDPOINTS_CACHE_SECONDS ago (the paid
    path asks on every order; an endpoint saved in the admin is seen by every process within that time, and at
    once by the process that saved it: erp_endpoints_forget)."""
    global _erp_endpoints
    now = time.monotonic()
    if _erp_endpoints is None or now - _erp_endpoints[0] >= settings.ERP_ENDPOINTS_CACHE_SECONDS:
        _erp_endpoints = (now, list(ErpEndpoint.objects.filter(is_active=True).order_by("pk")))
    return _erp_endpoints[1]


def erp_endpoints_forget() -> None:
    global _erp_endpoints
    _erp_endpoints = None


@dataclass(frozen=True)
class IntakeStats:
    """One channel's intake over a period: deliveries received, reported orders by outcome (first processing,
    not replays), refused webhook deliveries, and the latency from receipt to processed (ms)."""

    channel: Channel
    period: str
    received: int
    orders: int
    created: int
    updated: int
    unchanged: int
    duplicates: int
    stale: int
    rejected: int
    refused: int
    latency_p50: int | None
    latency_p95: int | None


def channel_intake_stats(*, channels: list[Channel] | None = None) -> list[IntakeStats]:
    """Per channel: today (local time) and the last 7 days."""
    now = timezone.localtime()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    periods = ((_("today"), today), (_("7 days"), now - timedelta(days=7)))
    channels = list(Channel.objects.order_by("code")) if channels is None else channels
    stats = []
    for channel in channels:
        for label, since in periods:
            records = IntakeRecord.objects.filter(channel=channel, processed_at__gte=since, run=0)
            counts = records.aggregate(
                orders=Count("id"),
                **{name: Count("id", filter=Q(outcome=name)) for name in IntakeRecord.Outcome.values},
            )
            stats.append(
                IntakeStats(
                    channel=channel,
                    period=label,
                    received=InboxDelivery.objects.filter(channel=channel, received_at__gte=since).count(),
                    orders=counts["orders"],
                    created=counts["created"],
                    updated=counts["updated"],
                    unchanged=counts["unchanged"],
                    duplicates=counts["duplicate"],
                    stale=counts["stale"],
                    rejected=counts["rejected"],
                    refused=WebhookRefusal.objects.filter(channel=channel, created_at__gte=since).count(),
                    latency_p50=_percentile(records, counts["orders"], 0.50),
                    latency_p95=_percentile(records, counts["orders"], 0.95),
                )
            )
    return stats


def _percentile(records: QuerySet[IntakeRecord], count: int, fraction: float) -> int | None:
    if not count:
        return None
    position = min(count - 1, int(count * fraction))
    return records.order_by("latency_ms").values_list("latency_ms", flat=True)[position]


def _approval_overdue_alerts():
    return Alert.objects.filter(
        kind=Alert.Kind.APPROVAL_OVERDUE, acknowledged_at__isnull=True, resolved_at__isnull=True
    )


def orders_with_approval_overdue(queryset):
    """Annotate `approval_overdue` (审批滞留): the order has an open approval_overdue alert (closed by the sweep
    when the order moves). One EXISTS per row in the same query."""
    return queryset.annotate(approval_overdue=Exists(_approval_overdue_alerts().filter(order_id=OuterRef("pk"))))


def orders_approval_overdue_count() -> int:
    """How many orders show 审批滞留 (the admin home's counter)."""
    return _approval_overdue_alerts().values("order_id").distinct().count()


# --- the import wizard's pages (admin_imports): problems, unmapped codes, the orders of an import ---------------
def import_problems(*, job: ImportJob, code: str = "") -> QuerySet[ImportProblem]:
    """The dry run's problems of a job in Excel row order, of one kind when `code` is given."""
    problems = ImportProblem.objects.filter(job=job).order_by("row_number", "pk")
    return problems.filter(code=code) if code else problems


# --- Excel history import: what the wizard shows ------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where a sheet's table is: the header row (Excel's number), its names, the mapping they suggest."""

    header_row: int
    headers: list[str]
    mapping: dict[str, int]
    template: ImportTemplate | None


def sheet_layout(*, job: ImportJob, sheet_name: str, header_row: int | None = None) -> tuple[Layout, list[list]]:
    """(the layout of a sheet, its top rows): the header row given or guessed, its names (merged cells spread),
    and the mapping of the template remembered for these names, else from the synonyms."""
    data = bytes(job.content)
    count = max(plan.GUESS_ROWS, (header_row or 0) + 10)
    top, merged = read.top_rows(
        kind=job.file_kind, data=data, encoding=job.encoding, sheet_name=sheet_name, count=count
    )
    row = header_row or plan.header_guess(top, merged)
    headers = plan.headers_of(top, row, merged)
    template = ImportTemplate.objects.filter(header_key=header_key(headers)).first()
    mapping = dict(template.mapping) if template else mapping_suggest(headers)
    return Layout(header_row=row, headers=headers, mapping=mapping, template=template), top


def import_sheet_preview(*, job: ImportJob, sheet_name: str, header_row: int | None = None, rows: int = 10) -> dict:
    """{"sheet", "rows": the top raw rows (lists of display strings, from row 1), "header_row": the row given or the
    guess (Excel's number), "headers": that row's names (merged cells spread over their span, blanks named by
    column letter), "mapping": {field: column index} from the remembered ImportTemplate of these headers, else
    from the synonyms, "template": its name or ""}."""
    layout, top = sheet_layout(job=job, sheet_name=sheet_name, header_row=header_row)
    shown = top[: max(rows, layout.header_row + 3)]
    return {
        "sheet": sheet_name,
        "rows": [[normalize.text(cell) for cell in row] for row in shown],
        "header_row": layout.header_row,
        "headers": layout.headers,
        "mapping": layout.mapping,
        "template": layout.template.name if layout.template else "",
    }


def import_preview_rows(*, job: ImportJob, n: int = 10) -> list[dict]:
    """The first n data rows as they will be read with the job's mapping: [{"row": Excel row, "values": {field:
    display value}, "problems": [reasons]}]."""
    if not job.header_row or not job.mapping:
        return []
    top, merged = read.top_rows(
        kind=job.file_kind,
        data=bytes(job.content),
        encoding=job.encoding,
        sheet_name=job.sheet_name,
        count=job.header_row + n * 3,  # blank rows are skipped
    )
    headers = plan.headers_of(top, job.header_row, merged)
    preview = []
    for index in range(job.header_row, len(top)):
        row, problems = row_read(top[index], number=index + 1, mapping=job.mapping, headers=headers)
        if row is None:
            continue
        values = {key: _display(value) for key, value in _row_values(row).items()}
        preview.append({"row": index + 1, "values": values, "problems": [p.reason for p in problems]})
        if len(preview) >= n:
            break
    return preview


def _row_values(row: ImportRow) -> dict:
    return {
        "channel_order_no": row.order_no,
        "sku": row.sku,
        "quantity": row.quantity or None,
        "unit_price": row.unit_price,
        **dict(zip(ORDER_KEYS, row.order, strict=True)),
    }


def _display(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def import_stalled(*, job: ImportJob) -> bool:
    """A running job (dry run or commit) that has not moved for IMPORT_STALE_SECONDS: its worker is gone (killed,
    retries used up), so the page may start it again."""
    if job.state not in (ImportJob.State.CHECKING, ImportJob.State.COMMITTING):
        return False
    since = job.progress_at or job.started_at
    return since is None or timezone.now() - since > timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def import_dry_run_stalled(*, job: ImportJob) -> bool:
    """A dry run whose worker is gone (import_stalled): it may be configured or started again."""
    return job.state == ImportJob.State.CHECKING and import_stalled(job=job)


def import_progress(*, job: ImportJob) -> dict:
    """{state, state_label, rows_done, rows_total, rows_per_s, seconds_left, orders_created, summary, error,
    stalled} (JSON-ready). The speed is the rows done since the job started over the time since."""
    rate, left = None, None
    if job.started_at and job.progress_at and job.rows_done:
        seconds = (job.progress_at - job.started_at).total_seconds()
        if seconds > 0:
            rate = round(job.rows_done / seconds, 1)
            if job.rows_total and job.state in (ImportJob.State.CHECKING, ImportJob.State.COMMITTING):
                left = round(max(job.rows_total - job.rows_done, 0) / rate) if rate else None
    return {
        "state": job.state,
        "state_label": str(job.get_state_display()),
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "rows_per_s": rate,
        "seconds_left": left,
        "orders_created": job.orders_created,
        "summary": job.summary,
        "error": job.error,
        "stalled": import_stalled(job=job),
    }


def import_report_rows(*, job: ImportJob) -> tuple[list[str], Iterable[list]]:
    """The problem report: header (Excel 行号, 列, 值, 原因, 代码) and its rows, ordered by row."""
    header = [_("Excel row"), _("Column"), _("Value"), _("Reason"), _("Problem code")]
    rows = (
        [number, column, value, message, code]
        for number, column, value, message, code in job.problems.order_by("row_number", "id")
        .values_list("row_number", "column", "value", "message", "code")
        .iterator(chunk_size=5000)
    )
    return header, rows
