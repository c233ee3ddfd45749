"""The customer's public tracking page on a 1,000,000-order database: lookups per second, p50/p95/p99 latency.

    .venv/bin/python bench/track.py [--orders N] [--samples 500] [--wrong 20] [--rebuild]

Reuses orderhub_bench as bench/trace.py builds it (bulk SQL, 1,000,000 orders); builds it with dataset.py's code
only when it is missing, incomplete or of another size (or with --rebuild), and always migrates it first.
For the sampled orders that carry a tracking number it registers one Shipment with three carrier TrackingEvents
(SQL, idempotent), so the page renders real parcels; the other orders have no Shipment rows.

One sequential client on one keep-alive connection (reopened whenever gunicorn's sync worker closes it, the
reconnect counted in the latency, as in trace.py): GET /track/ once for the CSRF cookie and token, then for each
sampled order POST /track/ with the order number (half the lookups) or the tracking number (the other half) and
the right last 4 digits of receiver_phone. Each answer must be 200 and show the order number. A few lookups with a
wrong last 4 digits must answer 404; they are reported separately. gunicorn runs with ORDERHUB_TRACK_ATTEMPTS set
to 1,000,000,000 so the per-IP / per-number limiter never refuses the bench client.

Baseline: the bare indexed SELECT the page needs at minimum (the order row by number, or by its parcel's number)
through psycopg on one persistent connection, timed the same way. The pass runs under test settings (no
persistent connections) and, as trace.py does, under production settings (CONN_MAX_AGE=60); the verdict
"target p95 < 50 ms" is judged on the production-settings pass.
"""

import logging
import os
import random
import re
import time
from urllib.parse import urlencode

import common
import dataset
from common import log, ms, percentile, table

TARGET_P95_MS = 50.0
FEDERATED_LOOKUP_MS = 370.0  # the sellers' federated lookup this page replaces (from the issue)
TRACK_ATTEMPTS = "1000000000"
TRACK_PATH = "/track/"
PREWARM_TABLES = (
    "orders_order",
    "orders_orderevent",
    "orders_statusnode",
    "logistics_carrier",
    "logistics_shipment",
    "logistics_trackingevent",
)
_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- data --------------------------------------------------------------------------------------------------------


