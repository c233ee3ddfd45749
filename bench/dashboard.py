"""报表 → 经营看板 and the workbench (the admin home) over 1,000,000 orders (issue 15, "Show").

    BENCH_DB_NAME=orderhub_bench_dash BENCH_REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/dashboard.py
    .venv/bin/python bench/dashboard.py --orders 2000      # the same in well under a minute, to try it

1. A fresh bench database with --orders orders ordered over the last 90 days (dataset.build: bulk SQL over
   generate_series, 5 channels, 3 warehouses, every status, lines, timeline events, one parcel per printed order),
   then, set-based as well, what the figures read besides: hold kinds and 金额不符 holds, actors on the people's
   timeline lines, holds released by hand, carrier states, pickup / transit / delivery scans (TrackingEvent) and
   stalled parcels, alerts (overdue, stalled, rule errors, pull failures; some acknowledged), address changes with
   their history rows, intake log lines (created and rejected), suspected duplicates, and the tracking page's
   lookup counters.
2. The daily rows: reports.services.daily.daily_figures_refresh (channel, node, hour and health rows) for each of
   the 91 days (timed: one day's refresh, p50 / max), then the reports jobs config/cron.py runs every 10 minutes
   or more often, 3 runs each.
3. Server time of the pages through Django's test client in this process (middleware, view, template; no
   network), --runs runs after --warmup runs each, statements counted in one more run:
     GET /admin/reports/dashboard/ as 运营主管 with the default filters, then with a channel, a warehouse and a
     90-day range when the page takes such a query parameter (probed: a parameter that leaves the page unchanged
     or draws an error is reported as not taken, and its case skipped); more cases with --case 'label=query';
     GET /admin/ (the workbench) as 客服, 仓库, 运营主管 and 财务.
   Pages are timed by URL only: nothing of the pages is imported.
4. The bare aggregate queries behind the same figures (status counts, orders per hour today, SUMs over the daily
   rows, each role's counts), timed the same way over one psycopg connection; the ratio page / bare.

Prints a table and "target p95 < 300 ms: met / NOT met". The machine is shared: the load average is printed.
"""

import ast
import logging
import re
import statistics
import time
from datetime import timedelta
from urllib.parse import quote, urlencode

import common
import dataset
from common import log, ms, percentile

DASHBOARD_URL = "/admin/reports/dashboard/"
HOME_URL = "/admin/"
SPAN_DAYS = 90
TARGET_MS = 300
ROLES = ("客服", "仓库", "运营主管", "财务")
USER_PREFIX = "bench-dash-"
FINAL = ("cancelled", "delivered", "returned")
OPEN = "status NOT IN ('cancelled', 'delivered', 'returned')"

# Query parameters a dashboard filter might be called by, tried in this order (the first the page takes is used).
CHANNEL_PARAMS = ("channel", "channel_id", "channel__id__exact")
WAREHOUSE_PARAMS = ("warehouse", "warehouse_id", "warehouse__id__exact")
RANGE_PARAMS = (("start", "end"), ("from", "to"), ("date_from", "date_to"), ("since", "until"), ("day_from", "day_to"))
ERROR_MARKERS = ('class="errornote"', 'class="errorlist"', "errornote", "messagelist")
CSRF = re.compile(r'(csrfmiddlewaretoken" value="|csrftoken=|"csrfToken": ")[^"&;]+')


# --- data ------------------------------------------------------------------------------------------------------


def columns(conn, table: str) -> list[tuple[str, str, str, str | None]]:
    return conn.execute(
        "SELECT column_name, data_type, is_nullable, CASE WHEN is_identity = 'YES' THEN 'identity'"
        " ELSE column_default END FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        [table],
    ).fetchall()


def insert_select(conn, table: str, fill: dict[str, str], source: str, params: dict | None = None) -> int:
    """INSERT INTO table (…) SELECT <fill expressions> FROM <source>; every other NOT NULL column without a
    default gets its type's empty value (a column added at merge time does not break the bench)."""
    cols, exprs = [], []
    for name, data_type, nullable, default in columns(conn, table):
        if name in fill:
            cols.append(name)
            exprs.append(fill[name])
        elif nullable == "NO" and default is None and name != "id":
            cols.append(name)
            if data_type == "boolean":
                exprs.append("false")
            elif data_type == "jsonb":
                exprs.append("'{}'::jsonb")
            elif data_type in ("integer", "smallint", "bigint", "numeric", "double precision", "real"):
                exprs.append("0")
            elif "timestamp" in data_type:
                exprs.append("now()")
            elif data_type == "date":
                exprs.append("current_date")
            elif data_type == "uuid":
                exprs.append("gen_random_uuid()")
            else:
                exprs.append("''")
    cur = conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {source}", params)
    return cur.rowcount


