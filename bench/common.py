"""Shared bench plumbing: the bench database, master data, the API user, gunicorn, an HTTP client, statistics.

Everything talks to 127.0.0.1 only. The bench database is `orderhub_bench`, never the app's own database.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"

HOST = "127.0.0.1"
DB_NAME = "orderhub_bench"
DB_CONNINFO = f"host={HOST} port=5432 user=postgres password=postgres dbname={DB_NAME}"
ADMIN_CONNINFO = f"host={HOST} port=5432 user=postgres password=postgres dbname=postgres"
DATABASE_URL = f"postgres://postgres:postgres@{HOST}:5432/{DB_NAME}"
REDIS_URL = f"redis://{HOST}:6379/14"
SETTINGS = "config.settings.test"  # production settings demand secrets; test settings run on PostgreSQL + Redis
SETTINGS_PERSISTENT = "config.settings.production"  # as deployed: persistent connections (CONN_MAX_AGE=60)

API_USERNAME = "bench-api"
API_GROUP = "系统对接"

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


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {msg}", flush=True)


def load_average() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def bench_env(settings: str = SETTINGS) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE=settings, DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    env.pop("DB_CONN_MAX_AGE", None)
    if settings == SETTINGS_PERSISTENT:  # production settings demand these; loopback only, no TLS here
        env.update(SECRET_KEY="bench-" + "x" * 40, ALLOWED_HOSTS="127.0.0.1,localhost", SECURE_COOKIES="false")
    return env


# --- database -------------------------------------------------------------------------------------------


def connect(*, autocommit: bool = True, conninfo: str = DB_CONNINFO) -> psycopg.Connection:
    return psycopg.connect(conninfo, autocommit=autocommit)


def database_exists() -> bool:
    with connect(conninfo=ADMIN_CONNINFO) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is not None


def _manage(*args: str) -> None:
    proc = subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=ROOT, env=bench_env(), capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed (exit {proc.returncode})")


def database_ensure(*, fresh: bool = False) -> None:
    """Create (or, with fresh, drop and recreate) orderhub_bench, then migrate and set up the roles."""
    django_close_connections()
    with connect(conninfo=ADMIN_CONNINFO) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is not None
        if exists and fresh:
            log(f"dropping database {DB_NAME}")
            conn.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = False
        if not exists:
            log(f"creating database {DB_NAME}")
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    _manage("migrate", "--noinput", "-v0")
    _manage("setup_roles")


# --- Django in this process (master data, API user, query counts) ----------------------------------------

_django_ready = False


def django_setup() -> None:
    global _django_ready
    if _django_ready:
        return
    os.environ.update(DJANGO_SETTINGS_MODULE=SETTINGS, DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    os.environ.pop("DB_CONN_MAX_AGE", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    _django_ready = True


def django_close_connections() -> None:
    if _django_ready:
        from django.db import connections

        connections.close_all()


def sku_price(idx: int) -> str:
    """List price of the idx-th bench SKU (0-based), as a 2-decimal string."""
    return f"{19 + (idx * 37) % 480}.90"


def master_data_ensure() -> dict:
    """Channels, warehouses, carriers, SKUs and status nodes; idempotent. Returns ids by code."""
    django_setup()
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
    django_close_connections()
    return {"channels": channels, "warehouses": warehouses, "carriers": carriers, "skus": skus}


def api_token_ensure() -> str:
    """The integration user (group 系统对接, which holds orders.view_order and orders.add_order) and its token."""
    django_setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username=API_USERNAME, defaults={"first_name": "压测接口"})
    user.groups.add(Group.objects.get(name=API_GROUP))
    user = get_user_model().objects.get(pk=user.pk)  # fresh permission cache
    for perm in ("orders.view_order", "orders.add_order"):
        if not user.has_perm(perm):
            raise SystemExit(f"API user lacks {perm}; did setup_roles run?")
    key = Token.objects.get_or_create(user=user)[0].key
    django_close_connections()
    return key


def count_queries(method: str, path: str, token: str, body: bytes | None = None) -> tuple[int, int, list[str]]:
    """Run one request in this process (Django test client, real bench DB); return (status, #queries, SQL)."""
    django_setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as ctx:
        if method == "GET":
            resp = client.get(path)
        else:
            resp = client.post(path, data=body, content_type="application/json")
    sql = [q["sql"] for q in ctx.captured_queries]
    django_close_connections()
    return resp.status_code, len(sql), sql


PREWARM_TABLES = ("orders_order", "orders_orderevent", "orders_orderline", "orders_customer", "orders_historicalorder")


def prewarm(tables: Iterable[str] = PREWARM_TABLES) -> tuple[int, float]:
    """Read the tables and their indexes into the OS page cache (pg_prewarm 'read'); returns (MB, seconds).

    This machine reclaims page cache it has not touched lately (kdamond runs), so without this the first
    requests that reach cold parts of a 2.8 GB database wait on the disk; a server whose working set fits in RAM
    does not.
    """
    t0 = time.monotonic()
    with connect() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        rels = conn.execute(
            """SELECT c.oid::regclass::text, pg_relation_size(c.oid) FROM pg_class c
               WHERE c.oid = ANY(%(t)s::regclass[])
                  OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%(t)s::regclass[]))""",
            {"t": list(tables)},
        ).fetchall()
        for rel, _size in rels:
            conn.execute("SELECT pg_prewarm(%s::regclass, 'read')", [rel])
    return sum(size for _rel, size in rels) // 2**20, time.monotonic() - t0


def run_parallel(statements: Sequence[str | Sequence[str]], *, workers: int = 2, setup: Iterable[str] = ()) -> None:
    """Run SQL statements (or lists of statements run in order on one connection) on `workers` connections."""
    setup = list(setup)

    def one(item: str | Sequence[str]) -> None:
        with connect() as conn:
            for stmt in setup:
                conn.execute(stmt)
            for stmt in [item] if isinstance(item, str) else item:
                conn.execute(stmt)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for fut in [pool.submit(one, s) for s in statements]:
            fut.result()


# --- gunicorn ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn serving config.wsgi:application on 127.0.0.1:<free port> against the bench database."""

    def __init__(
        self,
        *,
        workers: int = 2,
        threads: int = 1,
        token: str = "",
        settings: str = SETTINGS,
        ready_timeout: float = 60.0,
    ):
        self.settings = settings
        self.workers = workers
        self.threads = threads
        self.token = token
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = ""

    @property
    def worker_class(self) -> str:
        return "gthread" if self.threads > 1 else "sync"

    def describe(self) -> str:
        if self.threads > 1:
            kind = f"gthread, {self.workers} workers x {self.threads} threads"
        else:
            kind = f"sync, {self.workers} workers"
        if self.settings != SETTINGS:
            kind += ", production settings (CONN_MAX_AGE=60)"
        return kind

    def __enter__(self) -> "Gunicorn":
        fd, self.log_path = tempfile.mkstemp(prefix="orderhub-bench-gunicorn-", suffix=".log")
        cmd = [
            str(GUNICORN),
            "config.wsgi:application",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.threads),
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--graceful-timeout",
            "10",
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=bench_env(self.settings), stdout=fd, stderr=fd)
        os.close(fd)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); log: {self.log_path}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/api/v1/orders/lookup/?q=OH000000XXXXXXXX", headers=self.headers())
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(RuntimeError)
        raise SystemExit(f"gunicorn not ready within {self.ready_timeout:.0f}s; log: {self.log_path}")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"} if self.token else {}

    def __exit__(self, exc_type=None, *exc) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its own workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if exc_type is None and self.log_path:
            os.remove(self.log_path)  # kept (and named in the error) only when something went wrong


