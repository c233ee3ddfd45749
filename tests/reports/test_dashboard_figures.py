"""The dashboard's figures on a hand-built set of orders with known answers, including the midnight edge in
Asia/Shanghai (23:59:59 belongs to the day before, 00:00:00 to the new day) and days without orders."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from orders.models import Order, Status
from reports.selectors.dashboard import channel_daily_figures, orders_per_hour, status_distribution
from tests.factories import ChannelFactory, make_order

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 3, 11)


def placed(at: datetime, channel: str = "tmall", subtotal: str = "100.00", status: str | None = None) -> Order:
    """An order made through intake, then moved to a fixed time, amount and status (the fixture's known answers)."""
    order = make_order(channel=channel)
    changes = {"ordered_at": at, "subtotal": Decimal(subtotal)}
    if status:
        changes["status"] = status
    Order.objects.filter(pk=order.pk).update(**changes)
    return order


@pytest.fixture
def orders(db):
    ChannelFactory()
    ChannelFactory(code="jd", name="京东自营", kind="other")
    placed(datetime(2026, 3, 10, 23, 59, 59, tzinfo=SH), subtotal="10.00")  # the day before, hour 23
    placed(datetime(2026, 3, 11, 0, 0, 0, tzinfo=SH), subtotal="20.00", status=Status.PAID)  # DAY, hour 0
    placed(datetime(2026, 3, 11, 9, 15, tzinfo=SH), channel="jd", subtotal="30.50", status=Status.PAID)
    placed(datetime(2026, 3, 11, 9, 45, tzinfo=SH), channel="jd", subtotal="40.25", status=Status.CANCELLED)
    placed(datetime(2026, 3, 11, 23, 59, 59, tzinfo=SH), subtotal="5.00")  # DAY, hour 23
    placed(datetime(2026, 3, 12, 0, 0, 0, tzinfo=SH), subtotal="7.00")  # the day after: outside DAY
    placed(datetime(2026, 2, 25, 23, 59, 59, tzinfo=SH), subtotal="99.00")  # one second before the 14 days


def test_orders_per_hour_counts_local_hours_of_the_day_only(orders, django_assert_num_queries):
    with django_assert_num_queries(1):
        hours = orders_per_hour(DAY)
    assert len(hours) == 24
    assert hours[0] == 1 and hours[9] == 2 and hours[23] == 1
    assert sum(hours) == 4  # not 23:59:59 the day before, not 00:00 the day after


def test_orders_per_hour_of_an_empty_day_is_24_zeros(orders):
    assert orders_per_hour(date(2026, 3, 5)) == [0] * 24


def test_status_distribution_lists_every_status_with_its_count(orders, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = status_distribution()
    counts = {status: n for status, _label, n in rows}
    assert [status for status, _label, _n in rows] == list(Status.values)
    assert counts[Status.PAID] == 2 and counts[Status.CANCELLED] == 1 and counts[Status.PLACED] == 4
    assert sum(counts.values()) == 7
    assert dict((s, str(label)) for s, label, _ in rows)[Status.PAID] == str(Status.PAID.label)


def test_channel_daily_figures_by_local_day_with_empty_days(orders, django_assert_num_queries):
    with django_assert_num_queries(1):
        days, series = channel_daily_figures(DAY, 14)
    assert days[0] == DAY - timedelta(days=13) == date(2026, 2, 26) and days[-1] == DAY and len(days) == 14
    by_code = {s.code: s for s in series}
    assert set(by_code) == {"tmall", "jd"}
    tmall, jd = by_code["tmall"], by_code["jd"]
    assert tmall.name == "天猫旗舰店"
    # 03-10: the 23:59:59 order; 03-11: 00:00:00 and 23:59:59; 02-25 and 03-12 are outside the range
    assert tmall.orders[-2:] == [1, 2] and tmall.total_orders == 3
    assert tmall.gmv[-2:] == [Decimal("10.00"), Decimal("25.00")] and tmall.total_gmv == Decimal("35.00")
    assert jd.orders[-1] == 2 and jd.total_orders == 2 and jd.gmv[-1] == Decimal("70.75")
    assert tmall.orders[:-2] == [0] * 12 and jd.orders[:-1] == [0] * 13  # empty days are zeros


def test_channel_daily_figures_without_orders(db):
    days, series = channel_daily_figures(DAY, 14)
    assert len(days) == 14 and series == []
