"""Allocation throughput: orders allocated per second by W concurrent workers on contended SKUs, against bare
conditional `UPDATE ... WHERE on_hand - locked >= n` statements at the same concurrency.

    .venv/bin/python bench/allocate.py [--orders 2000] [--workers 8] [--seed 11]

Setup (not timed): drops and recreates the database `orderhub_bench_alloc` (its own; never orderhub,
orderhub_bench or a test database), migrates it, syncs the roles and status nodes, creates one channel, one
warehouse and 20 SKUs (4 of them "hot": most orders carry one), books stock through
warehouse.services.stock_adjust(kind="inbound"), and creates the orders through order_create (paid) and
order_transition("start_allocation"), so they wait in 'allocating' as the allocation queue holds them. Automatic
allocation and the breaker are switched off while the orders are created, and the RQ enqueue that
start_allocation schedules is replaced by a no-op in this setup process only (no worker reads the queue; this
bench is the worker). Hot SKUs are stocked below their total demand, so the last orders that want them are
held for a shortfall, as in a sell-out.

Measured, service: W processes (the GIL would serialize threads), each with django.setup() and its own
connection, take order ids in creation order from one shared counter and call
orders.services.allocation.order_allocate_queued(order_id=...), which is what the allocation RQ job runs: route,
lock stock (rows locked in primary-key order, one ledger row per line), transition to 'allocated', or hold the
order and alert purchasing on a shortfall. Each worker first allocates one extra order (not counted) inside a
transaction it rolls back: imports, translations and the connection are warm when the clock starts. Orders/s =
orders / (last worker done - first worker started); SQL statements are counted per call (execute_wrapper).

Measured, limit: W processes, one psycopg connection each, take the same orders in the same order and run, per
order, one transaction with one `UPDATE bench_stock SET locked = locked + n WHERE sku_id = s AND on_hand -
locked >= n` per SKU (in SKU order), rolled back when one matches no row (the shortfall), committed otherwise.
Same stock, same SKUs and quantities, same contention; nothing else is written. No allocation that commits each
order and checks stock in the database can beat it.

Afterwards the ledger is checked (warehouse.selectors.stock_check), no stock level may be negative, and the
allocated orders must be exactly the orders holding active locks, each for exactly its lines. The bare UPDATEs
run --limit-runs times on a fresh table; the median run is compared. Exit status 1 when a check fails or a call
raised (the first traceback is printed).
"""

import multiprocessing as mp
import os
import random
import threading
import time
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta

import common
import dataset
from common import log, ms, percentile, table

DB_NAME = f"{common.DB_NAME}_alloc"
DB_CONNINFO = f"host={common.HOST} port=5432 user=postgres password=postgres dbname={DB_NAME}"
DATABASE_URL = f"postgres://postgres:postgres@{common.HOST}:5432/{DB_NAME}"
# Not used by the measured path; setup empties its queue: BENCH_REDIS_URL keeps a second bench run apart.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://{common.HOST}:6379/13")

CHANNEL = ("bench-alloc", "分配压测渠道", "other")
WAREHOUSE = ("BA01", "压测分配仓", "上海", "上海")
HOT_SKUS = 4
COLD_SKUS = 16
HOT_WEIGHTS = [0.4, 0.3, 0.2, 0.1]  # how often each hot SKU is the order's hot line
HOT_FIRST_LINE = 0.85  # share of orders whose first line is a hot SKU
HOT_EXTRA_LINE = 0.25  # chance that a further line is another hot SKU
HOT_STOCK_SHARE = 0.93  # hot SKUs are stocked for this share of their demand: the tail of orders runs short
COLD_STOCK_SHARE = 1.10
CUSTOMERS = 300
PROVINCES = [("浙江", "杭州"), ("上海", "上海"), ("广东", "深圳"), ("江苏", "南京"), ("北京", "北京")]
BARRIER_TIMEOUT = 180.0
TARGET_ORDERS_PER_S = 150.0  # issue 10: with 8 workers on contended SKUs
TARGET_STATEMENTS = 12  # per allocated order


# --- database and Django --------------------------------------------------------------------------------------


