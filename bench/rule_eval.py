"""Rule engine evaluation cost: 500 compiled conditions against one order's facts, vs hand-written lambdas.

    .venv/bin/python bench/rule_eval.py [--rules 500] [--evals 2000] [--seed 20240601]

Pure Python, no database: imports rules.engine directly (no django.setup; `common` puts the project on
sys.path). Named rule_eval.py, not rules.py, so that it does not shadow the project's `rules` app in bench/.
The lambda baseline is benchmark-only code generated from the same rule specs and compiled once; the
engine itself never evaluates generated source.
"""

import gc
import random
import statistics
import sys
import time
from decimal import Decimal

import common

from rules.engine import FACTS, MEMBER_LEVELS, MONEY, compile_condition, validate

TARGET_P99_MS = 2.0
KINDS = ("gift", "priority", "approval", "tag", "route", "merge", "escalation")
AMOUNTS = ["49", "99", "199", "299", "399", "499", "699", "999", "1999"]
CATEGORIES = ["面膜", "精华", "乳液", "洁面", "防晒", "口红", "眼霜", "香水", "礼盒", "小样"]
PROVINCES = ["浙江", "上海", "广东", "北京", "江苏", "四川", "湖北", "山东", "福建", "新疆"]
CHANNELS = ["tmall", "douyin", "miniapp", "jd", "pdd"]
LEVELS = list(MEMBER_LEVELS)


def comparison(rng: random.Random) -> dict:
    kind = rng.choice(["money", "money", "count", "level", "cats", "cats", "channel", "province", "presale"])
    if kind == "money":
        fact = rng.choice(["paid_amount", "subtotal"])
        if rng.random() < 0.6:
            return {"fact": fact, "op": "gte", "value": rng.choice(AMOUNTS)}
        low, high = sorted(rng.sample(AMOUNTS, 2), key=Decimal)
        return {"fact": fact, "op": "between", "value": [low, high]}
    if kind == "count":
        if rng.random() < 0.6:
            return {"fact": "order_count_30d", "op": "gte", "value": rng.randint(1, 6)}
        low = rng.randint(0, 3)
        return {"fact": "order_count_30d", "op": "between", "value": [str(low), str(low + rng.randint(1, 4))]}
    if kind == "level":
        if rng.random() < 0.5:
            return {"fact": "member_level", "op": "eq", "value": rng.choice(LEVELS)}
        return {"fact": "member_level", "op": "in", "value": rng.sample(LEVELS, rng.randint(2, 3))}
    if kind == "cats":
        if rng.random() < 0.5:
            return {"fact": "sku_categories", "op": "contains", "value": rng.choice(CATEGORIES)}
        return {"fact": "sku_categories", "op": "contains_any", "value": rng.sample(CATEGORIES, rng.randint(2, 4))}
    if kind == "channel":
        return {"fact": "channel", "op": "in", "value": rng.sample(CHANNELS, rng.randint(1, 3))}
    if kind == "province":
        return {"fact": "province", "op": "eq", "value": rng.choice(PROVINCES)}
    return {"fact": "presale", "op": "is_false"}


def condition(rng: random.Random) -> dict:
    items = [comparison(rng) for _ in range(rng.randint(1, 4))]
    if len(items) >= 3 and rng.random() < 0.6:  # nest the tail (2-3 comparisons) in an any/all group
        cut = rng.randint(1, len(items) - 2)
        items = [*items[:cut], {rng.choice(["any", "any", "all"]): items[cut:]}]
    return {"all" if rng.random() < 0.8 else "any": items}


