"""Lookup and trace latency on a 1,000,000-order database, through the HTTP API under gunicorn.

    .venv/bin/python bench/trace.py [--orders N] [--samples 500] [--rebuild]

Builds orderhub_bench with bulk SQL (INSERT ... SELECT FROM generate_series; indexes and foreign keys are dropped
for the load and rebuilt after, two connections at a time), unless it already holds exactly N generated orders.
Then, one sequential client: GET /api/v1/orders/lookup/?q=... (number, channel order no., tracking no., phone)
and GET /api/v1/orders/<number>/trace/, against a bare indexed SELECT of the same rows through psycopg.
"""

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import log, ms, percentile, table

TARGET_TRACE_P95_MS = 50.0
SPAN_DAYS = 365
LOAD_TABLES = ("orders_order", "orders_orderline", "orders_orderevent")
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # orders.services.intake.NUMBER_ALPHABET
BASE31_8 = 31**8

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "杰", "娟", "涛", "明", "超", "秀英"]
PLACES = [
    ("浙江", "杭州", "西湖区"),
    ("上海", "上海", "浦东新区"),
    ("广东", "深圳", "南山区"),
    ("广东", "广州", "天河区"),
    ("北京", "北京", "朝阳区"),
    ("四川", "成都", "武侯区"),
    ("江苏", "南京", "鼓楼区"),
    ("江苏", "苏州", "工业园区"),
    ("湖北", "武汉", "洪山区"),
    ("山东", "青岛", "市南区"),
    ("福建", "厦门", "思明区"),
    ("陕西", "西安", "雁塔区"),
]
STREETS = ["文三路", "人民路", "科技园路", "中山北路", "解放大道", "建设路", "长安街", "南京西路"]

# Timeline steps: kind, transition, from, to, source ('*' = the order's source), minutes after creation, reason,
# actor label ('*channel' / '*carrier' = the order's channel / carrier).
STEPS = {
    "created": ("created", "", "", "placed", "*", 0, "", "*channel"),
    "rule_tag": ("rule", "", "", "", "rule", 1, "规则命中：高意向", "rule"),
    "note": ("note", "", "", "", "admin", 15, "客户来电询问发货时间", "客服小王"),
    "pay": ("transition", "pay", "placed", "paid", "api", 2, "", "*channel"),
    "rule_gift": ("rule", "", "", "", "rule", 3, "规则命中：赠 SAMPLE-3", "rule"),
    "hold": ("transition", "hold", "paid", "on_hold", "admin", 25, "地址待客户确认", "客服小王"),
    "start_allocation": ("transition", "start_allocation", "paid", "allocating", "system", 10, "", "system"),
    "allocate": ("transition", "allocate", "allocating", "allocated", "system", 40, "", "system"),
    "print_label": ("transition", "print_label", "allocated", "printed", "scan", 300, "", "仓库老李"),
    "pick_up": ("transition", "pick_up", "printed", "picked_up", "carrier", 720, "", "*carrier"),
    "transit": ("transition", "transit", "picked_up", "in_transit", "carrier", 1000, "", "*carrier"),
    "deliver": ("transition", "deliver", "in_transit", "delivered", "carrier", 4000, "", "*carrier"),
    "cancel": ("transition", "cancel", "paid", "cancelled", "admin", 90, "客户申请取消", "客服小王"),
    "mark_returned": ("transition", "mark_returned", "in_transit", "returned", "admin", 5000, "客户拒收", "客服小王"),
    "flag_exception": (
        "transition",
        "flag_exception",
        "picked_up",
        "exception",
        "admin",
        2900,
        "快递显示疑难件",
        "客服小王",
    ),
}
_SHIP = ["created", "pay", "start_allocation", "allocate", "print_label", "pick_up", "transit"]
PATHS = {  # 3 to 8 events per order
    "placed": ["created", "rule_tag", "note"],
    "paid": ["created", "pay", "rule_gift"],
    "on_hold": ["created", "pay", "hold"],
    "allocating": ["created", "pay", "start_allocation"],
    "allocated": _SHIP[:4],
    "printed": _SHIP[:5],
    "picked_up": _SHIP[:6],
    "in_transit": _SHIP,
    "delivered": [*_SHIP, "deliver"],
    "cancelled": ["created", "pay", "cancel"],
    "returned": [*_SHIP, "mark_returned"],
    "exception": [*_SHIP[:6], "flag_exception"],
}
RESUME = {"on_hold": "paid", "exception": "picked_up"}
WITH_WAREHOUSE = ("allocated", "printed", "picked_up", "in_transit", "delivered", "returned", "exception")
WITH_TRACKING = ("printed", "picked_up", "in_transit", "delivered", "returned", "exception")