def connect(*, autocommit: bool = True):
    return common.connect(autocommit=autocommit, conninfo=DB_CONNINFO)


def database_recreate() -> None:
    with common.connect(conninfo=common.ADMIN_CONNINFO) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def django_setup() -> None:
    """Django in this process, on orderhub_bench_alloc (test settings: PostgreSQL + Redis from the env)."""
    common.django_setup(database_url=DATABASE_URL, redis_url=REDIS_URL)


# --- the workload ---------------------------------------------------------------------------------------------


def sku_codes() -> tuple[list[str], list[str]]:
    return [f"ALLOC-H{i:02d}" for i in range(1, HOT_SKUS + 1)], [f"ALLOC-C{i:02d}" for i in range(1, COLD_SKUS + 1)]


def make_plans(count: int, seed: int) -> list[dict[str, int]]:
    """Per order: SKU code -> quantity. 1-3 lines; most orders carry a hot SKU."""
    rng = random.Random(seed)
    hot, cold = sku_codes()
    plans = []
    for _ in range(count):
        n_lines = rng.choices([1, 2, 3], weights=[0.45, 0.35, 0.20])[0]
        codes: list[str] = []
        while len(codes) < n_lines:
            hot_line = rng.random() < (HOT_FIRST_LINE if not codes else HOT_EXTRA_LINE)
            code = rng.choices(hot, weights=HOT_WEIGHTS)[0] if hot_line else rng.choice(cold)
            if code not in codes:
                codes.append(code)
        plans.append({code: rng.choices([1, 2, 3], weights=[0.70, 0.25, 0.05])[0] for code in codes})
    return plans


def stock_for(plans: list[dict[str, int]]) -> dict[str, int]:
    demand: Counter = Counter()
    for plan in plans:
        demand.update(plan)
    hot, cold = sku_codes()
    stock = {code: max(1, int(demand[code] * HOT_STOCK_SHARE)) for code in hot}
    stock.update({code: max(1, int(demand[code] * COLD_STOCK_SHARE) + 1) for code in cold})
    return stock


def payload(k: int, plan: dict[str, int], seed: int, rng: random.Random) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    phone = f"166{rng.randrange(CUSTOMERS):08d}"
    province, city = rng.choice(PROVINCES)
    return dataset.order_payload(
        channel=CHANNEL[0],
        channel_order_no=f"BA{seed}-{k:07d}",
        lines=[(code, qty, "99.00") for code, qty in plan.items()],
        customer=("压测买家", phone, "normal"),
        place=(province, city, ""),
        detail=f"测试路 {k % 500 + 1} 号",
        ordered_at=now - timedelta(minutes=5),
        paid_at=now - timedelta(minutes=1),
    )


