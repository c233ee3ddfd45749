"""Which rule conditions can hold for the same order (overlap) and which one holds whenever another does (cover),
decided from the conditions' structure alone. Pure Python like rules.engine: no ORM, no facts of real orders.

How: a validated condition is expanded into a disjunction of conjunctions (DNF; "includes any of" becomes one
term per value). A conjunction constrains each fact it names to a set: an interval with holes for numbers and
amounts (whole numbers for whole-number facts), allowed / excluded values for text and choices (a choice fact's
values are known), values a list must / must not include, yes / no for a yes-no fact. For such sets "is empty",
"do two meet" and "is one inside the other" are exact. Two things make the answer only "maybe":

- facts are treated as independent of each other: a combination no real order has (e.g. paid amount above the
  subtotal) still counts as possible;
- a conjunction that meets several conjunctions of the other condition without lying inside one of them may
  still be covered by their union: not decided here (terms differing in one value list are folded first, so
  "金卡 or VIP" is one term); a condition whose expansion is too large (over 256 terms) is not decided;
- the facts that depend on a rule's own action (warehouse_remaining_capacity: the warehouse each routing rule
  names) differ from rule to rule, so nothing certain is said about conditions that read them.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from rules import engine

YES, NO, MAYBE = "yes", "no", "maybe"
MAX_TERMS = 256
PER_ACTION_FACTS = frozenset({"warehouse_remaining_capacity"})


class TooComplex(Exception):
    pass


# --- one fact's set of allowed values ----------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """Numbers between lo and hi (None: unbounded), without the holes; whole numbers only when integer."""

    integer: bool
    lo: Any = None
    lo_open: bool = False
    hi: Any = None
    hi_open: bool = False
    holes: frozenset = frozenset()

    def meet(self, other: "Interval") -> "Interval":
        lo, lo_open = self.lo, self.lo_open
        if other.lo is not None and (lo is None or other.lo > lo or (other.lo == lo and other.lo_open)):
            lo, lo_open = other.lo, other.lo_open
        hi, hi_open = self.hi, self.hi_open
        if other.hi is not None and (hi is None or other.hi < hi or (other.hi == hi and other.hi_open)):
            hi, hi_open = other.hi, other.hi_open
        return Interval(self.integer, lo, lo_open, hi, hi_open, self.holes | other.holes).normal()

    def normal(self) -> "Interval":
        lo, lo_open, hi, hi_open, holes = self.lo, self.lo_open, self.hi, self.hi_open, set(self.holes)
        if self.integer:  # closed whole-number bounds, holes at the ends moved inward
            if lo is not None:
                lo, lo_open = (math.floor(lo) + 1 if lo_open else math.ceil(lo)), False
            if hi is not None:
                hi, hi_open = (math.ceil(hi) - 1 if hi_open else math.floor(hi)), False
            holes = {h for h in holes if h == int(h)}
            while lo is not None and lo in holes and (hi is None or lo <= hi):
                holes.discard(lo)
                lo += 1
            while hi is not None and hi in holes and (lo is None or lo <= hi):
                holes.discard(hi)
                hi -= 1
        else:  # a hole at a closed end opens it
            if lo is not None and lo in holes:
                holes.discard(lo)
                lo_open = True
            if hi is not None and hi in holes:
                holes.discard(hi)
                hi_open = True
        holes = {
            h
            for h in holes
            if (lo is None or h > lo or (h == lo and not lo_open))
            and (hi is None or h < hi or (h == hi and not hi_open))
        }
        return Interval(self.integer, lo, lo_open, hi, hi_open, frozenset(holes))

    def empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        if self.lo > self.hi:
            return True
        if self.lo == self.hi:
            return self.lo_open or self.hi_open or self.lo in self.holes
        if self.integer:  # every whole number between the ends is a hole
            return (self.hi - self.lo + 1) <= len(self.holes)
        return False

    def inside(self, other: "Interval") -> bool:
        if self.empty():
            return True
        if other.lo is not None:
            if self.lo is None or self.lo < other.lo or (self.lo == other.lo and other.lo_open and not self.lo_open):
                return False
        if other.hi is not None:
            if self.hi is None or self.hi > other.hi or (self.hi == other.hi and other.hi_open and not self.hi_open):
                return False
        return all(hole in self.holes or not self._contains(hole) for hole in other.holes)

    def _contains(self, x) -> bool:
        above = self.lo is None or x > self.lo or (x == self.lo and not self.lo_open)
        below = self.hi is None or x < self.hi or (x == self.hi and not self.hi_open)
        return above and below and x not in self.holes


@dataclass(frozen=True)
class Values:
    """Text or choice values: only `allowed` (None: any) except `excluded`; `universe` for a choice fact."""

    universe: frozenset | None = None
    allowed: frozenset | None = None
    excluded: frozenset = frozenset()

    def normal(self) -> "Values":
        allowed = self.allowed
        if allowed is None and self.universe is not None:
            allowed = self.universe
        if allowed is not None:
            return Values(self.universe, frozenset(allowed - self.excluded), frozenset())
        return self

    def meet(self, other: "Values") -> "Values":
        if self.allowed is None:
            allowed = other.allowed
        elif other.allowed is None:
            allowed = self.allowed
        else:
            allowed = self.allowed & other.allowed
        return Values(self.universe, allowed, self.excluded | other.excluded).normal()

    def empty(self) -> bool:
        return self.allowed is not None and not self.allowed

    def inside(self, other: "Values") -> bool:
        if self.empty():
            return True
        if other.allowed is not None:
            return self.allowed is not None and self.allowed <= other.allowed
        if self.allowed is not None:
            return self.allowed.isdisjoint(other.excluded)
        return other.excluded <= self.excluded


@dataclass(frozen=True)
class Members:
    """A list fact: values it must include and values it must not."""

    required: frozenset = frozenset()
    forbidden: frozenset = frozenset()

    def normal(self) -> "Members":
        return self

    def meet(self, other: "Members") -> "Members":
        return Members(self.required | other.required, self.forbidden | other.forbidden)

    def empty(self) -> bool:
        return not self.required.isdisjoint(self.forbidden)

    def inside(self, other: "Members") -> bool:
        return self.empty() or (other.required <= self.required and other.forbidden <= self.forbidden)


@dataclass(frozen=True)
class Truth:
    allowed: frozenset = frozenset({True, False})

    def normal(self) -> "Truth":
        return self

    def meet(self, other: "Truth") -> "Truth":
        return Truth(self.allowed & other.allowed)

    def empty(self) -> bool:
        return not self.allowed

    def inside(self, other: "Truth") -> bool:
        return self.allowed <= other.allowed


def _full(fact: engine.Fact):
    if fact.type in engine.ORDERED:
        return Interval(fact.type == engine.INT)
    if fact.type == engine.LIST:
        return Members()
    if fact.type == engine.BOOL:
        return Truth()
    return Values(frozenset(fact.choices) if fact.type == engine.CHOICE else None).normal()


def _atom(item: dict):
    """One comparison (not "includes any of": that is split before) as the set of values it lets through."""
    fact = engine.FACTS[item["fact"]]
    op, value = item["op"], item.get("value")
    full = _full(fact)
    if fact.type in engine.ORDERED:
        integer = fact.type == engine.INT
        if op == "between":
            bounds = {"lo": value[0], "hi": value[1]}
        else:
            bounds = {
                "eq": {"lo": value, "hi": value},
                "ne": {"holes": frozenset({value})},
                "gt": {"lo": value, "lo_open": True},
                "gte": {"lo": value},
                "lt": {"hi": value, "hi_open": True},
                "lte": {"hi": value},
            }[op]
        return Interval(integer, **bounds).normal()
    if fact.type == engine.LIST:
        several = frozenset(value) if isinstance(value, list) else frozenset({value})
        return Members(forbidden=several) if op == "not_contains" else Members(required=several)
    if fact.type == engine.BOOL:
        return Truth(frozenset({op == "is_true"}))
    universe, several = full.universe, frozenset(value) if isinstance(value, list) else frozenset({value})
    if op in ("eq", "in"):
        return Values(universe, several).normal()
    return Values(universe, None, several).normal()  # ne, not_in


# --- conditions as disjunctions of conjunctions -------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A conjunction: each named fact limited to a set; facts not named are free."""

    sets: dict = field(default_factory=dict)

    def meet(self, other: "Term") -> "Term":
        sets = dict(self.sets)
        for name, s in other.sets.items():
            sets[name] = sets[name].meet(s) if name in sets else s
        return Term(sets)

    def empty(self) -> bool:
        return any(s.empty() for s in self.sets.values())

    def inside(self, other: "Term") -> bool:
        if self.empty():
            return True
        for name, s in other.sets.items():
            mine = self.sets.get(name) or _full(engine.FACTS[name])
            if not mine.inside(s):
                return False
        return True


