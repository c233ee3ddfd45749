"""The allocation queue: paid orders enter warehouse routing (unless the breaker is tripped), are routed to a
warehouse by rule or by stock and capacity, and lock their stock; a shortfall holds the order and alerts
purchasing. Stock itself is changed only through warehouse.services."""

import logging
from collections import Counter

import django_rq
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from orders import selectors
from orders.exceptions import Conflict
from orders.models import Alert, Order, OrderEvent, OrderLine, Source, Status
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.timeline import event_record, history_attribute
from warehouse import services as stock
from warehouse.exceptions import StockShortfall
from warehouse.models import BreakerEvent, Warehouse
from warehouse.selectors import allocation_settings, locks_expired_order_ids, stock_usable

logger = logging.getLogger(__name__)

# Orders still in 'allocating' this long after entering were probably missed by their job; the tick takes them.
STALE_AFTER_SECONDS = 60
BREAKER_ALERT_KEY = "allocation-breaker"
# Held-for-stock orders tried per pass (inbound job or minute tick); the next pass takes the rest.
RELEASE_BATCH = 200


def _shortfall_alert_key(order_id: int) -> str:
    return f"shortfall:{order_id}"


def _auto_label() -> str:
    return _("automatic allocation")


def _system_step(*, order: Order, transition: str, reason: str = "") -> Order:
    """A transition the allocation queue makes by itself (no person; named 自动分仓 on the timeline)."""
    from orders.services.transitions import order_transition  # transitions calls back into this module

    return order_transition(
        order=order, transition=transition, actor=None, source=Source.SYSTEM, actor_label=_auto_label(), reason=reason
    )


def order_wanted_units(*, order: Order) -> dict[int, int]:
    """Units to lock per SKU id: every line, gifts included."""
    wanted: Counter = Counter()
    for sku_id, quantity in order.lines.values_list("sku_id", "quantity"):
        wanted[sku_id] += quantity
    return dict(wanted)


def allocation_breaker_closed() -> bool:
    """Evaluate the breaker against the queue now; alert the warehouse lead when it trips."""
    settings = allocation_settings()
    backlog, wait = selectors.allocation_queue_stats()
    change = stock.breaker_update(backlog=backlog, average_wait_minutes=wait)
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
        return not settings.breaker_tripped
    return change == BreakerEvent.Kind.RESET


def order_admit(*, order: Order) -> Order:
    """A paid order enters the allocation queue when automatic allocation is on and the breaker is closed.
    Call inside the transaction that made the order paid."""
    if order.status != Status.PAID or order.is_legacy or not allocation_settings().auto_allocate:
        return order
    if not allocation_breaker_closed():
        return order
    return _system_step(order=order, transition="start_allocation")


def allocation_enqueue(*, order_id: int) -> None:
    """After commit, ask a worker to allocate the order. If Redis is down the tick finds the order later."""

    def enqueue() -> None:
        from orders.jobs import allocate_order

        try:
            django_rq.get_queue("default").enqueue(allocate_order, order_id)
        except Exception:
            logger.exception("could not enqueue allocation of order %s", order_id)

    transaction.on_commit(enqueue)


def order_route(*, order: Order) -> Order:
    """Choose the warehouse of an order in 'allocating' that has none: the first matching routing rule,
    else the warehouse that has every item, with room today, nearest (same province) and emptiest."""
    if order.warehouse_id is not None:
        return order
    from orders.services.rules import order_route_by_rules

    ranking = order_route_by_rules(order=order)
    if order.warehouse_id is not None:
        return order
    wanted = order_wanted_units(order=order)
    usable = stock_usable(sku_ids=list(wanted), promo_code=order.promo_code, member_level=order.customer.member_level)
    capacity = selectors.warehouse_remaining_capacity()

    def rank(warehouse: Warehouse) -> tuple:
        covered = sum(min(n, max(0, usable.get((warehouse.pk, s), 0))) for s, n in wanted.items())
        room = capacity.get(warehouse.code, 0)
        in_stock, near = covered == sum(wanted.values()), warehouse.province == order.province
        if ranking == "capacity":
            return (in_stock, room > 0, room, near, covered)
        return (in_stock, room > 0, near, covered, room)  # nearest first, the default

    candidates = sorted(Warehouse.objects.filter(is_active=True), key=rank, reverse=True)
    if candidates:
        order.warehouse = candidates[0]
        best = candidates[0]
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
        event_record(
            order=order,
            kind=OrderEvent.Kind.NOTE,
            source=Source.SYSTEM,
            actor_label=_auto_label(),
            reason=_("Routed to %(warehouse)s: %(why)s")
            % {"warehouse": order.warehouse.name, "why": _(", ").join(str(w) for w in why)},
            data={"warehouse": order.warehouse.code, "routed_by": "stock", "ranking": ranking or "nearest"},
        )
    return order