# Status by age of the order: (upper bound of the uniform draw, status).
STATUS_RECENT = [  # ordered in the last 24 h
    (0.10, "placed"),
    (0.25, "paid"),
    (0.29, "on_hold"),
    (0.37, "allocating"),
    (0.55, "allocated"),
    (0.70, "printed"),
    (0.82, "picked_up"),
    (0.95, "in_transit"),
    (1.01, "cancelled"),
]
STATUS_WEEK = [  # 1 to 5 days old
    (0.02, "on_hold"),
    (0.05, "printed"),
    (0.12, "picked_up"),
    (0.50, "in_transit"),
    (0.88, "delivered"),
    (0.93, "cancelled"),
    (0.96, "exception"),
    (1.01, "returned"),
]
STATUS_OLD = [(0.86, "delivered"), (0.93, "cancelled"), (0.98, "returned"), (0.995, "exception"), (1.01, "on_hold")]


def q(s: str) -> str:
    """A SQL string literal for our own constants."""
    return "'" + s.replace("'", "''") + "'"


def arr(items) -> str:
    return "ARRAY[" + ",".join(q(x) for x in items) + "]"


def channel_case(var: str) -> str:
    bound, parts = 0.0, []
    for idx, (_code, _name, _kind, share) in enumerate(common.CHANNELS[:-1]):
        bound += share
        parts.append(f"WHEN {var} < {bound:.4f} THEN {idx}")
    return "CASE " + " ".join(parts) + f" ELSE {len(common.CHANNELS) - 1} END"


def case_draw(var: str, table_: list[tuple[float, str]]) -> str:
    return "CASE " + " ".join(f"WHEN {var} < {b} THEN {q(s)}" for b, s in table_) + " END"


# --- build ---------------------------------------------------------------------------------------------------------


def meta_read() -> dict | None:
    with common.connect() as conn:
        if conn.execute("SELECT to_regclass('bench.meta')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT info FROM bench.meta WHERE complete").fetchone()
        if row is None:
            return None
        info = row[0]
        n = conn.execute("SELECT count(*) FROM orders_order WHERE id <= %s", [info["orders"]]).fetchone()[0]
        return info if n == info["orders"] else None


