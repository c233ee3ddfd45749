"""Lookup and trace latency on a 1,000,000-order database, through the HTTP API under gunicorn.

    .venv/bin/python bench/trace.py [--orders N] [--samples 500] [--rebuild]

Builds orderhub_bench with bulk SQL (INSERT ... SELECT FROM generate_series; indexes and foreign keys are dropped
for the load and rebuilt after, two connections at a time), unless it already holds exactly N generated orders.
Then, one sequential client: GET /api/v1/orders/lookup/?q=... (number, channel order no., tracking no., phone)
and GET /api/v1/orders/<number>/trace/, against a bare indexed SELECT of the same rows through psycopg.
"""

import random
import time

import common
import dataset
from common import log, ms, percentile, table

TARGET_TRACE_P95_MS = 50.0


# --- measure -------------------------------------------------------------------------------------------------------


def sample_orders(n: int, samples: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    ids = rng.sample(range(1, n + 1), min(samples, n))
    with common.connect() as conn:
        rows = conn.execute(
            """SELECT o.id, o.number, o.channel_order_no,
                      coalesce((SELECT s.tracking_number FROM logistics_shipment s
                                WHERE s.order_id = o.id AND s.is_active ORDER BY s.parcel_index LIMIT 1), ''),
                      o.receiver_phone, c.phone,
                      (SELECT count(*) FROM orders_orderevent e WHERE e.order_id = o.id)
               FROM orders_order o JOIN orders_customer c ON c.id = o.customer_id WHERE o.id = ANY(%s)""",
            [ids],
        ).fetchall()
    by_id = {r[0]: r for r in rows}
    keys = ("id", "number", "channel_order_no", "tracking_number", "receiver_phone", "customer_phone", "events")
    return [dict(zip(keys, by_id[i], strict=True)) for i in ids]


def lookup_plan(orders: list[dict]) -> list[tuple[str, str, str]]:
    """(kind, q, expected number) rotating through the four kinds of identifier."""
    kinds = ["number", "channel_order_no", "tracking_number", "phone"]
    plan = []
    for i, o in enumerate(orders):
        kind = kinds[i % 4]
        if kind == "tracking_number" and not o["tracking_number"]:
            kind = "channel_order_no"
        value = o["receiver_phone"] if kind == "phone" else o[kind]
        plan.append((kind, value, o["number"]))
    return plan


def bare_pass(orders: list[dict], *, new_connection: bool, deadline: float) -> list[float]:
    sql_order = "SELECT * FROM orders_order WHERE number = %s"
    sql_events = "SELECT * FROM orders_orderevent WHERE order_id = %s ORDER BY created_at, id"
    times = []
    conn = None if new_connection else common.connect()
    try:
        for o in orders:
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            c = common.connect() if new_connection else conn
            row = c.execute(sql_order, [o["number"]]).fetchone()
            events = c.execute(sql_events, [row[0]]).fetchall()
            if new_connection:
                c.close()
            times.append(time.perf_counter() - t0)
            if len(events) != o["events"]:
                raise SystemExit(f"bare select: {o['number']} has {len(events)} events, expected {o['events']}")
    finally:
        if conn is not None:
            conn.close()
    return times


def api_pass(server: common.Gunicorn, token: str, orders: list[dict], deadline: float):
    client = common.ApiClient(server.port, token)
    lookups: dict[str, list[float]] = {}
    traces: list[float] = []
    errors = []
    try:
        for (kind, value, number), o in zip(lookup_plan(orders), orders, strict=True):
            if time.monotonic() > deadline:
                break
            status, body, elapsed = common.get_json(client, f"/api/v1/orders/lookup/?q={value}")
            if status != 200 or number not in {r["number"] for r in body}:
                # A phone lookup returns the newest 50 of that phone's orders; the sampled one may be older.
                if not (status == 200 and kind == "phone" and len(body) == 50):
                    errors.append(f"lookup {kind} {value}: HTTP {status}, {str(body)[:120]}")
            lookups.setdefault(kind, []).append(elapsed)
            status, body, elapsed = common.get_json(client, f"/api/v1/orders/{number}/trace/")
            if status != 200 or len(body["events"]) != o["events"]:
                errors.append(f"trace {number}: HTTP {status}, {str(body)[:120]}")
            traces.append(elapsed)
    finally:
        client.close()
    return lookups, traces, errors


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=0, help="default: 5000 (fewer for small --orders)")
    parser.add_argument("--samples", type=int, default=500, help="random orders to look up and trace")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers and build connections")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data even if it matches")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--no-persistent", action="store_true", help="skip the CONN_MAX_AGE=60 pass")
    parser.add_argument("--no-prewarm", action="store_true", help="skip pg_prewarm before each measured pass")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per measured loop")
    args = parser.parse_args()
    n = args.orders
    customers = args.customers or min(5000, max(10, n // 20))
    started = time.monotonic()

    info, reused = dataset.history_ensure(n, customers, args.workers, rebuild=args.rebuild)
    master = dataset.master_data_ensure()
    assert master["skus"]
    token = common.api_token_ensure()
    summary = dataset.data_summary()

    orders = sample_orders(info["orders"], args.samples, args.seed)
    log(f"sampled {len(orders)} random orders; warming the cache with one bare pass")
    bare_pass(orders, new_connection=False, deadline=time.monotonic() + args.time_limit)

    # Queries per request, counted in-process (Django test client against the same database).
    query_counts = []
    o = orders[0]
    phone_q = o["receiver_phone"]
    for label, path in (
        ("lookup number", f"/api/v1/orders/lookup/?q={o['number']}"),
        ("lookup channel_order_no", f"/api/v1/orders/lookup/?q={o['channel_order_no']}"),
        ("lookup phone", f"/api/v1/orders/lookup/?q={phone_q}"),
        ("trace", f"/api/v1/orders/{o['number']}/trace/"),
    ):
        status, nq, _sql = common.count_queries("GET", path, token)
        query_counts.append((label, status, nq))

    runs = {}
    for settings in (common.SETTINGS, common.SETTINGS_PERSISTENT):
        if settings == common.SETTINGS_PERSISTENT and args.no_persistent:
            continue
        with common.Gunicorn(workers=args.workers, token=token, settings=settings) as server:
            log(f"gunicorn up on 127.0.0.1:{server.port} ({server.describe()}); warm-up then measure")
            if not args.no_prewarm:
                mb, secs = common.prewarm()
                log(f"  prewarmed {mb} MB of tables and indexes into the OS cache in {secs:.1f}s")
            api_pass(server, token, orders[:30], time.monotonic() + 60)
            load_before = common.load_average()
            t_api = time.monotonic()
            meter = common.CpuMeter(server.proc.pid)
            lookups, traces, errors = api_pass(server, token, orders, time.monotonic() + args.time_limit)
            cpu = meter.stop()
            runs[settings] = {
                "server": server.describe(),
                "lookups": lookups,
                "traces": traces,
                "errors": errors,
                "seconds": time.monotonic() - t_api,
                "load": load_before,
                "cpu": cpu,
            }
    bare = bare_pass(orders, new_connection=False, deadline=time.monotonic() + args.time_limit)
    bare_conn = bare_pass(orders, new_connection=True, deadline=time.monotonic() + args.time_limit)

    # The verdict is judged as deployed (production settings) when that pass ran.
    main_settings = common.SETTINGS_PERSISTENT if common.SETTINGS_PERSISTENT in runs else common.SETTINGS
    main_run = runs[main_settings]
    print()
    print(f"=== trace.py: lookup and trace over HTTP, {info['orders']:,} orders ===")
    print(
        f"data: {summary['orders_order']:,} orders, {summary['orders_orderline']:,} lines, "
        f"{summary['orders_orderevent']:,} events, {summary['orders_customer']:,} customers; "
        f"database {summary['db_size']}; "
        + (f"reused (built in {info['build_seconds']}s)" if reused else f"built in {info['build_seconds']}s")
    )
    timings = info.get("timings", [])
    timings = timings.items() if isinstance(timings, dict) else timings
    print("build steps (s): " + ", ".join(f"{k} {v}" for k, v in timings))
    print("statuses: " + ", ".join(f"{s} {c:,}" for s, c in summary["statuses"]))
    for settings, run in runs.items():
        n_lookups = sum(len(v) for v in run["lookups"].values())
        print(
            f"server: gunicorn {run['server']}, DJANGO_SETTINGS_MODULE={settings}; client: 1, sequential, "
            f"keep-alive; {len(run['traces'])} traces + {n_lookups} lookups in {run['seconds']:.1f}s; "
            f"{run['load']} before the run"
        )
    print("bare: psycopg, one persistent connection (and one new connection per order), after a warm-up pass")
    if not args.no_prewarm:
        print("cache: tables and indexes read into the OS page cache (pg_prewarm 'read') before each API pass")
    print()
    rows = []
    b50, b95 = percentile(bare, 50), percentile(bare, 95)
    ratios = []
    for settings, run in runs.items():
        tag = "" if settings == common.SETTINGS else " [production settings]"
        all_lookups = [x for v in run["lookups"].values() for x in v]
        series = [(f"API lookup ({k}){tag}", v) for k, v in run["lookups"].items()]
        series += [(f"API lookup (all kinds){tag}", all_lookups), (f"API trace{tag}", run["traces"])]
        for label, xs in series:
            rows.append((label, len(xs), ms(percentile(xs, 50)), ms(percentile(xs, 95)), ms(percentile(xs, 99))))
        for label, xs in ((f"API trace{tag} / bare SELECT", run["traces"]), (f"API lookup{tag} / bare", all_lookups)):
            ratios.append((label, f"{percentile(xs, 50) / b50:.1f}x", f"{percentile(xs, 95) / b95:.1f}x"))
    for label, xs in (("bare SELECT order+events", bare), ("bare SELECT, new connection", bare_conn)):
        rows.append((label, len(xs), ms(percentile(xs, 50)), ms(percentile(xs, 95)), ms(percentile(xs, 99))))
    table(["measurement", "n", "p50 ms", "p95 ms", "p99 ms"], rows)
    print()
    table(["ratio", "p50", "p95"], ratios)
    print()
    table(["request (in-process)", "HTTP", "SQL queries"], query_counts)
    print()
    cpu_rows = []
    for run in runs.values():
        n_req = max(1, len(run["traces"]) + sum(len(v) for v in run["lookups"].values()))
        cpu = run["cpu"]
        cpu_rows.append(
            (
                f"gunicorn {run['server']}",
                f"{cpu['gunicorn'] * 1000 / n_req:.2f}",
                f"{cpu['postgres'] * 1000 / n_req:.2f}",
                f"{cpu['busy_pct']:.0f}%",
            )
        )
    table(["CPU per request (lookup or trace)", "gunicorn ms", "postgres ms", "machine busy"], cpu_rows)
    print("(postgres: every backend of the server, including other users'; machine busy: all processes, both cores)")
    print()
    p95 = percentile(main_run["traces"], 95) * 1000
    verdict = "MET" if p95 < TARGET_TRACE_P95_MS else "NOT MET"
    print(
        f"target: trace p95 < {TARGET_TRACE_P95_MS:.0f} ms -> measured {p95:.2f} ms "
        f"({main_settings}, {main_run['server']}): {verdict}"
    )
    errors = [e for run in runs.values() for e in run["errors"]]
    if errors:
        print(f"errors: {len(errors)} (first: {errors[0]})")
    print(f"total time {time.monotonic() - started:.1f}s")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
