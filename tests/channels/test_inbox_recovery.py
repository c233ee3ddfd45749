"""Nothing accepted is lost: real rqworker, gunicorn and redis-server processes, killed and cut off mid-run.
After recovery (the sweep, a fresh worker) every accepted order exists once and every delivery is processed."""

import json
import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from orders.models import InboxDelivery, IntakeRecord, Order, Via
from orders.services.channel_inbox import inbox_deliveries_sweep, inbox_delivery_store
from tests.channels import processes
from tests.channels.helpers import batch, channel_order, signed_headers, webhook_channel
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK = "/api/v1/channels/shop/webhook/"


def store_batches(channel, *, deliveries: int, per_delivery: int) -> list[str]:
    numbers = []
    for d in range(deliveries):
        orders = [channel_order(f"B{d:03d}-{i:03d}") for i in range(per_delivery)]
        numbers += [order["channel_order_no"] for order in orders]
        inbox_delivery_store(channel=channel, via=Via.WEBHOOK, delivery_id=f"big-{d}", body=batch(*orders), headers={})
    return numbers


def processed() -> int:
    return InboxDelivery.objects.filter(state=InboxDelivery.State.PROCESSED).count()


def assert_all_taken_once(numbers: list[str]) -> None:
    assert InboxDelivery.objects.exclude(state=InboxDelivery.State.PROCESSED).count() == 0
    assert Order.objects.count() == len(numbers)
    assert sorted(Order.objects.values_list("channel_order_no", flat=True)) == sorted(numbers)
    assert IntakeRecord.objects.filter(run=0).count() == len(numbers)
    assert set(IntakeRecord.objects.values_list("outcome", flat=True)) == {"created"}


def recover(redis_url: str | None = None) -> None:
    """What the cron's sweep and a restarted worker do after a crash."""
    if redis_url:
        processes.manage_shell(
            "from datetime import timedelta\n"
            "from orders.services.channel_inbox import inbox_deliveries_sweep\n"
            "print(inbox_deliveries_sweep(older_than=timedelta(0)))",
            redis_url=redis_url,
        )
    else:
        inbox_deliveries_sweep(older_than=timedelta(0))
    worker = processes.rqworker(burst=True, redis_url=redis_url).start()
    try:
        assert worker.wait(timeout=300) == 0, worker.output()
    finally:
        worker.stop()


def test_kill_9_of_the_worker_mid_batch_loses_and_duplicates_nothing(channels_queue):
    SkuFactory(code="MASK-001")
    channel = webhook_channel()
    numbers = store_batches(channel, deliveries=12, per_delivery=60)
    assert len(channels_queue) == 12
    with processes.rqworker() as worker:
        processes.wait_until(lambda: processed() >= 1, timeout=180, what="a first processed delivery")
        # killed while its work-horse runs a delivery's batch: the horse dies too (it does not finish the batch)
        processes.wait_until(worker.descendants, timeout=60, step=0.01, what="a work-horse running a batch")
        horses = worker.kill9()
        assert horses
        processes.wait_until(lambda: not any(processes.alive(pid) for pid in horses), timeout=10, what="dead horses")
    left = InboxDelivery.objects.filter(state=InboxDelivery.State.RECEIVED).count()
    assert left >= 1  # killed mid-batch: the delivery in flight rolled back whole
    # the half-done delivery left no orders and no records behind
    pending = InboxDelivery.objects.filter(state=InboxDelivery.State.RECEIVED)
    assert not IntakeRecord.objects.filter(delivery__in=pending).exists()
    recover()
    assert_all_taken_once(numbers)


