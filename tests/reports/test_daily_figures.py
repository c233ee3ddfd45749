"""Daily figures against a hand-built fixture with known answers: two channels over three Asia/Shanghai days
(the middle one empty), orders either side of midnight, a suspected duplicate, a cancelled order, refusals."""

import itertools
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection, transaction
from redis import Redis
from rq.cron import CronScheduler

from orders.models import IntakeRecord, Order, OrderEvent, Source, Status, StatusNode, Via, WebhookRefusal
from orders.services.transitions import order_transition
from reports.models import DailyChannelFigures, DailyNodeFigures
from reports.selectors.dashboard import channel_day_series, node_durations
from reports.services.daily import (
    daily_figures_refresh,
    daily_figures_refresh_recent,
    day_bounds,
    percentile,
    report_today,
)
from tests.factories import ChannelFactory, make_order

_phones = itertools.count(1)
SH = ZoneInfo("Asia/Shanghai")
D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)


def at(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SH)


def placed(channel: str, when: datetime, paid: str) -> Order:
    """An order through intake, then pinned in time: ordered, created and its timeline at `when`. Each of its own
    buyer, so the cross-channel duplicate check holds none (the fixture marks its duplicate by hand)."""
    phone = f"139{next(_phones):08d}"
    customer = {"name": "李四", "phone": phone, "member_level": "normal"}
    order = make_order(channel=channel, ordered_at=when.isoformat(), paid_amount=paid, customer=customer)
    Order.objects.filter(pk=order.pk).update(created_at=when)
    OrderEvent.objects.filter(order=order).update(created_at=when)
    return Order.objects.get(pk=order.pk)


@pytest.fixture
def fixture_days(db):
    ChannelFactory()  # tmall
    ChannelFactory(code="jd", name="京东自营", kind="other")
    # Day 1, tmall: 3 orders, one at 23:59:59 (still day 1); jd: 1 order. Day 2: nothing. Day 3: tmall one order
    # at 00:00:00 (day 3, not day 2), jd two orders, one held as a suspected duplicate, one cancelled on day 3.
    a = placed("tmall", at(D1, 9), "100.00")
    placed("tmall", at(D1, 12, 30), "50.50")
    placed("tmall", at(D1, 23, 59, 59), "10.01")
    placed("jd", at(D1, 15), "200.00")
    placed("tmall", at(D3, 0, 0, 0), "7.00")
    dup = placed("jd", at(D3, 8), "99.00")
    Order.objects.filter(pk=dup.pk).update(duplicate_of=a)
    gone = placed("jd", at(D3, 9), "1.00")
    order_transition(order=gone, transition="cancel", actor=None, source=Source.ADMIN, reason="客户取消")
    OrderEvent.objects.filter(order=gone, to_status=Status.CANCELLED).update(created_at=at(D3, 10))
    # Rejected at intake on day 3: one intake-log line of jd, one refused webhook of tmall (and one of no channel).
    jd = dup.channel
    IntakeRecord.objects.create(
        channel=jd,
        via=Via.WEBHOOK,
        outcome=IntakeRecord.Outcome.REJECTED,
        received_at=at(D3, 11),
        processed_at=at(D3, 11),
    )
    tmall = a.channel
    refusal = WebhookRefusal.objects.create(channel=tmall, channel_code="tmall", code="bad_signature", message="x")
    stray = WebhookRefusal.objects.create(channel=None, channel_code="nope", code="unknown_channel", message="x")
    WebhookRefusal.objects.filter(pk__in=[refusal.pk, stray.pk]).update(created_at=at(D3, 12))
    return {"tmall": tmall, "jd": jd}


def rows(day):
    return {
        row.channel.code: (row.orders, row.gmv, row.created, row.duplicates, row.rejected, row.cancelled)
        for row in DailyChannelFigures.objects.filter(day=day).select_related("channel")
    }


def test_day_bounds_are_shanghai_midnights():
    start, end = day_bounds(D1)
    assert start.isoformat() == "2026-11-20T00:00:00+08:00"
    assert end - start == timedelta(days=1)


