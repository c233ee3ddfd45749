"""Outbox delivery: pushes/s from the outbox to a local ERP server with 2 rqworkers, as a ratio to the bare HTTP
posts/s of one client to the same server.

    .venv/bin/python bench/outbox.py [--orders 2000] [--workers 2]

Setup (not timed): drops and recreates the database `<BENCH_DB_NAME>_outbox` (its own; never orderhub or a test
database), migrates it, creates one channel, one SKU and a generic webhook ERP endpoint whose URL is the local ERP
server, then N orders through the intake service: each order's accepted push is an outbox row written in its
transaction. The delivery jobs those commits enqueued are dropped from the bench Redis (BENCH_REDIS_URL), so the
timing starts with idle workers.

The ERP server (http.server.ThreadingHTTPServer in this process, HTTP/1.1 keep-alive, a thread per connection):
answers 200 at once to each POST and counts deliveries per webhook-id (it dedupes by key, as a real one must).

Measured:
  bare      one client (http.client, one kept-alive connection) POSTs N bodies of the same size to the server,
            one after the other: posts/s, the ceiling of one sender.
  outbox    --workers rqworker processes are started and registered; then one orders.jobs.deliver_outbox job per
            worker is enqueued, and the clock runs until every row is delivered (polled in SQL): pushes/s, the
            ratio to bare, and how many pushes the ERP saw twice (none expected without a crash).
Target on 2 cores: outbox delivery >= 500 pushes/s. Figures and ratios only; nothing is asserted.
"""

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import common
from common import log, ratio, table, verdict

DB_NAME = f"{common.DB_NAME}_outbox"
DATABASE_URL = f"postgres://postgres:postgres@{common.HOST}:5432/{DB_NAME}"
DB_CONNINFO = f"host={common.HOST} port=5432 user=postgres password=postgres dbname={DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://{common.HOST}:6379/12")
SECRET = "bench-erp-secret"


class ErpServer:
    def __init__(self) -> None:
        self.delivered: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Buffered: the status line, headers and body leave in one segment (unbuffered, the body waits ~40 ms
            # for the delayed ACK of the headers: Nagle).
            wbufsize = -1

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("webhook-id") or ""
                if key:
                    with server.lock:
                        server.delivered[key] += 1
                body = b'{"ok":true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((common.HOST, common.free_port()), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{common.HOST}:{self.httpd.server_address[1]}/erp/push"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def database_recreate() -> None:
    with common.connect(conninfo=common.ADMIN_CONNINFO) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def setup(orders: int, erp_url: str) -> int:
    t0 = time.monotonic()
    log(f"recreating database {DB_NAME}")
    database_recreate()
    common.django_setup(database_url=DATABASE_URL, redis_url=REDIS_URL)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    import django_rq
    from django.utils import timezone

    from orders.drafts import Address, CustomerDraft, LineDraft, OrderDraft
    from orders.models import Channel, ErpEndpoint, OutboxMessage, Source
    from orders.services.intake import order_create
    from orders.services.nodes import status_nodes_ensure_defaults
    from orders.services.outbox import erp_endpoint_save
    from orders.services.roles import roles_sync
    from warehouse.models import Sku

    roles_sync()
    status_nodes_ensure_defaults()
    Channel.objects.create(code="bench-ob", name="发件箱压测渠道", kind="other")
    Sku.objects.create(code="OB-MASK", name="补水面膜", category="面膜")
    erp_endpoint_save(
        endpoint=ErpEndpoint(name="bench ERP", kind="webhook", url=erp_url, secret=SECRET, timeout_seconds=5),
        actor=None,
    )
    log(f"creating {orders} orders through the intake service (each writes its outbox row)")
    now = timezone.now()
    for i in range(orders):
        draft = OrderDraft(
            channel="bench-ob",
            channel_order_no=f"OB{i:08d}",
            buyer_id=f"ob-buyer-{i}",
            ordered_at=now,
            customer=CustomerDraft(name="压测", phone=f"139{i:08d}"),
            address=Address(
                receiver="压测",
                phone=f"139{i:08d}",
                province="浙江",
                city="杭州",
                district="西湖区",
                detail="文三路 1 号",
            ),
            lines=(LineDraft(sku="OB-MASK", quantity=1, unit_price=Decimal("49.00")),),
        )
        order_create(draft=draft, actor=None, source=Source.API)
    queue = django_rq.get_queue("default")
    queue.empty()  # the commits' delivery jobs: the timed run starts them itself
    rows = OutboxMessage.objects.count()
    log(f"setup done in {time.monotonic() - t0:.1f}s: {rows} outbox rows pending")
    common.django_close_connections()
    return rows


def bare_posts(url: str, count: int, body_size: int) -> float:
    """Posts/s of one client with one kept-alive connection."""
    parts = url.split("/", 3)
    host, port = parts[2].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    body = b"x" * body_size
    t0 = time.perf_counter()
    for _ in range(count):
        conn.request("POST", "/" + parts[3], body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return count / elapsed


def pending() -> int:
    with common.connect(conninfo=DB_CONNINFO) as conn:
        return conn.execute("SELECT count(*) FROM orders_outboxmessage WHERE state <> 'delivered'").fetchone()[0]


def payload_size() -> int:
    with common.connect(conninfo=DB_CONNINFO) as conn:
        return len(json.dumps(conn.execute("SELECT payload FROM orders_outboxmessage LIMIT 1").fetchone()[0]))


def workers_start(count: int) -> list[subprocess.Popen]:
    env = common.bench_env()
    env.update(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    return [
        subprocess.Popen(
            [str(common.PYTHON), "manage.py", "rqworker", "default", "--name", f"bench-outbox-{os.getpid()}-{i}"],
            cwd=common.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for i in range(count)
    ]


def workers_registered(count: int, timeout: float = 60) -> None:
    import django_rq
    from rq import Worker

    connection = django_rq.get_connection("default")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            sum(1 for w in Worker.all(connection=connection) if w.name.startswith(f"bench-outbox-{os.getpid()}"))
            >= count
        ):
            return
        time.sleep(0.1)
    raise SystemExit("the workers did not register")


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    server = ErpServer()
    processes: list[subprocess.Popen] = []
    try:
        rows = setup(args.orders, server.url)
        size = payload_size()
        log(f"bare: {rows} posts of {size} bytes, one client")
        bare = bare_posts(server.url, rows, size)
        server.delivered.clear()
        common.django_setup(database_url=DATABASE_URL, redis_url=REDIS_URL)
        import django_rq

        processes = workers_start(args.workers)
        workers_registered(args.workers)
        log(f"{args.workers} workers registered; delivering {rows} rows")
        queue = django_rq.get_queue("default")
        t0 = time.perf_counter()
        for _ in range(args.workers):
            queue.enqueue("orders.jobs.deliver_outbox", job_timeout=600)
        while pending():
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        pushes = rows / elapsed
        dupes = sum(n - 1 for n in server.delivered.values())
        table(
            ["measure", "rows", "seconds", "per second", "ratio to bare"],
            [
                ["bare HTTP posts, one client", rows, f"{rows / bare:.2f}", f"{bare:.0f}", "1.00x"],
                [
                    f"outbox delivery, {args.workers} rqworkers",
                    rows,
                    f"{elapsed:.2f}",
                    f"{pushes:.0f}",
                    ratio(pushes, bare),
                ],
            ],
        )
        print(f"keys seen by the ERP: {len(server.delivered)} of {rows}; resent (deduped by key): {dupes}")
        verdict("outbox delivery", pushes, 500, "pushes/s")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        server.stop()


if __name__ == "__main__":
    main()
