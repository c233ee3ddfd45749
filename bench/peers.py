"""The same paid order of 2 lines, created through django-oscar 4.2's OrderCreator.place_order and through our
intake, both in-process: orders/s, p50/p95, SQL statements, rows written and SELECT ... FOR UPDATE statements
(locks/order) per order, deadlocks; printed as ratios.

    .venv/bin/python bench/peers.py [--orders 1000] [--rounds 5] [--concurrent 500]

Oscar runs in its own virtualenv .venv-oscar (created here on first run from bench/requirements-oscar.txt) and
its own database oscar_bench; ours in .venv and orderhub_bench_peers (both recreated each run, on the bench
PostgreSQL). Each side is a subprocess (oscar: bench/oscar_peer/peer.py; ours: this script with --side) that
warms up with 3 untimed orders, then creates its share and prints one JSON line (bench/peer_run.py measures
both alike: statements through Django's execute_wrapper, rows written = rowcount of INSERT/UPDATE/DELETE).

Our paths: unpaid (intake of an order without payment), paid (intake of a paid order: admitted to the
allocation queue, the allocation job enqueued on commit), inline (intake of a paid order with the product's
setting AllocationSettings.allocate_on_payment on: routed and its stock locked in the payment's transaction, on
the row the payment locked, as oscar allocates inside place_order; the like-for-like path). Before its clock
starts, each side allocates what earlier sides left waiting in the queue (as a worker would), so the inline
side finds the queue empty, which allocating at once requires. Phase 1: --orders per path, in --rounds
interleaved rounds (one subprocess per path per round, the order of paths rotating). Phase 2: for each path, 2
processes at once on the same two SKUs (started together once both are warm), --concurrent orders each.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import common
import dataset
import peer_run
from common import log, ms, percentile, table

BENCH = Path(__file__).resolve().parent
OSCAR_VENV = common.ROOT / ".venv-oscar"
OSCAR_PYTHON = OSCAR_VENV / "bin" / "python"
OSCAR_REQUIREMENTS = BENCH / "requirements-oscar.txt"
OSCAR_DB = os.environ.get("OSCAR_DB_NAME", "oscar_bench")
OURS_DB = f"{common.DB_NAME}_peers"
OURS_DATABASE_URL = f"postgres://postgres:postgres@{common.HOST}:5432/{OURS_DB}"
TARGET_RATIO = 2.0
PATHS = ("oscar", "unpaid", "paid", "inline")
LABELS = {
    "oscar": "oscar 4.2 place_order (allocates stock)",
    "unpaid": "ours: intake, unpaid",
    "paid": "ours: intake, paid and admitted",
    "inline": "ours: intake, paid, stock locked inline",
}
CHANNEL = ("bench-peers", "对比压测渠道", "other")
WAREHOUSE = ("BP01", "对比压测仓", "浙江", "杭州")
SKUS = (("PEER-1", "99.00", 1), ("PEER-2", "199.00", 2))  # code, unit price, quantity: oscar's two lines
STOCK = 10**8


# --- our side (a subprocess in .venv) ----------------------------------------------------------------------------


def ours_setup() -> None:
    """orderhub_bench_peers: migrated, roles and nodes, one channel, one warehouse, two stocked SKUs."""
    common.django_setup(database_url=OURS_DATABASE_URL)
    from django.core.management import call_command

    from orders.models import Channel
    from orders.services.nodes import status_nodes_ensure_defaults
    from orders.services.roles import roles_sync
    from warehouse.models import Sku, Warehouse
    from warehouse.selectors import allocation_settings
    from warehouse.services import stock_adjust

    call_command("migrate", interactive=False, verbosity=0)
    roles_sync()
    status_nodes_ensure_defaults()
    code, name, kind = CHANNEL
    Channel.objects.create(code=code, name=name, kind=kind)
    code, name, province, city = WAREHOUSE
    warehouse = Warehouse.objects.create(code=code, name=name, province=province, city=city, daily_capacity=0)
    for code, _price, _qty in SKUS:
        sku = Sku.objects.create(code=code, name=f"对比商品 {code}", category="压测", unit="件")
        stock_adjust(sku=sku, warehouse=warehouse, kind="inbound", quantity=STOCK, reason="bench stock", actor=None)
    settings = allocation_settings()
    settings.auto_allocate = True  # paid orders are admitted to the queue, as by default
    settings.breaker_enabled = False  # thousands of queued orders must not trip it: no worker drains the queue
    settings.save()


def ours_run(path: str, n: int, tag: str, wait_go: bool) -> None:
    common.django_setup(database_url=OURS_DATABASE_URL)
    import django_rq

    from orders.models import Order, Status
    from orders.services.allocation import order_allocate_queued
    from warehouse.selectors import allocation_settings

    paid = path in ("paid", "inline")
    statuses: dict[str, int] = {}
    # Not timed: the setting this path runs with, and the queue drained of what earlier sides left in it.
    settings = allocation_settings()
    if settings.allocate_on_payment != (path == "inline"):
        settings.allocate_on_payment = path == "inline"
        settings.save()
    for order_id in Order.objects.filter(status=Status.ALLOCATING).values_list("pk", flat=True):
        order_allocate_queued(order_id=order_id)

    def create(i: int) -> None:
        payload = dataset.order_payload(
            channel=CHANNEL[0],
            channel_order_no=f"BP{tag}-{i + 10:07d}",
            lines=[(code, qty, price) for code, price, qty in SKUS],
            customer=("压测买家", f"166{i % 200:08d}", "normal"),
            place=(WAREHOUSE[2], WAREHOUSE[3], "西湖区"),
            paid_at=datetime.now(UTC).replace(microsecond=0) if paid else None,
        )
        status = dataset.order_intake(payload).order.status
        if i >= 0:  # not the warm-up orders
            statuses[status] = statuses.get(status, 0) + 1

    result = peer_run.measure(create, n=n, wait_go=wait_go, key=path)
    result["outcomes"] = statuses
    django_rq.get_queue("default").empty()  # the allocation jobs paid orders enqueued: no worker will run them
    peer_run.report(result)


# --- the parent -------------------------------------------------------------------------------------------------


def oscar_venv_ensure() -> None:
    """.venv-oscar with the pinned oscar; made once (reinstalled when the requirements file changed)."""
    stamp = OSCAR_VENV / (".installed-" + hashlib.sha256(OSCAR_REQUIREMENTS.read_bytes()).hexdigest()[:12])
    if stamp.exists():
        return
    log(f"creating {OSCAR_VENV.name} and installing {OSCAR_REQUIREMENTS.name}")
    if not OSCAR_PYTHON.exists():
        subprocess.run(["python3", "-m", "venv", str(OSCAR_VENV)], check=True)
    subprocess.run([str(OSCAR_PYTHON), "-m", "pip", "install", "-q", "-r", str(OSCAR_REQUIREMENTS)], check=True)
    for old in OSCAR_VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def database_recreate(name: str) -> None:
    with common.connect(conninfo=common.ADMIN_CONNINFO) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def side_command(path: str, n: int, tag: str, *, wait_go: bool = False) -> tuple[list[str], Path, dict]:
    """The command line, working directory and environment of one side's subprocess."""
    env = dict(os.environ, OSCAR_DB_NAME=OSCAR_DB)
    if path == "oscar":
        env["DJANGO_SETTINGS_MODULE"] = "oscar_peer.settings"
        cmd = [str(OSCAR_PYTHON), "-m", "oscar_peer.peer", "run", "--n", str(n), "--tag", tag]
        cwd = BENCH  # oscar_peer (the project) and peer_run (the loop) are found from here
    else:
        cmd = [str(common.PYTHON), str(BENCH / "peers.py"), "--side", path, "--n", str(n), "--tag", tag]
        cwd = common.ROOT
    if wait_go:
        cmd.append("--wait-go")
    return cmd, cwd, env


