"""Electronic waybills for a pick wave: waybills + labels for N allocated orders against a local carrier server that
speaks the Kuaidi100 waybill shape with a fixed answer delay; and the cancel of unused waybills.

    .venv/bin/python bench/waybill.py [--orders 500] [--carrier-ms 20] [--cancel 100] [--seed 7]

Setup (not timed): drops and recreates the database `<BENCH_DB_NAME>_waybill` (its own; never orderhub or a test
database), migrates it, syncs roles and status nodes, creates one channel, one warehouse with its sender, 5 SKUs
with stock, a Kuaidi100 carrier whose waybill API URL is the local carrier server, and N orders through the intake
service (paid) and the lifecycle (start_allocation, allocate with warehouse and carrier): all wait in 仓单已生成.

The carrier server (http.server.ThreadingHTTPServer in this process, a thread per request): POST
/label/order?method=order|cancel, form fields param/key/t/sign checked as Kuaidi100 does
(sign = upper(MD5(param + t + key + secret))), one number per orderId (a retry gets the same number), each answer
after --carrier-ms of sleep. It sums its own answer time (from the request read to the answer written): the
floor any hub asking one waybill at a time cannot beat.

Measured (one process, sequential, as the 获取面单 button of a pick wave runs it):
  wave      orders.services.waybills.orders_waybills_obtain(orders=…) for all N orders: seconds, waybills/s,
            SQL statements per order, and the ratio wave time / the carrier server's summed answer time
            (1.00x would be no hub overhead at all).
  re-wave   the same call again: every order has its waybill, no carrier call (a re-print never orders a second
            waybill): seconds and carrier calls (must be 0).
  labels    orders.services.waybills.order_labels_pdf(orders=…) for all N orders: seconds, pages/s, PDF size; the
            page count is read back with pypdf.
  cancel    --cancel orders of the wave are cancelled (order_transition cancel; the registry marks their waybills
            cancel_pending and enqueues logistics.jobs.waybill_cancel), then the cancel jobs run here, one after
            the other, as a worker would: cancels/s and the ratio to the carrier server's summed cancel answer time.

When orders.services.waybills is not there (the scan-station branch not merged), the wave and the labels run
against the logistics adapter (waybill_reserve, adapter.waybill_order, the registry's record of the number) and
logistics.labels.labels_pdf directly, and the output says so. Figures and ratios only; nothing is asserted.
"""

import hashlib
import importlib.util
import io
import json
import os
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import common
import dataset
from common import log, ratio, table

DB_NAME = f"{common.DB_NAME}_waybill"
DATABASE_URL = f"postgres://postgres:postgres@{common.HOST}:5432/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://{common.HOST}:6379/13")
KEY, SECRET, PARTNER_ID = "bench-k100-key", "bench-k100-secret", "BENCH-MONTHLY-01"
SKUS = [("WB-MASK", "补水面膜", "49.00"), ("WB-SERUM", "精华液", "129.00"), ("WB-CREAM", "面霜", "89.00")]
SKUS += [("WB-TONER", "爽肤水", "69.00"), ("WB-GIFT", "试用装", "9.90")]
PROVINCES = [
    ("浙江", "杭州", "西湖区"),
    ("上海", "上海", "浦东新区"),
    ("广东", "深圳", "南山区"),
    ("江苏", "南京", "鼓楼区"),
]


# --- the carrier ---------------------------------------------------------------------------------------------------


