"""Reads of the warehouse app: settings, stock figures for routing and pages, SKU resolution, the ledger check."""

from collections import defaultdict

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from warehouse.exceptions import InvalidInput, WarehouseErrorCode
from warehouse.models import (
    AllocationSettings,
    Sku,
    SkuAlias,
    StockLevel,
    StockLock,
    StockMovement,
    StockReservation,
    alias_normalize,
)


def allocation_settings() -> AllocationSettings:
    settings, _ = AllocationSettings.objects.get_or_create(pk=1)
    return settings


def skus_resolve(texts: set[str]) -> dict[str, Sku]:
    """Map what a channel sent (a SKU code or any alias, any spacing or case) to active SKUs."""
    found = {sku.code: sku for sku in Sku.objects.filter(code__in=texts, is_active=True)}
    rest = {alias_normalize(t): t for t in texts if t not in found}
    if rest:
        for alias in SkuAlias.objects.filter(normalized__in=rest, sku__is_active=True).select_related("sku"):
            found[rest[alias.normalized]] = alias.sku
        codes = {alias_normalize(t): t for t in texts if t not in found}
        if codes:  # a code sent in another case or with spaces
            for sku in Sku.objects.filter(code__in=codes, is_active=True):
                found[codes[alias_normalize(sku.code)]] = sku
    return found


def sku_get_by_text(*, text: str, field: str = "sku") -> Sku:
    """One active SKU by code or alias; an unknown one is refused naming the field."""
    sku = skus_resolve({text}).get(text)
    if sku is None:
        raise InvalidInput(
            _("Unknown SKU: %(codes)s.") % {"codes": text},
            code=WarehouseErrorCode.UNKNOWN_SKU,
            extra={"field": field},
        )
    return sku


def quotas_serving(
    queryset, *, sku_ids: list[int], promo_code: str, member_level: str, now=None
) -> list[StockReservation]:
    """The running quotas among `queryset` for these SKUs that an order with this promo code and member level
    may use. Matched in Python: quotas are few, and JSON containment is not portable (SQLite demo)."""
    now = now or timezone.now()
    running = queryset.filter(sku_id__in=sku_ids, is_active=True, quantity__gt=0).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    return [q for q in running.order_by("pk") if q.serves(promo_code=promo_code, member_level=member_level)]


def stock_usable(*, sku_ids: list[int], promo_code: str, member_level: str) -> dict[tuple[int, int], int]:
    """Units an order could lock now, per (warehouse id, SKU id): free stock plus quotas it is entitled to."""
    usable: dict[tuple[int, int], int] = defaultdict(int)
    for level in StockLevel.objects.filter(sku_id__in=sku_ids, warehouse__is_active=True):
        usable[(level.warehouse_id, level.sku_id)] += level.available
    for quota in quotas_serving(
        StockReservation.objects.all(), sku_ids=sku_ids, promo_code=promo_code, member_level=member_level
    ):
        usable[(quota.warehouse_id, quota.sku_id)] += quota.quantity
    return usable


def locks_expired_order_ids(*, now=None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(
        StockLock.objects.filter(state=StockLock.State.ACTIVE, expires_at__lte=now)
        .values_list("order_id", flat=True)
        .distinct()
        .order_by("order_id")[:limit]
    )


def order_locks(*, order_id: int) -> list[StockLock]:
    return list(StockLock.objects.filter(order_id=order_id).select_related("sku", "warehouse").order_by("pk"))


def stock_check() -> list[str]:
    """Rebuild every stock level from the movement ledger and compare; also check locks and quotas agree.

    Returns one line per disagreement; an empty list means every number is explained by its movements."""
    problems = []
    ledger = {
        (row["sku_id"], row["warehouse_id"]): row
        for row in StockMovement.objects.values("sku_id", "warehouse_id")
        .annotate(on_hand=Sum("on_hand_delta"), locked=Sum("locked_delta"), reserved=Sum("reserved_delta"))
        .order_by()
    }
    active_locks = dict(
        ((sku, wh), n)
        for sku, wh, n in StockLock.objects.filter(state=StockLock.State.ACTIVE)
        .values_list("sku_id", "warehouse_id")
        .annotate(n=Sum("quantity"))
        .order_by()
    )
    quotas = dict(
        ((sku, wh), n)
        for sku, wh, n in StockReservation.objects.filter(is_active=True)
        .values_list("sku_id", "warehouse_id")
        .annotate(n=Sum("quantity"))
        .order_by()
    )
    levels = {(lv.sku_id, lv.warehouse_id): lv for lv in StockLevel.objects.select_related("sku", "warehouse")}
    for key in sorted(set(levels) | set(ledger)):
        level = levels.get(key)
        row = ledger.get(key, {"on_hand": 0, "locked": 0, "reserved": 0})
        name = f"{level.sku.code}@{level.warehouse.code}" if level else f"sku {key[0]}@warehouse {key[1]}"
        for field in ("on_hand", "locked", "reserved"):
            have = getattr(level, field) if level else 0
            if have != row[field]:
                problems.append(f"{name}: {field} is {have}, ledger says {row[field]}")
        if level and level.locked != active_locks.get(key, 0):
            problems.append(
                f"{name}: locked is {level.locked}, active order locks add up to {active_locks.get(key, 0)}"
            )
        if level and level.reserved != quotas.get(key, 0):
            problems.append(f"{name}: reserved is {level.reserved}, active quotas add up to {quotas.get(key, 0)}")
    return problems