def parse_result(path: str, out: str, err: str, code: int) -> dict:
    for line in out.splitlines():
        if line.startswith("PEER-RESULT "):
            return json.loads(line.removeprefix("PEER-RESULT "))
    sys.stderr.write(err[-3000:])
    raise SystemExit(f"side {path} printed no result (exit {code})")


def run_side(path: str, n: int, tag: str) -> dict:
    cmd, cwd, env = side_command(path, n, tag)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    return parse_result(path, proc.stdout, proc.stderr, proc.returncode)


def run_pair(path: str, n: int, tag: str) -> list[dict]:
    """Two processes of one side at once, released together once both are warm."""
    procs = []
    for k in range(2):
        cmd, cwd, env = side_command(path, n, f"{tag}{k}", wait_go=True)
        procs.append(
            subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for proc in procs:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.wait()
            raise SystemExit(f"side {path} did not get ready: {line!r} {proc.stderr.read()[-3000:]}")
    t0 = time.perf_counter()
    for proc in procs:
        proc.stdin.write("GO\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        results.append(parse_result(path, out, err, proc.returncode))
    results[0]["pair_wall"] = time.perf_counter() - t0
    return results


def merge(parts: list[dict]) -> dict:
    """Sum of several runs of one path; the rate is orders over the summed time spent creating them."""
    out = {"ok": 0, "n": 0, "wall": 0.0, "latencies": [], "statements": 0, "rows": 0, "locks": 0}
    out.update(deadlocks=0, errors=0, first_error="", outcomes={})
    for p in parts:
        for k in ("ok", "n", "wall", "statements", "rows", "locks", "deadlocks", "errors"):
            out[k] += p[k]
        out["latencies"] += p["latencies"]
        out["first_error"] = out["first_error"] or p["first_error"]
        for k, v in p.get("outcomes", {}).items():
            out["outcomes"][k] = out["outcomes"].get(k, 0) + v
    return out


def row(label: str, r: dict, wall: float | None = None) -> tuple:
    n = max(1, r["n"])  # statements and rows are over every attempt, failed ones included
    wall = r["wall"] if wall is None else wall
    return (
        label,
        r["ok"],
        f"{r['ok'] / wall:.0f}",
        ms(percentile(r["latencies"], 50)),
        ms(percentile(r["latencies"], 95)),
        f"{r['statements'] / n:.1f}",
        f"{r['rows'] / n:.1f}",
        f"{r['locks'] / n:.1f}",
        r["deadlocks"],
        r["errors"],
    )


HEADERS = ["path", "ok", "orders/s", "p50 ms", "p95 ms", "SQL/order", "rows/order", "locks/order", "deadlocks", "err"]


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=1000, help="orders per path in phase 1")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of phase 1")
    parser.add_argument("--concurrent", type=int, default=500, help="orders per process in phase 2 (0: skip)")
    parser.add_argument("--side", choices=PATHS[1:], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    parser.add_argument("--wait-go", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup_side:
        ours_setup()
        return
    if args.side:
        ours_run(args.side, args.n, args.tag, args.wait_go)
        return

    started = time.monotonic()
    oscar_venv_ensure()
    log(f"recreating {OSCAR_DB} and {OURS_DB}, migrating and seeding both")
    for name in (OSCAR_DB, OURS_DB):
        database_recreate(name)
    cmd, cwd, env = side_command("oscar", 0, "")
    subprocess.run([cmd[0], "-m", "oscar_peer.peer", "setup"], cwd=cwd, env=env, check=True)
    subprocess.run([str(common.PYTHON), str(BENCH / "peers.py"), "--setup-side"], cwd=common.ROOT, check=True)
    version = subprocess.run(
        [str(OSCAR_PYTHON), "-c", "import django, oscar; print(oscar.get_version(), django.get_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    per_round = max(1, args.orders // args.rounds)
    parts: dict[str, list[dict]] = {p: [] for p in PATHS}
    load = common.load_average()
    stamp = f"{int(time.time()) % 10**6:06d}"
    for r in range(args.rounds):
        order = PATHS[r % len(PATHS) :] + PATHS[: r % len(PATHS)]
        for path in order:
            res = run_side(path, per_round, f"{stamp}r{r}{path[0]}")
            parts[path].append(res)
            log(f"  round {r + 1}/{args.rounds} {path}: {res['ok']} in {res['wall']:.2f}s")
    phase1 = {p: merge(parts[p]) for p in PATHS}

    phase2 = {}
    if args.concurrent:
        for path in PATHS:
            pair = run_pair(path, args.concurrent, f"{stamp}c{path[0]}")
            phase2[path] = (merge(pair), pair[0]["pair_wall"])
            log(f"  concurrent {path}: {phase2[path][0]['ok']} in {phase2[path][1]:.2f}s")

    print()
    print(f"=== peers.py: one paid order of 2 lines, django-oscar {version[0]} (Django {version[1]}) vs ours ===")
    print(
        f"phase 1: {per_round * args.rounds} orders per path in {args.rounds} interleaved rounds, one process at a "
        f"time; {load} before the run"
    )
    print("in-process, no HTTP; oscar's basket is built outside the clock; rows = rowcount of INSERT/UPDATE/DELETE")
    print()
    table(HEADERS, [row(LABELS[p], phase1[p]) for p in PATHS])
    print()
    if phase2:
        print(f"phase 2: 2 processes at once on the same two SKUs, {args.concurrent} orders each (rate: both / wall)")
        table(HEADERS, [row(LABELS[p], r, wall) for p, (r, wall) in phase2.items()])
        print()
    oscar = phase1["oscar"]
    oscar_rate = oscar["ok"] / oscar["wall"]
    ratios = []
    for p in PATHS[1:]:
        r = phase1[p]
        ratios.append(
            (
                f"{LABELS[p]} / oscar",
                common.ratio(r["ok"] / r["wall"], oscar_rate),
                common.ratio(percentile(r["latencies"], 50), percentile(oscar["latencies"], 50)),
                common.ratio(r["statements"] / max(1, r["n"]), oscar["statements"] / max(1, oscar["n"])),
                common.ratio(r["rows"] / max(1, r["n"]), oscar["rows"] / max(1, oscar["n"])),
            )
        )
    if phase2:
        o, ow = phase2["oscar"]
        for p in PATHS[1:]:
            r, w = phase2[p]
            ratios.append(
                (
                    f"2 processes: {p} / oscar",
                    common.ratio(r["ok"] / w, o["ok"] / ow),
                    common.ratio(percentile(r["latencies"], 50), percentile(o["latencies"], 50)),
                    "",
                    "",
                )
            )
    table(["ratio", "orders/s", "p50", "SQL/order", "rows/order"], ratios)
    print()
    outcomes = {p: phase1[p]["outcomes"] for p in PATHS[1:]}
    print("our outcomes: " + "; ".join(f"{p} {o}" for p, o in outcomes.items()))
    inline = phase1["inline"]
    common.verdict(
        "ours/oscar orders/s, like-for-like (inline)", inline["ok"] / inline["wall"] / oscar_rate, TARGET_RATIO, "x"
    )
    errors = [(p, r["first_error"]) for p, r in phase1.items() if r["errors"]]
    errors += [(p, r["first_error"]) for p, (r, _w) in phase2.items() if r["errors"]]
    if errors:
        print(f"errors: {errors}")
    print(f"total time {time.monotonic() - started:.1f}s")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