def setup(orders: int, workers: int, seed: int) -> dict:
    """Fresh database, master data, stock, and orders + warm-up orders waiting in 'allocating'."""
    t0 = time.monotonic()
    log(f"recreating database {DB_NAME}")
    database_recreate()
    django_setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    log(f"  migrated in {time.monotonic() - t0:.1f}s")

    from orders.models import Channel, Source, Status
    from orders.services.nodes import status_nodes_ensure_defaults
    from orders.services.roles import roles_sync
    from orders.services.transitions import order_transition
    from warehouse.models import Sku, Warehouse
    from warehouse.selectors import allocation_settings
    from warehouse.services import stock_adjust

    roles_sync()
    status_nodes_ensure_defaults()
    code, name, kind = CHANNEL
    Channel.objects.create(code=code, name=name, kind=kind)
    code, name, province, city = WAREHOUSE
    warehouse = Warehouse.objects.create(code=code, name=name, province=province, city=city, daily_capacity=0)
    hot, cold = sku_codes()
    skus = {c: Sku.objects.create(code=c, name=f"压测商品 {c}", category="压测", unit="件") for c in hot + cold}

    settings = allocation_settings()
    settings.auto_allocate = False
    settings.breaker_enabled = False
    settings.save()

    # The first `workers` orders are for the rolled-back warm-up: same shape, never allocated.
    plans = make_plans(workers + orders, seed)
    stock = stock_for(plans[workers:])
    for code, quantity in stock.items():
        stock_adjust(
            sku=skus[code], warehouse=warehouse, kind="inbound", quantity=quantity, reason="bench stock", actor=None
        )

    rng = random.Random(seed + 1)
    ids = []
    t1 = time.monotonic()
    for k, plan in enumerate(plans):
        order = dataset.order_intake(payload(k, plan, seed, rng), source=Source.API).order
        if order.status != Status.PAID:
            raise SystemExit(f"order {order.number} is '{order.status}' after intake, expected 'paid'")
        order = order_transition(
            order=order, transition="start_allocation", actor=None, source=Source.SYSTEM, actor_label="bench"
        )
        ids.append(order.pk)
        if (k + 1) % 500 == 0:
            log(f"  {k + 1} orders waiting in 'allocating' ({(k + 1) / (time.monotonic() - t1):.0f}/s)")

    import django_rq

    django_rq.get_queue("default").empty()  # the allocation jobs setup enqueued: the bench allocates itself
    by_code = {c: s.pk for c, s in skus.items()}
    wanted = [{by_code[c]: q for c, q in plan.items()} for plan in plans]
    hot_ids = {by_code[c] for c in hot}
    log(f"setup done in {time.monotonic() - t0:.1f}s")
    from django.db import connections

    connections.close_all()
    return {
        "warm_ids": ids[:workers],
        "order_ids": ids[workers:],
        "wanted": wanted[workers:],
        "stock": {by_code[c]: q for c, q in stock.items()},
        "hot_share": sum(1 for w in wanted[workers:] if hot_ids & set(w)) / max(1, orders),
        "lines": sum(len(w) for w in wanted[workers:]),
    }


# --- measured: the allocation service -------------------------------------------------------------------------


def _next(counter) -> int:
    with counter.get_lock():
        i = counter.value
        counter.value = i + 1
    return i


