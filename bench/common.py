"""Shared bench plumbing: the command line, the bench database, Django in-process, the API user, gunicorn, an
HTTP client, statistics and printing. The data itself (master data, order history, order payloads) is in
dataset.py.

Every bench script imports this module (and dataset.py) by plain `import common` / `import dataset`: Python
puts a script's own folder first on sys.path, and no file in bench/ is named like a project app or a stdlib
module the benches use, so nothing has to be reordered or loaded by path. Everything talks to 127.0.0.1 only.
The bench database is `orderhub_bench`, never the app's own database.
"""

import argparse
import hashlib
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

if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # the project's apps, after bench/ (which holds no name of one)

HOST = "127.0.0.1"
DB_NAME = os.environ.get("BENCH_DB_NAME", "orderhub_bench")  # another name keeps a second bench run apart
DB_CONNINFO = f"host={HOST} port=5432 user=postgres password=postgres dbname={DB_NAME}"
ADMIN_CONNINFO = f"host={HOST} port=5432 user=postgres password=postgres dbname=postgres"
DATABASE_URL = f"postgres://postgres:postgres@{HOST}:5432/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://{HOST}:6379/14")
SETTINGS = "config.settings.test"  # production settings demand secrets; test settings run on PostgreSQL + Redis
SETTINGS_PERSISTENT = "config.settings.production"  # as deployed: persistent connections (CONN_MAX_AGE=60)
# Production settings plus a bench-only view that authenticates, parses and answers without writing (ingest.py).
SETTINGS_CEILING = "bench.ceiling_settings"

API_USERNAME = "bench-api"
API_GROUP = "系统对接"


def cli(doc: str | None) -> argparse.ArgumentParser:
    """The argument parser of a bench script, its module docstring as help."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {msg}", flush=True)


def load_average() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def bench_env(settings: str = SETTINGS) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE=settings, DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    env.pop("DB_CONN_MAX_AGE", None)
    if settings in (SETTINGS_PERSISTENT, SETTINGS_CEILING):  # production settings demand these; loopback, no TLS
        env.update(SECRET_KEY="bench-" + "x" * 40, ALLOWED_HOSTS="127.0.0.1,localhost", SECURE_COOKIES="false")
        # Plain HTTP on loopback, no TLS proxy in front: no redirect to https, no HSTS.
        env.update(SECURE_SSL_REDIRECT="false", BEHIND_TLS_PROXY="false", SECURE_HSTS_SECONDS="0")
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


def schema_key() -> str:
    """A digest of what a migrated, role-set-up empty database depends on: every migration file, the pinned
    requirements (third-party migrations) and the roles."""
    digest = hashlib.sha256()
    files = [
        *sorted(ROOT.glob("*/migrations/*.py")),
        ROOT / "requirements.txt",
        ROOT / "orders" / "roles.py",
        ROOT / "orders" / "management" / "commands" / "setup_roles.py",
    ]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def database_ensure(*, fresh: bool = False, template: bool = False) -> None:
    """Create (or, with fresh, drop and recreate) orderhub_bench, then migrate and set up the roles.

    template (with fresh): copy a kept empty database, migrated and with the roles, named <DB_NAME>_tpl, when its
    comment carries the current schema_key (CREATE DATABASE … TEMPLATE: a second or two instead of a minute of
    migrations on a loaded machine); else migrate as usual and keep the result as that template."""
    django_close_connections()
    tpl, key = f"{DB_NAME}_tpl", schema_key() if template else ""
    with connect(conninfo=ADMIN_CONNINFO) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is not None
        if exists and fresh:
            log(f"dropping database {DB_NAME}")
            conn.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = False
        if template and not exists:
            kept = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [tpl]
            ).fetchone()
            if kept and kept[0] == key:
                log(f"creating database {DB_NAME} from {tpl} (schema {key})")
                conn.execute(f'CREATE DATABASE "{DB_NAME}" TEMPLATE "{tpl}"')
                return
            if kept:
                conn.execute(f'DROP DATABASE "{tpl}" WITH (FORCE)')
        if not exists:
            log(f"creating database {DB_NAME}")
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    _manage("migrate", "--noinput", "-v0")
    _manage("setup_roles")
    if template and not exists:
        with connect(conninfo=ADMIN_CONNINFO) as conn:
            log(f"keeping the empty migrated database as {tpl} (schema {key})")
            conn.execute(f'CREATE DATABASE "{tpl}" TEMPLATE "{DB_NAME}"')
            conn.execute(f"COMMENT ON DATABASE \"{tpl}\" IS '{key}'")


# --- Django in this process (master data, API user, query counts) ----------------------------------------

_django_ready = False


def django_setup(*, database_url: str = DATABASE_URL, redis_url: str = REDIS_URL) -> None:
    """Django in this process (test settings: PostgreSQL + Redis), on the given bench database; once."""
    global _django_ready
    if _django_ready:
        return
    os.environ.update(DJANGO_SETTINGS_MODULE=SETTINGS, DATABASE_URL=database_url, REDIS_URL=redis_url)
    os.environ.pop("DB_CONN_MAX_AGE", None)
    os.environ.pop("RQ_INLINE", None)
    import django

    django.setup()
    _django_ready = True


def django_close_connections() -> None:
    if _django_ready:
        from django.db import connections

        connections.close_all()


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
        if self.settings == SETTINGS_CEILING:
            kind += ", production settings, bench-only ceiling view"
        elif self.settings != SETTINGS:
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


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def verdict(label: str, measured: float, target: float, unit: str, *, at_least: bool = True) -> str:
    """'target: <label> >= 500 orders/s -> measured 312 orders/s: NOT MET', printed and returned."""
    ok = measured >= target if at_least else measured <= target
    sign = ">=" if at_least else "<="
    unit = f" {unit}" if unit else ""
    shown = f"{measured:.0f}" if float(measured).is_integer() or abs(measured) >= 100 else f"{measured:.2f}"
    line = f"target: {label} {sign} {target:g}{unit} -> measured {shown}{unit}: {'MET' if ok else 'NOT MET'}"
    print(line, flush=True)
    return line


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
