"""From a sheet's rows to orders and problems: the header row guess, the header names (merged cells spread over
their span), reading one data row with a column mapping, and grouping the rows into orders (several rows with one
order number and different SKUs are one order with several lines; an exact repeat is skipped; rows of one order
that disagree are a conflict). Pure: the caller looks SKUs, existing orders and status codes up in bulk."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.utils.translation import gettext as _

from orders.imports import normalize
from orders.imports.fields import FIELDS_BY_KEY, REQUIRED, field_for_header
from orders.imports.normalize import Bad

GUESS_ROWS = 30  # the header is looked for in the first rows
# Order fields that every row of one order must agree on (else the rows conflict).
CONFLICT_KEYS = ("buyer_id", "receiver", "phone", "address", "province", "city", "district", "status", "ordered_at")
ORDER_KEYS = (*CONFLICT_KEYS, "paid_amount", "paid_at", "tracking_number", "carrier", "note")
_INDEX = {key: i for i, key in enumerate(ORDER_KEYS)}


# --- problems ------------------------------------------------------------------------------------------------------
class Code:
    MISSING = "missing_field"
    DUPLICATE_ROW = "duplicate_row"
    CONFLICT = "conflicting_rows"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_STATUS = "unknown_status"
    IN_HUB = "already_in_hub"
    # and normalize's: bad_date, bad_phone, bad_amount, bad_quantity, mangled_order_no, bad_order_no


@dataclass(frozen=True)
class Problem:
    row: int  # Excel's row number
    column: str  # the header of the column
    code: str
    reason: str
    value: str = ""

    @property
    def message(self) -> str:
        return _("Row %(row)s: %(reason)s") % {"row": self.row, "reason": self.reason}


# --- header -----------------------------------------------------------------------------------------------------
def column_letter(index: int) -> str:
    """Excel's name of a 0-based column: 0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def header_guess(rows: list[list], merged: Iterable = ()) -> int:
    """Excel's number of the header row among the top rows: the row naming most known fields, names merged down
    from a row above counted (title rows name none; of a two-line header, the lower line names most), else the
    first row of at least two text cells, else 1."""
    merged = list(merged)
    best, best_score = 0, 1
    for index in range(min(len(rows), GUESS_ROWS)):
        names = headers_of(rows, index + 1, merged)
        score = len({key for key in map(field_for_header, names) if key})
        if score > best_score:
            best, best_score = index + 1, score
    if best:
        return best
    for index, row in enumerate(rows[:GUESS_ROWS]):
        cells = [cell for cell in row if cell not in ("", None)]
        if len(cells) >= 2 and all(isinstance(cell, str) for cell in cells):
            return index + 1
    return 1


def headers_of(rows: list[list], header_row: int, merged: Iterable = ()) -> list[str]:
    """The names of the header row's columns. A merged cell's value is given at its first cell only: it names
    every column of its span (a name merged down from the row above, too). Blank names become 列 C; a name
    repeated gets (2), (3)."""
    index = header_row - 1
    row = list(rows[index]) if index < len(rows) else []
    width = max((len(r) for r in rows), default=0)
    row += [""] * (width - len(row))
    names = [normalize.text(cell) for cell in row]
    for (first_row, first_col), (last_row, last_col) in merged:
        if first_row <= index <= last_row and first_row < len(rows):
            value = normalize.text(rows[first_row][first_col]) if first_col < len(rows[first_row]) else ""
            for col in range(first_col, min(last_col, width - 1) + 1):
                if not names[col]:
                    names[col] = value
    while names and not names[-1]:
        names.pop()
    seen: dict[str, int] = {}
    result = []
    for col, name in enumerate(names):
        name = name or _("Column %(letter)s") % {"letter": column_letter(col)}
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return result


# --- one row --------------------------------------------------------------------------------------------------------
class Row(NamedTuple):
    """One data row, cleaned: its order number (None when it has none or Excel mangled it), its line, its order
    fields (ORDER_KEYS order), and whether it had a problem."""

    number: int
    order_no: str | None
    sku: str
    quantity: int
    unit_price: Decimal | None
    order: tuple
    bad: bool


_CLEAN = {
    "order_no": normalize.order_no,
    "phone": normalize.phone,
    "datetime": normalize.moment,
    "amount": normalize.amount,
    "quantity": normalize.quantity,
    "status": normalize.code,
    "sku": normalize.code,
    "text": normalize.text,
}