def sample_orders(n: int, samples: int, seed: int) -> list[dict]:
    """`samples` random orders, alternating: one looked up by order number, the next by tracking number."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, n + 1), min(n, samples * 3))
    with common.connect() as conn:
        rows = conn.execute(
            """SELECT o.id, o.number,
                      coalesce((SELECT s.tracking_number FROM logistics_shipment s
                                WHERE s.order_id = o.id AND s.is_active ORDER BY s.parcel_index LIMIT 1), ''),
                      o.receiver_phone, o.status, o.carrier_id, o.channel_id
               FROM orders_order o WHERE o.id = ANY(%s)""",
            [ids],
        ).fetchall()
    keys = ("id", "number", "tracking_number", "receiver_phone", "status", "carrier_id", "channel_id")
    by_id = {r[0]: dict(zip(keys, r, strict=True)) for r in rows}
    ordered = [by_id[i] for i in ids if i in by_id]
    with_tracking = [o for o in ordered if o["tracking_number"] and o["carrier_id"]]
    used = set()
    plan = []
    by_tracking = iter(with_tracking)
    by_number = iter(ordered)
    for i in range(samples):
        kind = "number" if i % 2 == 0 else "tracking_number"
        source = by_number if kind == "number" else by_tracking
        for o in source:
            if o["id"] not in used:
                used.add(o["id"])
                plan.append({**o, "kind": kind, "q": o[kind]})
                break
    return plan


def shipments_ensure(plan: list[dict]) -> tuple[int, int]:
    """Three TrackingEvents per sampled order with a tracking number (its shipment comes with the dataset);
    idempotent."""
    ids = [o["id"] for o in plan if o["tracking_number"] and o["carrier_id"]]
    with common.connect() as conn:
        # The dataset registered each printed order's parcel; give the sampled ones a tracking state to show.
        conn.execute(
            """UPDATE logistics_shipment s SET
                   carrier_state = CASE WHEN o.status = 'delivered' THEN '3' ELSE '0' END,
                   carrier_state_label = CASE WHEN o.status = 'delivered' THEN '签收' ELSE '在途' END,
                   is_finished = o.status IN ('delivered', 'returned'),
                   last_event_at = least(o.ordered_at + interval '20 hours', now()),
                   next_poll_at = CASE WHEN o.status IN ('delivered', 'returned') THEN NULL
                                       ELSE now() + interval '2 hours' END,
                   subscribed_at = least(o.ordered_at + interval '5 hours', now()),
                   created_at = least(o.ordered_at + interval '5 hours', now())
               FROM orders_order o WHERE o.id = s.order_id AND o.id = ANY(%s)""",
            [ids],
        )
        conn.execute(
            """INSERT INTO logistics_trackingevent (
                   shipment_id, occurred_at, carrier_state, description, location, raw, fingerprint,
                   received_via, received_at)
               SELECT s.id, least(s.created_at + e.hours * interval '1 hour', now()), e.state, e.description,
                   e.location, jsonb_build_object('context', e.description, 'status', e.state),
                   md5('bench-track|' || s.id || '|' || e.step), 'poll',
                   least(s.created_at + e.hours * interval '1 hour', now())
               FROM logistics_shipment s
               CROSS JOIN (VALUES (1, 7, '1', '快递员已揽收', '上海青浦'),
                                  (2, 12, '0', '快件已发往转运中心', '上海转运中心'),
                                  (3, 20, '0', '快件到达目的地转运中心', '杭州转运中心'))
                   AS e(step, hours, state, description, location)
               WHERE s.order_id = ANY(%s)
               ON CONFLICT (shipment_id, fingerprint) DO NOTHING""",
            [ids],
        )
        shipments = conn.execute("SELECT count(*) FROM logistics_shipment").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM logistics_trackingevent").fetchone()[0]
        conn.execute("ANALYZE logistics_shipment")
        conn.execute("ANALYZE logistics_trackingevent")
    return shipments, events


def wrong_last4(phone: str) -> str:
    return f"{(int(phone[-4:]) + 5000) % 10000:04d}"


# --- measure -----------------------------------------------------------------------------------------------------


class FormClient(common.ApiClient):
    """common.ApiClient for HTML forms: the CSRF cookie and token of one GET, then url-encoded POSTs."""

    def __init__(self, port: int, timeout: float = 30.0):
        super().__init__(port, token="", timeout=timeout)
        self.base_headers = {"Accept": "text/html"}
        self.csrf_token = ""

    def start_session(self) -> None:
        status, body, _elapsed, cookies = self.exchange("GET", TRACK_PATH, None, dict(self.base_headers))
        cookie = next((c.split(";", 1)[0] for c in cookies if c.startswith("csrftoken=")), "")
        match = _CSRF_INPUT.search(body)
        if status != 200 or not cookie or not match:
            raise SystemExit(f"GET {TRACK_PATH}: HTTP {status}, no CSRF cookie/token; body {body[:200]!r}")
        self.base_headers["Cookie"] = cookie
        self.csrf_token = match.group(1).decode()

    def track(self, number: str, last4: str) -> tuple[int, bytes, float]:
        body = urlencode({"csrfmiddlewaretoken": self.csrf_token, "number": number, "last4": last4}).encode()
        headers = {**self.base_headers, "Content-Type": "application/x-www-form-urlencoded"}
        status, data, elapsed, _cookies = self.exchange("POST", TRACK_PATH, body, headers)
        return status, data, elapsed


def page_pass(server: common.Gunicorn, plan: list[dict], wrong: list[dict], deadline: float) -> dict:
    client = FormClient(server.port)
    times: dict[str, list[float]] = {"number": [], "tracking_number": []}
    wrong_times: list[float] = []
    errors: list[str] = []
    wrong_errors: list[str] = []
    try:
        client.start_session()  # not timed: one CSRF cookie/token for the whole run
        t0 = time.perf_counter()
        for o in plan:
            if time.monotonic() > deadline:
                break
            status, body, elapsed = client.track(o["q"], o["receiver_phone"][-4:])
            times[o["kind"]].append(elapsed)
            if status != 200 or o["number"].encode() not in body:
                errors.append(f"{o['kind']} {o['q']}: HTTP {status}, {body[:160]!r}")
        wall = time.perf_counter() - t0
        for o in wrong:
            status, body, elapsed = client.track(o["q"], wrong_last4(o["receiver_phone"]))
            wrong_times.append(elapsed)
            if status != 404 or o["number"].encode() in body:
                wrong_errors.append(f"wrong phone {o['kind']} {o['q']}: HTTP {status}, {body[:160]!r}")
    finally:
        client.close()
    return {
        "times": times,
        "wall": wall,
        "wrong": wrong_times,
        "errors": errors,
        "wrong_errors": wrong_errors,
        "connects": client.connects,
    }


def bare_pass(plan: list[dict], deadline: float) -> dict[str, list[float]]:
    """The minimum the page needs: the order row by number or by tracking number, one persistent connection."""
    sql = {
        "number": "SELECT * FROM orders_order WHERE number = %s",
        "tracking_number": "SELECT o.* FROM orders_order o JOIN logistics_shipment s ON s.order_id = o.id"
        " WHERE s.tracking_number = %s",
    }
    times: dict[str, list[float]] = {"number": [], "tracking_number": []}
    with common.connect() as conn:
        for o in plan:
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            row = conn.execute(sql[o["kind"]], [o["q"]]).fetchone()
            times[o["kind"]].append(time.perf_counter() - t0)
            if row is None or row[0] != o["id"]:
                raise SystemExit(f"bare select by {o['kind']} {o['q']}: {row and row[0]}, expected id {o['id']}")
    return times


def query_counts(plan: list[dict]) -> list[tuple]:
    """Queries per POST, counted in-process (Django test client, same database)."""
    common.django_setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    logging.getLogger("django.request").setLevel(logging.ERROR)  # the expected 404s would log "Not Found"
    rows = []
    samples = [next(o for o in plan if o["kind"] == k) for k in ("number", "tracking_number")]
    for o in samples:
        for label, last4 in (("right", o["receiver_phone"][-4:]), ("wrong", wrong_last4(o["receiver_phone"]))):
            client = Client(HTTP_HOST=common.HOST)
            with CaptureQueriesContext(connection) as ctx:
                resp = client.post(TRACK_PATH, {"number": o["q"], "last4": last4})
            rows.append((f"POST by {o['kind']}, {label} last 4 ({o['status']})", resp.status_code, len(ctx)))
    common.django_close_connections()
    return rows


def stats_row(label: str, xs: list[float]) -> tuple:
    return (label, len(xs), ms(percentile(xs, 50)), ms(percentile(xs, 95)), ms(percentile(xs, 99)))


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=0, help="for a build; default: 5000 (fewer for small N)")
    parser.add_argument("--samples", type=int, default=500, help="random orders to look up (half by each key)")
    parser.add_argument("--wrong", type=int, default=20, help="lookups with a wrong last 4 digits (expect 404)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (and build connections)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data even if it matches")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--no-persistent", action="store_true", help="skip the production-settings pass")
    parser.add_argument("--no-prewarm", action="store_true", help="skip pg_prewarm before each measured pass")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per measured loop")
    args = parser.parse_args()
    n = args.orders
    customers = args.customers or min(5000, max(10, n // 20))
    started = time.monotonic()
    # Read by config/settings/base.py in gunicorn (common.bench_env copies os.environ) and in this process.
    os.environ["ORDERHUB_TRACK_ATTEMPTS"] = TRACK_ATTEMPTS

    info, reused = dataset.history_ensure(n, customers, args.workers, rebuild=args.rebuild)
    dataset.master_data_ensure()
    token = common.api_token_ensure()  # gunicorn's readiness probe is an authenticated API lookup

    plan = sample_orders(info["orders"], args.samples, args.seed)
    shipments, tracking_events = shipments_ensure(plan)
    wrong = plan[: args.wrong]
    log(
        f"sampled {len(plan)} orders ({sum(o['kind'] == 'number' for o in plan)} by number, "
        f"{sum(o['kind'] == 'tracking_number' for o in plan)} by tracking number); "
        f"{shipments} shipments / {tracking_events} tracking events in the database; warming with one bare pass"
    )
    bare_pass(plan, time.monotonic() + args.time_limit)
    counts = query_counts(plan)

    runs = {}
    for settings in (common.SETTINGS, common.SETTINGS_PERSISTENT):
        if settings == common.SETTINGS_PERSISTENT and args.no_persistent:
            continue
        with common.Gunicorn(workers=args.workers, token=token, settings=settings) as server:
            log(f"gunicorn up on 127.0.0.1:{server.port} ({server.describe()}); warm-up then measure")
            if not args.no_prewarm:
                mb, secs = common.prewarm(PREWARM_TABLES)
                log(f"  prewarmed {mb} MB of tables and indexes into the OS cache in {secs:.1f}s")
            page_pass(server, plan[:30], [], time.monotonic() + 60)
            load_before = common.load_average()
            meter = common.CpuMeter(server.proc.pid)
            run = page_pass(server, plan, wrong, time.monotonic() + args.time_limit)
            run.update(server=server.describe(), load=load_before, cpu=meter.stop())
            runs[settings] = run
    bare = bare_pass(plan, time.monotonic() + args.time_limit)
    bare_all = bare["number"] + bare["tracking_number"]

    main_settings = common.SETTINGS_PERSISTENT if common.SETTINGS_PERSISTENT in runs else common.SETTINGS
    main_run = runs[main_settings]
    with common.connect() as conn:
        n_orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
        db_size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    print()
    print(f"=== track.py: public tracking page POST /track/, {n_orders:,} orders ===")
    print(
        f"data: {n_orders:,} orders, database {db_size}; "
        + (f"reused (built in {info['build_seconds']}s)" if reused else f"built in {info['build_seconds']}s")
        + f"; {shipments} shipments with {tracking_events} tracking events (sampled orders with a tracking number)"
    )
    print(
        f"rate limiter: ORDERHUB_TRACK_ATTEMPTS={TRACK_ATTEMPTS} in gunicorn's environment (the limiter still "
        "counts every POST in Redis, it just never refuses)"
    )
    for settings, run in runs.items():
        n_page = sum(len(v) for v in run["times"].values())
        print(
            f"server: gunicorn {run['server']}, DJANGO_SETTINGS_MODULE={settings}; client: 1, sequential, keep-alive "
            f"({run['connects']} TCP connects); one CSRF GET, then {n_page} lookups in {run['wall']:.1f}s "
            f"+ {len(run['wrong'])} wrong-phone; {run['load']} before the run"
        )
    print("bare: psycopg, one persistent connection, the order row by number or (joined to its parcel) by tracking no.")
    if not args.no_prewarm:
        print("cache: " + ", ".join(PREWARM_TABLES) + " read into the OS page cache before each page pass")
    print()
    rows, ratios, rates = [], [], []
    b50, b95 = percentile(bare_all, 50), percentile(bare_all, 95)
    for settings, run in runs.items():
        tag = "" if settings == common.SETTINGS else " [production settings]"
        all_page = run["times"]["number"] + run["times"]["tracking_number"]
        rows.append(stats_row(f"page, by order number{tag}", run["times"]["number"]))
        rows.append(stats_row(f"page, by tracking number{tag}", run["times"]["tracking_number"]))
        rows.append(stats_row(f"page, both{tag}", all_page))
        rows.append(stats_row(f"page, wrong last 4 -> 404{tag}", run["wrong"]))
        for kind in ("number", "tracking_number"):
            xs, bs = run["times"][kind], bare[kind]
            ratios.append(
                (
                    f"page / bare, by {kind}{tag}",
                    f"{percentile(xs, 50) / percentile(bs, 50):.1f}x",
                    f"{percentile(xs, 95) / percentile(bs, 95):.1f}x",
                )
            )
        r50, r95 = percentile(all_page, 50) / b50, percentile(all_page, 95) / b95
        ratios.append((f"page / bare, both{tag}", f"{r50:.1f}x", f"{r95:.1f}x"))
        n_req = max(1, len(all_page) + len(run["wrong"]))
        cpu = run["cpu"]
        rates.append(
            (
                f"gunicorn {run['server']}",
                f"{len(all_page) / run['wall']:.1f}" if run["wall"] else "nan",
                f"{cpu['gunicorn'] * 1000 / n_req:.2f}",
                f"{cpu['postgres'] * 1000 / n_req:.2f}",
                f"{cpu['busy_pct']:.0f}%",
            )
        )
    rows.append(stats_row("bare SELECT by order number", bare["number"]))
    rows.append(stats_row("bare SELECT by tracking number", bare["tracking_number"]))
    rows.append(stats_row("bare SELECT, both", bare_all))
    table(["measurement", "n", "p50 ms", "p95 ms", "p99 ms"], rows)
    print()
    table(["ratio", "p50", "p95"], ratios)
    print()
    table(["server", "lookups/s (1 client)", "gunicorn CPU ms/req", "postgres CPU ms/req", "machine busy"], rates)
    print("(postgres: every backend of the server, including other users'; machine busy: all processes, all cores)")
    print()
    table(["request (in-process, test settings)", "HTTP", "SQL queries"], counts)
    print()
    main_all = main_run["times"]["number"] + main_run["times"]["tracking_number"]
    p95 = percentile(main_all, 95) * 1000
    verdict = "MET" if p95 < TARGET_P95_MS else "NOT MET"
    print(
        f"target p95 < {TARGET_P95_MS:.0f} ms: {verdict} -> measured {p95:.2f} ms over {len(main_all)} lookups "
        f"({main_settings}, {main_run['server']}); the sellers' federated lookup took {FEDERATED_LOOKUP_MS:.0f} ms"
    )
    failures = [e for run in runs.values() for e in run["errors"]]
    wrong_failures = [e for run in runs.values() for e in run["wrong_errors"]]
    n_checked = sum(sum(len(v) for v in run["times"].values()) for run in runs.values())
    n_wrong = sum(len(run["wrong"]) for run in runs.values())
    print(f"failures (not 200 or order number missing): {len(failures)} of {n_checked}")
    for e in failures[:3]:
        print(f"  {e}")
    print(f"wrong-phone lookups not answered 404: {len(wrong_failures)} of {n_wrong}")
    for e in wrong_failures[:3]:
        print(f"  {e}")
    print(f"total time {time.monotonic() - started:.1f}s")
    if failures or wrong_failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
