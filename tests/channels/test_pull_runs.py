"""A channel's pull run and backfill against a local platform: windows from the cursor, every page an inbox
delivery processed into orders, the cursor committed after the window, backoff and alert on failures."""

from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.utils import timezone

from orders.exceptions import InvalidInput
from orders.models import (
    Alert,
    Channel,
    ChannelBackfill,
    ChannelPull,
    InboxDelivery,
    IntakeRecord,
    Order,
    Via,
)
from orders.services.channel_pulls import (
    PULL_JOB,
    channel_backfill_run,
    channel_backfill_start,
    channel_pull_run,
    channels_pull_due,
)
from tests.channels.platforms import (  # noqa: F401 - the fixture
    douyin_order,
    pdd_order,
    platforms_fixture,
    pull_channel_for,
    taobao_trade,
)
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def skus(db):
    SkuFactory(code="MASK-001")


MASKED = "138****1234"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def pull_of(channel) -> ChannelPull:
    return ChannelPull.objects.get(channel=channel)


def set_cursor(channel, moment):
    ChannelPull.objects.filter(channel=channel).update(cursor=moment)  # test setup: where the last run got to


def test_pull_walks_windows_from_the_cursor_and_commits_it_after_each(platforms):
    # given a Taobao channel pulled up to 2 hours ago, and 5 trades modified since, spread over the windows
    platform = platforms("taobao")
    channel = pull_channel_for(platform, "tmall", page_size=2)
    start = now() - timedelta(hours=2)
    set_cursor(channel, start)
    for n in range(5):
        platform.put(f"T{n}", start + timedelta(minutes=20 * n + 1), taobao_trade(f"T{n}"))

    # when the pull runs
    result = channel_pull_run(channel_id=channel.pk)

    # then every trade is an order, each page an inbox delivery of via pull, and the cursor is at now − margin
    assert result.startswith("ok: 4 windows"), result
    assert set(Order.objects.filter(channel=channel).values_list("channel_order_no", flat=True)) == {
        f"T{n}" for n in range(5)
    }
    deliveries = InboxDelivery.objects.filter(channel=channel)
    assert {d.via for d in deliveries} == {Via.PULL} and all(d.state == "processed" for d in deliveries)
    assert all(d.delivery_id.startswith("pull:tmall:") for d in deliveries)
    pull = pull_of(channel)
    assert now() - timedelta(minutes=3) <= pull.cursor <= timezone.now() - timedelta(minutes=2)
    assert pull.consecutive_failures == 0 and pull.last_success_at and pull.next_attempt_at > timezone.now()
    assert pull.history.count() == 1  # the run's bookkeeping is no change anyone made: only the creation
    # the windows asked for are contiguous and none over 30 minutes
    windows = sorted(set(platform.windows))
    assert all(b - a <= timedelta(minutes=30) for a, b in windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))

    # when the same windows are pulled again, no page is stored twice (only the last window, which ends at "now
    # − margin", is a new one) and no order is made twice
    stored = set(deliveries.values_list("delivery_id", flat=True))
    set_cursor(channel, start)
    channel_pull_run(channel_id=channel.pk)
    again = set(InboxDelivery.objects.filter(channel=channel).values_list("delivery_id", flat=True))
    assert len(again - stored) <= 1 and len(again) == len(stored) + len(again - stored)
    assert Order.objects.filter(channel=channel).count() == 5


