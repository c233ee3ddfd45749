"""Channel webhooks: acceptance (raw delivery stored, 2xx) and processing into full orders, against PostgreSQL's
own COPY / executemany of the same rows.

    .venv/bin/python bench/channels.py [--orders 5000] [--per-delivery 50] [--clients 8] [--workers 2]

1. Acceptance: C client threads POST Standard-Webhooks-signed batched deliveries (`--per-delivery` orders each,
   the API's order shape, read by the generic field mapping) to `POST /api/v1/channels/bench-webhook/webhook/`
   under gunicorn with 2 sync workers; no rqworker runs meanwhile, so only the door is measured: verify, one
   INSERT, commit, enqueue, answer. Orders/s = orders in the accepted deliveries / wall time; answer p50/p99.
2. Processing: then `--workers` rqworkers (`manage.py rqworker channels --burst`) drain the queued jobs: each
   maps its delivery, takes each order through channel_order_take and writes one intake record per order.
   Orders/s = orders taken / wall time until every delivery is processed.
3. The floors: the same delivery rows COPY'd and executemany'd into a plain table (acceptance), and the same
   orders as one flat row each (processing), in the same PostgreSQL. Ours is printed as a ratio of each.

Everything runs against orderhub_bench (BENCH_DB_NAME) and BENCH_REDIS_URL; the bench's orders, deliveries
and records are deleted at the end unless --keep.
"""

import json
import subprocess
import threading
import time

import common
import dataset
import ingest
from common import log, ms, percentile, table

TARGET_ACCEPT = 2400.0  # orders/s, the seeds' peak
TARGET_PROCESS = 1000.0  # orders/s with 2 workers
TARGET_P99_MS = 200.0
CHANNEL = ("bench-webhook", "压测推送渠道")
PATH = f"/api/v1/channels/{CHANNEL[0]}/webhook/"


def channel_ensure() -> tuple[int, str]:
    common.django_setup()
    from orders.channels import signing
    from orders.channels.mapping import GENERIC_MAPPING
    from orders.models import Channel

    channel, _ = Channel.objects.update_or_create(
        code=CHANNEL[0],
        defaults={
            "name": CHANNEL[1],
            "kind": Channel.Kind.OTHER,
            "arrival": Channel.Arrival.WEBHOOK,
            "field_mapping": GENERIC_MAPPING,
            "webhook_secret": signing.secret_new(),
            "is_active": True,
        },
    )
    common.django_close_connections()
    return channel.pk, channel.webhook_secret


def cleanup(channel_id: int) -> int:
    with common.connect() as conn, conn.transaction():
        conn.execute("DELETE FROM orders_intakerecord WHERE channel_id = %s", [channel_id])
        conn.execute("DELETE FROM orders_inboxdelivery WHERE channel_id = %s", [channel_id])
        conn.execute("DELETE FROM orders_webhookrefusal WHERE channel_id = %s", [channel_id])
    return ingest.cleanup(channel_id)


def deliveries_build(payloads, *, orders: int, per_delivery: int, tag: str) -> list[tuple[str, bytes, list[dict]]]:
    items = []
    for n in range(0, orders, per_delivery):
        batch = [json.loads(payloads.make()) for _ in range(min(per_delivery, orders - n))]
        body = json.dumps({"orders": batch}, ensure_ascii=False).encode()
        items.append((f"bench-{tag}-{n // per_delivery:06d}", body, batch))
    return items


def accept(port: int, secret: str, deliveries, clients: int) -> dict:
    from orders.channels import signing

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    cursor = iter(range(len(deliveries)))

    def client(_i: int) -> None:
        api = common.ApiClient(port, token="")
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            msg_id, body, _orders = deliveries[index]
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": stamp,
                "webhook-signature": signing.sign(secret=secret, msg_id=msg_id, timestamp=stamp, body=body),
            }
            status, _data, elapsed, _cookies = api.exchange("POST", PATH, body, headers)
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    common.run_threads(clients, client)
    wall = time.perf_counter() - started
    return {"wall": wall, "latencies": latencies, "statuses": statuses}