def helpers_create(conn, master: dict, customers: int) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
    conn.execute(
        "CREATE OR REPLACE FUNCTION bench.h(i bigint, salt bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE"
        " AS $$ SELECT hashint8extended(i, salt) & 9223372036854775807 $$"
    )
    conn.execute(
        "CREATE OR REPLACE FUNCTION bench.u(i bigint, salt bigint) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE"
        " AS $$ SELECT (hashint8extended(i, salt) & 9223372036854775807)::float8 / 9223372036854775808.0::float8 $$"
    )
    conn.execute("CREATE TABLE bench.meta (complete boolean NOT NULL, info jsonb NOT NULL)")
    conn.execute(
        "CREATE UNLOGGED TABLE bench.path (status text, step int, kind text, transition text, from_status text,"
        " to_status text, source text, offset_min float8, reason text, actor_label text)"
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bench.path VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(status, n, *STEPS[step]) for status, steps in PATHS.items() for n, step in enumerate(steps, 1)],
        )
    conn.execute(
        "CREATE UNLOGGED TABLE bench.pathsum AS SELECT status, max(offset_min) AS total_min,"
        " (array_agg(reason ORDER BY step DESC))[1] AS last_reason FROM bench.path GROUP BY status"
    )
    conn.execute("CREATE UNLOGGED TABLE bench.sku (idx int PRIMARY KEY, sku_id bigint, price numeric(12,2))")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bench.sku VALUES (%s, %s, %s)",
            [(idx, sku_id, price) for idx, (_code, sku_id, price) in enumerate(master["skus"])],
        )
    conn.execute("CREATE UNLOGGED TABLE bench.chan (idx int PRIMARY KEY, id bigint, code text, upper_bound float8)")
    bound = 0.0
    for idx, (code, _name, _kind, share) in enumerate(common.CHANNELS):
        bound = 1.01 if idx == len(common.CHANNELS) - 1 else bound + share
        conn.execute("INSERT INTO bench.chan VALUES (%s, %s, %s, %s)", [idx, master["channels"][code], code, bound])
    conn.execute(
        "CREATE UNLOGGED TABLE bench.carrier (idx int PRIMARY KEY, id bigint, code text, name text, prefix text)"
    )
    for idx, (code, name, prefix) in enumerate(common.CARRIERS):
        row = [idx, master["carriers"][code], code, name, prefix]
        conn.execute("INSERT INTO bench.carrier VALUES (%s, %s, %s, %s, %s)", row)
    conn.execute("CREATE UNLOGGED TABLE bench.wh (idx int PRIMARY KEY, id bigint, code text)")
    for idx, (code, *_rest) in enumerate(common.WAREHOUSES):
        conn.execute("INSERT INTO bench.wh VALUES (%s, %s, %s)", [idx, master["warehouses"][code], code])
    conn.execute(
        """CREATE UNLOGGED TABLE bench.stage (
            id bigint, ordered_at timestamptz, created_at timestamptz, status text, source text,
            channel_id bigint, channel_code text, channel_order_no text, customer_id bigint, scale float8,
            entered_at timestamptz, status_reason text, nlines int, sku_base int, sku_step int,
            warehouse_id bigint, warehouse_code text, carrier_id bigint, carrier_code text, carrier_name text,
            tracking_number text)"""
    )


def customers_sql(customers: int, t_start: str) -> str:
    n_given = len(GIVEN)
    return f"""
    INSERT INTO orders_customer (id, name, phone, member_level, tags, created_at)
    SELECT k,
        substr({q(SURNAMES)}, 1 + (bench.h(k, 101) % {len(SURNAMES)})::int, 1)
            || ({arr(GIVEN)})[1 + (bench.h(k, 102) % {n_given})::int],
        (ARRAY['13','15','18'])[1 + k % 3] || lpad(((k * 7919 + 12345) % 1000000000)::text, 9, '0'),
        CASE WHEN bench.u(k, 103) < 0.60 THEN 'normal' WHEN bench.u(k, 103) < 0.80 THEN 'silver'
             WHEN bench.u(k, 103) < 0.92 THEN 'gold' WHEN bench.u(k, 103) < 0.98 THEN 'diamond' ELSE 'vip' END,
        CASE WHEN bench.u(k, 104) < 0.1 THEN '["复购"]'::jsonb ELSE '[]'::jsonb END,
        {q(t_start)}::timestamptz - (bench.h(k, 105) % 400) * interval '1 day'
    FROM generate_series(1::bigint, {customers}::bigint) AS g(k)
    """