def _expand(node: dict) -> list[Term]:
    key, items = next(iter(node.items()))
    parts: list[list[Term]] = []
    for item in items:
        if "all" in item or "any" in item:
            parts.append(_expand(item))
        elif item["op"] == "contains_any":
            parts.append([Term({item["fact"]: Members(required=frozenset({v}))}) for v in item["value"]])
        else:
            parts.append([Term({item["fact"]: _atom(item)})])
    if key == "any":
        terms = [t for part in parts for t in part]
    else:
        terms = [Term()]
        for part in parts:
            terms = [t.meet(p) for t in terms for p in part]
            terms = [t for t in terms if not t.empty()]
            if len(terms) > MAX_TERMS:
                raise TooComplex
    terms = [t for t in terms if not t.empty()]
    if len(terms) > MAX_TERMS:
        raise TooComplex
    return _merge(terms)


def _union(a, b):
    """One set equal to a ∪ b when the kind allows it (value lists, yes / no), else None."""
    if isinstance(a, Values) and isinstance(b, Values) and a.allowed is not None and b.allowed is not None:
        return Values(a.universe, a.allowed | b.allowed).normal()
    if isinstance(a, Truth) and isinstance(b, Truth):
        return Truth(a.allowed | b.allowed)
    return None


def _merge(terms: list[Term]) -> list[Term]:
    """Fold terms that differ in one value-list fact only ("gold" or "vip" → in [gold, vip]), so a cover test
    sees one term instead of a union."""
    terms = list(terms)
    merged = True
    while merged:
        merged = False
        for i in range(len(terms)):
            for j in range(i + 1, len(terms)):
                a, b = terms[i].sets, terms[j].sets
                if a.keys() != b.keys():
                    continue
                differ = [name for name in a if a[name] != b[name]]
                if len(differ) != 1:
                    continue
                joined = _union(a[differ[0]], b[differ[0]])
                if joined is None:
                    continue
                terms[i] = Term({**a, differ[0]: joined})
                del terms[j]
                merged = True
                break
            if merged:
                break
    return terms


