"""Rule conditions: validate, compile, evaluate and render. Pure Python: no ORM, no eval of user text.

A condition is JSON: a group {"all": [...]} or {"any": [...]} whose items are groups or
comparisons {"fact": "paid_amount", "op": "gte", "value": "299"}. Facts come from a plain dict
built by the caller; a comparison can only read the fact it names.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# --- vocabulary ---------------------------------------------------------------------------------------

STR, CHOICE, INT, MONEY, NUMBER, BOOL, LIST = "str", "choice", "int", "money", "number", "bool", "list"

MEMBER_LEVELS = {
    "normal": ("普通会员", "regular"),
    "silver": ("银卡会员", "silver"),
    "gold": ("金卡会员", "gold"),
    "diamond": ("钻石会员", "diamond"),
    "vip": ("VIP会员", "VIP"),
}


@dataclass(frozen=True)
class Fact:
    name: str
    type: str
    zh: str
    en: str
    choices: tuple[str, ...] = ()


FACTS: dict[str, Fact] = {
    f.name: f
    for f in [
        Fact("channel", STR, "渠道", "channel"),
        Fact("member_level", CHOICE, "会员等级", "member level", tuple(MEMBER_LEVELS)),
        Fact("customer_tags", LIST, "客户标签", "customer tags"),
        Fact("order_count_30d", INT, "近30天下单数", "orders in last 30 days"),
        Fact("subtotal", MONEY, "商品金额", "subtotal"),
        Fact("paid_amount", MONEY, "实付金额", "paid amount"),
        Fact("sku_codes", LIST, "商品编码", "SKU codes"),
        Fact("sku_categories", LIST, "商品类目", "SKU categories"),
        Fact("total_quantity", INT, "商品件数", "total quantity"),
        Fact("promo_code", STR, "优惠码", "promo code"),
        Fact("province", STR, "省份", "province"),
        Fact("city", STR, "城市", "city"),
        Fact("order_tags", LIST, "订单标签", "order tags"),
        Fact("presale", BOOL, "预售订单", "presale order"),
        Fact("hours_since_paid", NUMBER, "付款后小时数", "hours since paid"),
        Fact("same_address_orders_24h", INT, "24小时同地址订单数", "same-address orders in 24 h"),
        Fact("warehouse_remaining_capacity", INT, "仓库剩余产能", "warehouse remaining capacity"),
    ]
}


@dataclass(frozen=True)
class Operator:
    name: str
    zh: str
    en: str
    types: tuple[str, ...]
    value: str  # "one": a single value of the fact's type; "many": a list of them; "none": no value; "pair"


ORDERED = (INT, MONEY, NUMBER)
OPERATORS: dict[str, Operator] = {
    o.name: o
    for o in [
        Operator("eq", "等于", "is", (STR, CHOICE, INT, MONEY, NUMBER), "one"),
        Operator("ne", "不等于", "is not", (STR, CHOICE, INT, MONEY, NUMBER), "one"),
        Operator("gt", ">", ">", ORDERED, "one"),
        Operator("gte", "≥", "≥", ORDERED, "one"),
        Operator("lt", "<", "<", ORDERED, "one"),
        Operator("lte", "≤", "≤", ORDERED, "one"),
        Operator("between", "介于", "between", ORDERED, "pair"),
        Operator("in", "属于", "is one of", (STR, CHOICE), "many"),
        Operator("not_in", "不属于", "is none of", (STR, CHOICE), "many"),
        Operator("contains", "包含", "includes", (LIST,), "one"),
        Operator("not_contains", "不包含", "does not include", (LIST,), "one"),
        Operator("contains_any", "包含任一", "includes any of", (LIST,), "many"),
        Operator("contains_all", "全部包含", "includes all of", (LIST,), "many"),
        Operator("is_true", "为是", "is yes", (BOOL,), "none"),
        Operator("is_false", "为否", "is no", (BOOL,), "none"),
    ]
}

MAX_DEPTH = 4
MAX_ITEMS = 50


class ConditionError(ValueError):
    """The condition cannot be saved. `errors` lists (path, message) pairs, path like 'all.2.value'."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in errors))
        self.errors = errors


