"""The allocation queue's entry services (above the lifecycle): the allocation job, the periodic tick, stock
arrivals releasing held orders, lock expiry. Admission, routing, locking and the shortfall hold are effects of
the lifecycle (orders/services/admission.py). Stock itself is changed only through warehouse.services."""

from collections import Counter

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from orders import selectors
from orders.exceptions import Conflict
from orders.models import Order, OrderLine, Source, Status
from orders.services.admission import (
    allocation_breaker_closed,
    auto_label,
    order_lock_for_allocation,
    order_wanted_units,
)
from orders.services.core import order_lock
from orders.services.timeline import history_attribute, stock_lock_expired_event
from orders.services.transitions import order_transition, order_transition_locked
from warehouse import services as stock
from warehouse.exceptions import StockShortfall
from warehouse.selectors import allocation_settings, locks_expired_order_ids, stock_usable

# Orders still in 'allocating' this long after entering were probably missed by their job; the tick takes them.
STALE_AFTER_SECONDS = 60
# Held-for-stock orders tried per pass (inbound job or minute tick); the next pass takes the rest.
RELEASE_BATCH = 200


def _system_step(*, order: Order, transition: str, reason: str = "") -> Order:
    """A transition the allocation queue makes by itself (no person; named 自动分仓 on the timeline)."""
    return order_transition(
        order=order, transition=transition, actor=None, source=Source.SYSTEM, actor_label=auto_label(), reason=reason
    )


def order_allocate_queued(*, order_id: int) -> str:
    """What the allocation job does: allocate one order if it is still waiting. Safe to run twice."""
    try:
        with transaction.atomic():
            order = order_lock_for_allocation(order_id=order_id)  # the run's one row lock, in one read
            if order is None:
                return "skipped"  # another worker moved it first, or it left the queue
            try:
                order_transition_locked(
                    order=order, transition="allocate", actor=None, source=Source.SYSTEM, actor_label=auto_label()
                )
            except StockShortfall:
                return "held"  # the hold is the run's diversion: committed with it
    except Conflict:
        return "skipped"  # refused: nothing was kept
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
            order = order_lock(order=Order(pk=order_id))
            if order.status not in (Status.ALLOCATED, Status.ON_HOLD):
                continue  # printed or further: the goods are packed, the lock stays until pickup
            reason = _("Stock lock expired after %(h)d hours; stock released. Release the hold to allocate again.") % {
                "h": hours
            }
            stock.stock_release(order_id=order.pk, actor=None, reason=reason, expired=True)
            if order.status == Status.ALLOCATED:  # on the row locked above: no second lock
                order = order_transition_locked(
                    order=order,
                    transition="hold",
                    actor=None,
                    source=Source.SYSTEM,
                    actor_label=auto_label(),
                    reason=reason,
                )
            else:
                stock_lock_expired_event(order=order, hours=hours, reason=reason)
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