def order_lock_stock_or_hold(*, order: Order, actor: AbstractBaseUser | None) -> StockShortfall | None:
    """Lock the order's stock at its warehouse. On a shortfall nothing is locked: the order is held with
    '缺货' and the missing SKUs (marked as held for stock, so arriving stock releases it), purchasing is
    alerted, and the shortfall is returned for the caller to report. Once locked, its shortfall alert closes."""
    try:
        stock.stock_lock(
            order_id=order.pk,
            warehouse=order.warehouse,
            wanted=order_wanted_units(order=order),
            promo_code=order.promo_code,
            member_level=order.customer.member_level,
            actor=actor,
            reason=order.number,
        )
    except StockShortfall as shortfall:
        items = "; ".join(str(s) for s in shortfall.shortfalls)
        reason = _("缺货 Out of stock at %(warehouse)s: %(items)s") % {
            "warehouse": order.warehouse.code,
            "items": items,
        }
        held = _system_step(order=order, transition="hold", reason=reason[:250])
        held.hold_kind = Order.HoldKind.STOCK
        history_attribute(held, actor=None, reason="held for stock")
        held.save(update_fields=["hold_kind", "updated_at"])
        alert_raise(
            kind=Alert.Kind.STOCK_SHORTFALL,
            order=order,
            message=_("Order %(number)s is held for stock. %(reason)s") % {"number": order.number, "reason": reason},
            dedupe_key=_shortfall_alert_key(order.pk),
        )
        return shortfall
    alert_resolve(
        alerts=Alert.objects.filter(dedupe_key=_shortfall_alert_key(order.pk)),
        resolution=_("the order's stock is locked at %(warehouse)s") % {"warehouse": order.warehouse.code},
    )
    return None


def order_allocate_queued(*, order_id: int) -> str:
    """What the allocation job does: allocate one order if it is still waiting. Safe to run twice."""
    order = Order.objects.filter(pk=order_id, status=Status.ALLOCATING).first()
    if order is None:
        return "skipped"
    try:
        _system_step(order=order, transition="allocate")
    except StockShortfall:
        return "held"
    except Conflict:
        return "skipped"  # another worker moved it first
    return "allocated"


def _stock_covers(order: Order) -> bool:
    """Whether one active warehouse has every unit the order wants right now (a cheap check before trying)."""
    wanted = order_wanted_units(order=order)
    usable = stock_usable(sku_ids=list(wanted), promo_code=order.promo_code, member_level=order.customer.member_level)
    warehouses = {w for w, _s in usable}
    return any(all(usable.get((w, s), 0) >= n for s, n in wanted.items()) for w in warehouses)