class MissingFact(LookupError):
    """The order lacks a fact the rule needs (e.g. an old order). The caller holds the order."""

    def __init__(self, fact: str) -> None:
        super().__init__(fact)
        self.fact = fact


# --- validation: returns the condition with values parsed to their types -----------------------------


def _parse_scalar(fact: Fact, raw: Any, path: str, errors: list) -> Any:
    kind = STR if fact.type == LIST else fact.type
    try:
        if kind in (MONEY, NUMBER):
            if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
                raise InvalidOperation
            value = Decimal(str(raw).strip())
            if not value.is_finite():
                raise InvalidOperation
            return value
        if kind == INT:
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                return int(raw)
            if isinstance(raw, int):
                return raw
            raise ValueError
        if kind in (STR, CHOICE):
            if not isinstance(raw, (str, int)) or isinstance(raw, bool) or str(raw).strip() == "":
                raise ValueError
            value = str(raw).strip()
            if kind == CHOICE and value not in fact.choices:
                errors.append((path, f"'{value}' is not one of: {', '.join(fact.choices)}"))
            return value
    except (InvalidOperation, ValueError):
        expected = {MONEY: "an amount", NUMBER: "a number", INT: "a whole number"}.get(kind, "a text value")
        errors.append((path, f"{fact.name} needs {expected}, got {raw!r}"))
    return None


def _check_comparison(item: dict, path: str, errors: list) -> dict:
    unknown = set(item) - {"fact", "op", "value"}
    if unknown:
        errors.append((path, f"unexpected keys: {', '.join(sorted(unknown))}"))
    fact = FACTS.get(item.get("fact"))
    if fact is None:
        errors.append((f"{path}.fact", f"unknown fact {item.get('fact')!r}; known: {', '.join(FACTS)}"))
        return item
    op = OPERATORS.get(item.get("op"))
    if op is None:
        errors.append((f"{path}.op", f"unknown operator {item.get('op')!r}"))
        return item
    if fact.type not in op.types:
        errors.append((f"{path}.op", f"operator {op.name} does not apply to {fact.name} ({fact.type})"))
        return item
    raw = item.get("value")
    vpath = f"{path}.value"
    if op.value == "none":
        return {"fact": fact.name, "op": op.name}
    if op.value == "one":
        if isinstance(raw, (list, dict)):
            errors.append((vpath, f"{op.name} takes one value"))
            return item
        return {"fact": fact.name, "op": op.name, "value": _parse_scalar(fact, raw, vpath, errors)}
    if not isinstance(raw, list) or not raw or (op.value == "pair" and len(raw) != 2):
        errors.append((vpath, f"{op.name} takes {'two values [low, high]' if op.value == 'pair' else 'a list'}"))
        return item
    values = [_parse_scalar(fact, v, f"{vpath}.{i}", errors) for i, v in enumerate(raw)]
    if op.value == "pair" and None not in values and values[0] > values[1]:
        errors.append((vpath, "the low end is above the high end"))
    return {"fact": fact.name, "op": op.name, "value": values}


def _check_group(node: Any, path: str, depth: int, errors: list) -> dict:
    if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in ("all", "any"):
        errors.append((path or "condition", 'a group is {"all": [...]} or {"any": [...]}'))
        return {}
    key = next(iter(node))
    items = node[key]
    here = f"{path}.{key}" if path else key
    if not isinstance(items, list) or not items:
        errors.append((here, "the group is empty: add at least one comparison"))
        return {}
    if len(items) > MAX_ITEMS:
        errors.append((here, f"at most {MAX_ITEMS} items per group"))
    if depth > MAX_DEPTH:
        errors.append((here, f"groups nest at most {MAX_DEPTH} deep"))
        return {}
    checked = []
    for i, item in enumerate(items):
        item_path = f"{here}.{i}"
        if isinstance(item, dict) and ("all" in item or "any" in item):
            checked.append(_check_group(item, item_path, depth + 1, errors))
        elif isinstance(item, dict):
            checked.append(_check_comparison(item, item_path, errors))
        else:
            errors.append((item_path, "each item is a comparison or a group"))
    return {key: checked}


