"""The bench data, in one place: master data, the bulk-SQL order history, and the one order payload.

- master data (channels, warehouses, carriers, SKUs, status nodes) of a bench database: `master_data_ensure`;
- the 1,000,000-order history that trace.py and track.py read, loaded with bulk SQL (INSERT ... SELECT FROM
  generate_series; indexes and foreign keys dropped for the load and rebuilt after): `history_ensure`;
- one order as the API takes it (`order_payload`) and the one call of our intake service on it (`order_intake`):
  every bench that creates orders builds them here, so a change of the intake input is one edit.
"""

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import common
from common import log

# Master data of the bench database (codes are stable so reruns reuse them).
CHANNELS = [  # code, name, kind, share of orders
    ("tmall", "天猫旗舰店", "taobao", 0.40),
    ("jd", "京东自营店", "other", 0.20),
    ("pdd", "拼多多店", "pdd", 0.15),
    ("douyin", "抖音小店", "douyin", 0.15),
    ("miniapp", "微信小程序", "wechat", 0.10),
]
INGEST_CHANNEL = ("bench-ingest", "压测渠道", "other")
WAREHOUSES = [
    ("SH01", "上海青浦仓", "上海", "上海"),
    ("GZ01", "广州白云仓", "广东", "广州"),
    ("BJ01", "北京大兴仓", "北京", "北京"),
]
CARRIERS = [  # code, name, tracking prefix
    ("shunfeng", "顺丰速运", "SF"),
    ("zhongtong", "中通快递", "75"),
    ("yuantong", "圆通速递", "YT"),
    ("jd", "京东物流", "JDVA"),
    ("yunda", "韵达快递", "46"),
]
CATEGORIES = {"面膜": "MASK", "精华": "SERUM", "面霜": "CREAM", "洁面": "CLEANSER", "防晒": "SUN", "彩妆": "MAKEUP"}
SKUS_PER_CATEGORY = 40


def sku_price(idx: int) -> str:
    """List price of the idx-th bench SKU (0-based), as a 2-decimal string."""
    return f"{19 + (idx * 37) % 480}.90"


def master_data_ensure() -> dict:
    """Channels, warehouses, carriers, SKUs and status nodes; idempotent. Returns ids by code."""
    common.django_setup()
    from logistics.models import Carrier
    from orders.models import Channel
    from orders.services.nodes import status_nodes_ensure_defaults
    from warehouse.models import Sku, Warehouse

    status_nodes_ensure_defaults()
    channels = {}
    for code, name, kind, _share in CHANNELS:
        channels[code] = Channel.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})[0].pk
    code, name, kind = INGEST_CHANNEL
    channels[code] = Channel.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})[0].pk
    warehouses = {
        code: Warehouse.objects.get_or_create(
            code=code, defaults={"name": name, "province": province, "city": city, "daily_capacity": 5000}
        )[0].pk
        for code, name, province, city in WAREHOUSES
    }
    carriers = {
        code: Carrier.objects.get_or_create(code=code, defaults={"name": name})[0].pk for code, name, _p in CARRIERS
    }
    wanted = [
        (f"{prefix}-{i:03d}", f"{category}{i}号", category)
        for category, prefix in CATEGORIES.items()
        for i in range(1, SKUS_PER_CATEGORY + 1)
    ]
    have = set(Sku.objects.filter(code__in=[w[0] for w in wanted]).values_list("code", flat=True))
    missing = [Sku(code=c, name=n, category=cat, spec="50ml", unit="盒") for c, n, cat in wanted if c not in have]
    Sku.objects.bulk_create(missing)
    ids = dict(Sku.objects.filter(code__in=[w[0] for w in wanted]).values_list("code", "pk"))
    skus = [(code, ids[code], sku_price(idx)) for idx, (code, _n, _c) in enumerate(wanted)]
    common.django_close_connections()
    return {"channels": channels, "warehouses": warehouses, "carriers": carriers, "skus": skus}


# --- the order history (bulk SQL) ---------------------------------------------------------------------------