def row_read(
    values: list, *, number: int, mapping: dict[str, int], headers: list[str]
) -> tuple[Row | None, list[Problem]]:
    """(the cleaned row, its problems); (None, []) for a blank row."""
    cells = {key: values[col] if col < len(values) else "" for key, col in mapping.items()}
    if all(normalize.text(v) == "" for v in cells.values()):
        return None, []
    clean: dict = {}
    problems: list[Problem] = []
    for key, value in cells.items():
        spec = FIELDS_BY_KEY[key]
        column = headers[mapping[key]] if mapping[key] < len(headers) else column_letter(mapping[key])
        if normalize.text(value) == "":
            if spec.required:
                problems.append(Problem(number, column, Code.MISSING, _("%(field)s is empty.") % {"field": spec.zh}))
            clean[key] = None
            continue
        try:
            clean[key] = _CLEAN[spec.kind](value)
        except Bad as bad:
            problems.append(Problem(number, column, bad.code, bad.reason, normalize.text(value)[:200]))
            clean[key] = None
    for key in REQUIRED:
        if key not in mapping:  # the configuration refuses this; a hand-made mapping may still miss one
            problems.append(Problem(number, "", Code.MISSING, _("%(field)s is not mapped.") % {"field": key}))
    row = Row(
        number=number,
        order_no=clean.get("channel_order_no"),
        sku=clean.get("sku") or "",
        quantity=clean.get("quantity") or 0,
        unit_price=clean.get("unit_price"),
        order=tuple(clean.get(key) for key in ORDER_KEYS),
        bad=bool(problems),
    )
    return row, problems


# --- rows into orders -----------------------------------------------------------------------------------------------
@dataclass
class PlannedOrder:
    order_no: str
    rows: list[Row]
    bad: bool = False
    in_hub: bool = False

    @property
    def first_row(self) -> int:
        return self.rows[0].number

    def value(self, key: str):
        return self.rows[0].order[_INDEX[key]]

    @property
    def ordered_at(self) -> datetime:
        return self.value("ordered_at")

    @property
    def paid_amount(self) -> Decimal:
        amounts = [row.order[_INDEX["paid_amount"]] for row in self.rows]
        if any(a is None for a in amounts):
            return sum((row.unit_price * row.quantity for row in self.rows), Decimal("0"))
        if len(set(amounts)) == 1:  # the order's amount repeated on each line
            return amounts[0]
        return sum(amounts, Decimal("0"))  # per-line amounts

    def first_text(self, key: str) -> str:
        return next((row.order[_INDEX[key]] for row in self.rows if row.order[_INDEX[key]]), "") or ""


@dataclass
class Plan:
    orders: dict[str, PlannedOrder] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0
    status_codes: dict[str, int] = field(default_factory=dict)  # code: rows

    def creatable(self) -> list[PlannedOrder]:
        """The orders a commit creates, in file order."""
        return sorted((o for o in self.orders.values() if not o.bad and not o.in_hub), key=lambda o: o.first_row)

    def valid_digest(self) -> str:
        """Which orders have no problem of their own (in the hub or not): a commit checks it is still the set the
        dry run found (an SKU or alias added or removed since changes it)."""
        numbers = sorted(o.order_no for o in self.orders.values() if not o.bad)
        return hashlib.sha256("\n".join(numbers).encode()).hexdigest()[:16]

    def summary(self, *, unmapped: list[str]) -> dict:
        problems: dict[str, int] = {}
        for problem in self.problems:
            problems[problem.code] = problems.get(problem.code, 0) + 1
        creatable = self.creatable()
        return {
            "rows": self.rows,
            "orders": len(self.orders),
            "lines": sum(len(o.rows) for o in self.orders.values()),
            "will_create": len(creatable),
            "will_create_lines": sum(len(o.rows) for o in creatable),
            "already_in_hub": sum(1 for o in self.orders.values() if o.in_hub),
            "skipped_orders": sum(1 for o in self.orders.values() if o.bad and not o.in_hub),
            "problems": problems,
            "problem_count": len(self.problems),
            "status_codes": self.status_codes,
            "unmapped_status_codes": unmapped,
            "valid_digest": self.valid_digest(),
        }