def stage_sql(lo: int, hi: int, *, n: int, customers: int, t_start: str, t_end: str, nsku: int) -> str:
    step_s = SPAN_DAYS * 86400.0 / n
    tz = "'Asia/Shanghai'"
    ncar, nwh = len(common.CARRIERS), len(common.WAREHOUSES)
    return f"""
    INSERT INTO bench.stage
    WITH g AS MATERIALIZED (
        SELECT i,
            {q(t_start)}::timestamptz + ((i - 1) + bench.u(i, 1)) * {step_s} * interval '1 second' AS ordered_at,
            bench.u(i, 2) AS us, bench.u(i, 3) AS uc, bench.u(i, 5) AS usrc,
            0.5 + bench.u(i, 6) AS f, 10 + 50 * bench.u(i, 7) AS delay_s,
            1 + bench.h(i, 4) % {customers} AS customer_id
        FROM generate_series({lo}::bigint, {hi}::bigint) AS g(i)
    ), a AS MATERIALIZED (
        SELECT g.*, extract(epoch FROM {q(t_end)}::timestamptz - ordered_at) / 60.0 AS age_min FROM g
    ), s AS MATERIALIZED (
        SELECT a.*,
            CASE WHEN age_min < 1440 THEN {case_draw("us", STATUS_RECENT)}
                 WHEN age_min < 7200 THEN {case_draw("us", STATUS_WEEK)}
                 ELSE {case_draw("us", STATUS_OLD)} END AS status,
            {channel_case("uc")} AS ch,
            (bench.h(i, 8) % {ncar})::int AS car, (bench.h(i, 9) % {nwh})::int AS wh
        FROM a
    ), t AS (
        SELECT s.*, ps.last_reason,
            least(s.f, greatest(s.age_min - s.delay_s / 60.0, 0) * 0.9 / ps.total_min) AS scale,
            ps.total_min
        FROM s JOIN bench.pathsum ps ON ps.status = s.status
    )
    SELECT t.i,
        t.ordered_at,
        t.ordered_at + t.delay_s * interval '1 second',
        t.status,
        CASE WHEN t.usrc < 0.7 THEN 'api' WHEN t.usrc < 0.9 THEN 'webhook' ELSE 'pull' END,
        ch.id, ch.code,
        CASE ch.code
            WHEN 'tmall' THEN '2' || lpad(((t.i * 9973 + 17) % 100000000000000000)::text, 17, '0')
            WHEN 'jd' THEN '3' || lpad(((t.i * 9973 + 17) % 100000000000)::text, 11, '0')
            WHEN 'pdd' THEN to_char(t.ordered_at AT TIME ZONE {tz}, 'YYMMDD') || '-'
                || lpad(((t.i * 9973 + 17) % 1000000000000000)::text, 15, '0')
            WHEN 'douyin' THEN '69' || lpad(((t.i * 9973 + 17) % 100000000000000000)::text, 17, '0')
            ELSE 'WX' || to_char(t.ordered_at AT TIME ZONE {tz}, 'YYYYMMDD')
                || lpad(((t.i * 9973 + 17) % 10000000000)::text, 10, '0')
        END,
        t.customer_id,
        t.scale,
        t.ordered_at + t.delay_s * interval '1 second' + t.total_min * t.scale * interval '1 minute',
        CASE WHEN t.status IN ('on_hold', 'cancelled', 'returned', 'exception') THEN t.last_reason ELSE '' END,
        CASE WHEN bench.u(t.i, 10) < 0.5 THEN 1 WHEN bench.u(t.i, 10) < 0.85 THEN 2 ELSE 3 END,
        (bench.h(t.i, 11) % {nsku})::int,
        1 + (bench.h(t.i, 12) % {max(1, nsku // 3)})::int,
        CASE WHEN t.status IN {tuple(WITH_WAREHOUSE)} THEN wh.id END,
        CASE WHEN t.status IN {tuple(WITH_WAREHOUSE)} THEN wh.code END,
        CASE WHEN t.status IN {tuple(WITH_TRACKING)} THEN car.id END,
        CASE WHEN t.status IN {tuple(WITH_TRACKING)} THEN car.code END,
        CASE WHEN t.status IN {tuple(WITH_TRACKING)} THEN car.name END,
        CASE WHEN t.status IN {tuple(WITH_TRACKING)}
             THEN car.prefix || lpad(((t.i * 7907 + 11) % 1000000000000)::text, 12, '0') ELSE '' END
    FROM t
    JOIN bench.chan ch ON ch.idx = t.ch
    JOIN bench.carrier car ON car.idx = t.car
    JOIN bench.wh wh ON wh.idx = t.wh
    """


def number_expr(i: str, ts: str) -> str:
    x = f"(({i} * 1000003 + 98765) % {BASE31_8})"
    digits = " || ".join(f"substr({q(ALPHABET)}, (({x} / {31**k}) % 31)::int + 1, 1)" for k in range(7, -1, -1))
    return f"'OH' || to_char({ts} AT TIME ZONE 'Asia/Shanghai', 'YYMMDD') || {digits}"


def qty_expr(i: str, k: str) -> str:
    return f"(CASE WHEN bench.u({i}, 20 + {k}) < 0.75 THEN 1 WHEN bench.u({i}, 20 + {k}) < 0.95 THEN 2 ELSE 3 END)"