# The parcels as dataset.build writes them (over bench.stage st): the carrier's state by the order's, labels printed
# (one parcel in 100 without), every 25th parcel in transit for over two days stalled.
PARCELS = {
    "carrier_state": """CASE st.status WHEN 'printed' THEN '' WHEN 'picked_up' THEN 'collected'
        WHEN 'in_transit' THEN 'in_transit' WHEN 'delivered' THEN 'signed' WHEN 'returned' THEN 'returned'
        ELSE 'problem' END""",
    "carrier_state_label": """CASE st.status WHEN 'printed' THEN '' WHEN 'picked_up' THEN '已揽收'
        WHEN 'in_transit' THEN '运输中' WHEN 'delivered' THEN '已签收' WHEN 'returned' THEN '已退回'
        ELSE '疑难件' END""",
    "is_finished": "st.status IN ('delivered', 'returned')",
    "last_event_at": "CASE WHEN st.status <> 'printed' THEN st.entered_at END",
    "stalled_since": """CASE WHEN st.status = 'in_transit' AND st.id % 25 = 0
        AND st.entered_at < now() - interval '2 days' THEN st.entered_at + interval '1 day' END""",
    "next_poll_at": """CASE WHEN st.status NOT IN ('delivered', 'returned')
        THEN now() + (st.id % 300) * interval '1 second' END""",
    "waybill_state": "CASE WHEN st.id % 100 = 0 THEN '' ELSE 'printed' END",
    "waybill_key": "CASE WHEN st.id % 100 = 0 THEN '' ELSE 'BW' || st.id || '-1' END",
    "label_url": "CASE WHEN st.id % 100 = 0 THEN '' ELSE 'http://127.0.0.1/labels/BW' || st.id END",
    "ordered_at": "st.created_at",
}


def actors_ensure() -> dict[str, int]:
    """The timeline's people (dataset.STEPS' actor labels) as the bench's 客服 and 仓库 users."""
    common.django_setup()
    ids = users_ensure()
    return {"客服小王": ids["客服"], "仓库老李": ids["仓库"]}