# --- CPU accounting -----------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[str, int, float, float]]:
    """pid -> (comm, ppid, own cpu seconds, reaped children's cpu seconds) for every readable process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is state (stat field 3): ppid = 4, utime = 14, stime = 15, cutime = 16, cstime = 17
        own = (int(fields[11]) + int(fields[12])) / _TICK
        reaped = (int(fields[13]) + int(fields[14])) / _TICK
        out[int(entry)] = (comm, int(fields[1]), own, reaped)
    return out


def _machine_cpu() -> tuple[float, float]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts) - idle) / _TICK, sum(parts) / _TICK


class CpuMeter:
    """CPU seconds used by gunicorn (master + workers), by PostgreSQL (all backends) and by the whole machine."""

    def __init__(self, gunicorn_pid: int | None):
        self.gunicorn_pid = gunicorn_pid
        self.start = self._snapshot()

    def _snapshot(self) -> dict[str, float]:
        procs = _proc_stats()
        gun = 0.0
        if self.gunicorn_pid in procs:
            gun = sum(
                own
                for pid, (_c, ppid, own, _r) in procs.items()
                if pid == self.gunicorn_pid or ppid == self.gunicorn_pid
            )
        # PostgreSQL: the postmaster's own time, its reaped backends' time, and the live backends' time.
        post = 0.0
        for pid, (comm, ppid, own, reaped) in procs.items():
            if comm == "postgres" and procs.get(ppid, ("",))[0] != "postgres":
                post += own + reaped + sum(o for _p, (c, pp, o, _r) in procs.items() if pp == pid)
        busy, total = _machine_cpu()
        return {"gunicorn": gun, "postgres": post, "busy": busy, "total": total}

    def stop(self) -> dict[str, float]:
        end = self._snapshot()
        d = {k: end[k] - self.start[k] for k in end}
        d["busy_pct"] = 100.0 * d["busy"] / d["total"] if d["total"] else float("nan")
        return d


# --- HTTP client ---------------------------------------------------------------------------------------------


class ApiClient:
    """One keep-alive HTTP/1.1 connection (reopened when the server closes it, as gunicorn's sync worker does)."""

    def __init__(self, port: int, token: str, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.base_headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.conn: http.client.HTTPConnection | None = None
        self.connects = 0

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        if self.conn is None or self.conn.sock is None:
            if self.conn is not None:
                self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            self.conn.connect()
            self.connects += 1
            return self.conn, False
        return self.conn, True

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        """Return (status, body, seconds). Latency includes (re)connecting, as a real client sees it."""
        headers = dict(self.base_headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        status, data, elapsed, _cookies = self.exchange(method, path, body, headers)
        return status, data, elapsed

    def exchange(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes, float, list]:
        """One request with these exact headers: (status, body, seconds, Set-Cookie values). A kept-alive
        connection the server closed meanwhile is reopened once."""
        for attempt in range(2):
            t0 = time.perf_counter()
            conn, reused = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                elapsed = time.perf_counter() - t0
                cookies = resp.msg.get_all("Set-Cookie") or []
                if resp.will_close:
                    conn.close()
                return resp.status, data, elapsed, cookies
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if not reused or attempt:  # a fresh connection failing is a real error
                    raise
        raise RuntimeError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def get_json(client: ApiClient, path: str) -> tuple[int, object, float]:
    status, data, elapsed = client.request("GET", path)
    return status, json.loads(data) if data else None, elapsed


# --- statistics and printing -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of the values; nan when empty."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    sys.stdout.flush()


def run_threads(count: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