def orders_sql(lo: int, hi: int, *, nsku: int) -> str:
    places = len(PLACES)
    place = f"1 + (bench.h(st.id, 30) % {places})::int"
    return f"""
    INSERT INTO orders_order (
        id, number, channel_order_no, buyer_id, status, status_reason, resume_status, state_entered_at,
        state_deadline, payment_status, is_presale, deposit_amount, ordered_at, paid_at, receiver_name,
        receiver_phone, province, city, district, address_detail, subtotal, paid_amount, promo_code,
        invoice_title, tags, priority, promised_ship_by, tracking_number, fingerprint, source, is_legacy,
        created_at, updated_at, carrier_id, channel_id, customer_id, warehouse_id)
    SELECT st.id,
        {number_expr("st.id", "st.ordered_at")},
        st.channel_order_no,
        st.channel_code || '_buyer_' || st.customer_id,
        st.status,
        st.status_reason,
        CASE st.status {" ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in RESUME.items())} ELSE '' END,
        st.entered_at,
        st.entered_at + n.timeout_minutes * interval '1 minute',
        CASE WHEN st.status = 'placed' THEN 'unpaid' ELSE 'paid' END,
        false, NULL,
        st.ordered_at,
        CASE WHEN st.status <> 'placed' THEN st.created_at + 2 * st.scale * interval '1 minute' END,
        CASE WHEN bench.u(st.id, 31) < 0.85 THEN c.name
             ELSE substr({q(SURNAMES)}, 1 + (bench.h(st.id, 32) % {len(SURNAMES)})::int, 1)
                  || ({arr(GIVEN)})[1 + (bench.h(st.id, 33) % {len(GIVEN)})::int] END,
        CASE WHEN bench.u(st.id, 34) < 0.85 THEN c.phone
             ELSE (ARRAY['13','15','18'])[1 + st.id % 3]
                  || lpad(((st.id * 104729 + 55555) % 1000000000)::text, 9, '0') END,
        ({arr(p[0] for p in PLACES)})[{place}],
        ({arr(p[1] for p in PLACES)})[{place}],
        ({arr(p[2] for p in PLACES)})[{place}],
        ({arr(STREETS)})[1 + (bench.h(st.id, 35) % {len(STREETS)})::int] || (1 + bench.h(st.id, 36) % 999)
            || '号' || (1 + bench.h(st.id, 37) % 30) || '栋' || (101 + bench.h(st.id, 38) % 2000) || '室',
        sub.subtotal,
        CASE WHEN st.status = 'placed' THEN 0 ELSE sub.subtotal END,
        CASE WHEN bench.u(st.id, 39) < 0.12 THEN 'DOUBLE11' WHEN bench.u(st.id, 39) < 0.2 THEN 'NEWUSER' ELSE '' END,
        CASE WHEN bench.u(st.id, 40) < 0.03 THEN '上海某某贸易有限公司' ELSE '' END,
        CASE WHEN bench.u(st.id, 41) < 0.05 THEN '["高意向"]'::jsonb
             WHEN bench.u(st.id, 41) < 0.07 THEN '["加急"]'::jsonb ELSE '[]'::jsonb END,
        CASE WHEN bench.u(st.id, 42) < 0.01 THEN 2 WHEN bench.u(st.id, 42) < 0.06 THEN 1 ELSE 0 END,
        st.ordered_at + interval '48 hours',
        st.tracking_number,
        encode(sha256(convert_to('bench-order|' || st.id, 'UTF8')), 'hex'),
        st.source,
        false,
        st.created_at,
        st.entered_at,
        st.carrier_id, st.channel_id, st.customer_id, st.warehouse_id
    FROM bench.stage st
    JOIN orders_customer c ON c.id = st.customer_id
    LEFT JOIN orders_statusnode n ON n.status = st.status
    CROSS JOIN LATERAL (
        SELECT sum({qty_expr("st.id", "k")} * sk.price) AS subtotal
        FROM generate_series(0, st.nlines - 1) AS k
        JOIN bench.sku sk ON sk.idx = (st.sku_base + k * st.sku_step) % {nsku}
    ) sub
    WHERE st.id BETWEEN {lo} AND {hi}
    ORDER BY st.id
    """


