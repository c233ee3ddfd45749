"""Effect providers of the allocation queue, below the lifecycle: admission of a paid order to the queue (unless
the breaker is tripped), routing to a warehouse, locking its stock or holding it for a shortfall, and asking a
worker to allocate. They work on the order row the lifecycle run has locked; a move they make goes through the
core on that same row. The queue's entry services (jobs, tick, stock arrivals) are in allocation.py."""

import functools
import json
from collections import Counter

from django.db.models import Exists, JSONField, OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.utils.translation import gettext as _

from config.queue import job_enqueue_on_commit
from orders import selectors
from orders.models import Alert, Order, OrderLine, Source, Status, StatusNode
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.core import (
    Move,
    Run,
    order_lines_attach,
    order_values_keep,
    transition_apply,
)
from orders.services.deadlines import NodeSetting, node_setting, status_timeouts_known
from orders.services.rules import order_route_by_rules
from orders.services.timeline import order_routed_event
from orders.transitions import TRANSITIONS
from rules import actions
from rules.models import Rule
from warehouse import services as stock
from warehouse.exceptions import StockShortfall
from warehouse.models import AllocationSettings, BreakerEvent, StockReservation, Warehouse
from warehouse.selectors import allocation_settings, stock_usable

BREAKER_ALERT_KEY = "allocation-breaker"


def shortfall_alert_key(order_id: int) -> str:
    return f"shortfall:{order_id}"


def auto_label() -> str:
    return _("automatic allocation")


def order_wanted_units(*, order: Order) -> dict[int, int]:
    """Units to lock per SKU id: every line, gifts included (the lines loaded with the order when they are)."""
    wanted: Counter = Counter()
    if "lines" in getattr(order, "_prefetched_objects_cache", {}):
        pairs = [(line.sku_id, line.quantity) for line in order.lines.all()]
    else:
        pairs = order.lines.values_list("sku_id", "quantity")
    for sku_id, quantity in pairs:
        wanted[sku_id] += quantity
    return dict(wanted)


# The statuses an allocation run may enter: allocated, or held for a shortfall.
ALLOCATE_ENTERS = (Status.ALLOCATED, Status.ON_HOLD)
# The node settings its lock read brings: those it may enter, and the one it leaves (whose clock a hold pauses).
NODES_READ = (Status.ALLOCATING, *ALLOCATE_ENTERS)


def _node_setting_of(value: dict | str | None) -> NodeSetting:
    """A node's settings as the lock read brought them (a JSON object; None when the node has no row)."""
    if not value:
        return NodeSetting(None)
    value = json.loads(value) if isinstance(value, str) else value
    pauses = value.get("pauses") or []
    pauses = json.loads(pauses) if isinstance(pauses, str) else pauses  # SQLite nests the column as text
    return node_setting(
        value.get("minutes"), value.get("clock"), value.get("calendar"), pauses, value.get("owner_group")
    )


@functools.cache
def _allocation_lock_query() -> QuerySet[Order]:
    """The allocation job's lock read without its order id, built once per process: its four subqueries cost
    more Python to build than the statement costs PostgreSQL (each call only adds the id and clones it)."""
    open_shortfall = Alert.objects.filter(
        order_id=OuterRef("pk"), dedupe_key__startswith="shortfall:", resolved_at__isnull=True
    )
    quotas = StockReservation.objects.filter(
        is_active=True,
        quantity__gt=0,
        sku_id__in=OrderLine.objects.filter(order_id=OuterRef(OuterRef("pk"))).values("sku_id"),
    )
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("customer")
        .annotate(
            route_rules_enabled=Exists(Rule.objects.filter(kind=actions.ROUTE, enabled=True)),
            shortfall_alert_open=Exists(open_shortfall),
            quotas_exist=Exists(quotas),
            lock_expiry_hours=Subquery(AllocationSettings.objects.filter(pk=1).values("lock_expiry_hours")),
            **{
                f"node_{status}": Subquery(
                    StatusNode.objects.filter(status=status).values(
                        setting=JSONObject(
                            minutes="timeout_minutes",
                            clock="clock",
                            calendar="calendar_id",
                            pauses="pause_states",
                            owner_group="owner_group_id",
                        )
                    ),
                    output_field=JSONField(),
                )
                for status in NODES_READ
            },
        )
        .order_by()
    )


def order_lock_for_allocation(*, order_id: int) -> Order | None:
    """The allocation job's one row lock: the order if it still waits in 'allocating', with its customer and
    lines, and in the same statement what routing and locking would each ask the database for: whether any
    routing rule is enabled, whether the order has an open shortfall alert, whether any running quota holds
    units of its SKUs (one created after this read is not used, as if the order came first), the lock expiry
    setting (None while the settings row does not exist yet), and the timeouts of the statuses the run may enter.
    None when the order no longer waits."""
    found = list(_allocation_lock_query().filter(pk=order_id, status=Status.ALLOCATING))
    if not found:
        return None
    order = order_values_keep(found[0])
    status_timeouts_known({status: _node_setting_of(getattr(order, f"node_{status}")) for status in NODES_READ})
    return order_lines_attach(order, lines=list(OrderLine.objects.filter(order_id=order_id).order_by("pk")))