def test_channel_figures_per_day(fixture_days):
    for day in (D1, D2, D3):
        daily_figures_refresh(day=day)
    assert rows(D1) == {
        "tmall": (3, Decimal("160.51"), 3, 0, 0, 0),
        "jd": (1, Decimal("200.00"), 1, 0, 0, 0),
    }
    assert rows(D2) == {}
    assert rows(D3) == {
        "tmall": (1, Decimal("7.00"), 1, 0, 1, 0),
        "jd": (2, Decimal("100.00"), 2, 1, 1, 1),
    }


def test_refresh_twice_gives_the_same_rows(fixture_days):
    first = daily_figures_refresh(day=D3)
    before = sorted(DailyChannelFigures.objects.filter(day=D3).values_list("channel_id", "orders", "gmv", "cancelled"))
    nodes_before = sorted(DailyNodeFigures.objects.filter(day=D3).values_list("status", "entered", "left"))
    second = daily_figures_refresh(day=D3)
    assert first == second
    assert before == sorted(
        DailyChannelFigures.objects.filter(day=D3).values_list("channel_id", "orders", "gmv", "cancelled")
    )
    assert nodes_before == sorted(DailyNodeFigures.objects.filter(day=D3).values_list("status", "entered", "left"))
    assert DailyChannelFigures.objects.filter(day=D3).count() == 2


def test_refresh_recent_covers_today(db):
    ChannelFactory()
    make_order(paid_amount="12.34")  # ordered five minutes ago
    daily_figures_refresh_recent(days=2)
    assert DailyChannelFigures.objects.get().gmv == Decimal("12.34")
    with pytest.raises(ValueError, match="days must be at least 1"):
        daily_figures_refresh_recent(days=0)


def test_refresh_refuses_a_datetime(db):
    with pytest.raises(TypeError, match="day must be a date"):
        daily_figures_refresh(day=at(D1, 0))


def test_channel_series_has_zeros_for_the_empty_day(fixture_days):
    for day in (D1, D2, D3):
        daily_figures_refresh(day=day)
    series = {each.channel.code: each for each in channel_day_series(start=D1, end=D3)}
    assert [(p.day, p.orders, p.gmv) for p in series["tmall"].days] == [
        (D1, 3, Decimal("160.51")),
        (D2, 0, Decimal("0.00")),
        (D3, 1, Decimal("7.00")),
    ]
    assert series["jd"].orders == 3 and series["jd"].gmv == Decimal("300.00")
    only_jd = channel_day_series(start=D2, end=D2, channel=fixture_days["jd"])
    assert [(s.channel.code, [(p.orders, p.gmv) for p in s.days]) for s in only_jd] == [("jd", [(0, Decimal("0.00"))])]
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        channel_day_series(start=D3, end=D1)