SPAN_DAYS = 365
LOAD_TABLES = ("orders_order", "orders_orderline", "orders_orderevent", "logistics_shipment")
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
    for idx, (_code, _name, _kind, share) in enumerate(CHANNELS[:-1]):
        bound += share
        parts.append(f"WHEN {var} < {bound:.4f} THEN {idx}")
    return "CASE " + " ".join(parts) + f" ELSE {len(CHANNELS) - 1} END"


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
    for idx, (code, _name, _kind, share) in enumerate(CHANNELS):
        bound = 1.01 if idx == len(CHANNELS) - 1 else bound + share
        conn.execute("INSERT INTO bench.chan VALUES (%s, %s, %s, %s)", [idx, master["channels"][code], code, bound])
    conn.execute(
        "CREATE UNLOGGED TABLE bench.carrier (idx int PRIMARY KEY, id bigint, code text, name text, prefix text)"
    )
    for idx, (code, name, prefix) in enumerate(CARRIERS):
        row = [idx, master["carriers"][code], code, name, prefix]
        conn.execute("INSERT INTO bench.carrier VALUES (%s, %s, %s, %s, %s)", row)
    conn.execute("CREATE UNLOGGED TABLE bench.wh (idx int PRIMARY KEY, id bigint, code text)")
    for idx, (code, *_rest) in enumerate(WAREHOUSES):
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


def stage_sql(
    lo: int, hi: int, *, n: int, customers: int, t_start: str, t_end: str, nsku: int, span_days: int = SPAN_DAYS
) -> str:
    step_s = span_days * 86400.0 / n
    tz = "'Asia/Shanghai'"
    ncar, nwh = len(CARRIERS), len(WAREHOUSES)
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
        invoice_title, tags, priority, promised_ship_by, fingerprint, source, is_legacy,
        created_at, updated_at, carrier_id, channel_id, customer_id, warehouse_id, hold_kind, payment_reference,
        receiver_platform_id, deadline_basis)
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
        encode(sha256(convert_to('bench-order|' || st.id, 'UTF8')), 'hex'),
        st.source,
        false,
        st.created_at,
        st.entered_at,
        st.carrier_id, st.channel_id, st.customer_id, st.warehouse_id,
        '', '',  -- holds here are people's (not the queue's stock hold); no payment reference
        '', '{{}}'::jsonb  -- no platform receiver id (plain addresses); no recorded deadline basis
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


SHIPMENT_COLUMNS = {  # column -> its value over bench.stage st (a build may override some: build(parcels=…))
    "order_id": "st.id",
    "channel_id": "st.channel_id",
    "carrier_id": "st.carrier_id",
    "tracking_number": "st.tracking_number",
    "source": "'warehouse'",
    "carrier_state": "''",
    "carrier_state_label": "''",
    "is_finished": "false",
    "last_event_at": "NULL",
    "stalled_since": "NULL",
    "next_poll_at": "NULL",
    "poll_failures": "0",
    "last_error": "''",
    "subscribed_at": "NULL",
    "created_at": "st.entered_at",
    "parcel_index": "1",
    "is_active": "true",
    "waybill_key": "''",
    "waybill_state": "''",
    "routing_text": "''",
    "sorting_code": "''",
    "label_url": "''",
    "waybill_raw": "'{}'::jsonb",
    "ordered_at": "NULL",
    "cancelled_at": "NULL",
}


def shipments_sql(lo: int, hi: int, *, parcels: dict[str, str] | None = None) -> str:
    # The order's tracking number lives in the parcel registry: one primary parcel per printed order.
    cols = {**SHIPMENT_COLUMNS, **(parcels or {})}
    return f"""
    INSERT INTO logistics_shipment ({", ".join(cols)})
    SELECT {", ".join(cols.values())}
    FROM bench.stage st
    WHERE st.id BETWEEN {lo} AND {hi} AND st.tracking_number <> '' AND st.carrier_id IS NOT NULL
    ORDER BY st.id
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
        a.user_id,
        st.id
    FROM bench.stage st JOIN bench.path p ON p.status = st.status
    LEFT JOIN bench.actor a ON a.label = p.actor_label AND st.id % 20 <> 0
    WHERE st.id BETWEEN {lo} AND {hi}
    ORDER BY at, st.id, p.step
    """


def schema_objects(conn, tables: Sequence[str] = LOAD_TABLES) -> tuple[list[str], list[str], list[str], list[str]]:
    """(drop statements, index builds, unique-constraint attachments, foreign keys) of the loaded tables."""
    drops, indexes, attach, fks = [], [], [], []
    for table_ in tables:
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
    weight = {"orders_orderevent": 0, "orders_order": 1, "orders_orderline": 2, "logistics_shipment": 3}
    indexes.sort(key=lambda d: next((w for t, w in weight.items() if f" {t} " in d.replace("public.", " ")), 9))
    return drops, indexes, attach, fks


