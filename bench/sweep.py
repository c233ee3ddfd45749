"""One overdue sweep over many open orders, a share of them due (issue 13, "Show").

Builds --orders open orders (default 1,000,000) in the bench database with one INSERT … SELECT over
generate_series (not the ORM), --due-percent of them (default 1 %) 45 minutes past their node deadline, the rest
well inside it. Every open node gets a ladder: level 1 at the deadline, level 2 at 30 minutes over repeating every
60, level 3 at 50 % of the allowed time (--no-percent: none). Each order carries the mark of level 3 and its
ladder row as entering the node writes them (deadline_basis["marks"] and OrderLadder: halfway between entry and
deadline, so the due orders' marks are due too and the others' lie ahead). Then it times:

  bare   the indexed query that finds the due orders (SELECT id … WHERE open AND state_deadline <= now)
  sweep  orders.services.sweeps.overdue_alerts_raise: every alert row, its history row and timeline line
  again  a second sweep at the same moment (nothing left to fire)

and prints seconds and the sweep / bare ratio (target: the sweep under 2 s). Run:

  BENCH_DB_NAME=orderhub_bench_ladders BENCH_REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/sweep.py
"""

import json
import statistics
import time

import common

OPEN_STATES = ("placed", "paid", "allocating", "allocated", "printed")
TIMEOUT_MINUTES = 24 * 60


MARK = "state_entered_at + (state_deadline - state_entered_at) * 0.5"  # level 3's moment, clock time


def insert_series(conn, table: str, fill: dict[str, str], lo: int, hi: int, params: dict | None = None) -> None:
    """Rows i = lo … hi of `table` from the given column expressions; other NOT NULL columns get their type's
    empty value."""
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns"
        " WHERE table_name = %s AND column_name <> 'id'",
        [table],
    ).fetchall()
    cols, exprs = [], []
    for name, data_type, nullable, default in rows:
        if name in fill:
            cols.append(name)
            exprs.append(fill[name])
        elif nullable == "NO" and default is None:
            cols.append(name)
            exprs.append(
                {"boolean": "false", "jsonb": "'[]'::jsonb"}.get(
                    data_type,
                    "0"
                    if data_type in ("integer", "smallint", "bigint", "numeric")
                    else ("now()" if "timestamp" in data_type else "''"),
                )
            )
    conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM generate_series({lo}, {hi}) AS i",
        params or {},
    )


def orders_build(conn, n: int, due_percent: float, marks: dict[str, int]) -> None:
    """n open orders of the bench channel and customer; every (100 / due_percent)-th one is 45 minutes late.
    `marks`: the level by percentage of each status (none: no marks)."""
    conn.execute("DELETE FROM orders_orderevent")
    conn.execute("DELETE FROM orders_historicalalert")
    conn.execute("DELETE FROM orders_alert")
    conn.execute("DELETE FROM orders_orderladder")
    conn.execute("DELETE FROM orders_order WHERE number LIKE 'SW%%'")
    every = max(1, round(100 / due_percent))
    states = "ARRAY[" + ", ".join(f"'{s}'" for s in OPEN_STATES) + "]"
    # Columns this bench does not care about: the empty value of their type.
    fill = {
        "number": "'SW' || lpad(i::text, 10, '0')",
        "channel_id": "%(channel)s",
        "customer_id": "%(customer)s",
        "channel_order_no": "'SWEEP' || i",
        "status": f"({states})[1 + i %% {len(OPEN_STATES)}]",
        "state_entered_at": "now() - (i %% 240) * interval '1 minute'",
        "state_deadline": f"CASE WHEN i %% {every} = 0 THEN now() - interval '45 minutes' "
        f"ELSE now() - (i %% 240) * interval '1 minute' + {TIMEOUT_MINUTES} * interval '1 minute' END",
        "ordered_at": "now() - interval '1 day'",
        "receiver_name": "'张三'",
        "receiver_phone": "'138' || lpad((i %% 100000000)::text, 8, '0')",
        "province": "'浙江省'",
        "city": "'杭州市'",
        "address_detail": "'文三路 ' || i || ' 号'",
        "fingerprint": "'sweep-' || i",
        "tags": "'[]'::jsonb",
        "payment_status": "'paid'",
        "source": "'api'",
        "created_at": "now() - interval '1 day'",
        "updated_at": "now()",
    }
    status, entered, deadline = fill["status"], fill["state_entered_at"], fill["state_deadline"]
    basis = (
        f"jsonb_build_object('status', {status}, 'minutes', {TIMEOUT_MINUTES}, 'clock', 'clock', 'paused_seconds', 0"
    )
    if marks:
        mark = f"({entered}) + (({deadline}) - ({entered})) * 0.5"  # MARK, before the rows exist
        level = f"%(levels)s::jsonb ->> {status}"
        basis += f", 'marks', jsonb_build_object({level}, jsonb_build_object('at', {mark}, 'percent', 50))"
    fill["deadline_basis"] = basis + ")"
    ids = conn.execute(
        "SELECT (SELECT id FROM orders_channel ORDER BY id LIMIT 1),"
        " (SELECT id FROM orders_customer ORDER BY id LIMIT 1)"
    ).fetchone()
    step = 200_000
    for lo in range(1, n + 1, step):
        hi = min(n, lo + step - 1)
        params = {"channel": ids[0], "customer": ids[1], "levels": json.dumps(marks)}
        insert_series(conn, "orders_order", fill, lo, hi, params)
        common.log(f"orders {hi:,} / {n:,}")
    if marks:
        marks_reset(conn, marks)
    conn.execute("ANALYZE orders_order")
    conn.execute("ANALYZE orders_alert")