def test_node_durations_p50_p90_on_known_stays(db):
    """Five orders paid on day 1, each leaving 'paid' after a known stay: 10, 20, 30, 40 and 100 minutes.
    percentile_cont: p50 = 30, p90 = 40 + 0.6 * (100 - 40) = 76. With a 35-minute timeout, 2 are over it."""
    ChannelFactory()
    StatusNode.objects.filter(status=Status.PAID).update(timeout_minutes=35, clock="clock")
    StatusNode.objects.filter(status=Status.PLACED).update(timeout_minutes=1, clock="working")  # not measured here
    stays = [10, 20, 30, 40, 100]
    paid_at = at(D1, 8)
    for minutes in stays:
        order = make_order()
        OrderEvent.objects.filter(order=order).delete()  # this fixture's timeline is written by hand below
        lines = [
            OrderEvent.objects.create(order=order, kind="created", to_status=Status.PLACED, source=Source.API),
            OrderEvent.objects.create(
                order=order, kind="transition", from_status="placed", to_status=Status.PAID, source=Source.API
            ),
            OrderEvent.objects.create(
                order=order, kind="transition", from_status="paid", to_status=Status.ALLOCATING, source=Source.API
            ),
        ]
        times = [paid_at - timedelta(minutes=5), paid_at, paid_at + timedelta(minutes=minutes)]
        if minutes == 10:  # a presale deposit on the way: placed -> placed neither ends the stay nor enters again
            lines.insert(
                1,
                OrderEvent.objects.create(
                    order=order,
                    kind="transition",
                    transition="record_deposit",
                    from_status="placed",
                    to_status=Status.PLACED,
                    source=Source.API,
                ),
            )
            times.insert(1, paid_at - timedelta(minutes=2))
        for line, when in zip(lines, times, strict=True):
            OrderEvent.objects.filter(pk=line.pk).update(created_at=when)
    daily_figures_refresh(day=D1)
    paid = DailyNodeFigures.objects.get(day=D1, status=Status.PAID)
    assert (paid.entered, paid.left, paid.p50_minutes, paid.p90_minutes) == (5, 5, Decimal("30.00"), Decimal("76.00"))
    assert paid.over_timeout == 2
    placed_row = DailyNodeFigures.objects.get(day=D1, status=Status.PLACED)
    assert (placed_row.entered, placed_row.left, placed_row.p50_minutes) == (5, 5, Decimal("5.00"))
    assert placed_row.over_timeout is None  # a working-time deadline depends on each order's calendar
    allocating = DailyNodeFigures.objects.get(day=D1, status=Status.ALLOCATING)
    assert (allocating.entered, allocating.left, allocating.p50_minutes) == (5, 0, None)

    nodes = {node.status: node for node in node_durations(start=D1, end=D2)}
    assert list(nodes) == [Status.PLACED, Status.PAID, Status.ALLOCATING]
    assert [(d.day, d.left, d.p50_minutes, d.p90_minutes) for d in nodes[Status.PAID].days] == [
        (D1, 5, Decimal("30.00"), Decimal("76.00")),
        (D2, 0, None, None),
    ]
    assert nodes[Status.PAID].entered == 5


def test_percentile_matches_percentile_cont():
    assert percentile([10, 20, 30, 40, 100], 0.9) == pytest.approx(76)
    assert percentile([7], 0.5) == 7
    assert percentile([], 0.5) is None


def test_the_cron_refreshes_the_figures_every_ten_minutes_on_the_default_queue():
    scheduler = CronScheduler(connection=Redis.from_url(settings.REDIS_URL))
    scheduler.load_config_from_file("config.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    job = jobs["reports.jobs.refresh_daily_figures"]
    assert (job.interval, job.queue_name) == (600, "default")


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_of_one_day_take_turns():
    """A slow refresh still open when the next tick refreshes the same day: the second waits, then redoes it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: nothing to take turns on")
    ChannelFactory()
    make_order(paid_amount="5.00")
    day = report_today()
    first_done, commit_first = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first():
        try:
            with transaction.atomic():
                daily_figures_refresh(day=day)
                first_done.set()
                commit_first.wait(30)
        except BaseException as error:
            errors.append(error)
            first_done.set()
        finally:
            connection.close()

    def second():
        try:
            daily_figures_refresh(day=day)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_done.wait(30)
    two = threading.Thread(target=second)
    two.start()
    for _ in range(600):  # until the second is waiting for a lock the first holds (or has failed)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0] or not two.is_alive():
                break
        threading.Event().wait(0.05)
    commit_first.set()
    one.join(30)
    two.join(30)
    assert errors == []
    assert DailyChannelFigures.objects.get(day=day).gmv == Decimal("5.00")


def test_nodes_without_a_timeout_have_no_over_timeout_figure(fixture_days):
    StatusNode.objects.update(timeout_minutes=None)
    daily_figures_refresh(day=D3)
    figures = DailyNodeFigures.objects.filter(day=D3)
    assert set(figures.values_list("status", flat=True)) == {Status.PLACED, Status.CANCELLED}
    assert set(figures.values_list("over_timeout", flat=True)) == {None}
    assert figures.get(status=Status.PLACED).left == 1  # the cancelled order's stay in placed ended on day 3
