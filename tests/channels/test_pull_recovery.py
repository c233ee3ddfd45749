"""A backfill's worker killed with -9 mid-run: its lock lapses, the cron resumes it from its committed progress,
and every order exists once (real rqworker processes, a local platform)."""

import time
from datetime import UTC, datetime, timedelta

import django_rq
import pytest

from orders.models import ChannelBackfill, IntakeRecord, Order
from orders.services.channel_pulls import channel_backfill_start, channels_pull_due
from tests.channels import processes
from tests.channels.platforms import pdd_order, platforms_fixture, pull_channel_for  # noqa: F401 - the fixture
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db(transaction=True)

WINDOWS = 6  # three hours in PDD's 30-minute windows


def test_backfill_killed_mid_run_resumes_from_its_progress_and_takes_each_order_once(platforms, channels_queue):
    SkuFactory(code="MASK-001")
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    numbers = []
    for n in range(WINDOWS * 2):
        numbers.append(f"KILL-{n:02d}")
        platform.put(numbers[-1], start + timedelta(minutes=15 * n + 1), pdd_order(numbers[-1], phone="138****1234"))
    platform.on_request = lambda platform, request: time.sleep(0.3)  # a platform that takes its time

    backfill = channel_backfill_start(channel=channel, start=start, end=start + timedelta(hours=3), actor=None)
    assert [job.func_name for job in channels_queue.get_jobs()] == ["orders.jobs.run_backfill"]

    # when the worker is killed with -9 after a few windows
    worker = processes.rqworker()
    worker.env["CHANNEL_PULL_LOCK_SECONDS"] = "3"
    with worker:

        def windows_done() -> int:
            backfill.refresh_from_db()
            return backfill.windows_done >= 2

        processes.wait_until(windows_done, timeout=180, what="two windows of the backfill")
        worker.kill9()  # the worker and its work-horse

    # then its progress is where the last finished window ended, and the orders up to there are in
    backfill.refresh_from_db()
    assert backfill.state == ChannelBackfill.State.RUNNING
    assert 2 <= backfill.windows_done < WINDOWS
    assert backfill.cursor == start + timedelta(minutes=30 * backfill.windows_done)
    done_before = backfill.windows_done

    # when its lock has lapsed and the cron asks again, a worker finishes it
    redis = django_rq.get_connection("channels")
    processes.wait_until(lambda: not redis.exists(f"orderhub:backfill:{backfill.pk}"), timeout=30, what="the lock")
    channels_queue.empty()
    channels_pull_due()
    assert "orders.jobs.run_backfill" in [job.func_name for job in channels_queue.get_jobs()]
    again = processes.rqworker(burst=True).start()
    try:
        assert again.wait(timeout=300) == 0, again.output()
    finally:
        again.stop()

    # then it is done, over every window once, and each order exists once
    backfill.refresh_from_db()
    assert backfill.state == ChannelBackfill.State.DONE and backfill.windows_done == WINDOWS
    assert backfill.orders_seen == len(numbers)
    assert sorted(Order.objects.filter(channel=channel).values_list("channel_order_no", flat=True)) == numbers
    first_takes = IntakeRecord.objects.filter(channel=channel, outcome="created")
    assert sorted(first_takes.values_list("channel_order_no", flat=True)) == numbers
    assert done_before < WINDOWS
