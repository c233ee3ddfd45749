"""Yearly report figures against a hand-built fixture with known answers: one customer's 2025 with an order shipped
on time, one shipped late that later became an exception, one placed at 23:50 on New Year's Eve and delivered in
2026 (still 2025), one cancelled, one paid and never shipped past its deadline; another customer's order at 00:00
on 1 January 2026 Asia/Shanghai (16:00 UTC on 31 December: 2026, not 2025)."""

import itertools
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from orders.models import Order, OrderEvent, Source, Status, StatusNode
from reports.selectors.yearly import (
    BEFORE_HANDOVER,
    customers_year_figures,
    handover_timeout_minutes,
    top_customers,
    year_bounds,
)
from tests.factories import ChannelFactory, make_order

SH = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


def at(y: int, mo: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, mo, d, hh, mm, tzinfo=SH)


def placed(phone: str, when: datetime, paid: str, **fields) -> Order:
    """An order through intake, then pinned: ordered and created at `when`, with the given fields."""
    n = next(_seq)
    customer = {"name": "王五" if phone.endswith("1") else "赵六", "phone": phone, "member_level": "gold"}
    address = {
        "receiver": "王五",
        "phone": phone,
        "province": "浙江",
        "city": "杭州",
        "district": "西湖区",
        "detail": f"文三路 {n} 号",
    }
    order = make_order(ordered_at=when.isoformat(), paid_amount=paid, customer=customer, shipping_address=address)
    Order.objects.filter(pk=order.pk).update(created_at=when, **fields)
    OrderEvent.objects.filter(order=order).update(created_at=when)
    return Order.objects.get(pk=order.pk)


def step(order: Order, transition: str, to_status: str, when: datetime, reason: str = "") -> None:
    event = OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.TRANSITION,
        transition=transition,
        to_status=to_status,
        source=Source.CARRIER,
        reason=reason,
    )
    OrderEvent.objects.filter(pk=event.pk).update(created_at=when)


A_PHONE, B_PHONE = "13900000001", "13900000002"


@pytest.fixture
def year_2025(db):
    ChannelFactory()
    # The handover nodes' timeouts: 60 + 120 minutes = the deadline of an order without a ship-by.
    StatusNode.objects.filter(status__in=BEFORE_HANDOVER).update(timeout_minutes=None)
    StatusNode.objects.filter(status=Status.PAID).update(timeout_minutes=60)
    StatusNode.objects.filter(status=Status.PRINTED).update(timeout_minutes=120)
    # on time: promised by 11 Mar 10:00, picked up 09:00; delivered 24 h after payment
    o1 = placed(
        A_PHONE,
        at(2025, 3, 10, 10),
        "100.00",
        status=Status.DELIVERED,
        paid_at=at(2025, 3, 10, 10, 5),
        promised_ship_by=at(2025, 3, 11, 10),
    )
    step(o1, "pick_up", Status.PICKED_UP, at(2025, 3, 11, 9))
    step(o1, "deliver", Status.DELIVERED, at(2025, 3, 11, 10, 5))
    # late: the platform's ship-by (2 Jun 10:00) is earlier than the promise (3 Jun); picked up 2 Jun 12:00; lost
    o2 = placed(
        A_PHONE,
        at(2025, 6, 1, 10),
        "200.00",
        status=Status.EXCEPTION,
        paid_at=at(2025, 6, 1, 10),
        platform_ship_by=at(2025, 6, 2, 10),
        promised_ship_by=at(2025, 6, 3, 10),
    )
    step(o2, "pick_up", Status.PICKED_UP, at(2025, 6, 2, 12))
    step(o2, "flag_exception", Status.EXCEPTION, at(2025, 6, 4, 8), reason="快递丢件")
    # New Year's Eve 23:50, no ship-by: paid 23:55 + 180 min = 1 Jan 02:55; picked up 02:00 (on time); delivered
    # 2 Jan 23:55, 48 h after payment — all of it in the 2025 report.
    o3 = placed(A_PHONE, at(2025, 12, 31, 23, 50), "50.50", status=Status.DELIVERED, paid_at=at(2025, 12, 31, 23, 55))
    step(o3, "pick_up", Status.PICKED_UP, at(2026, 1, 1, 2))
    step(o3, "deliver", Status.DELIVERED, at(2026, 1, 2, 23, 55))
    # cancelled before shipping: not rated
    placed(A_PHONE, at(2025, 8, 8, 8), "30.00", status=Status.CANCELLED, promised_ship_by=at(2025, 8, 9))
    # paid, never shipped, promised by 2 Sep: rated, late
    placed(
        A_PHONE,
        at(2025, 9, 1, 9),
        "10.00",
        status=Status.ALLOCATED,
        paid_at=at(2025, 9, 1, 9),
        promised_ship_by=at(2025, 9, 2, 9),
    )
    # B: one order at 00:00 on 1 Jan 2026 local (still 2025 in UTC)
    o4 = placed(B_PHONE, at(2026, 1, 1, 0, 0), "999.00", status=Status.PAID, paid_at=at(2026, 1, 1, 0, 1))
    return {"a": o1.customer_id, "b": o4.customer_id, "o2": o2, "o3": o3, "o4": o4}