def marks_reset(conn, marks: dict[str, int]) -> None:
    """Each order's ladder row, as entering the node would have written it (after a sweep: those it advanced or
    removed). The marks themselves are in the orders' deadline_basis from orders_build."""
    conn.execute("DELETE FROM orders_orderladder")
    conn.execute(
        f"""INSERT INTO orders_orderladder (order_id, stay_entered_at, next_at)
            SELECT id, state_entered_at, {MARK} FROM orders_order WHERE number LIKE 'SW%%'"""
    )
    conn.execute("VACUUM ANALYZE orders_orderladder")
    common.log("ladder rows written")


def ladders_ensure(*, percent: bool) -> dict[str, int]:
    """The ladder of every open node (level ids kept from run to run, so that --reuse keeps valid marks);
    returns the level by percentage per status."""
    from django.contrib.auth.models import Group

    from orders.models import EscalationLevel, StatusNode
    from orders.services.nodes import status_nodes_ensure_defaults

    status_nodes_ensure_defaults()
    ops = Group.objects.get(name="运营主管")
    ladder = {
        1: {"after_minutes": 0, "after_percent": None, "repeat_minutes": 0},
        2: {"after_minutes": 30, "after_percent": None, "repeat_minutes": 60},
        3: {"after_minutes": None, "after_percent": 50, "repeat_minutes": 0},
    }
    if not percent:
        del ladder[3]
    marks = {}
    for node in StatusNode.objects.filter(status__in=OPEN_STATES):
        node.escalations.exclude(level__in=ladder).delete()
        for level, values in ladder.items():
            row, _created = EscalationLevel.objects.update_or_create(
                node=node, level=level, defaults={**values, "notify_group": ops}
            )
            if values["after_percent"]:
                marks[node.status] = row.pk
    return marks


def master_ensure() -> None:
    from orders.models import Channel, Customer

    if not Channel.objects.exists():
        Channel.objects.create(code="bench-sweep", name="压测渠道", kind=Channel.Kind.TAOBAO)
    if not Customer.objects.exists():
        Customer.objects.create(name="压测客户", phone="13800000000")


def bare(conn) -> float:
    from orders.models import FINAL_STATES

    final = ", ".join(f"'{s}'" for s in sorted(FINAL_STATES))
    start = time.perf_counter()
    found = conn.execute(
        "SELECT id FROM orders_order WHERE state_deadline IS NOT NULL AND NOT is_legacy "
        f"AND NOT (status IN ({final})) AND state_deadline <= now()"
    ).fetchall()
    elapsed = time.perf_counter() - start
    common.log(f"bare query: {len(found):,} due orders in {elapsed:.3f} s")
    return elapsed


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000, help="open orders (default 1,000,000)")
    parser.add_argument("--due-percent", type=float, default=1.0, help="share of them that is due (default 1)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the orders of the last run (clear alerts, rewrite ladder rows)"
    )
    parser.add_argument("--no-percent", action="store_true", help="no level by percentage")
    args = parser.parse_args()
    # A fresh database unless reusing: a rebuild over the last run's million rows leaves them dead and the timings
    # measure the bloat (2.1 s instead of 1.3 s here).
    common.database_ensure(fresh=not args.reuse)
    common.django_setup()
    master_ensure()
    marks = ladders_ensure(percent=not args.no_percent)
    with common.connect() as conn:
        if args.reuse:
            for table in ("orders_orderevent", "orders_historicalalert", "orders_alert"):
                conn.execute(f"DELETE FROM {table}")
            if marks:
                marks_reset(conn, marks)
        else:
            orders_build(conn, args.orders, args.due_percent, marks)
        bare(conn)  # warm the cache as the sweep's first statement would
        bare_s = statistics.median(bare(conn) for _ in range(3))
        plan = conn.execute(
            "EXPLAIN SELECT id FROM orders_order WHERE state_deadline IS NOT NULL AND NOT is_legacy "
            "AND NOT (status IN ('cancelled', 'delivered', 'returned')) AND state_deadline <= now()"
        ).fetchall()
        common.log("bare plan: " + " / ".join(r[0].strip() for r in plan[:2]))

    from django.utils import timezone

    from orders.services.sweeps import overdue_alerts_raise

    now = timezone.now()
    start = time.perf_counter()
    result = overdue_alerts_raise(now=now)
    sweep_s = time.perf_counter() - start
    start = time.perf_counter()
    again = overdue_alerts_raise(now=now)
    again_s = time.perf_counter() - start
    common.log(load_line := common.load_average())
    print()
    print(f"open orders          {args.orders:,} ({args.due_percent:g} % due)")
    print(f"bare indexed query   {bare_s:.3f} s")
    print(f"sweep                {sweep_s:.3f} s  ({result.raised:,} alerts in {result.batches} batches)")
    print(
        f"sweep / bare         {sweep_s / bare_s:.1f} ×   target: sweep < 2 s → {'met' if sweep_s < 2 else 'NOT met'}"
    )
    print("  by statement       " + ", ".join(f"{k} {v:.3f} s" for k, v in result.seconds.items()))
    print(f"second sweep         {again_s:.3f} s  ({again.raised} alerts: nothing fires twice)")
    print(f"({load_line})")


if __name__ == "__main__":
    main()
