"""Nothing the outbox owes is lost: real rqworkers deliver to a local ERP server; one is killed with -9 in the
middle of a batch, every database connection is dropped (pg_terminate_backend), and a private redis-server the
test started is killed and started again empty (the queued jobs are gone). After recovery — fresh workers and
the scheduler's first sweep — every row is delivered exactly once from our side, and the ERP saw every key."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from orders.models import OutboxMessage, Source, Status
from orders.services.transitions import order_transition
from tests.channels.erp_peer import ErpPeer, slow
from tests.channels.outbox_fixtures import endpoint
from tests.factories import make_order

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A private redis-server without persistence: killing it loses every queued job."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def spawn(redis: Redis, *args: str) -> subprocess.Popen:
    """manage.py in its own process group (a worker forks a work horse per job: -9 must reach both)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": "postgres://{USER}:{PASSWORD}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
        "REDIS_URL": redis.url,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def end(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_outbox_survives_kill_9_dropped_connections_and_a_redis_restart(settings, stocked):
    # given: a private Redis for the jobs, an ERP that takes 15 ms per push (so the kill lands mid-batch)
    redis = Redis()
    redis.start()
    settings.RQ_QUEUES = {name: {**config, "URL": redis.url} for name, config in django_settings.RQ_QUEUES.items()}
    erp_peer = ErpPeer(slow(0.015))
    processes: list[subprocess.Popen] = []
    try:
        endpoint(erp_peer, subscribed_statuses=[Status.CANCELLED], max_attempts=20)
        orders = [make_order() for _ in range(ORDERS)]
        for order in orders[::2]:  # half of them send a second message, after the first
            order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="买家取消")
        keys = set(OutboxMessage.objects.values_list("idempotency_key", flat=True))
        assert len(keys) == ORDERS + ORDERS // 2

        # when: a worker starts delivering and is killed with -9 in the middle of it
        first = spawn(redis, "rqworker", "default")
        processes.append(first)
        wait_for(lambda: len(erp_peer.seen) >= 10, seconds=60, what="the first deliveries")
        end(first, signal.SIGKILL)
        assert OutboxMessage.objects.exclude(state="delivered").exists()  # killed mid-way: work is left
        # and: every other connection to the database is dropped, and Redis restarts empty
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        redis.kill()
        redis.start()

        # then: two fresh workers and the scheduler (whose first tick runs the outbox sweep) deliver the rest
        processes += [spawn(redis, "rqworker", "default", "--with-scheduler") for _ in range(2)]
        processes.append(spawn(redis, "rqcron", "config.cron"))
        wait_for(
            lambda: not OutboxMessage.objects.exclude(state="delivered").exists(),
            seconds=120,
            what="every outbox row delivered",
        )
    finally:
        for process in processes:
            end(process)
        erp_peer.stop()
        if redis.process.poll() is None:
            redis.kill()

    # every row delivered once from our side: one history row records its delivery
    delivered_versions = defaultdict(int)
    for key in OutboxMessage.history.filter(state="delivered").values_list("idempotency_key", flat=True):
        delivered_versions[key] += 1
    assert set(delivered_versions) == keys
    assert set(delivered_versions.values()) == {1}
    # the ERP saw every key (a resend after the kill is deduped by the key), and each order's in order
    assert set(erp_peer.delivered) == keys
    assert len(erp_peer.seen) > len(keys)  # the killed batch's pushes were sent again: the kill was mid-batch
    first_seen = {}
    for i, seen in enumerate(erp_peer.seen):
        first_seen.setdefault(seen.key, i)
    for order in orders[::2]:
        assert first_seen[order.number] < first_seen[f"{order.number}-cancelled-2"]