def allocation_breaker_closed(*, settings: AllocationSettings | None = None) -> bool:
    """Evaluate the breaker against the queue now; alert the warehouse lead when it trips."""
    return _breaker_evaluate(settings=settings or allocation_settings())[0]


def _breaker_evaluate(*, settings: AllocationSettings) -> tuple[bool, int]:
    """Whether the breaker is closed after evaluating it, and how many orders wait in the queue."""
    backlog, wait = selectors.allocation_queue_stats()
    change = stock.breaker_update(backlog=backlog, average_wait_minutes=wait, settings=settings)
    if change == BreakerEvent.Kind.TRIPPED:
        alert_raise(
            kind=Alert.Kind.BREAKER_TRIPPED,
            message=_(
                "Allocation breaker tripped: %(n)d orders waiting, average wait %(wait).1f min (thresholds "
                "%(max_n)d orders / %(max_wait)d min). New paid orders wait in 'Payment verified' and resume "
                "by themselves once the queue drains."
            )
            % {
                "n": backlog,
                "wait": wait,
                "max_n": settings.breaker_max_backlog,
                "max_wait": settings.breaker_max_wait_minutes,
            },
            dedupe_key=BREAKER_ALERT_KEY,
        )
    elif change == BreakerEvent.Kind.RESET:
        alert_resolve(
            alerts=Alert.objects.filter(dedupe_key=BREAKER_ALERT_KEY),
            resolution=_("the allocation breaker reset: the queue is below its thresholds again"),
        )
    if change is None:
        return not settings.breaker_tripped, backlog
    return change == BreakerEvent.Kind.RESET, backlog


def _settings_for_admission(*, order: Order) -> AllocationSettings:
    """The settings row, and in the same statement what allocating this order at once would ask the database
    for (as order_lock_for_allocation does for the job): any enabled routing rule, any running quota for its
    SKUs. The row is made on first use."""
    quotas = StockReservation.objects.filter(
        is_active=True, quantity__gt=0, sku_id__in=OrderLine.objects.filter(order_id=order.pk).values("sku_id")
    )
    found = (
        AllocationSettings.objects.filter(pk=1)
        .annotate(
            route_rules_enabled=Exists(Rule.objects.filter(kind=actions.ROUTE, enabled=True)),
            quotas_exist=Exists(quotas),
        )
        .first()
    )
    return found or allocation_settings()


def order_admit(*, run: Run, move: Move) -> None:
    """Effect of pay / release: a paid order enters the allocation queue when automatic allocation is on and
    the breaker is closed (a rule may have held it first: then it stays where it is).

    Allocating at once (AllocationSettings.allocate_on_payment): when the setting is on, the move is the
    payment ('pay') and no other order waits in the queue, the run is marked to allocate the order itself, on
    the row it has locked, in the payment's transaction (the lifecycle does it on entering 'allocating',
    instead of asking a worker). The rule keeps the queue's order: an order never takes stock ahead of orders
    already waiting; with orders waiting (or the breaker tripped) it waits its turn as before. A shortfall
    holds it as a worker would. Releases are not allocated at once: the queue's own release of stock holds
    tries them and rolls back a try that is still short, which a hold inside the release would defeat."""
    order = run.order
    if order.status != Status.PAID or order.is_legacy:
        return
    settings = _settings_for_admission(order=order)
    if not settings.auto_allocate:
        return
    closed, backlog = _breaker_evaluate(settings=settings)
    if not closed:
        return
    if settings.allocate_on_payment and backlog == 0 and move.transition == "pay":
        run.allocate_now = True
        # What the allocation job's lock read would tell: read here already, or known for a first payment.
        order.lock_expiry_hours = settings.lock_expiry_hours
        order.route_rules_enabled = getattr(settings, "route_rules_enabled", True)
        order.quotas_exist = getattr(settings, "quotas_exist", True)
        if move.from_status == Status.PLACED:
            order.shortfall_alert_open = False  # never routed before: no shortfall alert can be open
    transition_apply(
        run=run, spec=TRANSITIONS["start_allocation"], actor=None, source=Source.SYSTEM, actor_label=auto_label()
    )


def allocation_enqueue(*, run: Run, move: Move) -> None:
    """Effect of entering 'allocating': after commit a worker allocates the order. If Redis is down the tick
    finds the order later."""
    job_enqueue_on_commit(job="orders.jobs.allocate_order", order_id=run.order.pk)