def test_database_connections_dropped_mid_run_are_recovered(channels_queue):
    SkuFactory(code="MASK-001")
    channel = webhook_channel()
    numbers = store_batches(channel, deliveries=8, per_delivery=60)
    own = connection.cursor().connection.info.backend_pid
    name = connection.settings_dict["NAME"]

    def terminate_others() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> %s AND backend_type = 'client backend'"
                " AND xact_start IS NOT NULL AND state IN ('active', 'idle in transaction')",  # mid-run
                [name, own],
            )
            return cursor.fetchone()[0]

    with processes.rqworker() as worker:
        processes.wait_until(lambda: processed() >= 1, timeout=180, what="a first processed delivery")
        processes.wait_until(terminate_others, timeout=30, step=0.02, what="a worker connection to drop")
        processes.wait_until(lambda: len(channels_queue) == 0, timeout=180, what="the worker to take every job once")
        time.sleep(1)
        assert worker.proc.poll() is None, worker.output()  # the worker itself survived
    # the run whose connection was dropped rolled back whole and waits for its retry (or the sweep)
    assert InboxDelivery.objects.filter(state=InboxDelivery.State.RECEIVED).count() >= 1
    recover()
    assert_all_taken_once(numbers)


def test_deliveries_accepted_while_redis_was_down_are_processed_by_the_sweep():
    SkuFactory(code="MASK-001")
    webhook_channel()
    redis_port = processes.free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    web_port = processes.free_port()
    redis = processes.redis_server(port=redis_port).start()
    web = processes.gunicorn(port=web_port, redis_url=redis_url).start()
    numbers = []
    try:
        processes.wait_redis(redis_port)
        processes.wait_http(web_port)

        def send(n: int) -> None:
            order = channel_order(f"RD-{n}")
            numbers.append(order["channel_order_no"])
            body = batch(order)
            status, answer = processes.post(web_port, WEBHOOK, body, signed_headers(body))
            assert status == 200, answer

        for n in range(3):
            send(n)
        redis.kill9()  # Redis gone, and with it (no persistence) the 3 jobs queued so far
        for n in range(3, 8):
            send(n)  # still accepted: the row is committed, the lost enqueue only logged
        assert InboxDelivery.objects.count() == 8 and processed() == 0
        redis.start()
        processes.wait_redis(redis_port)
        recover(redis_url=redis_url)
    finally:
        web.stop()
        redis.stop()
    assert_all_taken_once(numbers)


def test_a_sender_that_retries_and_reorders_gets_every_order_taken_once(channels_queue):
    SkuFactory(code="MASK-001")
    webhook_channel()
    port = processes.free_port()
    rng = random.Random(12)
    deliveries = []
    for n in range(30):
        orders = [channel_order(f"RO-{n}-{i}") for i in range(rng.randint(1, 4))]
        body = batch(*orders)
        deliveries.append((f"evt_{n}", body, [order["channel_order_no"] for order in orders]))
    # an update of the first order arriving before and after its original
    first = json.loads(deliveries[0][1])["orders"][0]
    update = batch({**first, "paid_amount": "59.00", "paid_at": first["ordered_at"], "status": "placed"})
    deliveries.append(("evt_update", update, []))
    sends = [item for item in deliveries for _ in range(rng.randint(1, 3))]  # retries: the same webhook-id again
    rng.shuffle(sends)
    answers = []
    lock = threading.Lock()

    def sender(chunk):
        for msg_id, body, _numbers in chunk:
            status, data = processes.post(port, WEBHOOK, body, signed_headers(body, msg_id=msg_id))
            with lock:
                answers.append((msg_id, status, json.loads(data)))

    with processes.gunicorn(port=port, workers=2) as _web:
        processes.wait_http(port)
        threads = [threading.Thread(target=sender, args=(sends[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert len(answers) == len(sends) and {status for _id, status, _a in answers} == {200}
    delivery_of = {}
    for msg_id, _status, answer in answers:
        assert delivery_of.setdefault(msg_id, answer["delivery"]) == answer["delivery"]  # same row every retry
    fresh = [msg_id for msg_id, _status, answer in answers if not answer["duplicate"]]
    assert sorted(fresh) == sorted(msg_id for msg_id, _body, _n in deliveries)  # stored once each
    assert InboxDelivery.objects.count() == len(deliveries)
    recover()
    numbers = [number for _id, _body, batch_numbers in deliveries for number in batch_numbers]
    assert InboxDelivery.objects.exclude(state=InboxDelivery.State.PROCESSED).count() == 0
    assert sorted(Order.objects.values_list("channel_order_no", flat=True)) == sorted(numbers)
    assert IntakeRecord.objects.filter(run=0).count() == len(numbers) + 1