def users_ensure() -> dict[str, int]:
    """One staff user per workbench role (group), and the groups' ids; by role name."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    ids = {}
    for n, role in enumerate(ROLES, 1):
        group = Group.objects.get(name=role)
        user, _created = get_user_model().objects.get_or_create(
            username=f"{USER_PREFIX}{n}", defaults={"is_staff": True, "first_name": role}
        )
        user.groups.set([group])
        ids[role] = user.pk
        ids[f"group:{role}"] = group.pk
    common.django_close_connections()
    return ids


def lookups_fill(conn, n_orders: int) -> int:
    """The tracking page's lookup counters (logistics.TrackingLookupCount, one row per day, door and outcome): about
    one lookup per three orders over the days, 92 % answered, a few invalid."""
    per_day = max(1, n_orders // 3 // (SPAN_DAYS + 1))
    return conn.execute(
        f"""INSERT INTO logistics_trackinglookupcount (day, door, outcome, n)
            SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date - d, v.door, v.outcome,
                   GREATEST(1, ({per_day} * v.share)::int)
            FROM generate_series(0, {SPAN_DAYS}) AS d
            CROSS JOIN (VALUES ('page', 'found', 0.50), ('page', 'not_found', 0.04), ('page', 'invalid', 0.02),
                               ('link', 'found', 0.30), ('api', 'found', 0.12), ('api', 'not_found', 0.04))
                 AS v(door, outcome, share)"""
    ).rowcount


def extras_build(n_orders: int, ids: dict[str, int]) -> dict[str, float]:
    """What the figures read besides the orders, lines, events and parcels of dataset.build; set-based."""
    cs = ids["客服"]
    g_wh, g_ops = ids["group:仓库"], ids["group:运营主管"]
    timings = {}
    with common.connect() as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET synchronous_commit = off")

        def step(name: str, work) -> None:
            """work: one SQL statement, or a function returning how many rows it wrote."""
            t0 = time.monotonic()
            rows = conn.execute(work).rowcount if isinstance(work, str) else work()
            timings[name] = time.monotonic() - t0
            log(f"  {name}: {rows:,} rows in {timings[name]:.1f}s")

        # Holds of every kind; every twelfth one the payment check's (金额不符, no kind).
        step(
            "holds",
            """UPDATE orders_order SET
                 hold_kind = CASE WHEN id % 12 = 5 THEN '' ELSE
                     (ARRAY['customer', 'refund', 'duplicate', 'stock', 'approval', ''])[1 + id % 6] END,
                 status_reason = CASE WHEN id % 12 = 5 THEN '金额不符：实付与应付不一致' ELSE status_reason END
               WHERE status = 'on_hold'""",
        )
        # Every 500th order a suspected duplicate of the one before.
        step("duplicates", "UPDATE orders_order SET duplicate_of_id = id - 1 WHERE id % 500 = 0 AND id > 1")
        # Every 50th order that went to allocation was held and released by hand between payment and allocation.
        step(
            "hold + release",
            f"""INSERT INTO orders_orderevent (created_at, kind, transition, from_status, to_status, actor_id,
                    actor_label, source, reason, data, order_id)
                SELECT p.created_at + (a.created_at - p.created_at) * x.f, 'transition', x.t, x.fr, x.tt,
                       {cs}, '客服小王', 'admin', x.reason, '{{}}'::jsonb, p.order_id
                FROM orders_orderevent p
                JOIN orders_orderevent a ON a.order_id = p.order_id AND a.transition = 'start_allocation'
                CROSS JOIN (VALUES (0.33, 'hold', 'paid', 'on_hold', '客户要求暂缓发货'),
                                   (0.66, 'release', 'on_hold', 'paid', '客户确认发货')) AS x(f, t, fr, tt, reason)
                WHERE p.transition = 'pay' AND p.order_id % 50 = 0""",
        )
        # Carrier scans at the order's carrier transitions (one in 200 parcels has none: a gap), plus a hub scan
        # six hours into transit.
        # Without its indexes and foreign key while loading (rebuilt after), as dataset.build loads its tables.
        drops, indexes, attach, fks = dataset.schema_objects(conn, ["logistics_trackingevent"])
        for stmt in drops:
            conn.execute(stmt)
        step(
            "tracking events",
            lambda: insert_select(
                conn,
                "logistics_trackingevent",
                {
                    "shipment_id": "s.id",
                    "occurred_at": "e.created_at - interval '3 minutes' + x.shift",
                    "carrier_state": "x.state",
                    "description": "x.text",
                    "location": "(ARRAY['上海', '杭州', '广州', '北京', '成都'])[1 + s.id % 5]",
                    "raw": "jsonb_build_object('context', x.text)",
                    "fingerprint": "md5(s.id || '|' || x.state || '|' || x.shift)",
                    "received_via": "CASE WHEN s.id % 3 = 0 THEN 'poll' ELSE 'push' END",
                    "received_at": "e.created_at + x.shift",
                },
                """orders_orderevent e
                   JOIN logistics_shipment s ON s.order_id = e.order_id AND s.is_active
                   JOIN (VALUES ('pick_up', 'collected', '快递员已揽收', interval '0'),
                                ('transit', 'in_transit', '快件已发往转运中心', interval '0'),
                                ('transit', 'in_transit', '快件已到达转运中心', interval '6 hours'),
                                ('deliver', 'signed', '快件已签收', interval '0'),
                                ('mark_returned', 'returned', '快件已退回', interval '0'),
                                ('flag_exception', 'problem', '疑难件：地址不详', interval '0'))
                        AS x(transition, state, text, shift) ON x.transition = e.transition
                   WHERE e.order_id % 200 <> 0 AND e.created_at + x.shift < now()""",
            ),
        )
        t0 = time.monotonic()
        conn.execute("SET maintenance_work_mem = '1GB'")
        for stmt in indexes + attach + fks:
            conn.execute(stmt)
        timings["tracking event indexes"] = took = time.monotonic() - t0
        log(f"  tracking events: {len(indexes)} indexes, {len(fks)} foreign keys rebuilt in {took:.1f}s")
        # Alerts: a quarter of the late open orders (to their node's owner; every eighth acknowledged), the
        # stalled parcels, rule errors and pull failures.
        final = ", ".join(f"'{s}'" for s in FINAL)
        step(
            "alerts",
            lambda: sum(
                insert_select(conn, "orders_alert", fill, source)
                for fill, source in (
                    (
                        {
                            "kind": "'node_overdue'",
                            "severity": "'warning'",
                            "order_id": "o.id",
                            "message": "'订单 ' || o.number || ' 超时'",
                            "owner_group_id": "n.owner_group_id",
                            "dedupe_key": "'bench-overdue-' || o.id",
                            "created_at": "o.state_deadline",
                            "acknowledged_at": "CASE WHEN o.id % 8 = 0 THEN o.state_deadline + interval '1 hour' END",
                            "acknowledged_by_id": f"CASE WHEN o.id % 8 = 0 THEN {cs} END",
                        },
                        f"""orders_order o JOIN orders_statusnode n ON n.status = o.status
                            WHERE o.state_deadline < now() AND o.status NOT IN ({final}) AND o.id % 4 = 0""",
                    ),
                    (
                        {
                            "kind": "'parcel_stalled'",
                            "severity": "'warning'",
                            "order_id": "s.order_id",
                            "message": "'包裹 ' || s.tracking_number || ' 停滞'",
                            "owner_group_id": str(g_wh),
                            "dedupe_key": "'bench-stalled-' || s.id",
                            "created_at": "s.stalled_since",
                        },
                        "logistics_shipment s WHERE s.stalled_since IS NOT NULL",
                    ),
                    (
                        {
                            "kind": "CASE WHEN i % 10 = 0 THEN 'channel_pull_failing' ELSE 'rule_error' END",
                            "severity": "'critical'",
                            "message": "'规则运行出错 ' || i",
                            "owner_group_id": str(g_ops),
                            "dedupe_key": "'bench-ops-' || i",
                            "created_at": f"now() - (i % {SPAN_DAYS}) * interval '1 day'",
                            "resolved_at": "CASE WHEN i % 3 = 0 THEN now() END",
                        },
                        "generate_series(1, 60) AS i",
                    ),
                )
            ),
        )
        # Address changes of every 80th order past payment, with their history rows (one in 30 has none).
        step(
            "address changes",
            lambda: insert_select(
                conn,
                "orders_addresschange",
                {
                    "order_id": "o.id",
                    "state": """CASE WHEN o.status IN ('paid', 'on_hold', 'allocating', 'allocated') THEN 'applied'
                                     WHEN o.id % 3 = 0 THEN 'failed' ELSE 'intercepted' END""",
                    "old_address": "jsonb_build_object('province', o.province, 'city', o.city,"
                    " 'detail', o.address_detail)",
                    "new_address": "jsonb_build_object('province', o.province, 'city', o.city,"
                    " 'detail', o.address_detail || ' 东门')",
                    "reason": "'客户更换收货地址'",
                    "requested_by_id": f"CASE WHEN o.id % 40 = 0 THEN NULL ELSE {cs} END",
                    "created_at": "least(o.created_at + interval '30 minutes', now())",
                    "resolved_at": "least(o.created_at + interval '90 minutes', now())",
                },
                "orders_order o WHERE o.id % 80 = 0 AND o.status NOT IN ('placed', 'cancelled')",
            ),
        )
        step(
            "address change history",
            lambda: insert_select(
                conn,
                "orders_historicaladdresschange",
                {
                    "id": "a.id",
                    "order_id": "a.order_id",
                    "state": "a.state",
                    "old_address": "a.old_address",
                    "new_address": "a.new_address",
                    "reason": "a.reason",
                    "requested_by_id": "a.requested_by_id",
                    "created_at": "a.created_at",
                    "resolved_at": "a.resolved_at",
                    "history_date": "a.created_at",
                    "history_type": "'+'",
                    "history_user_id": "a.requested_by_id",
                    "history_change_reason": "a.reason",
                },
                "orders_addresschange a WHERE a.id % 30 <> 0",
            ),
        )
        # The intake log: one line per order that came by webhook or pull, and one rejected report per 100 orders.
        step(
            "intake log",
            lambda: insert_select(
                conn,
                "orders_intakerecord",
                {
                    "channel_id": "o.channel_id",
                    "via": "CASE o.source WHEN 'pull' THEN 'pull' ELSE 'webhook' END",
                    "channel_order_no": "o.channel_order_no",
                    "outcome": "CASE WHEN o.id % 100 = 1 THEN 'rejected' ELSE 'created' END",
                    "reason": "CASE WHEN o.id % 100 = 1 THEN '收货人手机号无效' ELSE '' END",
                    "order_id": "CASE WHEN o.id % 100 = 1 THEN NULL ELSE o.id END",
                    "received_at": "o.created_at - interval '2 seconds'",
                    "processed_at": "o.created_at",
                    "latency_ms": "40 + o.id % 200",
                },
                "orders_order o WHERE o.source IN ('webhook', 'pull') OR o.id % 100 = 1",
            ),
        )
        step("lookups (logistics.TrackingLookupCount)", lambda: lookups_fill(conn, n_orders))


def data_reusable(n: int) -> bool:
    info = dataset.meta_read() if common.database_exists() else None
    if not info or info.get("orders") != n or info.get("span_days") != SPAN_DAYS:
        return False
    with common.connect() as conn:
        return conn.execute("SELECT to_regclass('bench.dashboard_extras') IS NOT NULL").fetchone()[0]


# --- the daily rows -----------------------------------------------------------------------------------------


def day_refreshers() -> list:
    """The reports service that recomputes one day's rows: the channel, node, hour and health rows in one."""
    from reports.services.daily import daily_figures_refresh

    return [daily_figures_refresh]