class Collector:
    """Takes the rows one by one (the dry run and the commit stream them) and keeps what the plan needs: the rows
    of each order, their problems, and the SKU texts, order numbers and status codes to look up in bulk."""

    def __init__(self, headers: list[str], mapping: dict[str, int]) -> None:
        self.headers = headers
        self.mapping = mapping
        self.plan = Plan()
        self.skus: set[str] = set()
        self._status_first: dict[str, int] = {}
        self._long_numbers = 0
        self._rounded: dict[str, list[int]] = {}  # order no: rows, of long numbers ending in zeros

    def add(self, values: list, number: int) -> None:
        row, problems = row_read(values, number=number, mapping=self.mapping, headers=self.headers)
        if row is None:
            return
        plan = self.plan
        plan.rows += 1
        plan.problems.extend(problems)
        if row.sku:
            self.skus.add(row.sku)
        status = row.order[_INDEX["status"]]
        if status:
            plan.status_codes[status] = plan.status_codes.get(status, 0) + 1
            self._status_first.setdefault(status, number)
        if row.order_no is None:
            return  # no order to put it in (reported above)
        if normalize.is_long_number(row.order_no):
            self._long_numbers += 1
            if normalize.looks_rounded(row.order_no):
                self._rounded.setdefault(row.order_no, []).append(number)
        order = plan.orders.get(row.order_no)
        if order is None:
            plan.orders[row.order_no] = PlannedOrder(order_no=row.order_no, rows=[row], bad=row.bad)
            return
        self._join(order, row)

    def _join(self, order: PlannedOrder, row: Row) -> None:
        first = order.rows[0]
        content = (row.sku, row.quantity, row.unit_price, row.order)
        for other in order.rows:
            if (other.sku, other.quantity, other.unit_price, other.order) == content:
                self.plan.problems.append(
                    Problem(
                        row.number,
                        "",
                        Code.DUPLICATE_ROW,
                        _("Repeats row %(other)s exactly (order %(no)s); this row is skipped.")
                        % {"other": other.number, "no": row.order_no},
                    )
                )
                return
        differs = [
            key
            for key in CONFLICT_KEYS
            if row.order[_INDEX[key]] is not None
            and first.order[_INDEX[key]] is not None
            and row.order[_INDEX[key]] != first.order[_INDEX[key]]
        ]
        same_sku = next((other for other in order.rows if row.sku and other.sku == row.sku), None)
        if differs or same_sku is not None:
            labels = "、".join(FIELDS_BY_KEY[key].zh for key in differs) or FIELDS_BY_KEY["quantity"].zh + "/单价"
            self.plan.problems.append(
                Problem(
                    row.number,
                    "",
                    Code.CONFLICT,
                    _(
                        "Order %(no)s also appears in row %(other)s with a different %(fields)s: fix one of them; "
                        "the order is not imported."
                    )
                    % {"no": row.order_no, "other": (same_sku or first).number, "fields": labels},
                )
            )
            order.bad = True
        order.rows.append(row)
        order.bad = order.bad or row.bad

    def finish(self, *, known_skus: set[str], in_hub: set[str], mapped_codes: set[str]) -> Plan:
        """Apply the bulk lookups: unknown SKUs (each row), orders already in the hub (once each), status codes
        without a mapping (once per code, at its first row)."""
        plan = self.plan
        rounded_rows = sum(len(rows) for rows in self._rounded.values())
        # Excel rounds a whole column; by chance one in ten 16-digit numbers ends in 0, one in 1,000 18-digit ones
        # in 000: half of them is no chance.
        if rounded_rows and rounded_rows * 2 >= self._long_numbers:
            for order_no, numbers in self._rounded.items():
                del plan.orders[order_no]  # not a real order number: no order (as a float one)
                for number in numbers:
                    plan.problems.append(
                        Problem(
                            number,
                            self._column("channel_order_no"),
                            "mangled_order_no",
                            normalize.mangled_reason(),
                            order_no,
                        )
                    )
        sku_column = self._column("sku")
        for order in plan.orders.values():
            for row in order.rows:
                if row.sku and row.sku not in known_skus:
                    plan.problems.append(
                        Problem(
                            row.number,
                            sku_column,
                            Code.UNKNOWN_SKU,
                            _("The SKU '%(sku)s' is not in the hub (no SKU or alias by that name).") % {"sku": row.sku},
                            row.sku,
                        )
                    )
                    order.bad = True
            if order.order_no in in_hub:
                order.in_hub = True
                plan.problems.append(
                    Problem(
                        order.first_row,
                        self._column("channel_order_no"),
                        Code.IN_HUB,
                        _("Order %(no)s is already in the hub; it is not imported again.") % {"no": order.order_no},
                        order.order_no,
                    )
                )
        status_column = self._column("status")
        for status, first in self._status_first.items():
            if status not in mapped_codes:
                plan.problems.append(
                    Problem(
                        first,
                        status_column,
                        Code.UNKNOWN_STATUS,
                        _(
                            "The status code '%(code)s' (%(rows)s rows) has no legacy status mapping yet: add it "
                            "before the import."
                        )
                        % {"code": status, "rows": plan.status_codes[status]},
                        status,
                    )
                )
        plan.problems.sort(key=lambda p: p.row)
        return plan

    def _column(self, key: str) -> str:
        col = self.mapping.get(key)
        if col is None:
            return ""
        return self.headers[col] if col < len(self.headers) else column_letter(col)