def pending(channel_id: int) -> int:
    with common.connect() as conn:
        return conn.execute(
            "SELECT count(*) FROM orders_inboxdelivery WHERE channel_id = %s AND state = 'received'", [channel_id]
        ).fetchone()[0]


def process(channel_id: int, workers: int, time_limit: float) -> dict:
    procs = [
        subprocess.Popen(
            [str(common.PYTHON), "manage.py", "rqworker", "channels", "--burst"],
            cwd=common.ROOT,
            env=common.bench_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    started = time.perf_counter()
    try:
        while pending(channel_id) and time.perf_counter() - started < time_limit:
            time.sleep(0.1)
        wall = time.perf_counter() - started
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    with common.connect() as conn:
        outcomes = dict(
            conn.execute(
                "SELECT outcome, count(*) FROM orders_intakerecord WHERE channel_id = %s GROUP BY outcome",
                [channel_id],
            ).fetchall()
        )
        # From the first delivery's records to the last: the workers' start-up (Django import) left out.
        first_done, span = conn.execute(
            "SELECT min(processed_at), extract(epoch FROM max(processed_at) - min(processed_at))"
            " FROM orders_intakerecord WHERE channel_id = %s",
            [channel_id],
        ).fetchone()
        first_batch = conn.execute(
            "SELECT count(*) FROM orders_intakerecord WHERE channel_id = %s AND processed_at <= %s",
            [channel_id, first_done],
        ).fetchone()[0]
    return {
        "wall": wall,
        "outcomes": outcomes,
        "left": pending(channel_id),
        "span": float(span or 0),
        "after_first": sum(outcomes.values()) - first_batch,
    }


def floors(deliveries) -> dict:
    """COPY and executemany of the same delivery rows, and of the same orders as one flat row each."""
    delivery_rows = [(msg_id, body.decode(), '{"content-type": "application/json"}') for msg_id, body, _ in deliveries]
    order_rows = [
        (
            order["channel_order_no"],
            order["buyer_id"],
            order["customer"]["phone"],
            order["shipping_address"]["receiver"],
            order["shipping_address"]["detail"],
            json.dumps(order["lines"]),
            order["paid_amount"],
        )
        for _id, _body, batch in deliveries
        for order in batch
    ]
    ddl = {
        "bench_channels_delivery": "(id bigserial primary key, delivery_id text unique, body text, headers jsonb,"
        " received_at timestamptz default now())",
        "bench_channels_order": "(id bigserial primary key, channel_order_no text unique, buyer_id text, phone text,"
        " receiver text, detail text, lines jsonb, paid_amount numeric(12,2))",
    }
    cols = {
        "bench_channels_delivery": "(delivery_id, body, headers)",
        "bench_channels_order": "(channel_order_no, buyer_id, phone, receiver, detail, lines, paid_amount)",
    }
    result = {}
    with common.connect() as conn:
        for name, rows in (("bench_channels_delivery", delivery_rows), ("bench_channels_order", order_rows)):
            for how in ("copy", "executemany"):
                conn.execute(f"DROP TABLE IF EXISTS {name}")
                conn.execute(f"CREATE TABLE {name} {ddl[name]}")
                started = time.perf_counter()
                with conn.transaction():
                    if how == "copy":
                        with conn.cursor().copy(f"COPY {name} {cols[name]} FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
                    else:
                        marks = ", ".join(["%s"] * len(rows[0]))
                        conn.cursor().executemany(f"INSERT INTO {name} {cols[name]} VALUES ({marks})", rows)
                result[(name, how)] = time.perf_counter() - started
            conn.execute(f"DROP TABLE IF EXISTS {name}")
    return result


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=5000, help="orders sent in total")
    parser.add_argument("--per-delivery", type=int, default=50, help="orders per webhook delivery (batch)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent sender threads")
    parser.add_argument("--workers", type=int, default=2, help="rqworkers for the processing part")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds the processing may take")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the bench's orders and deliveries")
    args = parser.parse_args()

    common.database_ensure()
    master = dataset.master_data_ensure()
    token = common.api_token_ensure()
    channel_id, secret = channel_ensure()
    removed = cleanup(channel_id)
    if removed:
        log(f"removed {removed} orders left by an earlier run")
    common.django_setup()
    import django_rq

    django_rq.get_queue("channels").empty()
    common.django_close_connections()
    payloads = ingest.Payloads(
        skus=master["skus"], customers=ingest.existing_customers(2000, args.seed), seed=args.seed, paid_at=False
    )
    deliveries = deliveries_build(payloads, orders=args.orders, per_delivery=args.per_delivery, tag=payloads.tag)
    total = sum(len(batch) for _id, _body, batch in deliveries)

    with common.Gunicorn(workers=2, token=token) as server:
        log(f"gunicorn {server.describe()} on 127.0.0.1:{server.port}: {len(deliveries)} deliveries of {total} orders")
        warm = deliveries_build(payloads, orders=4 * args.per_delivery, per_delivery=args.per_delivery, tag="warm")
        accept(server.port, secret, warm, args.clients)
        load = common.load_average()
        meter = common.CpuMeter(server.proc.pid)
        accepted = accept(server.port, secret, deliveries, args.clients)
        cpu = meter.stop()
    accept_rate = total / accepted["wall"]
    log(f"  accepted in {accepted['wall']:.1f}s: {accept_rate:.0f} orders/s; answers {accepted['statuses']}")

    log(f"processing with {args.workers} rqworkers")
    processed = process(channel_id, args.workers, args.time_limit)
    taken = sum(processed["outcomes"].values())  # the warm-up deliveries' orders too: they were queued as well
    steady = processed["after_first"] / processed["span"] if processed["span"] else 0.0
    process_rate = steady or (taken / processed["wall"] if processed["wall"] else 0.0)
    log(
        f"  {taken} orders in {processed['wall']:.1f}s with the workers' start-up "
        f"({taken / processed['wall']:.0f} orders/s), {process_rate:.0f} orders/s once running; "
        f"{processed['outcomes']}"
    )

    log("floors: COPY / executemany of the same rows")
    floor = floors(deliveries)
    if not args.keep:
        removed = cleanup(channel_id)
        log(f"deleted the {removed} orders of this run")

    lat = accepted["latencies"]
    print()
    print(f"=== channels.py: webhook deliveries of {args.per_delivery} orders, {args.clients} senders ===")
    print(f"database: {common.DB_NAME}; {load}; gunicorn CPU {cpu['gunicorn']:.1f}s, postgres {cpu['postgres']:.1f}s")
    rows = []
    for label, ours, name, note in (
        ("acceptance", accept_rate, "bench_channels_delivery", "delivery rows"),
        ("processing", process_rate, "bench_channels_order", "order rows"),
    ):
        rows.append(
            (f"{label} (ours)", f"{ours:.0f}", "", f"{args.workers} rqworkers" if label == "processing" else "")
        )
        for how in ("copy", "executemany"):
            floor_rate = total / floor[(name, how)]
            rows.append(
                (
                    f"  {how.upper() if how == 'copy' else how} {note}",
                    f"{floor_rate:.0f}",
                    common.ratio(ours, floor_rate),
                    "",
                )
            )
    table(["what", "orders/s", "ours / it", "note"], rows)
    print(f"answer latency: p50 {ms(percentile(lat, 50))} ms, p99 {ms(percentile(lat, 99))} ms over {len(lat)} POSTs")
    if processed["left"]:
        print(f"NOTE: {processed['left']} deliveries were still unprocessed at the time limit")
    common.verdict("webhook acceptance", accept_rate, TARGET_ACCEPT, "orders/s")
    common.verdict("processing into orders (2 workers)", process_rate, TARGET_PROCESS, "orders/s")
    common.verdict("webhook answer p99", percentile(lat, 99) * 1000, TARGET_P99_MS, "ms", at_least=False)


if __name__ == "__main__":
    main()
