"""Shape a pick list: orders grouped by warehouse, then by region, each group with its pick summary.

Grouping is pure Python over orders already loaded with their lines and SKUs (orders.selectors.
orders_for_picklist), so it adds no queries.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from warehouse.models import Warehouse

# One wave: the most orders one pick list (and one PDF of their labels) holds; more wait for the next wave.
PICKLIST_MAX_ORDERS = 500


@dataclass
class PickTotal:
    """How many units of one SKU to take from the shelves for a group; gifts included."""

    sku_code: str
    name: str
    spec: str
    unit: str
    quantity: int = 0
    gift_quantity: int = 0


@dataclass
class PickRegion:
    province: str
    orders: list = field(default_factory=list)
    totals: list[PickTotal] = field(default_factory=list)


@dataclass
class PickWarehouse:
    warehouse: object  # warehouse.models.Warehouse, or None for an order without one
    regions: list[PickRegion] = field(default_factory=list)
    totals: list[PickTotal] = field(default_factory=list)

    @property
    def order_count(self) -> int:
        return sum(len(region.orders) for region in self.regions)


def pick_totals(orders: Iterable) -> list[PickTotal]:
    by_sku: dict[str, PickTotal] = {}
    for order in orders:
        for line in order.lines.all():
            total = by_sku.get(line.sku.code)
            if total is None:
                total = by_sku[line.sku.code] = PickTotal(line.sku.code, line.sku.name, line.sku.spec, line.sku.unit)
            total.quantity += line.quantity
            if line.is_gift:
                total.gift_quantity += line.quantity
    return [by_sku[code] for code in sorted(by_sku)]


def picklist_group(orders: list) -> list[PickWarehouse]:
    """Warehouses by code, regions by name; within a region the orders keep the order they came in
    (the selector's: most urgent first, then longest waiting)."""
    grouped: dict[str, dict[str, list]] = {}
    warehouses: dict[str, object] = {}
    for order in orders:
        key = order.warehouse.code if order.warehouse else ""
        warehouses[key] = order.warehouse
        grouped.setdefault(key, {}).setdefault(order.province, []).append(order)
    result = []
    for key in sorted(grouped):
        regions = [
            PickRegion(province=province, orders=region_orders, totals=pick_totals(region_orders))
            for province, region_orders in sorted(grouped[key].items())
        ]
        every_order = [order for region in regions for order in region.orders]
        result.append(PickWarehouse(warehouse=warehouses[key], regions=regions, totals=pick_totals(every_order)))
    return result


def warehouse_choices() -> list[Warehouse]:
    """Active warehouses for the pick list's filter."""
    return list(Warehouse.objects.filter(is_active=True).only("code", "name").order_by("code"))