def test_order_reported_again_modified_is_an_update_not_a_new_order(platforms):
    platform = platforms("taobao")
    channel = pull_channel_for(platform, "tmall")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    created = start - timedelta(hours=1)
    platform.put("T77", start + timedelta(minutes=1), taobao_trade("T77", status="WAIT_BUYER_PAY", created=created))
    channel_pull_run(channel_id=channel.pk)
    order = Order.objects.get(channel=channel, channel_order_no="T77")

    # the buyer pays: the trade comes back modified in a later window
    platform.modify("T77", now() - timedelta(minutes=1), **taobao_trade("T77", created=created))
    pull = pull_of(channel)
    pull.clock_margin_seconds = 0
    pull.save()
    channel_pull_run(channel_id=channel.pk)

    assert Order.objects.filter(channel=channel).count() == 1
    outcomes = list(
        IntakeRecord.objects.filter(channel=channel, channel_order_no="T77")
        .order_by("id")
        .values_list("outcome", flat=True)
    )
    reasons = list(IntakeRecord.objects.filter(channel=channel).values_list("reason", "code"))
    assert outcomes == ["created", "updated"], reasons
    order.refresh_from_db()
    assert order.paid_amount == 59


def test_pdd_encrypted_receiver_and_ship_by_deadline_are_kept(platforms):
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop")
    start = now() - timedelta(minutes=50)
    set_cursor(channel, start)
    ship_by = now() + timedelta(hours=30)
    platform.put("261201-001", start + timedelta(minutes=2), pdd_order("261201-001", ship_by=ship_by))

    channel_pull_run(channel_id=channel.pk)

    record = IntakeRecord.objects.get(channel=channel)
    assert record.outcome == "created", record.reason
    order = record.order
    assert order.receiver_phone == "~AgAAAAEncryptedPhone~"
    assert order.address_detail == "~AgAAAAEncryptedAddress~"
    assert order.platform_ship_by == ship_by


def test_douyin_amounts_in_fen_and_masked_values_kept(platforms):
    platform = platforms("douyin")
    channel = pull_channel_for(platform, "dy-shop")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    platform.put("6920001", start + timedelta(minutes=2), douyin_order("6920001"))

    channel_pull_run(channel_id=channel.pk)

    record = IntakeRecord.objects.get(channel=channel)
    assert record.outcome == "created", record.reason
    assert record.order.paid_amount == 59
    assert record.order.receiver_phone == "$EncTel$" and record.order.receiver_name == "#EncRecv#"


def test_a_500_keeps_the_cursor_backs_off_then_recovers(platforms, settings):
    settings.CHANNEL_PULL_BACKOFF_BASE_SECONDS = 60
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    platform.put("261201-002", start + timedelta(minutes=2), pdd_order("261201-002", phone=MASKED))
    platform.faults = [500]

    before = timezone.now()
    assert channel_pull_run(channel_id=channel.pk).startswith("failed: HTTP 500")
    pull = pull_of(channel)
    assert pull.cursor == start
    assert pull.consecutive_failures == 1 and "HTTP 500" in pull.last_error
    assert before + timedelta(seconds=30) <= pull.next_attempt_at <= timezone.now() + timedelta(seconds=60)
    assert not Order.objects.filter(channel=channel).exists()
    # not due while it backs off
    assert channels_pull_due() == 0

    assert channel_pull_run(channel_id=channel.pk).startswith("ok")
    pull.refresh_from_db()
    assert pull.cursor > start and pull.consecutive_failures == 0 and pull.last_error == ""
    assert Order.objects.filter(channel=channel, channel_order_no="261201-002").exists()