def frequent_jobs() -> list:
    """The reports jobs config/cron.py runs every 10 minutes or more often (read from the file, not run)."""
    import reports.jobs

    tree = ast.parse((common.ROOT / "config" / "cron.py").read_text())
    names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "reports.jobs"
        for alias in node.names
    }
    jobs = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "register" and node.args):
            continue
        first = node.args[0]
        interval = next((k.value for k in node.keywords if k.arg == "interval"), None)
        if isinstance(first, ast.Name) and first.id in names and isinstance(interval, ast.Constant):
            if interval.value <= 600 and hasattr(reports.jobs, first.id):
                jobs.append(getattr(reports.jobs, first.id))
    return jobs


def refresh_all(days: int = SPAN_DAYS + 1) -> dict[str, object]:
    from reports.services.daily import report_today

    refreshers, jobs = day_refreshers(), frequent_jobs()
    log("  per day: " + ", ".join(f"{f.__module__}.{f.__name__}" for f in refreshers))
    log("  the 10-minute job(s): " + ", ".join(f"{f.__module__}.{f.__name__}" for f in jobs))
    today = report_today()
    per_day, rows = [], 0
    t0 = time.perf_counter()
    for back in range(days - 1, -1, -1):
        t = time.perf_counter()
        for refresh in refreshers:
            written = refresh(day=today - timedelta(days=back))
            if isinstance(written, dict):
                rows += sum(v for v in written.values() if isinstance(v, int))
        per_day.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    job = []
    for _ in range(3):
        t = time.perf_counter()
        for each in jobs:
            each()
        job.append(time.perf_counter() - t)
    common.django_close_connections()
    return {
        "days": len(per_day),
        "rows": rows,
        "per_day": per_day,
        "total": total,
        "job": job,
        "refreshers": [f.__name__ for f in refreshers],
        "jobs": [f.__name__ for f in jobs],
    }