def orders_release_stock_holds(*, sku_ids: list[int] | None = None) -> dict[str, int]:
    """Stock arrived (or was freed): release the orders held for stock that it now covers, most urgent and
    oldest paid first, and allocate each at once through the lifecycle (release → allocating → allocate).

    Each order is tried in its own transaction; when routing and locking still find a shortfall, the whole
    try is rolled back, so an order that stock cannot cover stays held as it was (no hold/release flapping
    on its timeline). With `sku_ids`, only orders wanting one of those SKUs are tried. Only holds the
    allocation queue made for a shortfall are released; holds made by people or rules never are."""
    settings = allocation_settings()
    if not settings.auto_allocate or settings.breaker_tripped:
        return {}  # a person allocates, or the warehouse is overloaded: the tick retries once it resets
    held = Order.objects.filter(status=Status.ON_HOLD, hold_kind=Order.HoldKind.STOCK, is_legacy=False)
    if sku_ids is not None:
        held = held.filter(pk__in=OrderLine.objects.filter(sku_id__in=sku_ids).values("order_id"))
    held = held.select_related("customer").order_by("-priority", Coalesce("paid_at", "ordered_at"), "pk")
    done: Counter = Counter()
    for order in held[:RELEASE_BATCH]:
        if not _stock_covers(order):
            done["still_short"] += 1
            continue
        try:
            with transaction.atomic():
                why = _("Stock arrived: released by the system to allocate")
                released = _system_step(order=order, transition="release", reason=why)
                _system_step(order=released, transition="allocate")
        except StockShortfall:
            done["still_short"] += 1  # e.g. a routing rule names a warehouse still short: rolled back
        except Conflict:
            done["skipped"] += 1  # someone moved it first
        else:
            done["released"] += 1
    return dict(done)


def order_locks_expire(*, now=None) -> int:
    """Release locks held too long by orders not yet printed. The order is held (or stays held) and goes
    back through routing when released, since its stock is gone."""
    now = now or timezone.now()
    hours = allocation_settings().lock_expiry_hours
    expired = 0
    for order_id in locks_expired_order_ids(now=now):
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order_id)
            if order.status not in (Status.ALLOCATED, Status.ON_HOLD):
                continue  # printed or further: the goods are packed, the lock stays until pickup
            reason = _("Stock lock expired after %(h)d hours; stock released. Release the hold to allocate again.") % {
                "h": hours
            }
            stock.stock_release(order_id=order.pk, actor=None, reason=reason, expired=True)
            if order.status == Status.ALLOCATED:
                order = _system_step(order=order, transition="hold", reason=reason)
            else:
                event_record(order=order, kind=OrderEvent.Kind.NOTE, source=Source.SYSTEM, reason=reason)
            order.resume_status = Status.ALLOCATING
            order.warehouse = None
            history_attribute(order, actor=None, reason="stock lock expired")
            order.save(update_fields=["resume_status", "warehouse", "updated_at"])
            expired += 1
    return expired


def allocation_tick(*, now=None) -> dict[str, int]:
    """The periodic job: end quotas, expire locks, evaluate the breaker, admit waiting paid orders while it
    is closed, and allocate orders whose job went missing."""
    now = now or timezone.now()
    done = {"quotas_ended": stock.reservations_end_expired(now=now), "locks_expired": order_locks_expire(now=now)}
    admitted = 0
    settings = allocation_settings()
    if settings.auto_allocate and allocation_breaker_closed():
        backlog, _wait = selectors.allocation_queue_stats(now=now)
        # Fill the queue to just below the trip point, so the tick itself never trips the breaker.
        room = max(0, settings.breaker_max_backlog - 1 - backlog) if settings.breaker_enabled else 500
        waiting = Order.objects.filter(status=Status.PAID, is_legacy=False).order_by("-priority", "state_entered_at")
        for order in waiting[:room]:
            try:
                _system_step(order=order, transition="start_allocation")
                admitted += 1
            except Conflict:
                continue
    done["admitted"] = admitted
    stale = Order.objects.filter(
        status=Status.ALLOCATING, state_entered_at__lte=now - timezone.timedelta(seconds=STALE_AFTER_SECONDS)
    ).order_by("-priority", "state_entered_at")
    results = Counter(order_allocate_queued(order_id=pk) for pk in stale.values_list("pk", flat=True)[:200])
    done.update({f"allocation_{k}": v for k, v in results.items()})
    allocation_breaker_closed()  # the queue may have drained: reset now rather than next minute
    # The safety net behind the inbound job: stock freed by cancellations, expired quotas or a lost job.
    done.update({f"stock_holds_{k}": v for k, v in orders_release_stock_holds().items()})
    return done