def build(
    n: int,
    customers: int,
    workers: int,
    *,
    span_days: int = SPAN_DAYS,
    template: bool = False,
    people: Callable[[], dict[str, int]] | None = None,
    parcels: dict[str, str] | None = None,
) -> dict:
    """A fresh bench database with n orders ordered over the span_days before now (default a year).

    template: copied from the kept empty migrated one when current (common.database_ensure). people: called once
    the database is there, returns user ids by the timeline's actor labels (客服小王, 仓库老李): their lines carry
    that user, but for one order in twenty (default: no line has a user). parcels: column values of the parcels
    over bench.stage st instead of SHIPMENT_COLUMNS' (e.g. carrier states by st.status)."""
    t0 = time.monotonic()
    common.database_ensure(fresh=True, template=template)
    master = master_data_ensure()
    common.api_token_ensure()
    actors = people() if people else {}
    t_end_dt = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    t_end = t_end_dt.isoformat()
    t_start = (t_end_dt - timedelta(days=span_days)).isoformat()
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
        conn.execute("CREATE UNLOGGED TABLE bench.actor (label text PRIMARY KEY, user_id bigint NOT NULL)")
        for label, user_id in actors.items():
            conn.execute("INSERT INTO bench.actor VALUES (%s, %s)", [label, user_id])
        drops, indexes, attach, fks = schema_objects(conn)
        for stmt in drops:
            conn.execute(stmt)
        conn.execute(customers_sql(customers, t_start))
    chunks = [(lo, min(n, lo + -(-n // workers) - 1)) for lo in range(1, n + 1, -(-n // workers))]
    steps = [
        (
            "stage",
            lambda lo, hi: stage_sql(
                lo, hi, n=n, customers=customers, t_start=t_start, t_end=t_end, nsku=nsku, span_days=span_days
            ),
        ),
        ("orders", lambda lo, hi: orders_sql(lo, hi, nsku=nsku)),
        ("lines", lambda lo, hi: lines_sql(lo, hi, nsku=nsku)),
        ("shipments", lambda lo, hi: shipments_sql(lo, hi, parcels=parcels)),
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
        "span_days": span_days,
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


def history_ensure(n: int, customers: int, workers: int, *, rebuild: bool = False) -> tuple[dict, bool]:
    """orderhub_bench holding exactly n generated orders: reused when it does, built otherwise. (info, reused)"""
    if not rebuild and common.database_exists():
        common.database_ensure()  # migrate is a no-op on a current schema
        info = meta_read()
        # The same count over another span (bench/dashboard.py's 90 days) is another data set.
        if info is not None and info["orders"] == n and info.get("span_days", SPAN_DAYS) == SPAN_DAYS:
            log(f"reusing {common.DB_NAME}: {info['orders']:,} orders built {info['built_at']}")
            return info, True
    log(f"building {common.DB_NAME} with {n:,} orders, {customers:,} customers (bulk SQL)")
    info = build(n, customers, workers)
    log(f"built in {info['build_seconds']:.1f}s")
    return info, False


# --- one order --------------------------------------------------------------------------------------------------


def order_payload(
    *,
    channel: str,
    channel_order_no: str,
    lines: list[tuple[str, int, str]],
    customer: tuple[str, str, str],
    receiver_phone: str = "",
    place: tuple[str, str, str] = ("浙江", "杭州", "西湖区"),
    detail: str = "文三路 1 号",
    ordered_at: datetime | None = None,
    paid_at: datetime | None = None,
) -> dict:
    """One order as POST /api/v1/orders/ takes it (tests/factories.py order_payload shape).

    lines: (SKU code, quantity, unit price); customer: (name, phone, member level); paid when paid_at is given.
    """
    name, phone, level = customer
    ordered_at = ordered_at or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    total = sum((Decimal(price) * qty for _sku, qty, price in lines), Decimal("0"))
    province, city, district = place
    data = {
        "channel": channel,
        "channel_order_no": channel_order_no,
        "buyer_id": f"buyer-{phone}",
        "ordered_at": ordered_at.isoformat(),
        "customer": {"name": name, "phone": phone, "member_level": level},
        "shipping_address": {
            "receiver": name,
            "phone": receiver_phone or phone,
            "province": province,
            "city": city,
            "district": district,
            "detail": detail,
        },
        "lines": [{"sku": sku, "quantity": qty, "unit_price": price} for sku, qty, price in lines],
        "paid_amount": str(total),
    }
    if paid_at is not None:
        data["paid_at"] = paid_at.isoformat()
    return data


def order_intake(payload: dict, *, source: str = "api"):
    """Create the order through our intake service in this process, as the API does; returns the result."""
    common.django_setup()
    from orders import api
    from orders.drafts import OrderDraft
    from orders.services.intake import order_create

    data = api.OrderIn(data=payload)
    data.is_valid(raise_exception=True)
    return order_create(draft=OrderDraft.from_api(data.validated_data), actor=None, source=source)