def service_worker(k: int, warm_id: int, order_ids: list[int], counter, barrier, results) -> None:
    """One allocation worker: warm up on a rolled-back allocation, wait for the others, then drain the list."""
    out = {"k": k, "counts": Counter(), "latencies": [], "errors": [], "statements": Counter(), "kinds": Counter()}
    try:
        django_setup()
        from django.db import connection, transaction

        from orders.services.allocation import order_allocate_queued

        class Rollback(Exception):
            pass

        try:
            with transaction.atomic():
                out["warm_result"] = order_allocate_queued(order_id=warm_id)
                raise Rollback
        except Rollback:
            pass
        barrier.wait(timeout=BARRIER_TIMEOUT)
    except Exception:
        _abort_start(out, barrier, results)
        return

    statements = [0]
    kinds = out["kinds"]

    def count(execute, sql, params, many, context):  # SQL statements sent, by first keyword (cheap)
        statements[0] += 1
        kinds[sql.lstrip().split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    cpu0 = time.process_time()
    out["start"] = time.monotonic()
    clock = time.perf_counter
    with connection.execute_wrapper(count):
        while (i := _next(counter)) < len(order_ids):
            statements[0] = 0
            t = clock()
            try:
                result = order_allocate_queued(order_id=order_ids[i])
            except Exception:
                result = "error"
                if len(out["errors"]) < 5:
                    out["errors"].append(f"order id {order_ids[i]}:\n{traceback.format_exc()}")
            out["latencies"].append(clock() - t)
            out["counts"][result] += 1
            out["statements"][result] += statements[0]
    out["end"] = time.monotonic()
    out["cpu"] = time.process_time() - cpu0
    results.put(out)


def _abort_start(out: dict, barrier, results) -> None:
    """A worker failed before the start line: report why and release the others from the barrier."""
    out["errors"].append(traceback.format_exc())
    barrier.abort()
    results.put(out)


# --- measured: bare conditional UPDATEs -----------------------------------------------------------------------

UPDATE_SQL = "UPDATE bench_stock SET locked = locked + %s WHERE sku_id = %s AND on_hand - locked >= %s"


class _Short(Exception):
    pass


def update_worker(k: int, plans: list[list[tuple[int, int]]], counter, barrier, results) -> None:
    out = {"k": k, "counts": Counter(), "latencies": [], "errors": [], "committed": []}
    try:
        conn = connect()
        conn.execute("SELECT 1")
        barrier.wait(timeout=BARRIER_TIMEOUT)
    except Exception:
        _abort_start(out, barrier, results)
        return
    cpu0 = time.process_time()
    out["start"] = time.monotonic()
    clock = time.perf_counter
    while (i := _next(counter)) < len(plans):
        t = clock()
        try:
            with conn.transaction():
                for sku_id, quantity in plans[i]:  # sorted by SKU: the same lock order as the service
                    if conn.execute(UPDATE_SQL, [quantity, sku_id, quantity]).rowcount != 1:
                        raise _Short
            result = "allocated"
            out["committed"].append(i)
        except _Short:
            result = "held"
        except Exception:
            result = "error"
            if len(out["errors"]) < 5:
                out["errors"].append(traceback.format_exc())
        out["latencies"].append(clock() - t)
        out["counts"][result] += 1
    out["end"] = time.monotonic()
    out["cpu"] = time.process_time() - cpu0
    conn.close()
    results.put(out)


def bench_stock_reset(stock: dict[int, int]) -> None:
    with connect() as conn:
        conn.execute("DROP TABLE IF EXISTS bench_stock")
        conn.execute(
            "CREATE TABLE bench_stock (sku_id integer PRIMARY KEY, on_hand integer NOT NULL,"
            " locked integer NOT NULL DEFAULT 0, CHECK (locked >= 0 AND on_hand >= locked))"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_stock (sku_id, on_hand) VALUES (%s, %s)", sorted(stock.items()))
        conn.execute("VACUUM ANALYZE bench_stock")


# --- running W processes --------------------------------------------------------------------------------------


def run_processes(target, per_worker_args: list[tuple], shared_args: tuple) -> dict:
    """Start one spawned process per worker, release them together, collect what they report."""
    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited Django state or sockets
    workers = len(per_worker_args)
    counter = ctx.Value("i", 0)
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(k, *extra, *shared_args, counter, barrier, results), daemon=True)
        for k, extra in enumerate(per_worker_args)
    ]
    for p in procs:
        p.start()
    load = common.load_average()
    meter = None
    try:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        meter = common.CpuMeter(None)
    except threading.BrokenBarrierError:
        log("a worker failed before the start; its report follows")
    reports = [results.get(timeout=3600) for _ in procs]
    cpu = meter.stop() if meter else None
    for p in procs:
        p.join(timeout=30)
    errors = [e for r in reports for e in r["errors"]]
    if any("start" not in r for r in reports):
        raise SystemExit("a worker failed before the start:\n" + "\n".join(errors))
    counts: Counter = Counter()
    for r in reports:
        counts.update(r["counts"])
    latencies = [x for r in reports for x in r["latencies"]]
    return {
        "wall": max(r["end"] for r in reports) - min(r["start"] for r in reports),
        "counts": counts,
        "latencies": latencies,
        "errors": errors,
        "worker_cpu": sum(r["cpu"] for r in reports),
        "cpu": cpu,
        "load": load,
        "statements": sum((r.get("statements", Counter()) for r in reports), Counter()),
        "kinds": sum((r.get("kinds", Counter()) for r in reports), Counter()),
        "warm_results": Counter(r.get("warm_result") for r in reports if "warm_result" in r),
        "committed": [i for r in reports for i in r.get("committed", [])],
    }


# --- checks ---------------------------------------------------------------------------------------------------


def verify_service(order_ids: list[int], wanted: list[dict[int, int]]) -> dict:
    django_setup()
    from django.db import connections
    from django.db.models import Count, F

    from orders.models import Order, Status
    from warehouse.models import StockLevel, StockLock
    from warehouse.selectors import stock_check

    problems = stock_check()
    negative = StockLevel.objects.filter(on_hand__lt=F("locked") + F("reserved")).count()
    statuses = Counter(
        dict(Order.objects.filter(pk__in=order_ids).values_list("status").annotate(n=Count("id")).order_by())
    )
    allocated = set(Order.objects.filter(pk__in=order_ids, status=Status.ALLOCATED).values_list("pk", flat=True))
    locks: dict[int, Counter] = {}
    for order_id, sku_id, quantity in StockLock.objects.filter(state=StockLock.State.ACTIVE).values_list(
        "order_id", "sku_id", "quantity"
    ):
        locks.setdefault(order_id, Counter())[sku_id] += quantity
    plan = dict(zip(order_ids, wanted, strict=True))
    mismatched = [pk for pk in allocated if locks.get(pk) != Counter(plan[pk])]
    connections.close_all()
    return {
        "problems": problems,
        "negative": negative,
        "statuses": statuses,
        "allocated": len(allocated),
        "with_locks": len(locks),
        "same_orders": set(locks) == allocated,
        "mismatched": mismatched,
    }


