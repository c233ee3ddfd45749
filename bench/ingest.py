"""Order intake throughput: POST /api/v1/orders/ under gunicorn, against one-row-per-commit INSERTs in PostgreSQL.

    .venv/bin/python bench/ingest.py [--clients 8] [--orders 3000] [--configs sync:2,gthread:2x4] [--paid-at]
                                     [--client raw|http.client] [--no-ceiling]

C client threads (keep-alive http.client) post distinct valid orders (the shape of tests/factories.py
order_payload) to gunicorn on 127.0.0.1; then C psycopg connections in autocommit insert one row per commit into a
plain table of the same PostgreSQL: the rate no intake that commits each order can beat. Orders go to the channel
`bench-ingest` of orderhub_bench (built by bench/trace.py if it ran; created and migrated here otherwise) and are
deleted again at the end, so the trace data stays as built.

The ceiling: after each configuration the same client posts the same kind of bodies to the same gunicorn workers
serving a bench-only view (bench/ceiling_settings.py, never in config/urls.py) that authenticates the token,
checks the permission, parses the JSON and answers 201 with JSON, writing nothing: what any API POST costs before
the order service runs. Ours is printed as a ratio of it. The client's own CPU per request (getrusage) is printed
too, so a client that eats the cores it shares with the server shows.
"""

import itertools
import json
import os
import random
import re
import resource
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import common
import dataset
from common import log, ms, percentile, table

TARGET_ORDERS_PER_S = 500.0  # unpaid
TARGET_PAID_ORDERS_PER_S = 250.0  # paid and admitted (--paid-at)
TARGET_PAID_STATEMENTS = 20
# SELECT ... FROM "orders_order" ... FOR UPDATE: a lock of the order row (not of lines, stock or customers).
ORDER_ROW_LOCK = re.compile(r'^SELECT .* FROM "orders_order" .*FOR (NO KEY )?UPDATE', re.S)
NEW_CUSTOMER_PREFIX = "17"  # phones of customers created by this bench (trace data uses 13/15/18)
PLACES = [
    ("浙江", "杭州", "西湖区"),
    ("上海", "上海", "浦东新区"),
    ("广东", "深圳", "南山区"),
    ("北京", "北京", "朝阳区"),
]
NAMES = ["张三", "李四", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "周杰"]


def parse_configs(text: str) -> list[tuple[str, int, int, str]]:
    """'sync:2,gthread:2x4,sync:2+persistent' -> [(kind, workers, threads, settings)]."""
    configs = []
    for item in text.split(","):
        item = item.strip()
        settings = common.SETTINGS
        if item.endswith("+persistent"):
            item, settings = item.removesuffix("+persistent"), common.SETTINGS_PERSISTENT
        kind, _, spec = item.partition(":")
        workers, _, threads = spec.partition("x")
        threads_n = int(threads or (4 if kind == "gthread" else 1))
        if kind not in ("sync", "gthread") or (kind == "sync" and threads_n != 1):
            raise SystemExit(f"bad config {item!r}: use sync:W or gthread:WxT")
        configs.append((kind, int(workers or 2), threads_n, settings))
    return configs


def cleanup(channel_id: int) -> int:
    """Delete the orders this bench posted (and the customers it created), so reruns start alike."""
    with common.connect() as conn, conn.transaction():
        ids = "SELECT id FROM orders_order WHERE channel_id = %s"
        n = conn.execute(f"SELECT count(*) FROM ({ids}) x", [channel_id]).fetchone()[0]
        for table_ in ("orders_orderevent", "orders_orderline", "orders_historicalorderline", "orders_alert"):
            conn.execute(f"DELETE FROM {table_} WHERE order_id IN ({ids})", [channel_id])
        conn.execute("DELETE FROM orders_historicalorder WHERE channel_id = %s", [channel_id])
        conn.execute("DELETE FROM orders_order WHERE channel_id = %s", [channel_id])
        like = NEW_CUSTOMER_PREFIX + "%"
        conn.execute(
            "DELETE FROM orders_historicalcustomer h WHERE h.phone LIKE %s AND NOT EXISTS "
            "(SELECT 1 FROM orders_order o JOIN orders_customer c ON c.id = o.customer_id WHERE c.phone = h.phone)",
            [like],
        )
        conn.execute(
            "DELETE FROM orders_customer c WHERE c.phone LIKE %s AND NOT EXISTS "
            "(SELECT 1 FROM orders_order o WHERE o.customer_id = c.id)",
            [like],
        )
    return n