class CarrierServer:
    """Kuaidi100's waybill API on 127.0.0.1:<free port>, answering after a fixed delay; sums its own answer time."""

    def __init__(self, delay_ms: float):
        self.delay = delay_ms / 1000.0
        self.lock = threading.Lock()
        self.numbers: dict[str, str] = {}
        self.calls = {"order": 0, "cancel": 0}
        self.busy = {"order": 0.0, "cancel": 0.0}
        self.refused = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                started = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                method = parse_qs(urlsplit(self.path).query).get("method", [""])[0]
                answer = server.answer(method, {k: v[0] for k, v in parse_qs(body).items()})
                time.sleep(server.delay)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with server.lock:
                    server.calls[method] = server.calls.get(method, 0) + 1
                    server.busy[method] = server.busy.get(method, 0.0) + time.perf_counter() - started

        self.httpd = ThreadingHTTPServer((common.HOST, common.free_port()), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{common.HOST}:{self.httpd.server_address[1]}/label/order"

    def start(self) -> "CarrierServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.calls = {"order": 0, "cancel": 0}
            self.busy = {"order": 0.0, "cancel": 0.0}

    def answer(self, method: str, form: dict) -> dict:
        expected = hashlib.md5((form.get("param", "") + form.get("t", "") + KEY + SECRET).encode()).hexdigest()  # noqa: S324
        if form.get("key") != KEY or form.get("sign") != expected.upper():
            with self.lock:
                self.refused += 1
            return {"success": False, "code": 30002, "message": "签名错误", "data": None}
        param = json.loads(form["param"])
        if method == "cancel":
            return {"success": True, "code": 200, "message": "success", "data": None}
        with self.lock:
            number = self.numbers.setdefault(param["orderId"], f"SF{1600000000001 + len(self.numbers)}")
        data = {"taskId": f"T{number}", "kuaidinum": number, "bulkpen": "310-浦东 021", "destSortingCode": "A12-03"}
        return {"success": True, "code": 200, "message": "success", "data": data}


# --- setup ---------------------------------------------------------------------------------------------------------


def database_recreate() -> None:
    with common.connect(conninfo=common.ADMIN_CONNINFO) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def setup(orders: int, carrier_url: str, seed: int) -> list[int]:
    t0 = time.monotonic()
    log(f"recreating database {DB_NAME}")
    database_recreate()
    common.django_setup(database_url=DATABASE_URL, redis_url=REDIS_URL)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    import django_rq

    from logistics.models import Carrier
    from orders.models import Channel, Source, Status
    from orders.services.nodes import status_nodes_ensure_defaults
    from orders.services.roles import roles_sync
    from orders.services.transitions import order_transition
    from warehouse.models import Sku, Warehouse
    from warehouse.selectors import allocation_settings
    from warehouse.services import stock_adjust

    roles_sync()
    status_nodes_ensure_defaults()
    Channel.objects.create(code="bench-wb", name="面单压测渠道", kind="other")
    warehouse = Warehouse.objects.create(
        code="WB01",
        name="压测面单仓",
        province="上海",
        city="上海",
        daily_capacity=0,
        sender_name="上海青浦仓",
        sender_phone="021-61234567",
        sender_address="上海市青浦区华新镇华志路1688号",
        sender_company="压测旗舰店",
    )
    skus = {code: Sku.objects.create(code=code, name=name, category="压测", unit="件") for code, name, _p in SKUS}
    for sku in skus.values():
        stock_adjust(sku=sku, warehouse=warehouse, kind="inbound", quantity=orders * 4, reason="bench", actor=None)
    Carrier.objects.create(
        code="shunfeng",
        name="顺丰速运",
        adapter=Carrier.Adapter.KUAIDI100,
        provider_code="shunfeng",
        api_base_url="http://127.0.0.1:9/",  # tracking polls are not part of this bench
        api_key=KEY,
        callback_secret="bench-salt",
        waybill_api_url=carrier_url,
        waybill_secret=SECRET,
        waybill_partner_id=PARTNER_ID,
        label_paper="76x130",
    )
    settings = allocation_settings()
    settings.auto_allocate = False
    settings.breaker_enabled = False
    settings.save()

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    ids = []
    for k in range(orders):
        lines = [(code, rng.randint(1, 3), price) for code, _n, price in rng.sample(SKUS, rng.randint(1, 3))]
        payload = dataset.order_payload(
            channel="bench-wb",
            channel_order_no=f"WB{seed}-{k:06d}",
            lines=lines,
            customer=("压测买家", f"166{rng.randrange(10**8):08d}", "normal"),
            place=rng.choice(PROVINCES),
            detail=f"测试路 {k % 500 + 1} 号",
            ordered_at=now - timedelta(minutes=5),
            paid_at=now - timedelta(minutes=1),
        )
        order = dataset.order_intake(payload).order
        for name, changes in (("start_allocation", {}), ("allocate", {"warehouse": "WB01", "carrier": "shunfeng"})):
            order = order_transition(order=order, transition=name, actor=None, source=Source.SYSTEM, changes=changes)
        if order.status != Status.ALLOCATED:
            raise SystemExit(f"order {order.number} is '{order.status}' after setup, expected 'allocated'")
        ids.append(order.pk)
    for name in ("default", "carriers"):
        django_rq.get_queue(name).empty()  # no worker here: the bench runs what it measures itself
    log(f"setup: {orders} allocated orders in {time.monotonic() - t0:.1f}s")
    return ids


# --- measured ------------------------------------------------------------------------------------------------------


def services_available() -> bool:
    return importlib.util.find_spec("orders.services.waybills") is not None


def statement_counter():
    from django.db import connection

    counted = [0]

    def count(execute, sql, params, many, context):
        counted[0] += 1
        return execute(sql, params, many, context)

    return (lambda: connection.execute_wrapper(count)), counted  # a fresh context manager each time


def wave_through_services(orders) -> tuple[int, list[tuple[str, str]]]:
    from orders.models import Source
    from orders.services.waybills import orders_waybills_obtain

    batch = orders_waybills_obtain(orders=orders, actor=None, source=Source.SCAN)
    return len(batch.ok), batch.failed


def wave_through_adapter(orders) -> tuple[int, list[tuple[str, str]]]:
    """The fallback: what the entry service does, from the logistics side only (reserve, ask, record)."""
    from django.db import transaction

    from logistics import services as registry
    from logistics.carriers import adapter_for
    from logistics.carriers.base import CarrierUnavailable, WaybillParty, WaybillRefused, WaybillRequest
    from logistics.models import Shipment
    from orders.services.core import order_lock

    ok, failed = 0, []
    for order in orders:
        try:
            with transaction.atomic():
                locked = order_lock(order=order)
                reserved = registry.waybill_reserve(order=locked, carrier=locked.carrier)
                if reserved.tracking_number:
                    ok += 1
                    continue
                w = locked.warehouse
                request = WaybillRequest(
                    key=reserved.waybill_key,
                    receiver=WaybillParty(
                        name=locked.receiver_name,
                        phone=locked.receiver_phone,
                        address=f"{locked.province}{locked.city}{locked.district}{locked.address_detail}",
                    ),
                    sender=WaybillParty(name=w.sender_name, phone=w.sender_phone, address=w.sender_address),
                    cargo="化妆品",
                )
                waybill = adapter_for(locked.carrier).waybill_order(carrier=locked.carrier, request=request)
                Shipment.objects.filter(pk=reserved.pk).update(
                    tracking_number=waybill.tracking_number, routing_text=waybill.routing_text
                )
                ok += 1
        except (WaybillRefused, CarrierUnavailable) as exc:
            failed.append((order.number, str(exc)))
    return ok, failed


def labels_through_services(orders) -> bytes:
    from orders.services.waybills import order_labels_pdf

    return order_labels_pdf(orders=orders)


def labels_through_adapter(orders) -> bytes:
    from logistics.labels import LabelData, labels_pdf
    from logistics.models import Shipment

    parcels = {
        s.order_id: s for s in Shipment.objects.filter(order__in=orders, is_active=True).exclude(tracking_number="")
    }
    labels = [
        LabelData(
            carrier_name="顺丰速运",
            tracking_number=parcels[o.pk].tracking_number,
            order_number=o.number,
            receiver_name=o.receiver_name,
            receiver_phone=o.receiver_phone,
            receiver_address=f"{o.province}{o.city}{o.district}{o.address_detail}",
            sender_name=o.warehouse.sender_name,
            sender_phone=o.warehouse.sender_phone,
            sender_address=o.warehouse.sender_address,
            routing_text=parcels[o.pk].routing_text,
        )
        for o in orders
    ]
    return labels_pdf(labels, paper="76x130")


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--carrier-ms", type=float, default=20.0, help="the carrier server's answer delay")
    parser.add_argument("--cancel", type=int, default=100, help="orders of the wave cancelled afterwards")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    log(common.load_average())
    carrier = CarrierServer(args.carrier_ms).start()
    try:
        ids = setup(args.orders, carrier.url, args.seed)
        run(carrier, ids, args)
    finally:
        carrier.stop()
        common.django_close_connections()


def run(carrier: CarrierServer, ids: list[int], args) -> None:
    from pypdf import PdfReader

    from logistics.models import Shipment
    from orders.models import Order, Source
    from orders.services.transitions import order_transition

    through = "services" if services_available() else "adapter"
    wave = wave_through_services if through == "services" else wave_through_adapter
    labels = labels_through_services if through == "services" else labels_through_adapter
    if through == "adapter":
        log("orders.services.waybills is not here: wave and labels run on the logistics adapter and labels directly")

    def load():
        return list(Order.objects.filter(pk__in=ids).select_related("carrier", "warehouse").order_by("pk"))

    rows = []
    counter, counted = statement_counter()
    carrier.reset()
    orders = load()
    with counter():
        t = time.perf_counter()
        ok, failed = wave(orders)
        wave_s = time.perf_counter() - t
    wave_statements = counted[0]
    carrier_order_s = carrier.busy["order"]
    rows.append(
        [
            "wave (obtain all waybills)",
            f"{wave_s:.2f}",
            f"{ok / wave_s:.1f}/s",
            f"{carrier.calls['order']}",
            f"{carrier_order_s:.2f}",
            ratio(wave_s, carrier_order_s),
            f"{wave_statements / max(1, len(orders)):.2f}",
        ]
    )
    if failed:
        log(f"{len(failed)} orders got no waybill, first: {failed[0]}")

    carrier.reset()
    counted[0] = 0
    orders = load()
    with counter():
        t = time.perf_counter()
        again, _failed = wave(orders)
        rewave_s = time.perf_counter() - t
    rows.append(
        [
            "re-wave (all have one)",
            f"{rewave_s:.2f}",
            f"{again / rewave_s:.1f}/s",
            f"{carrier.calls['order']}",
            "0.00",
            "n/a",
            f"{counted[0] / max(1, len(orders)):.2f}",
        ]
    )

    counted[0] = 0
    orders = load()
    with counter():
        t = time.perf_counter()
        pdf = labels(orders)
        labels_s = time.perf_counter() - t
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    rows.append(
        [
            f"labels PDF ({pages} pages, {len(pdf) / 1024:.0f} KiB)",
            f"{labels_s:.2f}",
            f"{pages / labels_s:.1f} pages/s",
            "0",
            "0.00",
            "n/a",
            f"{counted[0] / max(1, len(orders)):.2f}",
        ]
    )

    # cancel: the registry enqueues one cancel job per unused waybill; a worker's work is run here in a row
    import django_rq

    from logistics import jobs as logistics_jobs

    queue = django_rq.get_queue("carriers")
    queue.empty()
    cancelled = [o for o in load() if o.pk in set(ids[: args.cancel])]
    for order in cancelled:
        order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="压测取消")
    jobs = [j for j in queue.get_jobs() if j.func_name == "logistics.jobs.waybill_cancel"]
    queue.empty()
    carrier.reset()
    counted[0] = 0
    outcomes: dict[str, int] = {}
    with counter():
        t = time.perf_counter()
        for job in jobs:
            outcome = logistics_jobs.waybill_cancel(**job.kwargs)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        cancel_s = time.perf_counter() - t
    done = Shipment.objects.filter(order_id__in=[o.pk for o in cancelled], waybill_state="cancelled").count()
    rows.append(
        [
            f"cancel jobs ({len(jobs)} enqueued, {done} cancelled)",
            f"{cancel_s:.2f}",
            f"{len(jobs) / cancel_s:.1f}/s" if cancel_s else "n/a",
            f"{carrier.calls['cancel']}",
            f"{carrier.busy['cancel']:.2f}",
            ratio(cancel_s, carrier.busy["cancel"]),
            f"{counted[0] / max(1, len(jobs)):.2f}",
        ]
    )

    print()
    print(
        f"{args.orders} orders, carrier answer delay {args.carrier_ms:g} ms, through {through}, "
        f"one process, sequential; {common.load_average()}"
    )
    table(["step", "seconds", "rate", "carrier calls", "carrier busy s", "ratio to carrier", "SQL per item"], rows)
    hub_ms = (wave_s - carrier_order_s) / max(1, ok) * 1000
    print(f"\nhub time per waybill beyond the carrier's answer: {hub_ms:.1f} ms; outcomes of the cancels: {outcomes}")
    if carrier.refused:
        print(f"the carrier server refused {carrier.refused} badly signed calls")


if __name__ == "__main__":
    main()