def test_failures_in_a_row_raise_one_alert_that_resolves_on_success(platforms, settings):
    settings.CHANNEL_PULL_ALERT_AFTER_FAILURES = 3
    platform = platforms("taobao")
    channel = pull_channel_for(platform, "tmall")
    set_cursor(channel, now() - timedelta(minutes=40))
    platform.faults = [502, 502, 502, 502]

    for _ in range(2):
        channel_pull_run(channel_id=channel.pk)
    assert not Alert.objects.filter(kind=Alert.Kind.CHANNEL_PULL_FAILING).exists()
    channel_pull_run(channel_id=channel.pk)
    channel_pull_run(channel_id=channel.pk)
    alert = Alert.objects.get(kind=Alert.Kind.CHANNEL_PULL_FAILING)
    assert alert.is_open and "4" in alert.message and alert.owner_group.name == "运营主管"
    assert pull_of(channel).consecutive_failures == 4
    # backoff grows: the 4th wait is longer than the base
    assert pull_of(channel).next_attempt_at > timezone.now() + timedelta(
        seconds=settings.CHANNEL_PULL_BACKOFF_BASE_SECONDS
    )

    channel_pull_run(channel_id=channel.pk)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_one_platform_down_does_not_stop_another_channel(platforms, django_capture_on_commit_callbacks):
    # given two channels due, one platform answering 500 to everything
    down = platforms("taobao")
    up = platforms("pdd")
    tmall = pull_channel_for(down, "tmall")
    shop = pull_channel_for(up, "pdd-shop")
    start = now() - timedelta(minutes=40)
    set_cursor(tmall, start)
    set_cursor(shop, start)
    down.faults = [500] * 50
    up.put("261201-003", start + timedelta(minutes=5), pdd_order("261201-003", phone=MASKED))
    queue = django_rq.get_queue("channels")
    queue.empty()

    # when the cron asks, one job per channel is enqueued; each runs on its own
    with django_capture_on_commit_callbacks(execute=True):
        assert channels_pull_due() == 2
    jobs = [job for job in queue.get_jobs() if job.func_name == PULL_JOB]
    assert sorted(job.kwargs["channel_id"] for job in jobs) == sorted([tmall.pk, shop.pk])
    results = {job.kwargs["channel_id"]: job.perform() for job in jobs}
    queue.empty()

    # then the failing one failed, the other pulled
    assert results[tmall.pk].startswith("failed") and results[shop.pk].startswith("ok")
    assert Order.objects.filter(channel=shop).count() == 1
    assert pull_of(tmall).cursor == start and pull_of(shop).cursor > start


def test_a_timeout_is_a_failure_that_keeps_the_cursor(platforms, settings):
    settings.CHANNEL_PULL_HTTP_TIMEOUT_SECONDS = 1
    platform = platforms("douyin")
    channel = pull_channel_for(platform, "dy-shop")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    platform.faults = ["hang"]

    assert "timed out" in channel_pull_run(channel_id=channel.pk)
    pull = pull_of(channel)
    assert pull.cursor == start and "timed out" in pull.last_error


def test_an_order_the_database_refuses_is_rejected_alone_and_the_page_kept(platforms):
    # a page of two trades in one window, one with a value the database cannot take (a NUL character PostgreSQL
    # refuses in text: a DataError no check before names), the other good
    platform = platforms("taobao")
    channel = pull_channel_for(platform, "tmall")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    bad = taobao_trade("T91")
    bad["receiver_name"] = "张\x00三"
    platform.put("T91", start + timedelta(minutes=1), bad)
    platform.put("T90", start + timedelta(minutes=2), taobao_trade("T90"))

    result = channel_pull_run(channel_id=channel.pk)

    # then the bad one is rejected with the database's reason, the good one on the same page is created, and
    # the run succeeded: the cursor moved on (a rejected order is logged, not retried forever)
    assert result.startswith("ok"), result
    records = {r.channel_order_no: r for r in IntakeRecord.objects.filter(channel=channel)}
    assert records["T91"].outcome == "rejected" and records["T91"].order is None
    assert "值无法保存" in records["T91"].reason and "0x00" in records["T91"].reason, records["T91"].reason
    assert records["T90"].outcome == "created", records["T90"].reason
    assert list(Order.objects.filter(channel=channel).values_list("channel_order_no", flat=True)) == ["T90"]
    pull = pull_of(channel)
    assert pull.cursor > start and pull.consecutive_failures == 0