# --- pages ------------------------------------------------------------------------------------------------------


def normalized(body: bytes, query: str = "") -> str:
    """The page without its CSRF tokens, nor the query string itself (the admin repeats the request's path, e.g.
    in the language form): what is left differs only if the page took the query."""
    text = CSRF.sub("", body.decode("utf-8", "replace"))
    if query:
        for form in (query, query.replace("&", "&amp;"), quote(query), quote(query, safe="")):
            text = text.replace("?" + form, "").replace(form, "")
    return text


class Pages:
    """The Django test client, one per user, in this process against the bench database."""

    def __init__(self, user_ids: dict[str, int]):
        from django.contrib.auth import get_user_model
        from django.test import Client

        self.clients = {}
        for role in ROLES:
            client = Client(HTTP_HOST=common.HOST)
            client.force_login(get_user_model().objects.get(pk=user_ids[role]))
            self.clients[role] = client

    def get(self, role: str, url: str) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        response = self.clients[role].get(url)
        body = response.content
        return response.status_code, body, time.perf_counter() - t0

    def statements(self, role: str, url: str) -> tuple[int, float, list[tuple[float, str]]]:
        """One more request with its statements captured: (count, seconds in the database, the slowest three
        as (seconds, SQL cut short))."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            self.clients[role].get(url)
        timed = sorted(((float(q["time"]), " ".join(q["sql"].split())) for q in ctx.captured_queries), reverse=True)
        return len(timed), sum(t for t, _sql in timed), [(t, sql[:150]) for t, sql in timed[:3]]

    def time(self, role: str, url: str, runs: int, warmup: int) -> dict | None:
        for _ in range(warmup):
            status, _body, _s = self.get(role, url)
            if status != 200:
                log(f"  {url} as {role}: HTTP {status}, not timed")
                return None
        seconds = []
        for _ in range(runs):
            status, _body, elapsed = self.get(role, url)
            if status != 200:
                log(f"  {url} as {role}: HTTP {status} during the runs, not timed")
                return None
            seconds.append(elapsed)
        count, in_db, slowest = self.statements(role, url)
        return {"seconds": seconds, "statements": count, "in_db": in_db, "slowest": slowest}

    def probe(self, role: str, base: str, candidates: list[dict]) -> tuple[dict | None, str]:
        """The first query (of candidates) the page takes: HTTP 200, no error shown, and a page unlike the
        default one. (query or None, what was seen)."""
        status, default, _s = self.get(role, base)
        again = self.get(role, base)[1]
        stable = normalized(default) == normalized(again)
        seen = []
        for query in candidates:
            url = f"{base}?{urlencode(query)}"
            status, body, _s = self.get(role, url)
            text = normalized(body, urlencode(query))
            if status != 200:
                seen.append(f"{urlencode(query)} → HTTP {status}")
                continue
            plain = normalized(default, urlencode(query))
            if any(marker in text and marker not in plain for marker in ERROR_MARKERS):
                seen.append(f"{urlencode(query)} → an error on the page")
                continue
            if stable and text == plain:
                seen.append(f"{urlencode(query)} → ignored (same page)")
                continue
            return query, "taken" if stable else "taken (not verified: the default page varies between requests)"
        return None, "; ".join(seen)


# --- bare queries ---------------------------------------------------------------------------------------------


def bare_sets(ids: dict[str, int], channel_id: int, warehouse_id: int) -> dict[str, list[tuple[str, list]]]:
    """The SQL of the same figures alone, by case: [(sql, params)]."""
    from reports.services.daily import day_bounds, report_today

    today = report_today()
    start, end = day_bounds(today)
    first14, first90 = today - timedelta(days=13), today - timedelta(days=SPAN_DAYS - 1)
    statuses = ("SELECT status, count(*) FROM orders_order GROUP BY status", [])
    hours = (
        "SELECT extract(hour FROM ordered_at AT TIME ZONE 'Asia/Shanghai') AS h, count(*) FROM orders_order"
        " WHERE ordered_at >= %s AND ordered_at < %s GROUP BY 1",
        [start, end],
    )

    def channel_days(first, extra: str = "", params: list | None = None):
        return (
            "SELECT day, channel_id, sum(orders), sum(gmv), sum(cancelled) FROM reports_dailychannelfigures"
            f" WHERE day BETWEEN %s AND %s {extra} GROUP BY day, channel_id",
            [first, today, *(params or [])],
        )

    def nodes(first):
        return (
            'SELECT status, sum(entered), sum("left"), avg(p50_minutes), avg(p90_minutes), sum(over_timeout)'
            " FROM reports_dailynodefigures WHERE day BETWEEN %s AND %s GROUP BY status",
            [first, today],
        )

    dashboard = [statuses, hours, channel_days(first14), nodes(first14)]
    by_warehouse = (
        "SELECT status, count(*) FROM orders_order WHERE warehouse_id = %s GROUP BY status",
        [warehouse_id],
    )
    uid, g_cs = ids["客服"], ids["group:客服"]
    final = ", ".join(f"'{s}'" for s in FINAL)
    workbench = {
        "客服": [
            (
                f"""SELECT count(*) FILTER (WHERE state_deadline < now() AND status NOT IN ({final})
                        AND status IN (SELECT status FROM orders_statusnode WHERE owner_user_id = %s
                                       OR owner_group_id = %s)),
                       count(*) FILTER (WHERE status = 'on_hold' AND hold_kind IN ('refund', 'duplicate', 'customer'))
                    FROM orders_order""",
                [uid, g_cs],
            ),
            (
                "SELECT count(*) FROM orders_alert WHERE acknowledged_at IS NULL AND resolved_at IS NULL"
                " AND (owner_user_id = %s OR owner_group_id = %s)",
                [uid, g_cs],
            ),
            ("SELECT count(*) FROM orders_addresschange WHERE created_at >= %s AND created_at < %s", [start, end]),
        ],
        "仓库": [
            (
                "SELECT count(*), avg(now() - state_entered_at) FROM orders_order WHERE status = 'allocating'",
                [],
            ),
            (
                "SELECT count(*) FILTER (WHERE status = 'allocated'), count(*) FILTER (WHERE status = 'printed')"
                " FROM orders_order",
                [],
            ),
            (
                "SELECT count(*) FROM logistics_shipment WHERE stalled_since IS NOT NULL AND NOT is_finished"
                " AND is_active",
                [],
            ),
        ],
        "运营主管": [
            ("SELECT count(*) FROM rules_rule WHERE last_error_at >= %s", [start - timedelta(days=7)]),
            (
                "SELECT count(*) FILTER (WHERE kind = 'rule_error'), count(*) FILTER (WHERE kind ="
                " 'channel_pull_failing'), count(DISTINCT order_id) FILTER (WHERE kind = 'approval_overdue')"
                " FROM orders_alert WHERE acknowledged_at IS NULL AND resolved_at IS NULL",
                [],
            ),
            channel_days(today),  # the headline figures, when the block shows them: today's daily rows
        ],
        "财务": [
            (
                "SELECT count(*) FILTER (WHERE status = 'placed'), count(*) FILTER (WHERE status = 'on_hold'"
                " AND status_reason LIKE '金额不符%%') FROM orders_order",
                [],
            )
        ],
    }
    return {
        "dashboard": dashboard,
        "dashboard channel": [statuses, hours, channel_days(first14, "AND channel_id = %s", [channel_id])],
        "dashboard warehouse": [by_warehouse, hours, channel_days(first14), nodes(first14)],
        "dashboard 90 days": [statuses, hours, channel_days(first90), nodes(first90)],
        **{f"workbench {role}": sqls for role, sqls in workbench.items()},
    }


def bare_time(conn, sqls: list[tuple[str, list]], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        for sql, params in sqls:
            conn.execute(sql, params).fetchall()
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for sql, params in sqls:
            conn.execute(sql, params).fetchall()
        seconds.append(time.perf_counter() - t0)
    return seconds


# --- main ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders over the 90 days (default 1,000,000)")
    parser.add_argument("--customers", type=int, default=0, help="default: orders / 20, at most 50,000")
    parser.add_argument("--workers", type=int, default=2, help="connections loading the data (default 2)")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per case (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per case first (default 3)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the last run's data when it has as many orders (not fresh)"
    )
    parser.add_argument(
        "--refresh-days",
        type=int,
        default=SPAN_DAYS + 1,
        help=f"days refreshed, up to today (default all {SPAN_DAYS + 1}; with --reuse the others keep their rows)",
    )
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="LABEL=QUERY",
        help="one more dashboard case, e.g. 'status=status=paid' (repeatable)",
    )
    args = parser.parse_args()
    n = args.orders
    customers = args.customers or max(50, min(50_000, n // 20))
    t_start = time.monotonic()
    reused = args.reuse and data_reusable(n)
    if reused:
        common.database_ensure()
        log(f"reusing {common.DB_NAME}: {n:,} orders over {SPAN_DAYS} days")
        build_timings = []
    else:
        log(f"building {common.DB_NAME}: {n:,} orders over {SPAN_DAYS} days, {customers:,} customers (bulk SQL)")
        info = dataset.build(
            n, customers, args.workers, span_days=SPAN_DAYS, template=True, people=actors_ensure, parcels=PARCELS
        )
        common.django_setup()
        ids = users_ensure()
        build_timings = list(info["timings"]) + [[k, round(v, 1)] for k, v in extras_build(n, ids).items()]
    common.django_setup()
    logging.getLogger("axes").setLevel(logging.WARNING)  # one line per forced login otherwise
    ids = users_ensure()
    build_s = time.monotonic() - t_start
    counts = {}
    with common.connect() as conn:
        for table in (
            "orders_order",
            "orders_orderline",
            "orders_orderevent",
            "logistics_shipment",
            "logistics_trackingevent",
            "orders_alert",
            "orders_addresschange",
            "orders_intakerecord",
        ):
            counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        statuses = conn.execute("SELECT status, count(*) FROM orders_order GROUP BY status ORDER BY 2 DESC").fetchall()
        channel_id = conn.execute(
            "SELECT channel_id FROM orders_order GROUP BY channel_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
        warehouse_id = conn.execute(
            "SELECT warehouse_id FROM orders_order WHERE warehouse_id IS NOT NULL GROUP BY warehouse_id"
            " ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    log("data: " + ", ".join(f"{t} {c:,}" for t, c in counts.items()))

    log(f"daily refresh: {args.refresh_days} days, then the 10-minute job")
    refresh = refresh_all(max(1, min(args.refresh_days, SPAN_DAYS + 1)))
    log(f"  {refresh['days']} days, {refresh['rows']:,} rows in {refresh['total']:.1f}s")

    mb, secs = common.prewarm(
        ("orders_order", "orders_orderevent", "logistics_shipment", "orders_alert", "reports_dailychannelfigures")
    )
    log(f"prewarmed {mb:,} MB in {secs:.1f}s")

    from reports.services.daily import report_today

    pages = Pages(ids)
    today = report_today()
    first90 = today - timedelta(days=SPAN_DAYS - 1)
    cases: list[tuple[str, str, str, str]] = [("dashboard", "运营主管", DASHBOARD_URL, "dashboard")]
    skipped = []
    probes = [
        ("dashboard channel", [{p: channel_id} for p in CHANNEL_PARAMS]),
        ("dashboard warehouse", [{p: warehouse_id} for p in WAREHOUSE_PARAMS]),
        (
            "dashboard 90 days",
            [{a: first90.isoformat(), b: today.isoformat()} for a, b in RANGE_PARAMS] + [{"days": SPAN_DAYS}],
        ),
    ]
    for label, candidates in probes:
        query, seen = pages.probe("运营主管", DASHBOARD_URL, candidates)
        if query is None:
            skipped.append(f"{label}: the page takes none of the parameters tried ({seen})")
            log(f"  skipped {skipped[-1]}")
        else:
            log(f"  {label}: ?{urlencode(query)} {seen}")
            cases.append((label, "运营主管", f"{DASHBOARD_URL}?{urlencode(query)}", label))
    for extra in args.case:
        label, _sep, query = extra.partition("=")
        cases.append((f"dashboard {label}", "运营主管", f"{DASHBOARD_URL}?{query}", "dashboard"))
    cases += [(f"workbench {role}", role, HOME_URL, f"workbench {role}") for role in ROLES]

    bare = bare_sets(ids, channel_id, warehouse_id)
    rows, slowest, worst = [], [], 0.0
    with common.connect() as conn:
        for label, role, url, bare_key in cases:
            log(f"timing {label}: GET {url} as {role}")
            timed = pages.time(role, url, args.runs, args.warmup)
            if timed is None:
                skipped.append(f"{label}: not 200 as {role}")
                continue
            base = bare_time(conn, bare[bare_key], args.runs, args.warmup)
            xs = timed["seconds"]
            p50, p95 = percentile(xs, 50), percentile(xs, 95)
            b50, b95 = percentile(base, 50), percentile(base, 95)
            worst = max(worst, p95)
            slowest.append((label, timed["slowest"]))
            rows.append(
                (
                    label,
                    url.replace(DASHBOARD_URL, "…/dashboard/"),
                    role,
                    len(xs),
                    ms(p50),
                    ms(p95),
                    timed["statements"],
                    ms(timed["in_db"]),
                    f"{ms(b50)} ({len(bare[bare_key])} q)",
                    common.ratio(p50, b50),
                    common.ratio(p95, b95),
                )
            )
    load = common.load_average()
    common.django_close_connections()

    print()
    print(f"data: {n:,} orders over {SPAN_DAYS} days ({'reused' if reused else f'built in {build_s:.0f}s'})")
    for table, count in counts.items():
        print(f"  {table:26} {count:>12,}")
    print("  statuses: " + ", ".join(f"{s} {c:,}" for s, c in statuses))
    if build_timings:
        print("  build steps (s): " + ", ".join(f"{k} {v}" for k, v in build_timings))
    per_day, job = refresh["per_day"], refresh["job"]
    print(f"daily refresh: {refresh['days']} days, {refresh['rows']:,} rows in {refresh['total']:.1f}s")
    print(
        f"  refresh of one day      p50 {ms(statistics.median(per_day))} ms, max {ms(max(per_day))} ms"
        f" ({', '.join(refresh['refreshers'])})"
    )
    print(
        f"  the 10-minute job       p50 {ms(statistics.median(job))} ms over {len(job)} runs"
        f" ({', '.join(refresh['jobs']) or 'none found in config/cron.py'})"
    )
    print()
    common.table(
        [
            "case",
            "URL",
            "as",
            "runs",
            "p50 ms",
            "p95 ms",
            "statements",
            "in SQL ms",
            "bare p50 ms",
            "p50/bare",
            "p95/bare",
        ],
        rows,
    )
    for line in skipped:
        print(f"skipped: {line}")
    print()
    print("slowest statements of one request (captured; 'in SQL ms' above is their sum):")
    for label, top in slowest:
        for seconds, sql in top:
            print(f"  {label:22} {ms(seconds):>8} ms  {sql}")
    print()
    print(
        f"target p95 < {TARGET_MS} ms: {'met' if rows and worst * 1000 < TARGET_MS else 'NOT met'}"
        f" (worst p95 {ms(worst)} ms)"
    )
    print(f"({load}; server time in-process through Django's test client, no network)")


if __name__ == "__main__":
    main()
