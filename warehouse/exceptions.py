"""Error codes of the warehouse app; the classes come from config.exceptions."""

from dataclasses import asdict, dataclass
from enum import StrEnum

from django.utils.translation import gettext as _

from config.exceptions import Conflict, Forbidden, InvalidInput, NotFound  # noqa: F401


class WarehouseErrorCode(StrEnum):
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_WAREHOUSE = "unknown_warehouse"
    INVALID_QUANTITY = "invalid_quantity"
    BELOW_ZERO = "stock_below_zero"
    STOCK_SHORTFALL = "stock_shortfall"
    ALIAS_TAKEN = "alias_taken"
    UNKNOWN_CODE = "unknown_code"
    WRONG_STEP = "wrong_step"
    AMBIGUOUS_CODE = "ambiguous_code"


@dataclass(frozen=True)
class Shortfall:
    sku: str
    warehouse: str
    wanted: int
    available: int

    def __str__(self) -> str:
        return _("%(sku)s needs %(wanted)d, %(available)d available") % asdict(self)


class StockShortfall(Conflict):
    """Not enough stock for every line; lists each missing SKU. Nothing was locked."""

    def __init__(self, shortfalls: list[Shortfall]) -> None:
        self.shortfalls = shortfalls
        warehouse = shortfalls[0].warehouse if shortfalls else ""
        super().__init__(
            _("Out of stock at %(warehouse)s: %(items)s")
            % {"warehouse": warehouse, "items": "; ".join(str(s) for s in shortfalls)},
            code=WarehouseErrorCode.STOCK_SHORTFALL,
            extra={"shortfalls": [asdict(s) for s in shortfalls]},
        )