def test_pull_off_or_running_elsewhere_does_nothing(platforms):
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop", enabled=False)
    assert channel_pull_run(channel_id=channel.pk) == "off"
    assert platform.pages_served == []
    pull = pull_of(channel)
    pull.enabled = True
    pull.save()
    lock = django_rq.get_connection("channels").lock(f"orderhub:pull:{channel.pk}", timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert channel_pull_run(channel_id=channel.pk) == "busy"
    finally:
        lock.release()
    assert platform.pages_served == []


def test_backfill_over_several_windows_with_its_own_progress(platforms, yunying):
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop")
    start = now() - timedelta(days=2)
    for n in range(4):
        platform.put(f"BF{n}", start + timedelta(minutes=25 * n + 3), pdd_order(f"BF{n}", phone=MASKED))
    end = start + timedelta(hours=2)

    backfill = channel_backfill_start(channel=channel, start=start, end=end, actor=yunying)
    platform.faults = [500] * 3 + [500]  # the third window fails: the count request of window 1 is the first
    # first run: fails at once, progress kept at the start
    assert channel_backfill_run(backfill_id=backfill.pk).startswith("failed")
    backfill.refresh_from_db()
    assert backfill.state == ChannelBackfill.State.FAILED and backfill.cursor is None
    platform.faults = []

    assert channel_backfill_run(backfill_id=backfill.pk).startswith("done")
    backfill.refresh_from_db()
    assert backfill.state == ChannelBackfill.State.DONE and backfill.cursor == end
    assert backfill.windows_done == 4  # 2 hours in PDD's 30-minute windows
    assert backfill.orders_seen == 4 and backfill.counts == {"created": 4}
    assert backfill.started_by == yunying and backfill.finished_at
    # history: started, running, failed, running, done; not a row per window
    assert list(backfill.history.order_by("history_id").values_list("state", flat=True)) == [
        "pending",
        "running",
        "failed",
        "running",
        "done",
    ]
    assert set(InboxDelivery.objects.filter(channel=channel).values_list("via", flat=True)) == {Via.BACKFILL}
    assert pull_of(channel).cursor is None  # the channel's own pull cursor is not the backfill's


def test_backfill_resumes_from_its_progress(platforms):
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop")
    start = now() - timedelta(days=1)
    backfill = channel_backfill_start(channel=channel, start=start, end=start + timedelta(hours=1), actor=None)
    ChannelBackfill.objects.filter(pk=backfill.pk).update(
        state=ChannelBackfill.State.RUNNING, cursor=start + timedelta(minutes=30), windows_done=1
    )  # as a killed run left it

    assert channel_backfill_run(backfill_id=backfill.pk).startswith("done")
    assert platform.windows == [(start + timedelta(minutes=30), start + timedelta(hours=1))] * len(platform.windows)
    backfill.refresh_from_db()
    assert backfill.windows_done == 2


def test_backfill_outside_taobaos_three_months_is_refused(platforms):
    platform = platforms("taobao")
    channel = pull_channel_for(platform, "tmall")
    with pytest.raises(InvalidInput) as refused:
        channel_backfill_start(
            channel=channel, start=now() - timedelta(days=100), end=now() - timedelta(days=95), actor=None
        )
    assert "90" in refused.value.message
    with pytest.raises(InvalidInput):
        channel_backfill_start(
            channel=channel, start=now() - timedelta(days=1), end=now() - timedelta(days=2), actor=None
        )
    assert not ChannelBackfill.objects.exists()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("taobao", "This ban will last"),
        ("pdd", "调用过于频繁"),
        ("douyin", "请求过于频繁"),
        ("generic", "too many requests"),
    ],
)
def test_rate_limited_by_the_platform_is_a_failure_in_its_own_words(platforms, kind, words):
    platform = platforms(kind)
    channel = pull_channel_for(platform, f"{kind}-shop")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    platform.faults = ["limit"]

    assert channel_pull_run(channel_id=channel.pk).startswith("failed")

    pull = pull_of(channel)
    assert words in pull.last_error and pull.cursor == start and pull.next_attempt_at > timezone.now()