def existing_customers(limit: int, seed: int) -> list[tuple[str, str, str]]:
    with common.connect() as conn:
        rows = conn.execute(
            "SELECT name, phone, member_level FROM orders_customer WHERE phone NOT LIKE %s ORDER BY id LIMIT %s",
            [NEW_CUSTOMER_PREFIX + "%", limit],
        ).fetchall()
    random.Random(seed).shuffle(rows)
    return rows


class Payloads:
    """Distinct valid order payloads, serialized up front so the clients spend no time building them."""

    def __init__(self, *, skus: list, customers: list, seed: int, paid_at: bool):
        self.rng = random.Random(seed)
        self.skus = skus
        self.customers = customers
        self.paid_at = paid_at
        self.tag = f"{int(time.time()) % 10**8:08d}"
        self.seq = itertools.count(1)
        self.phone_base = self.rng.randrange(10**8)

    def make(self, *, paid: bool | None = None) -> bytes:
        """One body; paid (paid_at sent) as the bench was told unless paid says otherwise."""
        paid = self.paid_at if paid is None else paid
        n = next(self.seq)
        rng = self.rng
        if self.customers and rng.random() < 0.7:
            name, phone, level = rng.choice(self.customers)  # a returning buyer, level unchanged
        else:
            name, level = rng.choice(NAMES), "normal"
            phone = f"{NEW_CUSTOMER_PREFIX}{(self.phone_base + n) % 10**9:09d}"
        receiver_phone = phone if rng.random() < 0.85 else f"13{rng.randrange(10**9):09d}"
        ordered_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=rng.randint(1, 60))
        data = dataset.order_payload(
            channel=dataset.INGEST_CHANNEL[0],
            channel_order_no=f"BI{self.tag}{n:08d}",
            lines=[
                (code, rng.randint(1, 3), price)
                for code, _id, price in rng.sample(self.skus, rng.choice([1, 1, 1, 2, 2, 3]))
            ],
            customer=(name, phone, level),
            receiver_phone=receiver_phone,
            place=rng.choice(PLACES),
            detail=f"文三路 {rng.randint(1, 999)} 号",
            ordered_at=ordered_at,
            paid_at=ordered_at + timedelta(seconds=30) if paid else None,
        )
        return json.dumps(data, ensure_ascii=False).encode()

    def batch(self, count: int) -> list[bytes]:
        return [self.make() for _ in range(count)]


ORDERS_PATH = "/api/v1/orders/"
CEILING_PATH = "/api/v1/bench-ceiling/"  # bench/ceiling_urls.py: auth + permission + JSON parse + 201, no writes


