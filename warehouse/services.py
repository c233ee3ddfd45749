"""Every write to stock: adjustments, order locks, releases, deductions, restocks, quotas, and the breaker.

Stock rows are always locked in primary-key order, levels before quotas, so two orders touching the same
SKUs never deadlock. Every change to a level writes a movement row in the same transaction."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.history import history_reason
from config.queue import job_enqueue_on_commit
from warehouse.exceptions import InvalidInput, Shortfall, StockShortfall, WarehouseErrorCode
from warehouse.models import (
    AllocationSettings,
    BreakerEvent,
    Sku,
    StockLevel,
    StockLock,
    StockMovement,
    StockReservation,
    Warehouse,
)
from warehouse.selectors import allocation_settings, quotas_serving

ADJUST_KINDS = (StockMovement.Kind.INBOUND, StockMovement.Kind.COUNT, StockMovement.Kind.DAMAGE)
# The orders app's job that releases orders held for stock; named, not imported (orders imports warehouse).
RELEASE_STOCK_HOLDS_JOB = "orders.jobs.release_stock_holds"


@dataclass
class _Ledger:
    """Changes to locked stock rows, written together: the rows, then their movements."""

    actor: AbstractBaseUser | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        self.levels: dict[int, StockLevel] = {}
        self.movements: list[StockMovement] = []

    def move(self, level: StockLevel, kind: str, *, on_hand=0, locked=0, reserved=0, order_id=None, quota=None):
        level.on_hand += on_hand
        level.locked += locked
        level.reserved += reserved
        self.levels[level.pk] = level
        self.movements.append(
            StockMovement(
                sku_id=level.sku_id,
                warehouse_id=level.warehouse_id,
                kind=kind,
                on_hand_delta=on_hand,
                locked_delta=locked,
                reserved_delta=reserved,
                on_hand_after=level.on_hand,
                locked_after=level.locked,
                reserved_after=level.reserved,
                order_id=order_id,
                reservation=quota,
                actor=self.actor if self.actor and self.actor.is_authenticated else None,
                reason=self.reason[:255],
            )
        )

    def write(self) -> None:
        levels = list(self.levels.values())
        if len(levels) == 1:
            levels[0].save(update_fields=["on_hand", "locked", "reserved", "updated_at"])
        elif levels:  # one UPDATE for every row (they are locked: the values written are the ones read + moved)
            now = timezone.now()
            for level in levels:
                level.updated_at = now
            _levels_update(levels, now)
        StockMovement.objects.bulk_create(self.movements)


def _levels_update(levels: list[StockLevel], now: datetime) -> None:
    """UPDATE … FROM (VALUES …): the figures of several locked stock rows in one statement. bulk_update's
    CASE WHEN per column costs more Python to build than the statement costs the database (PostgreSQL, and
    SQLite since 3.33, both name the VALUES columns column1…)."""
    quote = connection.ops.quote_name
    table, rows = quote(StockLevel._meta.db_table), ", ".join(["(%s, %s, %s, %s)"] * len(levels))
    on_hand, locked, reserved, updated_at, pk = (
        quote(c) for c in ("on_hand", "locked", "reserved", "updated_at", "id")
    )
    params = [value for lv in levels for value in (lv.pk, lv.on_hand, lv.locked, lv.reserved)]
    # Only quoted names and placeholders are put into the text; every value is a parameter.
    sql = f"UPDATE {table} SET {on_hand} = v.column2, {locked} = v.column3, {reserved} = v.column4, {updated_at} = %s FROM (VALUES {rows}) AS v WHERE {table}.{pk} = v.column1"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, *params])  # updated_at's placeholder comes first


def _levels_for_update(*, pairs: set[tuple[int, int]], create: bool = False) -> dict[tuple[int, int], StockLevel]:
    """Lock the stock rows of (warehouse id, SKU id) pairs in primary-key order; create missing ones if asked."""
    if create:
        StockLevel.objects.bulk_create([StockLevel(warehouse_id=w, sku_id=s) for w, s in pairs], ignore_conflicts=True)
    match = Q(pk__in=[])
    for warehouse_id in {pair[0] for pair in pairs}:
        match |= Q(warehouse_id=warehouse_id, sku_id__in=[s for w, s in pairs if w == warehouse_id])
    query = StockLevel.objects.filter(match)
    return {(lv.warehouse_id, lv.sku_id): lv for lv in query.select_for_update().order_by("pk")}


def _positive_int(value, field: str, *, allow_zero: bool = False) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if (
        number is None
        or isinstance(value, bool)
        or str(number) != str(value).strip()
        or number < (0 if allow_zero else 1)
    ):
        raise InvalidInput(
            _("%(field)s must be a whole number of at least %(min)d.")
            % {"field": field, "min": 0 if allow_zero else 1},
            code=WarehouseErrorCode.INVALID_QUANTITY,
            extra={"field": field},
        )
    return number


def stock_adjust(
    *, sku: Sku, warehouse: Warehouse, kind: str, quantity, reason: str, actor: AbstractBaseUser | None
) -> StockLevel:
    """Inbound adds `quantity`; damage removes it; a count correction sets on hand to the counted `quantity`.

    Refused, with nothing changed, when on hand would go below zero or below what orders and quotas hold.
    When on hand grows, orders held for this SKU's stock are re-tried after commit (the orders app's job)."""
    if kind not in ADJUST_KINDS:
        raise InvalidInput(
            _("Unknown adjustment kind '%(kind)s'.") % {"kind": kind},
            code="invalid_kind",
            extra={"field": "kind", "allowed": list(ADJUST_KINDS)},
        )
    quantity = _positive_int(quantity, "quantity", allow_zero=kind == StockMovement.Kind.COUNT)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            _("A reason is required to adjust stock."), code="reason_required", extra={"field": "reason"}
        )
    with transaction.atomic():
        level = _levels_for_update(pairs={(warehouse.pk, sku.pk)}, create=True)[(warehouse.pk, sku.pk)]
        delta = {
            StockMovement.Kind.INBOUND: quantity,
            StockMovement.Kind.DAMAGE: -quantity,
            StockMovement.Kind.COUNT: quantity - level.on_hand,
        }[kind]
        held = level.locked + level.reserved
        if level.on_hand + delta < held:
            raise InvalidInput(
                _(
                    "On hand of %(sku)s at %(warehouse)s would be %(after)d, below zero or below the %(held)d "
                    "units held (%(locked)d locked for orders, %(reserved)d reserved). Nothing was changed."
                )
                % {
                    "sku": sku.code,
                    "warehouse": warehouse.code,
                    "after": level.on_hand + delta,
                    "held": held,
                    "locked": level.locked,
                    "reserved": level.reserved,
                },
                code=WarehouseErrorCode.BELOW_ZERO,
                extra={
                    "field": "quantity",
                    "on_hand": level.on_hand,
                    "locked": level.locked,
                    "reserved": level.reserved,
                },
            )
        ledger = _Ledger(actor=actor, reason=reason)
        ledger.move(level, kind, on_hand=delta)
        ledger.write()
        if delta > 0:
            job_enqueue_on_commit(job=RELEASE_STOCK_HOLDS_JOB, sku_ids=[sku.pk])
    return level


@dataclass
class LockedStock:
    """The stock rows of one warehouse locked for some SKUs of an order: levels, then the quotas it may use."""

    warehouse_id: int
    sku_ids: frozenset[int]
    levels: dict[tuple[int, int], StockLevel]
    quotas: dict[int, list[StockReservation]]

    def usable(self, sku_id: int) -> int:
        """Units of the SKU the order could lock here: free stock plus its quotas (as stock_usable counts)."""
        level = self.levels.get((self.warehouse_id, sku_id))
        return (level.available if level else 0) + sum(q.quantity for q in self.quotas.get(sku_id, []))


def stock_rows_lock(
    *,
    warehouse_id: int,
    sku_ids,
    promo_code: str = "",
    member_level: str = "",
    now: datetime | None = None,
    quotas: bool = True,
) -> LockedStock:
    """Lock (inside the caller's transaction) the stock levels of these SKUs at one warehouse in primary-key
    order, then the quotas an order with this promo code and member level may use there. Routing that has a
    single warehouse to choose reads its figures from these rows and hands them to stock_lock. `quotas=False`:
    the caller knows no running quota holds units of these SKUs, so none is read."""
    levels = _levels_for_update(pairs={(warehouse_id, s) for s in sku_ids})
    serving: dict[int, list[StockReservation]] = {}
    running = (
        quotas_serving(
            StockReservation.objects.select_for_update().filter(warehouse_id=warehouse_id),
            sku_ids=list(sku_ids),
            promo_code=promo_code,
            member_level=member_level,
            now=now,
        )
        if quotas
        else []
    )
    for quota in running:
        serving.setdefault(quota.sku_id, []).append(quota)
    return LockedStock(warehouse_id=warehouse_id, sku_ids=frozenset(sku_ids), levels=levels, quotas=serving)


def stock_lock(
    *,
    order_id: int,
    warehouse: Warehouse,
    wanted: dict[int, int],
    promo_code: str = "",
    member_level: str = "",
    actor: AbstractBaseUser | None = None,
    reason: str = "",
    now: datetime | None = None,
    locked: LockedStock | None = None,
    lock_expiry_hours: int | None = None,
) -> list[StockLock]:
    """Lock `wanted` units (SKU id → quantity) for an order: all lines or none.

    Quotas the order is entitled to are used first, then free stock. Raises StockShortfall listing every
    SKU that is short; nothing is locked then. `locked`: these rows, already locked in this transaction
    (stock_rows_lock), are used instead of locking them again. `lock_expiry_hours`: the setting, when the
    caller has read it."""
    now = now or timezone.now()
    if lock_expiry_hours is None:
        lock_expiry_hours = allocation_settings().lock_expiry_hours
    expires_at = now + timezone.timedelta(hours=lock_expiry_hours)
    # No savepoint: the shortfall is raised after the block, having written nothing, and any database error
    # spoils the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        if locked is None or locked.warehouse_id != warehouse.pk or locked.sku_ids != frozenset(wanted):
            locked = stock_rows_lock(
                warehouse_id=warehouse.pk, sku_ids=wanted, promo_code=promo_code, member_level=member_level, now=now
            )
        short = []
        for sku_id in sorted(wanted):
            usable = locked.usable(sku_id)
            if wanted[sku_id] > usable:
                short.append((sku_id, wanted[sku_id], usable))
        if short:
            codes = dict(Sku.objects.filter(pk__in=[s for s, _, _ in short]).values_list("pk", "code"))
        else:
            return _locks_write(order_id, warehouse, wanted, locked.levels, locked.quotas, expires_at, actor, reason)
    raise StockShortfall([Shortfall(codes[s], warehouse.code, n, max(0, a)) for s, n, a in short])


def _locks_write(order_id, warehouse, wanted, levels, quotas, expires_at, actor, reason) -> list[StockLock]:
    """The lock rows and their ledger of stock_lock, once every line is covered (rows already locked)."""
    ledger = _Ledger(actor=actor, reason=reason)
    locks = []
    for sku_id in sorted(wanted):
        level, need = levels[(warehouse.pk, sku_id)], wanted[sku_id]
        for quota in quotas.get(sku_id, []):
            take = min(need, quota.quantity)
            if take:
                quota.quantity -= take
                quota.save(update_fields=["quantity"])
                ledger.move(level, StockMovement.Kind.LOCK, locked=take, reserved=-take, order_id=order_id, quota=quota)
                locks.append(_lock_row(order_id, level, take, expires_at, quota=quota))
                need -= take
        if need:
            ledger.move(level, StockMovement.Kind.LOCK, locked=need, order_id=order_id)
            locks.append(_lock_row(order_id, level, need, expires_at))
    ledger.write()
    return StockLock.objects.bulk_create(locks)


def _lock_row(order_id: int, level: StockLevel, quantity: int, expires_at, quota=None) -> StockLock:
    return StockLock(
        order_id=order_id,
        sku_id=level.sku_id,
        warehouse_id=level.warehouse_id,
        quantity=quantity,
        reservation=quota,
        from_reserved=quantity if quota else 0,
        expires_at=expires_at,
    )


def _close_locks(*, order_id: int, from_state: str, to_state: str, kind: str, actor, reason: str) -> int:
    """Move an order's locks from one state to the next and change stock to match. The caller holds the
    order's row lock, which serialises everything done to that order's locks."""
    locks = list(StockLock.objects.filter(order_id=order_id, state=from_state).select_related("reservation"))
    if not locks:
        return 0
    now = timezone.now()
    with transaction.atomic():
        levels = _levels_for_update(pairs={(lk.warehouse_id, lk.sku_id) for lk in locks})
        ledger = _Ledger(actor=actor, reason=reason)
        for lock in locks:
            level = levels[(lock.warehouse_id, lock.sku_id)]
            if kind == StockMovement.Kind.DEDUCT:
                ledger.move(level, kind, on_hand=-lock.quantity, locked=-lock.quantity, order_id=order_id)
            elif kind == StockMovement.Kind.RESTOCK:
                ledger.move(level, kind, on_hand=lock.quantity, order_id=order_id)
            else:  # release or expiry: units return to their quota while it still runs, else to free stock
                quota = _quota_still_running(lock, now)
                back = lock.from_reserved if quota else 0
                if quota:
                    quota.quantity += back
                    quota.save(update_fields=["quantity"])
                ledger.move(level, kind, locked=-lock.quantity, reserved=back, order_id=order_id, quota=quota)
            lock.state, lock.closed_at = to_state, now
        ledger.write()
        StockLock.objects.bulk_update(locks, ["state", "closed_at"])
    return len(locks)


def _quota_still_running(lock: StockLock, now) -> StockReservation | None:
    if lock.reservation_id is None:
        return None
    quota = StockReservation.objects.select_for_update().get(pk=lock.reservation_id)
    return quota if quota.is_active and (quota.ends_at is None or quota.ends_at > now) else None


def stock_release(*, order_id: int, actor: AbstractBaseUser | None, reason: str, expired: bool = False) -> int:
    """Give an order's locked units back (cancel, lock expiry). Returns how many lock rows were released."""
    if expired:
        state, kind = StockLock.State.EXPIRED, StockMovement.Kind.EXPIRE
    else:
        state, kind = StockLock.State.RELEASED, StockMovement.Kind.RELEASE
    return _close_locks(
        order_id=order_id, from_state=StockLock.State.ACTIVE, to_state=state, kind=kind, actor=actor, reason=reason
    )


def stock_deduct(*, order_id: int, actor: AbstractBaseUser | None, reason: str) -> int:
    """The carrier has the parcel: locked units leave on hand."""
    return _close_locks(
        order_id=order_id,
        from_state=StockLock.State.ACTIVE,
        to_state=StockLock.State.DEDUCTED,
        kind=StockMovement.Kind.DEDUCT,
        actor=actor,
        reason=reason,
    )


def stock_restock(*, order_id: int, actor: AbstractBaseUser | None, reason: str) -> int:
    """A return came back: the shipped units are on hand again in the warehouse they left."""
    return _close_locks(
        order_id=order_id,
        from_state=StockLock.State.DEDUCTED,
        to_state=StockLock.State.RESTOCKED,
        kind=StockMovement.Kind.RESTOCK,
        actor=actor,
        reason=reason,
    )


def reservation_save(
    *, reservation: StockReservation, quantity, actor: AbstractBaseUser | None, reason: str = ""
) -> StockReservation:
    """Create a quota or change how many units it holds; the units come from (or go back to) free stock."""
    quantity = _positive_int(quantity, "quantity", allow_zero=True)
    if reservation.kind == StockReservation.Kind.PROMO and not reservation.promo_code.strip():
        raise InvalidInput(
            _("A promotion quota needs its promo code."), code="invalid_field", extra={"field": "promo_code"}
        )
    if reservation.kind == StockReservation.Kind.MEMBER and not reservation.member_levels:
        raise InvalidInput(
            _("A member quota needs at least one member level."), code="invalid_field", extra={"field": "member_levels"}
        )
    with transaction.atomic():
        key = (reservation.warehouse_id, reservation.sku_id)
        level = _levels_for_update(pairs={key}, create=True)[key]
        old = 0
        if reservation.pk:
            old = StockReservation.objects.select_for_update().get(pk=reservation.pk).quantity
        delta = quantity - old
        if delta > level.available:
            raise InvalidInput(
                _("Only %(n)d units of %(sku)s are free at %(warehouse)s to reserve.")
                % {"n": level.available, "sku": reservation.sku.code, "warehouse": reservation.warehouse.code},
                code=WarehouseErrorCode.BELOW_ZERO,
                extra={"field": "quantity", "available": level.available},
            )
        reservation.quantity = quantity
        reservation.save()
        if delta:
            kind = StockMovement.Kind.RESERVE if delta > 0 else StockMovement.Kind.UNRESERVE
            ledger = _Ledger(actor=actor, reason=reason or reservation.name)
            ledger.move(level, kind, reserved=delta, quota=reservation)
            ledger.write()
    return reservation


def reservation_end(*, reservation: StockReservation, actor: AbstractBaseUser | None, reason: str) -> StockReservation:
    """Switch a quota off: what is left of it becomes free stock again."""
    with transaction.atomic():
        reservation = reservation_save(reservation=reservation, quantity=0, actor=actor, reason=reason)
        reservation.is_active = False
        reservation.save(update_fields=["is_active"])
    return reservation


def reservations_end_expired(*, now=None) -> int:
    now = now or timezone.now()
    ended = 0
    for quota in StockReservation.objects.filter(is_active=True, ends_at__lte=now).order_by("pk"):
        reservation_end(reservation=quota, actor=None, reason=_("quota ended"))
        ended += 1
    return ended


def breaker_update(
    *, backlog: int, average_wait_minutes: float, settings: AllocationSettings | None = None
) -> str | None:
    """Trip the allocation breaker when the queue passes a threshold; reset it once both figures are below
    the resume share of the thresholds. Returns "tripped" or "reset" when it changed, else None.
    `settings`: the row the caller has just read (saves reading it twice)."""
    settings = settings or allocation_settings()
    change = _breaker_change(settings, backlog, average_wait_minutes)
    if change is None:
        return None
    with transaction.atomic():
        settings = AllocationSettings.objects.select_for_update().get(pk=settings.pk)
        change = _breaker_change(settings, backlog, average_wait_minutes)  # another process may have done it
        if change is None:
            return None
        settings.breaker_tripped = change == BreakerEvent.Kind.TRIPPED
        settings.breaker_changed_at = timezone.now()
        settings._change_reason = history_reason(
            f"breaker {change}: backlog {backlog}, wait {average_wait_minutes:.1f} min"
        )
        settings.save()
        BreakerEvent.objects.create(
            kind=change,
            backlog=backlog,
            average_wait_minutes=Decimal(f"{average_wait_minutes:.1f}"),
            max_backlog=settings.breaker_max_backlog,
            max_wait_minutes=settings.breaker_max_wait_minutes,
        )
    return change


def _breaker_change(settings: AllocationSettings, backlog: int, wait: float) -> str | None:
    if not settings.breaker_enabled:
        return BreakerEvent.Kind.RESET if settings.breaker_tripped else None
    if not settings.breaker_tripped:
        over = backlog >= settings.breaker_max_backlog or wait >= settings.breaker_max_wait_minutes
        return BreakerEvent.Kind.TRIPPED if over else None
    share = settings.breaker_resume_percent / 100
    under = backlog < settings.breaker_max_backlog * share and wait < settings.breaker_max_wait_minutes * share
    return BreakerEvent.Kind.RESET if under else None