def validate(condition: Any) -> dict:
    """Check a condition; return it with typed values, or raise ConditionError listing every problem."""
    errors: list[tuple[str, str]] = []
    checked = _check_group(condition, "", 1, errors)
    if errors:
        raise ConditionError(errors)
    return checked


# --- compilation: validated condition -> fast predicate ---------------------------------------------


def _compile_comparison(item: dict) -> Callable[[dict], bool]:
    name, op, value = item["fact"], item["op"], item.get("value")

    def read(facts: dict) -> Any:
        try:
            return facts[name]
        except KeyError:
            raise MissingFact(name) from None

    if op == "eq":
        return lambda f: read(f) == value
    if op == "ne":
        return lambda f: read(f) != value
    if op == "gt":
        return lambda f: read(f) > value
    if op == "gte":
        return lambda f: read(f) >= value
    if op == "lt":
        return lambda f: read(f) < value
    if op == "lte":
        return lambda f: read(f) <= value
    if op == "between":
        low, high = value
        return lambda f: low <= read(f) <= high
    if op in ("in", "not_in"):
        allowed = frozenset(value)
        return (lambda f: read(f) in allowed) if op == "in" else (lambda f: read(f) not in allowed)
    if op == "contains":
        return lambda f: value in read(f)
    if op == "not_contains":
        return lambda f: value not in read(f)
    if op == "contains_any":
        wanted = frozenset(value)
        return lambda f: not wanted.isdisjoint(read(f))
    if op == "contains_all":
        wanted = frozenset(value)
        return lambda f: wanted.issubset(read(f))
    if op == "is_true":
        return lambda f: read(f) is True
    if op == "is_false":
        return lambda f: read(f) is False
    raise ValueError(op)  # unreachable after validate()


def compile_condition(checked: dict) -> Callable[[dict], bool]:
    """Turn a validated condition into a predicate over a fact dict."""
    key, items = next(iter(checked.items()))
    parts = [compile_condition(i) if ("all" in i or "any" in i) else _compile_comparison(i) for i in items]
    if key == "all":
        return lambda facts: all(p(facts) for p in parts)
    return lambda facts: any(p(facts) for p in parts)


# --- rendering: one readable sentence --------------------------------------------------------------


def _render_value(fact: Fact, value: Any, lang: str) -> str:
    if isinstance(value, list):
        return ("、" if lang == "zh" else ", ").join(_render_value(fact, v, lang) for v in value)
    if fact.name == "member_level" and value in MEMBER_LEVELS:
        return MEMBER_LEVELS[value][0 if lang == "zh" else 1]
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def render(checked: dict, lang: str = "zh") -> str:
    key, items = next(iter(checked.items()))
    joiner = {("all", "zh"): " 且 ", ("any", "zh"): " 或 ", ("all", "en"): " and ", ("any", "en"): " or "}
    parts = []
    for item in items:
        if "all" in item or "any" in item:
            parts.append(f"({render(item, lang)})")
            continue
        fact, op = FACTS[item["fact"]], OPERATORS[item["op"]]
        label, op_label = (fact.zh, op.zh) if lang == "zh" else (fact.en, op.en)
        if op.value == "none":
            parts.append(f"{label} {op_label}")
        elif op.value == "pair":
            low, high = (_render_value(fact, v, lang) for v in item["value"])
            parts.append(f"{label} {op_label} {low}–{high}")
        else:
            parts.append(f"{label} {op_label} {_render_value(fact, item['value'], lang)}")
    return joiner[(key, lang)].join(parts)