class RawClient:
    """POSTs on a raw socket, one exchange at a time, HTTP/1.1 keep-alive when the server keeps the connection.

    Each request's bytes (request line, headers, body) are built before the clock starts; an answer is read up
    to its Content-Length with no header objects. About half of http.client's CPU per request (0.2-0.3 against
    0.45-0.6 ms, measured in this bench), so the client takes a small share of the cores it shares with the server.
    """

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.connects = 0

    @staticmethod
    def message(port: int, token: str, path: str, body: bytes) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {common.HOST}:{port}\r\nAuthorization: Token {token}\r\n"
            f"Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def _read(self) -> tuple[int, bytes, bool]:
        sock, buf = self.sock, b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("server closed the connection before answering")
            buf += chunk
        head, _, data = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked answers are not read by this client")
        while length is None or len(data) < length:
            chunk = sock.recv(65536)
            if not chunk:
                if length is None:  # no length: the body ends with the connection
                    return status, data, True
                raise ConnectionResetError("server closed the connection mid-answer")
            data += chunk
        return status, data, close

    def request(self, message: bytes) -> tuple[int, bytes, float]:
        """(status, body, seconds); latency includes (re)connecting, as a real client sees it."""
        for attempt in range(2):
            t0 = time.perf_counter()
            reused = self.sock is not None
            if not reused:
                self.sock = socket.create_connection((common.HOST, self.port), timeout=self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connects += 1
            try:
                self.sock.sendall(message)
                status, data, close = self._read()
            except (ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt:  # a fresh connection failing is a real error
                    raise
                continue
            if close:
                self.close()
            return status, data, time.perf_counter() - t0
        raise RuntimeError("unreachable")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def client_cpu_seconds() -> float:
    """CPU (user + system) of this process, i.e. of every client thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def post_orders(
    port: int,
    token: str,
    bodies: list[bytes],
    clients: int,
    time_limit: float,
    *,
    path: str = ORDERS_PATH,
    client_kind: str = "raw",
) -> dict:
    """C threads post the bodies (each exactly once) until done or time_limit; returns counts and latencies."""
    lock = threading.Lock()
    next_index = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    failed = [0]
    deadline = time.monotonic() + time_limit
    connects = [0] * clients

    if client_kind == "raw":
        messages = [RawClient.message(port, token, path, body) for body in bodies]

    def worker(k: int) -> None:
        client = RawClient(port) if client_kind == "raw" else common.ApiClient(port, token)
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(next_index)
                if i >= len(bodies):
                    return
                try:
                    if client_kind == "raw":
                        status, data, elapsed = client.request(messages[i])
                    else:
                        status, data, elapsed = client.request("POST", path, bodies[i])
                except OSError as exc:
                    with lock:
                        failed[0] += 1
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 201:
                        latencies.append(elapsed)
                    else:
                        failed[0] += 1
                        if len(errors) < 20:
                            errors.append(f"HTTP {status}: {data[:200]!r}")
        finally:
            connects[k] = client.connects
            client.close()

    t0, cpu0 = time.perf_counter(), client_cpu_seconds()
    common.run_threads(clients, worker)
    wall, client_cpu = time.perf_counter() - t0, client_cpu_seconds() - cpu0
    return {
        "client_cpu": client_cpu,
        "created": statuses.get(201, 0),
        "failed": failed[0],
        "statuses": statuses,
        "latencies": latencies,
        "errors": errors,
        "wall": wall,
        "connects": sum(connects),
    }


def commit_limit(clients: int, rows: int, time_limit: float, *, temp: bool) -> dict:
    """C autocommit connections, one INSERT (one row) per commit, into a plain table (or a per-session temp table)."""
    with common.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS bench_commit_probe")
        if not temp:
            conn.execute(
                "CREATE TABLE bench_commit_probe (id bigserial PRIMARY KEY, client int NOT NULL, seq int NOT NULL,"
                " note text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            )
    per_client = -(-rows // clients)
    done = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    deadline_box = [0.0]

    def worker(k: int) -> None:
        with common.connect() as conn:
            if temp:
                conn.execute(
                    "CREATE TEMP TABLE bench_commit_probe (id bigserial PRIMARY KEY, client int NOT NULL,"
                    " seq int NOT NULL, note text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
                )
            sql = "INSERT INTO bench_commit_probe (client, seq, note) VALUES (%s, %s, %s)"
            ready.wait()
            for seq in range(per_client):
                if time.monotonic() > deadline_box[0]:
                    break
                t = time.perf_counter()
                conn.execute(sql, [k, seq, f"order {k}-{seq}"])
                latencies[k].append(time.perf_counter() - t)
                done[k] += 1

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    deadline_box[0] = time.monotonic() + time_limit
    ready.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if not temp:
        with common.connect() as conn:
            conn.execute("DROP TABLE bench_commit_probe")
    return {"rows": sum(done), "wall": wall, "latencies": [x for xs in latencies for x in xs]}


def breakdown(token: str, payloads: "Payloads", count: int) -> tuple[list[tuple], float, float, float]:
    """Where one POST spends its time, in-process (Django test client, persistent connection, no HTTP).

    Wraps the view's steps in this process only (the app code is not changed) and returns per-order
    (label, CPU ms, wall ms, SQL queries) rows plus the request totals.
    """
    common.django_setup()
    import rest_framework.authentication as drf_auth
    from django.db import connection
    from django.test import Client

    import orders.api as api
    import orders.services.intake as intake

    steps = [  # (owner, attribute, label); two leading spaces = inside order_create / _insert
        (drf_auth.TokenAuthentication, "authenticate", "token authentication"),
        (api.HasModelPerm, "has_permission", "permission check (has_perm)"),
        (api.OrderIn, "is_valid", "payload validation (OrderIn)"),
        (api, "order_create", "order_create (service)"),
        (intake, "_resolve_channel", "  channel lookup"),
        (intake, "_resolve_skus", "  SKU lookup"),
        (intake, "_existing_or_conflict", "  duplicate checks (fingerprint, channel no.)"),
        (intake, "_insert", "  _insert (transaction body)"),
        (intake, "_customer_for", "    customer get_or_create"),
        (intake, "status_deadline", "    status node deadline"),
        (intake, "history_insert", "    order (+ customer) INSERT with its history row"),
        (intake, "history_bulk_insert", "    lines INSERT with their history rows"),
        (intake, "order_created_event", "    timeline event"),
        (api.selectors, "order_get", "order_get (reload for the response)"),
        (api, "_created_detail", "response: plain dict of a new order"),
        (api, "_detail", "response serialization (OrderOut)"),
    ]
    acc = {label: [0.0, 0.0, 0] for _o, _a, label in steps}
    active: list[str] = []
    originals = []

    def wrap(owner, attr, label):
        original = getattr(owner, attr, None)
        if original is None:  # the app moved this step: its time counts in its caller's row
            return
        originals.append((owner, attr, original))

        def wrapper(*args, **kwargs):
            active.append(label)
            c0, w0 = time.process_time(), time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                acc[label][0] += time.process_time() - c0
                acc[label][1] += time.perf_counter() - w0
                active.pop()

        setattr(owner, attr, wrapper)

    def count_query(execute, sql, params, many, context):
        for label in set(active):
            acc[label][2] += 1
        acc_total[2] += 1
        return execute(sql, params, many, context)

    acc_total = [0.0, 0.0, 0]
    client = Client(HTTP_HOST=common.HOST, HTTP_AUTHORIZATION=f"Token {token}")
    bodies = payloads.batch(count + 20)
    for body in bodies[:20]:  # warm-up
        client.post("/api/v1/orders/", data=body, content_type="application/json")
    for owner, attr, label in steps:
        wrap(owner, attr, label)
    try:
        with connection.execute_wrapper(count_query):
            for body in bodies[20:]:
                c0, w0 = time.process_time(), time.perf_counter()
                resp = client.post("/api/v1/orders/", data=body, content_type="application/json")
                acc_total[0] += time.process_time() - c0
                acc_total[1] += time.perf_counter() - w0
                if resp.status_code != 201:
                    raise SystemExit(f"breakdown POST answered {resp.status_code}: {resp.content[:200]!r}")
    finally:
        for owner, attr, original in reversed(originals):
            setattr(owner, attr, original)
        common.django_close_connections()
    rows = [
        (label, *(v * 1000 / count for v in acc[label][:2]), acc[label][2] / count)
        for owner, attr, label in steps
        if getattr(owner, attr, None) is not None  # a step the app does not have (e.g. an older checkout)
    ]
    return rows, acc_total[0] * 1000 / count, acc_total[1] * 1000 / count, acc_total[2] / count


def ceiling_run(args, token: str, payloads: "Payloads", *, workers: int, threads: int) -> dict:
    """The same client and bodies against the same gunicorn workers serving the bench-only ceiling view."""
    settings = common.SETTINGS_CEILING
    with common.Gunicorn(workers=workers, threads=threads, token=token, settings=settings) as server:
        log(f"ceiling: gunicorn {server.describe()}: warm-up, then {args.orders} POSTs")
        post_orders(server.port, token, payloads.batch(4 * args.clients), args.clients, 60, path=CEILING_PATH)
        meter = common.CpuMeter(server.proc.pid)
        res = post_orders(
            server.port,
            token,
            payloads.batch(args.orders),
            args.clients,
            args.time_limit,
            path=CEILING_PATH,
            client_kind=args.client,
        )
        res.update(server=server.describe(), cpu=meter.stop())
    log(f"  {res['created']} answered 201 in {res['wall']:.1f}s: {res['created'] / res['wall']:.0f}/s")
    return res


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (C)")
    parser.add_argument("--orders", type=int, default=3000, help="orders posted per server configuration")
    parser.add_argument(
        "--configs",
        default="sync:2,gthread:2x4,sync:2+persistent",
        help="gunicorn configurations: sync:W, gthread:WxT; '+persistent' = production settings (CONN_MAX_AGE=60)",
    )
    parser.add_argument("--no-prewarm", action="store_true", help="skip pg_prewarm before each configuration")
    parser.add_argument("--paid-at", action="store_true", help="send paid_at, so each order also enters 'paid'")
    parser.add_argument("--limit-rows", type=int, default=20000, help="rows for the one-row-per-commit limit")
    parser.add_argument("--time-limit", type=float, default=180.0, help="seconds per measured loop")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--client",
        choices=("raw", "http.client"),
        default="raw",
        help="raw: pre-built request bytes on raw sockets (default); http.client: the stdlib client",
    )
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the ceiling: the same workers serving a bench-only view (auth + parse + 201, no writes)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the posted orders (default: delete at the end)")
    parser.add_argument(
        "--breakdown", type=int, default=200, help="orders for the in-process time breakdown of one POST (0: skip)"
    )
    args = parser.parse_args()
    configs = parse_configs(args.configs)
    started = time.monotonic()

    common.database_ensure()
    master = dataset.master_data_ensure()
    token = common.api_token_ensure()
    ingest_channel = master["channels"][dataset.INGEST_CHANNEL[0]]
    removed = cleanup(ingest_channel)
    if removed:
        log(f"removed {removed} orders left by an earlier run")
    with common.connect() as conn:
        db_orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
    payloads = Payloads(
        skus=master["skus"], customers=existing_customers(2000, args.seed), seed=args.seed, paid_at=args.paid_at
    )

    sql_counts = {}  # unpaid / paid -> (statements, SELECT ... FOR UPDATE of the order row)
    for label, paid in (("unpaid", False), ("paid", True)):
        # Count a steady-state POST of a returning customer (70% of the mix; an empty bench database has none
        # yet): the first POST of a process may also flip what an earlier run left (e.g. resume a tripped
        # allocation breaker: its event, settings history and alert), as no other POST does.
        first = json.loads(payloads.make(paid=paid))
        common.count_queries("POST", "/api/v1/orders/", token, json.dumps(first).encode())
        again = {**first, "channel_order_no": first["channel_order_no"] + "R"}
        status, n_queries, sql = common.count_queries("POST", "/api/v1/orders/", token, json.dumps(again).encode())
        if status != 201:
            raise SystemExit(f"a sample {label} POST answered {status}, not 201")
        sql_counts[label] = (n_queries, sum(1 for s in sql if ORDER_ROW_LOCK.search(s)))

    results = []
    for _kind, workers, threads, settings in configs:
        with common.Gunicorn(workers=workers, threads=threads, token=token, settings=settings) as server:
            log(f"gunicorn {server.describe()} on 127.0.0.1:{server.port}: warm-up, then {args.orders} orders")
            if not args.no_prewarm:
                mb, secs = common.prewarm()
                log(f"  prewarmed {mb} MB of tables and indexes into the OS cache in {secs:.1f}s")
            post_orders(server.port, token, payloads.batch(4 * args.clients), args.clients, 60, client_kind=args.client)
            bodies = payloads.batch(args.orders)
            load = common.load_average()
            meter = common.CpuMeter(server.proc.pid)
            res = post_orders(server.port, token, bodies, args.clients, args.time_limit, client_kind=args.client)
            res.update(server=server.describe(), load=load, cpu=meter.stop())
            results.append(res)
            rate = res["created"] / res["wall"]
            log(f"  {res['created']} created in {res['wall']:.1f}s: {rate:.0f} orders/s")
        if not args.no_ceiling:
            res["ceiling"] = ceiling_run(args, token, payloads, workers=workers, threads=threads)

    steps = None
    if args.breakdown:
        log(f"in-process breakdown of one POST over {args.breakdown} orders")
        steps = breakdown(token, payloads, args.breakdown)

    log(f"one-row-per-commit limit: {args.clients} connections, {args.limit_rows} rows")
    limit = commit_limit(args.clients, args.limit_rows, args.time_limit, temp=False)
    limit_temp = commit_limit(args.clients, args.limit_rows, args.time_limit, temp=True)

    if not args.keep:
        removed = cleanup(ingest_channel)
        log(f"deleted the {removed} orders posted by this run")

    print()
    print(f"=== ingest.py: POST /api/v1/orders/ with {args.clients} concurrent clients ===")
    print(
        f"database: {common.DB_NAME} with {db_orders:,} orders before the run; payload: tests/factories.py "
        f"order_payload shape, 1-3 lines, 70% returning customers{', with paid_at' if args.paid_at else ''}"
    )
    client_text = "raw sockets, request bytes built before timing" if args.client == "raw" else "http.client"
    print(f"client: {args.clients} threads, {client_text}, keep-alive (reconnects when the server closes)")
    if not args.no_prewarm:
        print("cache: tables and indexes read into the OS page cache (pg_prewarm 'read') before each configuration")
    for label, (n_queries, locks) in sql_counts.items():
        print(f"SQL statements per {label} POST (in-process count): {n_queries}; order row FOR UPDATE: {locks}")
    print()

    def run_row(label: str, res: dict) -> tuple:
        lat = res["latencies"]
        rate = f"{res['created'] / res['wall']:.0f}"
        p50, p95 = ms(percentile(lat, 50)), ms(percentile(lat, 95))
        return (label, res["created"], res["failed"], f"{res['wall']:.1f}", rate, p50, p95, res["connects"])

    rows = [run_row(f"API, gunicorn {res['server']}", res) for res in results]
    rows += [
        run_row("ceiling: same workers, auth + parse + 201, no DB writes", res["ceiling"])
        for res in results
        if "ceiling" in res
    ]
    for label, lim in (
        ("limit: INSERT 1 row/commit, plain table", limit),
        ("INSERT 1 row/commit, temp table", limit_temp),
    ):
        rows.append(
            (
                label,
                lim["rows"],
                0,
                f"{lim['wall']:.1f}",
                f"{lim['rows'] / lim['wall']:.0f}",
                ms(percentile(lim["latencies"], 50)),
                ms(percentile(lim["latencies"], 95)),
                args.clients,
            )
        )
    table(["measurement", "ok", "failed", "seconds", "per s", "p50 ms", "p95 ms", "TCP conns"], rows)
    print()
    cpu_rows = []
    for res in [r for main_run in results for r in (main_run, main_run.get("ceiling")) if r is not None]:
        cpu, n = res["cpu"], max(1, res["created"])
        cpu_rows.append(
            (
                f"gunicorn {res['server']}",
                f"{cpu['gunicorn'] * 1000 / n:.1f}",
                f"{cpu['postgres'] * 1000 / n:.1f}",
                f"{res['client_cpu'] * 1000 / n:.1f}",
                f"{(cpu['busy'] - cpu['gunicorn'] - cpu['postgres'] - res['client_cpu']) * 1000 / n:.1f}",
                f"{cpu['busy_pct']:.0f}%",
            )
        )
    table(
        ["CPU per created order", "gunicorn ms", "postgres ms", "bench client ms", "other load ms", "machine busy"],
        cpu_rows,
    )
    print("(postgres: every backend of the server, including other users'; other load: the rest of the machine)")
    cores = os.cpu_count() or 1
    for res in [r for main_run in results for r in (main_run, main_run.get("ceiling")) if r is not None]:
        share = 100 * res["client_cpu"] / (res["wall"] * cores)
        print(
            f"bench client ({args.client}) against {res['server']}: "
            f"{res['client_cpu'] * 1000 / max(1, res['created']):.2f} ms CPU per request "
            f"(getrusage of its process), {share:.0f}% of the {cores} cores while it ran"
        )
    print()
    if steps is not None:
        rows_b, cpu_total, wall_total, queries_total = steps
        top = [r for r in rows_b if not r[0].startswith(" ")]
        rest = ("rest: Django/DRF request handling, middleware", cpu_total - sum(r[1] for r in top))
        table(
            ["one POST, in-process (persistent connection)", "CPU ms", "wall ms", "SQL queries"],
            [(label, f"{c:.2f}", f"{w:.2f}", f"{q:.1f}") for label, c, w, q in rows_b]
            + [
                (rest[0], f"{rest[1]:.2f}", "", ""),
                ("whole request", f"{cpu_total:.2f}", f"{wall_total:.2f}", f"{queries_total:.1f}"),
            ],
        )
        print(
            f"-> at {cpu_total:.1f} ms of Django CPU per order, 2 cores can serve at most "
            f"{2000 / cpu_total:.0f} orders/s even with a free database"
        )
        print()
    limit_rate = limit["rows"] / limit["wall"]
    temp_rate = limit_temp["rows"] / limit_temp["wall"]
    table(
        ["ratio", "API / limit (plain)", "API / temp table"],
        [
            (
                f"gunicorn {res['server']}",
                f"{res['created'] / res['wall'] / limit_rate:.3f}",
                f"{res['created'] / res['wall'] / temp_rate:.3f}",
            )
            for res in results
        ],
    )
    ceiling_rows = [
        (
            f"gunicorn {res['server']}",
            f"{res['created'] / res['wall']:.0f}",
            f"{res['ceiling']['created'] / res['ceiling']['wall']:.0f}",
            f"{(res['created'] / res['wall']) / (res['ceiling']['created'] / res['ceiling']['wall']):.3f}",
        )
        for res in results
        if "ceiling" in res
    ]
    if ceiling_rows:
        print()
        table(["ours / ceiling (same workers, same client)", "ours per s", "ceiling per s", "ratio"], ceiling_rows)
    print()
    for res in results:
        print(f"gunicorn {res['server']}: {res['load']} before the run")
    main_res = results[0]
    best = max(results, key=lambda r: r["created"] / r["wall"])
    main_rate = main_res["created"] / main_res["wall"]
    target = TARGET_PAID_ORDERS_PER_S if args.paid_at else TARGET_ORDERS_PER_S
    kind = "paid and admitted" if args.paid_at else "unpaid"
    common.verdict(f"{kind} orders/s (gunicorn {main_res['server']})", main_rate, target, "orders/s")
    print(f"  best configuration: {best['server']} {best['created'] / best['wall']:.0f} orders/s")
    common.verdict("SQL statements per paid POST", sql_counts["paid"][0], TARGET_PAID_STATEMENTS, "", at_least=False)
    errors = [e for res in results for e in res["errors"]]
    if errors:
        print(f"errors: {len(errors)} (first: {errors[0]})")
    print(f"total time {time.monotonic() - started:.1f}s")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