def test_pull_of_a_channel_whose_orders_arrive_by_webhook_only_does_not_run(platforms):
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop")
    Channel.objects.filter(pk=channel.pk).update(arrival=Channel.Arrival.WEBHOOK)
    assert channels_pull_due() == 0
    assert channel_pull_run(channel_id=channel.pk) == "off" and platform.pages_served == []


def test_order_reported_again_cancelled_is_cancelled_with_the_platforms_reason(platforms):
    platform = platforms("douyin")
    channel = pull_channel_for(platform, "dy-shop")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    created = start - timedelta(hours=1)
    platform.put("6930001", start + timedelta(minutes=1), douyin_order("6930001", created=created))
    channel_pull_run(channel_id=channel.pk)  # up to 2 minutes ago (Douyin's margin)

    ChannelPull.objects.filter(channel=channel).update(clock_margin_seconds=0)
    platform.modify("6930001", now() - timedelta(seconds=5), order_status=4, cancel_reason="买家不想要了")
    channel_pull_run(channel_id=channel.pk)

    outcomes = IntakeRecord.objects.filter(channel=channel).order_by("id").values_list("outcome", flat=True)
    assert list(outcomes) == ["created", "updated"], list(IntakeRecord.objects.values_list("reason", flat=True))
    order = Order.objects.get(channel=channel)
    # (it was refused before: the encrypted phone $EncTel$ was no phone to intake, so neither report got in)
    assert order.status == "cancelled" and "买家不想要了" in order.status_reason, order.status_reason


def test_douyin_unpaid_order_with_pay_time_0_is_placed_not_paid_in_1970(platforms):
    platform = platforms("douyin")
    channel = pull_channel_for(platform, "dy-shop")
    start = now() - timedelta(minutes=40)
    set_cursor(channel, start)
    unpaid = douyin_order("6940001", status=1)
    assert unpaid["pay_time"] == 0  # as the platform sends an unpaid order
    platform.put("6940001", start + timedelta(minutes=2), unpaid)

    channel_pull_run(channel_id=channel.pk)

    record = IntakeRecord.objects.get(channel=channel)
    assert record.outcome == "created", record.reason
    assert record.order.status == "placed" and record.order.paid_at is None


def test_pdd_refund_status_under_way_holds_the_order_for_refund_review(platforms):
    # PDD reports the after-sale state in refund_status, apart from order_status: 1 none or closed, 2 售后处理中,
    # 3 退款中, 4 退款成功
    platform = platforms("pdd")
    channel = pull_channel_for(platform, "pdd-shop")
    start = now() - timedelta(minutes=50)
    set_cursor(channel, start)
    created = start - timedelta(hours=1)
    platform.put("261201-050", start + timedelta(minutes=1), pdd_order("261201-050", created=created))
    platform.put("261201-051", start + timedelta(minutes=2), pdd_order("261201-051", created=created))
    channel_pull_run(channel_id=channel.pk)
    assert set(Order.objects.filter(channel=channel).values_list("status", flat=True)) == {"paid"}

    # the buyer of one asks for a refund (order_status still 1 待发货); the other's after-sale closes again (1)
    # (PDD answers only windows ending 3 minutes before its clock; the first run got to 5 minutes ago)
    ChannelPull.objects.filter(channel=channel).update(clock_margin_seconds=180)
    platform.modify("261201-050", now() - timedelta(minutes=4), refund_status=2)
    platform.modify("261201-051", now() - timedelta(minutes=4), refund_status=1)
    channel_pull_run(channel_id=channel.pk)

    asked = Order.objects.get(channel=channel, channel_order_no="261201-050")
    assert asked.status == "on_hold" and asked.hold_kind == Order.HoldKind.REFUND, asked.status_reason
    assert "refund_status=2" in asked.status_reason
    assert Order.objects.get(channel=channel, channel_order_no="261201-051").status == "paid"