def verify_updates(stock: dict[int, int], committed: list[int], plans: list[list[tuple[int, int]]]) -> dict:
    """bench_stock after the UPDATEs: nothing negative, and locked per SKU = the committed orders' units."""
    expected: Counter = Counter()
    for i in committed:
        expected.update(dict(plans[i]))
    with connect() as conn:
        rows = conn.execute("SELECT sku_id, on_hand, locked FROM bench_stock").fetchall()
    return {
        "negative": sum(1 for _s, on_hand, locked in rows if on_hand - locked < 0),
        "consistent": all(stock[s] == on_hand and expected[s] == locked for s, on_hand, locked in rows),
        "locked": sum(locked for _s, _o, locked in rows),
    }


# --- report ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=2000, help="orders to allocate (default 2000)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent worker processes (default 8)")
    parser.add_argument("--limit-runs", type=int, default=3, help="runs of the bare UPDATEs; the median counts")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if min(args.orders, args.workers, args.limit_runs) < 1:
        raise SystemExit("--orders, --workers and --limit-runs must be at least 1")
    started = time.monotonic()

    data = setup(args.orders, args.workers, args.seed)
    order_ids, wanted = data["order_ids"], data["wanted"]

    log(f"service: {args.workers} processes allocate {len(order_ids)} orders")
    service = run_processes(service_worker, [(warm_id,) for warm_id in data["warm_ids"]], (order_ids,))
    log(f"  done in {service['wall']:.1f}s: {dict(service['counts'])}")
    checks = verify_service(order_ids, wanted)

    plans = [sorted(w.items()) for w in wanted]
    limit_runs = []
    for run in range(args.limit_runs):
        bench_stock_reset(data["stock"])
        log(f"limit, run {run + 1}: {args.workers} processes run bare conditional UPDATEs for {len(plans)} orders")
        limit = run_processes(update_worker, [() for _ in range(args.workers)], (plans,))
        limit["checks"] = verify_updates(data["stock"], limit["committed"], plans)
        log(f"  done in {limit['wall']:.2f}s: {dict(limit['counts'])}")
        limit_runs.append(limit)
    limit = sorted(limit_runs, key=lambda r: r["wall"])[len(limit_runs) // 2]  # the median run
    limit_checks = limit["checks"]
    limits_ok = all(r["checks"]["consistent"] and not r["checks"]["negative"] for r in limit_runs)

    n = len(order_ids)
    s_rate, l_rate = n / service["wall"], n / limit["wall"]
    print()
    print(f"=== allocate.py: order allocation with {args.workers} concurrent workers, contended SKUs ===")
    print(
        f"database: {DB_NAME} (PostgreSQL, recreated for this run); 1 warehouse, {HOT_SKUS} hot + {COLD_SKUS} "
        f"other SKUs; {n} orders, {data['lines'] / n:.2f} lines/order, {data['hot_share']:.0%} carry a hot SKU"
    )
    print(
        f"stock: hot SKUs {HOT_STOCK_SHARE:.0%} of their demand, others {COLD_STOCK_SHARE:.0%}: "
        f"{sum(data['stock'].values())} units over {len(data['stock'])} SKUs"
    )
    print(
        f"workers: {args.workers} processes (spawned, django.setup() each, one persistent connection each), "
        "order ids taken in creation order from one shared counter; "
        f"warm-up allocations (rolled back): {dict(service['warm_results'])}"
    )
    per_result = ", ".join(
        f"{service['statements'][r] / c:.1f} per {r} order" for r, c in sorted(service["counts"].items()) if c
    )
    kinds = ", ".join(f"{v / n:.1f} {k}" for k, v in service["kinds"].most_common())
    print(f"SQL statements per service call: {per_result}; on average {kinds}")
    print(
        f"  (BEGIN/COMMIT not counted; the bare UPDATE run sends one UPDATE per line, {data['lines'] / n:.2f} "
        "per order, between BEGIN and COMMIT)"
    )
    print()
    rows = []
    for label, res, rate in (
        ("service: order_allocate_queued", service, s_rate),
        ("limit: bare conditional UPDATEs", limit, l_rate),
    ):
        c, lat = res["counts"], res["latencies"]
        rows.append(
            (
                label,
                n,
                c["allocated"],
                c["held"],
                c["skipped"],
                c["error"],
                f"{res['wall']:.2f}",
                f"{rate:.0f}",
                ms(sum(lat) / len(lat)),
                ms(percentile(lat, 50)),
                ms(percentile(lat, 95)),
                ms(percentile(lat, 99)),
            )
        )
    table(
        [
            "measurement",
            "orders",
            "allocated",
            "held",
            "skipped",
            "errors",
            "seconds",
            "orders/s",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
        ],
        rows,
    )
    print()
    cpu_rows = []
    for label, res in (("service", service), ("limit", limit)):
        cpu = res["cpu"]
        if cpu is None:
            continue
        cpu_rows.append(
            (
                label,
                f"{res['worker_cpu'] * 1000 / n:.2f}",
                f"{cpu['postgres'] * 1000 / n:.2f}",
                f"{(cpu['busy'] - cpu['postgres'] - res['worker_cpu']) * 1000 / n:.2f}",
                f"{cpu['busy_pct']:.0f}%",
            )
        )
    table(["CPU per order", "workers ms", "postgres ms", "other ms", "machine busy"], cpu_rows)
    print("(postgres: every backend of the server, including other users'; other: the rest of the machine)")
    print()
    runs = ", ".join(f"{n / r['wall']:.0f}" for r in limit_runs)
    print(f"ratio service / bare UPDATEs: {s_rate / l_rate:.3f}  ({s_rate:.0f} / {l_rate:.0f} orders/s)")
    print(f"  bare UPDATE runs: {runs} orders/s (the median run is shown above)")
    print()
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(checks["statuses"].items()))
    print(f"after the service run: {statuses}")
    print(f"  ledger consistent (stock_check() == []): {'yes' if not checks['problems'] else 'no'}")
    for line in checks["problems"][:10]:
        print(f"    {line}")
    print(f"  stock levels with negative available: {checks['negative']}")
    same = checks["allocated"] == checks["with_locks"] and checks["same_orders"]
    mismatched = len(checks["mismatched"])
    print(
        f"  allocated orders {checks['allocated']} = orders with active locks {checks['with_locks']}: "
        f"{'yes' if same else 'no'}; each allocated order's locks equal its lines: "
        f"{'yes' if not mismatched else f'no ({mismatched} orders differ)'}"
    )
    print(
        f"after the bare UPDATEs: rows with negative available {limit_checks['negative']}; "
        f"{limit['counts']['allocated']} orders committed, {limit_checks['locked']} units locked, "
        f"equal to their lines: {'yes' if limit_checks['consistent'] else 'no'}"
    )
    print(f"service run: {service['load']} before the run; bare UPDATEs: {limit['load']}")
    allocated = service["counts"]["allocated"]
    common.verdict(f"orders/s with {args.workers} workers", s_rate, TARGET_ORDERS_PER_S, "orders/s")
    if allocated:
        per = service["statements"]["allocated"] / allocated
        common.verdict("SQL statements per allocated order", per, TARGET_STATEMENTS, "", at_least=False)
    errors = service["errors"] + [e for r in limit_runs for e in r["errors"]]
    if errors:
        print(f"errors: {len(errors)} reported (first 5 per worker kept); first:")
        print(errors[0])
    print(f"total time {time.monotonic() - started:.1f}s")
    ok = not checks["problems"] and not checks["negative"] and same and not checks["mismatched"]
    if errors or not ok or not limits_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
