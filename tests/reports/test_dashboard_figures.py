"""The dashboard's figures on a hand-built set of orders with known answers, read from the reports app's own rows
(hour rows, status snapshot, node rows) after the refresh services wrote them: the midnight edge in Asia/Shanghai
(23:59:59 belongs to the day and hour before, 00:00:00 to the new day's hour 0), days without orders, and the
drill-down by channel and by warehouse summing to the total."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from redis import Redis
from rq.cron import CronScheduler

from orders.models import Order, Status
from reports.models import DailyNodeFigures, HourlyOrderFigures, StatusSnapshot
from reports.selectors.dashboard import (
    node_duration_summary,
    order_day_series,
    orders_by_warehouse,
    orders_per_hour,
    status_distribution,
)
from reports.services.daily import (
    current_figures_refresh,
    daily_figures_refresh,
    hour_figures_refresh,
    hour_figures_refresh_settling,
    report_today,
    status_snapshot_refresh,
)
from tests.factories import ChannelFactory, WarehouseFactory, make_order

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 3, 11)
BEFORE, AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)


def placed(at: datetime, *, channel="tmall", paid="100.00", status=None, warehouse=None) -> Order:
    """An order made through intake, then pinned to a known time, paid amount, status and warehouse."""
    order = make_order(channel=channel)
    changes = {"ordered_at": at, "paid_amount": Decimal(paid), "warehouse": warehouse}
    if status:
        changes["status"] = status
    Order.objects.filter(pk=order.pk).update(**changes)
    return order


@pytest.fixture
def shop(db):
    tmall = ChannelFactory()
    jd = ChannelFactory(code="jd", name="京东自营", kind="other")
    sh = WarehouseFactory()
    bj = WarehouseFactory(code="BJ01", name="北京仓")
    placed(datetime(2026, 3, 10, 23, 59, 59, tzinfo=SH), paid="10.00", warehouse=sh)  # BEFORE, hour 23
    placed(datetime(2026, 3, 11, 0, 0, 0, tzinfo=SH), paid="20.00", status=Status.PAID)  # DAY, hour 0, no warehouse
    placed(datetime(2026, 3, 11, 9, 15, tzinfo=SH), channel="jd", paid="30.50", status=Status.ALLOCATED, warehouse=sh)
    placed(datetime(2026, 3, 11, 9, 45, tzinfo=SH), channel="jd", paid="40.25", status=Status.CANCELLED, warehouse=bj)
    placed(datetime(2026, 3, 11, 23, 59, 59, tzinfo=SH), paid="5.00", warehouse=bj)  # DAY, hour 23
    placed(datetime(2026, 3, 12, 0, 0, 0, tzinfo=SH), paid="7.00")  # AFTER, hour 0
    for day in (BEFORE, DAY, AFTER, DAY - timedelta(days=3)):  # the last one: an empty day
        daily_figures_refresh(day=day)
    status_snapshot_refresh()
    return {"tmall": tmall, "jd": jd, "sh": sh, "bj": bj}


def test_hour_rows_put_the_midnight_edges_on_the_right_day_and_hour(shop):
    rows = sorted(HourlyOrderFigures.objects.values_list("day", "hour", "channel__code", "orders", "gmv"))
    assert rows == [
        (BEFORE, 23, "tmall", 1, Decimal("10.00")),
        (DAY, 0, "tmall", 1, Decimal("20.00")),
        (DAY, 9, "jd", 1, Decimal("30.50")),
        (DAY, 9, "jd", 1, Decimal("40.25")),  # two warehouses: two rows
        (DAY, 23, "tmall", 1, Decimal("5.00")),
        (AFTER, 0, "tmall", 1, Decimal("7.00")),
    ]
    assert HourlyOrderFigures.objects.filter(day=DAY, hour=0).get().warehouse_id is None


def test_orders_per_hour_of_the_day_and_of_an_empty_day(shop, django_assert_num_queries):
    with django_assert_num_queries(1):
        hours = orders_per_hour(day=DAY)
    assert len(hours) == 24 and hours[0] == 1 and hours[9] == 2 and hours[23] == 1 and sum(hours) == 4
    assert orders_per_hour(day=DAY, channel_id=shop["jd"].pk) == [0] * 9 + [2] + [0] * 14
    assert orders_per_hour(day=DAY, warehouse_id=shop["bj"].pk)[9] == 1
    assert orders_per_hour(day=DAY - timedelta(days=3)) == [0] * 24


def test_orders_and_gmv_by_channel_by_day_with_empty_days(shop, django_assert_num_queries):
    start = DAY - timedelta(days=3)
    with django_assert_num_queries(1):
        days, series = order_day_series(start=start, end=AFTER)
    assert days == [start + timedelta(days=n) for n in range(5)]
    by_channel = {s.channel_id: s for s in series}
    tmall, jd = by_channel[shop["tmall"].pk], by_channel[shop["jd"].pk]
    assert tmall.orders == [0, 0, 1, 2, 1] and tmall.gmv[2:] == [Decimal("10.00"), Decimal("25.00"), Decimal("7.00")]
    assert jd.orders == [0, 0, 0, 2, 0] and jd.total_gmv == Decimal("70.75")
    assert tmall.gmv[:2] == [Decimal("0.00")] * 2  # empty days are zeros
    # a channel with nothing in the range still gets its row of zeros when asked for
    days, only = order_day_series(start=start, end=start + timedelta(days=1), channel_id=shop["jd"].pk)
    assert [(s.channel_id, s.orders) for s in only] == [(shop["jd"].pk, [0, 0])]


def test_drill_down_by_channel_and_by_warehouse_sums_to_the_total(shop):
    _days, everything = order_day_series(start=BEFORE, end=AFTER)
    total = sum(s.total_orders for s in everything)
    total_gmv = sum((s.total_gmv for s in everything), Decimal("0"))
    assert (total, total_gmv) == (6, Decimal("112.75"))
    per_channel = [order_day_series(start=BEFORE, end=AFTER, channel_id=shop[c].pk)[1][0] for c in ("tmall", "jd")]
    assert sum(s.total_orders for s in per_channel) == total
    warehouses = orders_by_warehouse(start=BEFORE, end=AFTER)
    assert {(w.warehouse_id, w.orders, w.gmv) for w in warehouses} == {
        (shop["sh"].pk, 2, Decimal("40.50")),
        (shop["bj"].pk, 2, Decimal("45.25")),
        (None, 2, Decimal("27.00")),  # not allocated
    }
    assert sum(w.orders for w in warehouses) == total and sum(w.gmv for w in warehouses) == total_gmv
    # filtered by a warehouse: the day series holds that warehouse's orders only
    _days, in_bj = order_day_series(start=BEFORE, end=AFTER, warehouse_id=shop["bj"].pk)
    assert sorted((s.channel_id, s.orders) for s in in_bj) == sorted(
        [(shop["tmall"].pk, [0, 1, 0]), (shop["jd"].pk, [0, 1, 0])]
    )


def test_a_range_ends_after_it_starts_and_has_at_most_366_days(db):
    with pytest.raises(ValueError, match="before"):
        order_day_series(start=DAY, end=BEFORE)
    with pytest.raises(ValueError, match="367 days"):
        orders_by_warehouse(start=DAY, end=DAY + timedelta(days=366))


def test_status_distribution_from_the_snapshot(shop, django_assert_num_queries):
    with django_assert_num_queries(1):
        counts = status_distribution()
    by_status = {status: n for status, _label, n in counts.rows}
    assert [status for status, _label, _n in counts.rows] == list(Status.values)
    assert by_status[Status.PLACED] == 3 and by_status[Status.PAID] == 1 and by_status[Status.ALLOCATED] == 1
    assert by_status[Status.CANCELLED] == 1 and counts.total == 6 and by_status[Status.DELIVERED] == 0
    assert counts.taken_at is not None
    in_bj = status_distribution(warehouse_id=shop["bj"].pk)
    assert {s: n for s, _label, n in in_bj.rows if n} == {Status.PLACED: 1, Status.CANCELLED: 1}
    assert in_bj.taken_at == counts.taken_at
    # per channel, the counts add up to the total
    assert sum(status_distribution(channel_id=shop[c].pk).total for c in ("tmall", "jd")) == counts.total


def test_status_snapshot_is_replaced_not_added_to(shop):
    Order.objects.filter(status=Status.PAID).update(status=Status.ALLOCATING)
    status_snapshot_refresh()
    status_snapshot_refresh()
    by_status = {status: n for status, _label, n in status_distribution().rows}
    assert by_status[Status.PAID] == 0 and by_status[Status.ALLOCATING] == 1
    assert sum(StatusSnapshot.objects.values_list("orders", flat=True)) == 6


def test_before_the_first_count_the_snapshot_is_zeros_without_a_time(db):
    counts = status_distribution()
    assert counts.total == 0 and counts.taken_at is None


def test_one_hour_refresh_replaces_that_hour_only_and_twice_is_the_same(shop):
    of_day = HourlyOrderFigures.objects.filter(day=DAY).order_by("hour", "channel_id", "warehouse_id")
    before = list(of_day.values_list("hour", "warehouse_id", "orders", "gmv"))
    late = placed(datetime(2026, 3, 11, 9, 59, 59, tzinfo=SH), channel="jd", paid="1.00")
    Order.objects.filter(pk=late.pk).update(warehouse=None)
    assert hour_figures_refresh(day=DAY, hour=9) == 3  # sh, bj and not allocated
    assert hour_figures_refresh(day=DAY, hour=9) == 3
    after = list(of_day.values_list("hour", "warehouse_id", "orders", "gmv"))
    assert [row for row in after if row[0] != 9] == [row for row in before if row[0] != 9]
    assert orders_per_hour(day=DAY)[9] == 3
    with pytest.raises(ValueError):
        hour_figures_refresh(day=DAY, hour=24)


def test_an_order_allocated_days_later_moves_to_its_warehouse_at_the_settling_refresh(db):
    ChannelFactory()
    sh = WarehouseFactory()
    four_days_ago = report_today() - timedelta(days=4)
    order = placed(datetime.combine(four_days_ago, datetime.min.time(), tzinfo=SH).replace(hour=10), paid="9.00")
    hour_figures_refresh_settling()
    assert orders_by_warehouse(start=four_days_ago, end=four_days_ago)[0].warehouse_id is None
    Order.objects.filter(pk=order.pk).update(warehouse=sh)
    hour_figures_refresh_settling(skip=2)  # what the 10-minute job runs beside today's and yesterday's refresh
    [row] = orders_by_warehouse(start=four_days_ago, end=four_days_ago)
    assert (row.warehouse_id, row.orders, row.gmv) == (sh.pk, 1, Decimal("9.00"))


def test_current_figures_refresh_counts_the_snapshot_and_this_hour(db):
    ChannelFactory()
    order = make_order()
    # ordered now, in the current hour (the factory's five minutes ago is the hour before in the first minutes)
    Order.objects.filter(pk=order.pk).update(ordered_at=timezone.now())
    result = current_figures_refresh()
    assert result == {"status_rows": 1, "hour_rows": 1}
    assert sum(orders_per_hour(day=report_today())) == 1
    assert status_distribution().total == 1


def test_node_durations_over_days_are_weighted_by_ended_stays(db, django_assert_num_queries):
    at = datetime(2026, 3, 11, 12, tzinfo=SH)
    DailyNodeFigures.objects.bulk_create(
        [
            DailyNodeFigures(
                day=BEFORE, status=Status.PAID, entered=3, left=2, p50_minutes=10, p90_minutes=20, refreshed_at=at
            ),
            DailyNodeFigures(
                day=DAY,
                status=Status.PAID,
                entered=5,
                left=6,
                p50_minutes=30,
                p90_minutes=60,
                over_timeout=1,
                refreshed_at=at,
            ),
            # a day whose stays did not end: counted as entries, not in the percentiles
            DailyNodeFigures(day=AFTER, status=Status.PAID, entered=4, left=0, refreshed_at=at),
            DailyNodeFigures(
                day=DAY, status=Status.PLACED, entered=7, left=7, p50_minutes=5, p90_minutes=9, refreshed_at=at
            ),
            DailyNodeFigures(day=DAY + timedelta(days=5), status=Status.ALLOCATING, entered=1, refreshed_at=at),
        ]
    )
    with django_assert_num_queries(1):
        nodes = node_duration_summary(start=BEFORE, end=AFTER)
    assert [node.status for node in nodes] == [Status.PLACED, Status.PAID]  # the lifecycle's order; not outside
    paid = nodes[1]
    assert (paid.entered, paid.left) == (12, 8)
    assert paid.p50_minutes == Decimal("25.00")  # (10 × 2 + 30 × 6) / 8
    assert paid.p90_minutes == Decimal("50.00")  # (20 × 2 + 60 × 6) / 8
    assert paid.over_timeout == 1
    assert (nodes[0].p50_minutes, nodes[0].p90_minutes, nodes[0].over_timeout) == (
        Decimal("5.00"),
        Decimal("9.00"),
        None,
    )
    assert node_duration_summary(start=BEFORE - timedelta(days=9), end=BEFORE - timedelta(days=2)) == []


def test_the_cron_refreshes_the_current_figures_every_minute_and_the_settling_hours_every_ten():
    scheduler = CronScheduler(connection=Redis.from_url(settings.REDIS_URL))
    scheduler.load_config_from_file("config.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    current, settling = jobs["reports.jobs.refresh_current_figures"], jobs["reports.jobs.refresh_settling_hours"]
    assert (current.interval, current.queue_name) == (60, "default")
    assert (settling.interval, settling.queue_name) == (600, "default")