def lines_sql(lo: int, hi: int, *, nsku: int) -> str:
    return f"""
    INSERT INTO orders_orderline (quantity, unit_price, is_gift, note, order_id, sku_id)
    SELECT {qty_expr("st.id", "k")}, sk.price, false, '', st.id, sk.sku_id
    FROM bench.stage st
    CROSS JOIN LATERAL generate_series(0, st.nlines - 1) AS k
    JOIN bench.sku sk ON sk.idx = (st.sku_base + k * st.sku_step) % {nsku}
    WHERE st.id BETWEEN {lo} AND {hi}
    ORDER BY st.id, k
    """


def events_sql(lo: int, hi: int) -> str:
    # Inserted in time order, as a live system appends them: one order's events are spread over the table.
    return f"""
    INSERT INTO orders_orderevent (
        created_at, kind, transition, from_status, to_status, actor_label, source, reason, data, actor_id, order_id)
    SELECT st.created_at + p.offset_min * st.scale * interval '1 minute' AS at,
        p.kind, p.transition, p.from_status, p.to_status,
        CASE p.actor_label WHEN '*channel' THEN st.channel_code WHEN '*carrier' THEN st.carrier_name
             ELSE p.actor_label END,
        CASE WHEN p.source = '*' THEN st.source ELSE p.source END,
        p.reason,
        CASE WHEN p.kind = 'created'
                  THEN jsonb_build_object('channel', st.channel_code, 'channel_order_no', st.channel_order_no)
             WHEN p.transition = 'allocate'
                  THEN jsonb_build_object('set', jsonb_build_object('warehouse', st.warehouse_code))
             WHEN p.transition = 'print_label'
                  THEN jsonb_build_object('set', jsonb_build_object('carrier', st.carrier_code,
                                                                    'tracking_number', st.tracking_number))
             ELSE '{{}}'::jsonb END,
        NULL,
        st.id
    FROM bench.stage st JOIN bench.path p ON p.status = st.status
    WHERE st.id BETWEEN {lo} AND {hi}
    ORDER BY at, st.id, p.step
    """


def schema_objects(conn) -> tuple[list[str], list[str], list[str], list[str]]:
    """(drop statements, index builds, unique-constraint attachments, foreign keys) of the loaded tables."""
    drops, indexes, attach, fks = [], [], [], []
    for table_ in LOAD_TABLES:
        for name, ddl in conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype = 'f' ORDER BY conname",
            [table_],
        ):
            drops.append(f'ALTER TABLE {table_} DROP CONSTRAINT "{name}"')
            fks.append(f'ALTER TABLE {table_} ADD CONSTRAINT "{name}" {ddl}')
        for name, index_def in conn.execute(
            "SELECT conname, pg_get_indexdef(conindid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype = 'u' ORDER BY conname",
            [table_],
        ):
            drops.append(f'ALTER TABLE {table_} DROP CONSTRAINT "{name}"')
            indexes.append(index_def)
            attach.append(f'ALTER TABLE {table_} ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"')
        for name, index_def in conn.execute(
            """SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
               WHERE x.indrelid = %s::regclass AND NOT x.indisprimary
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
                                 AND c.contype IN ('p', 'u', 'x'))
               ORDER BY i.relname""",
            [table_],
        ):
            drops.append(f'DROP INDEX "{name}"')
            indexes.append(index_def)
    # Biggest table first so the two connections finish together.
    weight = {"orders_orderevent": 0, "orders_order": 1, "orders_orderline": 2}
    indexes.sort(key=lambda d: next(w for t, w in weight.items() if f" {t} " in d.replace("public.", " ")))
    return drops, indexes, attach, fks