def _facts_read(node: dict) -> set[str]:
    _key, items = next(iter(node.items()))
    names: set[str] = set()
    for item in items:
        names |= _facts_read(item) if ("all" in item or "any" in item) else {item["fact"]}
    return names


@dataclass(frozen=True)
class Shape:
    """A checked condition, expanded (None when too large to decide)."""

    terms: list[Term] | None
    per_action: bool  # reads a fact that depends on the rule's own action


def shape(condition: Any) -> Shape:
    """Expand a stored condition; raises engine.ConditionError when it is not valid."""
    checked = engine.validate(condition)
    try:
        terms = _expand(checked)
    except TooComplex:
        terms = None
    return Shape(terms, bool(_facts_read(checked) & PER_ACTION_FACTS))


def _sure(answer: str, *shapes: Shape) -> str:
    return MAYBE if answer == YES and any(s.per_action for s in shapes) else answer


def covers(outer: Shape, inner: Shape) -> str:
    """Does `outer` hold for every order `inner` holds for? YES, NO or MAYBE. An impossible inner is covered."""
    if outer.terms is None or inner.terms is None:
        return MAYBE
    unsure = False
    for term in inner.terms:
        if any(term.inside(o) for o in outer.terms):
            continue
        met = [o for o in outer.terms if not term.meet(o).empty()]
        if len(met) <= 1:
            return MAYBE if (outer.per_action or inner.per_action) else NO
        unsure = True
    return MAYBE if unsure else _sure(YES, outer, inner)


def overlaps(one: Shape, other: Shape) -> str:
    """Can both hold for one order? YES, NO or MAYBE."""
    if one.terms is None or other.terms is None:
        return MAYBE
    met = any(not a.meet(b).empty() for a in one.terms for b in other.terms)
    if met:
        return _sure(YES, one, other)
    return MAYBE if (one.per_action or other.per_action) else NO


def same(one: Shape, other: Shape) -> str:
    """Do both hold for exactly the same orders?"""
    there, back = covers(one, other), covers(other, one)
    if there == YES and back == YES:
        return YES
    if NO in (there, back):
        return NO
    return MAYBE


def impossible(one: Shape) -> bool:
    """The condition can hold for no order at all (e.g. amount > 500 and < 100)."""
    return one.terms is not None and not one.terms