def make_rules(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rules = [
        dict(id=i + 1, kind=rng.choice(KINDS), priority=rng.randint(1, 100), enabled=True, condition=condition(rng))
        for i in range(n)
    ]
    return sorted(rules, key=lambda r: (r["kind"], r["priority"], r["id"]))  # evaluation order


# fmt: off
def make_facts(rng: random.Random | None = None) -> dict:
    if rng is None:  # the one benchmark order
        facts = {
            "channel": "tmall", "member_level": "gold", "customer_tags": ["复购", "高价值"], "order_count_30d": 3,
            "subtotal": Decimal("568.00"), "paid_amount": Decimal("529.00"), "sku_codes": ["MK-001", "SE-204"],
            "sku_categories": ["面膜", "精华"], "total_quantity": 3, "promo_code": "SPRING50", "province": "浙江",
            "city": "杭州", "order_tags": ["新客礼"], "presale": False, "hours_since_paid": Decimal("1.5"),
            "same_address_orders_24h": 1, "warehouse_remaining_capacity": 1200,
        }
    else:
        subtotal = Decimal(rng.randint(1000, 250000)) / 100
        facts = {
            "channel": rng.choice(CHANNELS), "member_level": rng.choice(LEVELS),
            "customer_tags": rng.sample(["复购", "高价值", "黑名单", "新客"], rng.randint(0, 2)),
            "order_count_30d": rng.randint(0, 8), "subtotal": subtotal,
            "paid_amount": (subtotal * Decimal(rng.randint(70, 100)) / 100).quantize(Decimal("0.01")),
            "sku_codes": [f"SKU-{rng.randint(1, 999):03d}" for _ in range(rng.randint(1, 4))],
            "sku_categories": rng.sample(CATEGORIES, rng.randint(0, 4)), "total_quantity": rng.randint(1, 9),
            "promo_code": rng.choice(["", "SPRING50", "VIP10"]), "province": rng.choice(PROVINCES),
            "city": rng.choice(["杭州", "上海", "深圳", "成都"]), "order_tags": rng.sample(["加急", "新客礼"], 1),
            "presale": rng.random() < 0.2, "hours_since_paid": Decimal(rng.randint(0, 720)) / 10,
            "same_address_orders_24h": rng.randint(0, 3), "warehouse_remaining_capacity": rng.randint(0, 5000),
        }
    assert set(facts) == set(FACTS), set(FACTS) ^ set(facts)
    return facts
# fmt: on


def lambda_source(rules: list[dict]) -> tuple[str, dict]:
    """Hand-written-style lambdas with hoisted constants, e.g. `lambda f: f["paid_amount"] >= c3 and ...`."""
    consts: dict = {}

    def const(value) -> str:
        consts[f"c{len(consts)}"] = value
        return f"c{len(consts) - 1}"

    def typed(fact: str, raw):
        return Decimal(raw) if FACTS[fact].type == MONEY else int(raw) if FACTS[fact].type == "int" else raw

    def expr(node: dict) -> str:
        if "all" in node or "any" in node:
            key = "all" if "all" in node else "any"
            return "(" + f" {'and' if key == 'all' else 'or'} ".join(expr(i) for i in node[key]) + ")"
        fact, op, value = node["fact"], node["op"], node.get("value")
        read = f"f[{fact!r}]"
        if op == "gte":
            return f"{read} >= {const(typed(fact, value))}"
        if op == "between":
            return f"{const(typed(fact, value[0]))} <= {read} <= {const(typed(fact, value[1]))}"
        if op == "eq":
            return f"{read} == {value!r}"
        if op == "in":
            return f"{read} in {const(frozenset(value))}"
        if op == "contains":
            return f"{value!r} in {read}"
        if op == "contains_any":
            return f"not {const(frozenset(value))}.isdisjoint({read})"
        if op == "is_false":
            return f"{read} is False"
        raise ValueError(op)

    return "[\n" + "".join(f"    lambda f: {expr(r['condition'])},\n" for r in rules) + "]", consts


def build_engine(rules: list[dict]) -> list[tuple[int, object]]:
    return [(r["id"], compile_condition(validate(r["condition"]))) for r in rules]


def evaluate(preds, facts: dict) -> list[int]:
    return [rule_id for rule_id, pred in preds if pred(facts)]


def timed(preds, facts: dict, evals: int) -> tuple[list[float], int]:
    for _ in range(max(50, evals // 10)):  # warm-up
        evaluate(preds, facts)
    gc.collect()
    samples, clock = [], time.perf_counter_ns
    for _ in range(evals):
        t0 = clock()
        matched = evaluate(preds, facts)
        samples.append((clock() - t0) / 1e6)
    return samples, len(matched)


def main() -> None:
    ap = common.cli(__doc__)
    ap.add_argument("--rules", type=int, default=500)
    ap.add_argument("--evals", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()

    rules = make_rules(args.rules, args.seed)
    build_ms = []
    for _ in range(20):
        t0 = time.perf_counter_ns()
        engine = build_engine(rules)
        build_ms.append((time.perf_counter_ns() - t0) / 1e6)
    src, consts = lambda_source(rules)
    t0 = time.perf_counter_ns()
    code = compile(src, "<bench-lambdas>", "eval")
    funcs = eval(code, {"__builtins__": {}, **consts})  # noqa: S307 - bench-only baseline, trusted generated source
    lambdas = list(zip([r["id"] for r in rules], funcs, strict=True))
    lambda_compile_ms = (time.perf_counter_ns() - t0) / 1e6

    facts = make_facts()
    assert evaluate(engine, facts) == evaluate(lambdas, facts), "engine and lambdas disagree on the bench order"
    rng, hits = random.Random(args.seed + 1), 0
    for _ in range(200):
        other = make_facts(rng)
        got = evaluate(engine, other)
        assert got == evaluate(lambdas, other), f"engine and lambdas disagree on {other}"
        hits += len(got)

    comparisons = src.count('f["') + src.count("f['")
    nested = sum(1 for r in rules if any(("all" in i or "any" in i) for i in next(iter(r["condition"].values()))))
    kinds = {k: sum(1 for r in rules if r["kind"] == k) for k in KINDS}
    eng, eng_matched = timed(engine, facts, args.evals)
    lam, lam_matched = timed(lambdas, facts, args.evals)
    (e50, e95, e99), (l50, l95, l99) = (
        [statistics.quantiles(s, n=100)[p - 1] for p in (50, 95, 99)] for s in (eng, lam)
    )

    print(f"python {sys.version.split()[0]}, seed {args.seed}")
    print(f"rules: {len(rules)} enabled ({', '.join(f'{k} {n}' for k, n in kinds.items())})")
    print(f"       {comparisons} comparisons ({comparisons / len(rules):.2f}/rule), {nested} rules with nested groups")
    print(f"agreement: engine == lambdas on the bench order and 200 random orders ({hits / 200:.1f} matches/order)")
    print(
        f"one-time validate+compile of {len(rules)} rules: first {build_ms[0]:.2f} ms, median of 20 "
        f"{statistics.median(build_ms):.2f} ms  (lambda source compile, bench only: {lambda_compile_ms:.2f} ms)"
    )
    print(f"evaluate all {len(rules)} rules, {args.evals} evaluations each, ms per evaluation:")
    print(f"  {'':10}{'median':>9}{'p95':>9}{'p99':>9}{'max':>9}  matched")
    print(f"  {'engine':10}{e50:9.3f}{e95:9.3f}{e99:9.3f}{max(eng):9.3f}  {eng_matched}")
    print(f"  {'lambdas':10}{l50:9.3f}{l95:9.3f}{l99:9.3f}{max(lam):9.3f}  {lam_matched}")
    print(f"  ratio engine/lambdas: median {e50 / l50:.1f}x, p99 {e99 / l99:.1f}x")
    verdict = "MET" if e99 < TARGET_P99_MS else "NOT MET"
    print(f"target: p99 < {TARGET_P99_MS:g} ms for {len(rules)} rules -> measured {e99:.3f} ms: {verdict}")


if __name__ == "__main__":
    main()