def test_year_bounds_are_local_midnights():
    start, end = year_bounds(2025)
    assert start.isoformat() == "2025-01-01T00:00:00+08:00" and end.isoformat() == "2026-01-01T00:00:00+08:00"


def test_handover_timeouts_are_summed(year_2025):
    assert handover_timeout_minutes() == 180
    StatusNode.objects.filter(status__in=BEFORE_HANDOVER).update(timeout_minutes=None)
    assert handover_timeout_minutes() is None


def test_figures_of_the_year(year_2025, django_assert_num_queries):
    a, b = year_2025["a"], year_2025["b"]
    with django_assert_num_queries(4):  # node timeouts, totals, months, exception list
        figures = customers_year_figures(customer_ids=[a, b], year=2025)
    assert set(figures) == {a}  # B has no order in 2025: the midnight order is 2026's
    f = figures[a]
    assert f.orders == 5
    assert f.gmv == Decimal("390.50")
    assert f.cancelled == 1
    assert f.shipped == 3
    assert (f.rated, f.on_time) == (4, 2)
    assert f.on_time_rate == Decimal("50.0")
    assert f.delivered == 2
    assert f.delivery_hours_avg == Decimal("36.00")  # (24 h + 48 h) / 2
    assert f.exceptions == 1
    assert [(e.number, e.ordered_at, e.exception_at, e.status) for e in f.exception_orders] == [
        (year_2025["o2"].number, "2025-06-01 10:00", "2025-06-04 08:00", Status.EXCEPTION)
    ]
    by_month = {m.month: (m.orders, m.rated, m.on_time, m.exceptions) for m in f.months if m.orders}
    assert by_month == {3: (1, 1, 1, 0), 6: (1, 1, 0, 1), 8: (1, 0, 0, 0), 9: (1, 1, 0, 0), 12: (1, 1, 1, 0)}
    assert len(f.months) == 12 and f.months[0].orders == 0  # an empty month is there, with zeros
    data = f.as_json()
    assert data["on_time_rate"] == "50.0" and data["gmv"] == "390.50" and data["delivery_hours_avg"] == "36.00"


def test_the_new_year_midnight_order_counts_in_2026(year_2025):
    b = year_2025["b"]
    f = customers_year_figures(customer_ids=[b], year=2026)[b]
    assert f.orders == 1 and f.months[0].orders == 1 and f.gmv == Decimal("999.00")
    # paid, not shipped, its deadline (payment + 180 min) long past: rated, late
    assert (f.rated, f.on_time, f.on_time_rate, f.delivery_hours_avg) == (1, 0, Decimal("0.0"), None)


def test_an_unshipped_order_on_hold_for_review_is_not_counted_late(year_2025):
    Order.objects.filter(customer_id=year_2025["a"], status=Status.ALLOCATED).update(status=Status.ON_HOLD)
    f = customers_year_figures(customer_ids=[year_2025["a"]], year=2025)[year_2025["a"]]
    assert (f.rated, f.on_time) == (3, 2)


def test_without_a_node_timeout_an_order_without_ship_by_is_not_rated(year_2025):
    StatusNode.objects.filter(status__in=BEFORE_HANDOVER).update(timeout_minutes=None)
    f = customers_year_figures(customer_ids=[year_2025["a"]], year=2025)[year_2025["a"]]
    assert (f.rated, f.on_time) == (3, 1)  # the New Year's Eve order has no deadline now


def test_top_customers_by_orders_or_gmv(year_2025, django_assert_num_queries):
    a, b = year_2025["a"], year_2025["b"]
    c = placed("13900000003", at(2025, 5, 5, 5), "5000.00").customer_id
    with django_assert_num_queries(1):
        assert top_customers(year=2025, limit=2) == [a, c]
    assert top_customers(year=2025, limit=1, by="gmv") == [c]
    assert top_customers(year=2025, limit=10) == [a, c]  # B's only order is 2026's
    assert top_customers(year=2026, limit=10) == [b]
    assert top_customers(year=2024, limit=10) == []