def order_route(*, run: Run) -> None:
    """Preparation of allocate: choose the warehouse of an order in 'allocating' that has none — the first
    matching routing rule, else the warehouse that has every item, with room today, nearest (same province)
    and emptiest."""
    order = run.order
    if order.warehouse_id is not None or order.status != Status.ALLOCATING or order.is_legacy:
        return
    ranking = None
    if getattr(order, "route_rules_enabled", True):  # known False: the rules read is skipped
        ranking = order_route_by_rules(order=order)
    if order.warehouse_id is not None:
        return
    warehouses = list(Warehouse.objects.filter(is_active=True))
    if not warehouses:
        return
    wanted = order_wanted_units(order=order)
    promo_code, member_level = order.promo_code, order.customer.member_level
    if len(warehouses) == 1:  # the only choice: lock its rows now and route by them (locking reads no more)
        run.locked_stock = stock.stock_rows_lock(
            warehouse_id=warehouses[0].pk,
            sku_ids=wanted,
            promo_code=promo_code,
            member_level=member_level,
            quotas=getattr(order, "quotas_exist", True),
        )
        usable = {(warehouses[0].pk, s): run.locked_stock.usable(s) for s in wanted}
    else:
        usable = stock_usable(sku_ids=list(wanted), promo_code=promo_code, member_level=member_level)
    if any(w.daily_capacity for w in warehouses):  # today's allocations are counted only when a limit exists
        capacity = selectors.warehouse_remaining_capacity()
    else:
        capacity = {w.code: selectors.UNLIMITED_CAPACITY for w in warehouses}

    def rank(warehouse: Warehouse) -> tuple:
        covered = sum(min(n, max(0, usable.get((warehouse.pk, s), 0))) for s, n in wanted.items())
        room = capacity.get(warehouse.code, 0)
        in_stock, near = covered == sum(wanted.values()), warehouse.province == order.province
        if ranking == "capacity":
            return (in_stock, room > 0, room, near, covered)
        return (in_stock, room > 0, near, covered, room)  # nearest first, the default

    candidates = sorted(warehouses, key=rank, reverse=True)
    best = candidates[0]
    order.warehouse = best
    in_stock = rank(best)[0]
    near, room = best.province == order.province, capacity.get(best.code, 0)
    why = [_("all items in stock") if in_stock else _("most items in stock")]
    if near:
        why.append(_("same province"))
    why.append(
        _("%(n)d orders of capacity left today") % {"n": room}
        if room < selectors.UNLIMITED_CAPACITY
        else _("no capacity limit")
    )
    order_routed_event(order=order, warehouse=best, why=why, ranking=ranking, actor_label=auto_label())


def order_lock_stock_or_hold(*, run: Run, actor) -> None:
    """Preparation of allocate, after its guard passed: lock the order's stock at its warehouse. On a shortfall
    nothing is locked: the order is held instead with '缺货' and the missing SKUs (marked as held for stock, so
    arriving stock releases it), purchasing is alerted, and the shortfall is the run's refusal, which the
    caller is told once the hold is kept. Once locked, its shortfall alert closes."""
    order = run.order
    try:
        stock.stock_lock(
            order_id=order.pk,
            warehouse=order.warehouse,
            wanted=order_wanted_units(order=order),
            promo_code=order.promo_code,
            member_level=order.customer.member_level,
            actor=actor,
            reason=order.number,
            locked=getattr(run, "locked_stock", None),
            lock_expiry_hours=getattr(order, "lock_expiry_hours", None),
        )
    except StockShortfall as shortfall:
        items = "; ".join(str(s) for s in shortfall.shortfalls)
        reason = _("缺货 Out of stock at %(warehouse)s: %(items)s") % {
            "warehouse": order.warehouse.code,
            "items": items,
        }
        transition_apply(
            run=run,
            spec=TRANSITIONS["hold"],
            actor=None,
            source=Source.SYSTEM,
            actor_label=auto_label(),
            reason=reason[:250],
            also_set={"hold_kind": Order.HoldKind.STOCK},
        )
        alert_raise(
            kind=Alert.Kind.STOCK_SHORTFALL,
            order=order,
            message=_("Order %(number)s is held for stock. %(reason)s") % {"number": order.number, "reason": reason},
            dedupe_key=shortfall_alert_key(order.pk),
        )
        run.refusal = shortfall
        return
    if not getattr(order, "shortfall_alert_open", True):  # known closed: nothing to resolve, nothing to read
        return
    alert_resolve(
        alerts=Alert.objects.filter(dedupe_key=shortfall_alert_key(order.pk)),
        resolution=_("the order's stock is locked at %(warehouse)s") % {"warehouse": order.warehouse.code},
    )


# --- stock effects: what each move does to the stock ledger (why, on each ledger row) ------------------------
def _stock_note(run: Run, move: Move) -> str:
    return f"{run.order.number} {move.transition}"


def _stock_reason(run: Run, move: Move) -> str:
    note = _stock_note(run, move)
    return f"{note}: {move.reason}"


def stock_deduct(*, run: Run, move: Move) -> None:
    stock.stock_deduct(order_id=run.order.pk, actor=move.actor, reason=_stock_note(run, move))


def stock_release(*, run: Run, move: Move) -> None:
    stock.stock_release(order_id=run.order.pk, actor=move.actor, reason=_stock_reason(run, move))


def stock_restock(*, run: Run, move: Move) -> None:
    """Shipped units come back on hand (units still locked — returned before pickup — are freed by release)."""
    stock.stock_restock(order_id=run.order.pk, actor=move.actor, reason=_stock_reason(run, move))