def build(n: int, customers: int, workers: int) -> dict:
    t0 = time.monotonic()
    common.database_ensure(fresh=True)
    master = common.master_data_ensure()
    common.api_token_ensure()
    t_end_dt = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    t_end = t_end_dt.isoformat()
    t_start = (t_end_dt - timedelta(days=SPAN_DAYS)).isoformat()
    nsku = len(master["skus"])
    session = [
        "SET maintenance_work_mem = '1GB'",
        "SET work_mem = '256MB'",
        "SET synchronous_commit = off",
        "SET max_parallel_maintenance_workers = 0",
        "SET max_parallel_workers_per_gather = 0",
        "SET jit = off",
    ]
    with common.connect() as conn:
        helpers_create(conn, master, customers)
        drops, indexes, attach, fks = schema_objects(conn)
        for stmt in drops:
            conn.execute(stmt)
        conn.execute(customers_sql(customers, t_start))
    chunks = [(lo, min(n, lo + -(-n // workers) - 1)) for lo in range(1, n + 1, -(-n // workers))]
    steps = [
        ("stage", lambda lo, hi: stage_sql(lo, hi, n=n, customers=customers, t_start=t_start, t_end=t_end, nsku=nsku)),
        ("orders", lambda lo, hi: orders_sql(lo, hi, nsku=nsku)),
        ("lines", lambda lo, hi: lines_sql(lo, hi, nsku=nsku)),
        ("events", events_sql),
    ]
    timings = {}
    for name, make in steps:
        ts = time.monotonic()
        common.run_parallel([make(lo, hi) for lo, hi in chunks], workers=workers, setup=session)
        timings[name] = time.monotonic() - ts
        log(f"  loaded {name} in {timings[name]:.1f}s")
    ts = time.monotonic()
    common.run_parallel(indexes, workers=workers, setup=session)
    common.run_parallel(attach + fks, workers=workers, setup=session)
    timings["indexes+constraints"] = time.monotonic() - ts
    log(f"  {len(indexes)} indexes, {len(fks)} foreign keys rebuilt in {timings['indexes+constraints']:.1f}s")
    ts = time.monotonic()
    with common.connect() as conn:
        for table_, col in (("orders_order", "id"), ("orders_customer", "id")):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table_}', '{col}'), (SELECT max(id) FROM {table_}))")
        conn.execute("DROP TABLE bench.stage")
    common.run_parallel(
        [f"VACUUM (ANALYZE) {t}" for t in ("orders_orderevent", "orders_order", "orders_orderline", "orders_customer")],
        workers=workers,
        setup=["SET maintenance_work_mem = '1GB'"],
    )
    with common.connect() as conn:
        conn.execute("ANALYZE")  # the small master-data tables too
    timings["vacuum+analyze"] = time.monotonic() - ts
    log(f"  VACUUM ANALYZE in {timings['vacuum+analyze']:.1f}s")
    info = {
        "orders": n,
        "customers": customers,
        "t_end": t_end,
        "built_at": datetime.now(UTC).isoformat(),
        "build_seconds": round(time.monotonic() - t0, 1),
        "timings": [[k, round(v, 1)] for k, v in timings.items()],  # a list: jsonb does not keep key order
    }
    with common.connect() as conn:
        conn.execute("INSERT INTO bench.meta VALUES (true, %s)", [json.dumps(info)])
    return info


def data_summary() -> dict:
    with common.connect() as conn:
        counts = {}
        for t in ("orders_order", "orders_orderline", "orders_orderevent", "orders_customer"):
            counts[t] = conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        counts["db_size"] = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        counts["statuses"] = conn.execute(
            "SELECT status, count(*) FROM orders_order GROUP BY status ORDER BY count(*) DESC"
        ).fetchall()
    return counts


# --- measure -------------------------------------------------------------------------------------------------------


def sample_orders(n: int, samples: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    ids = rng.sample(range(1, n + 1), min(samples, n))
    with common.connect() as conn:
        rows = conn.execute(
            """SELECT o.id, o.number, o.channel_order_no, o.tracking_number, o.receiver_phone, c.phone,
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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

    info = None
    if not args.rebuild and common.database_exists():
        common.database_ensure()  # migrate is a no-op on a current schema
        info = meta_read()
        if info is not None and info["orders"] != n:
            info = None
    if info is None:
        log(f"building {common.DB_NAME} with {n:,} orders, {customers:,} customers (bulk SQL)")
        info = build(n, customers, args.workers)
        log(f"built in {info['build_seconds']:.1f}s")
        reused = False
    else:
        reused = True
        log(f"reusing {common.DB_NAME}: {info['orders']:,} orders built {info['built_at']}")
    master = common.master_data_ensure()
    assert master["skus"]
    token = common.api_token_ensure()
    summary = data_summary()

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
