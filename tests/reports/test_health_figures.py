"""The sellers' health figures against a hand-built fixture with known answers: two channels, two warehouses (and
an order not routed yet), three Asia/Shanghai days with the middle one empty, events at 23:59:59 and 00:00:00.

The timeline, history rows and parcels are written directly with the times the fixture needs (the services would
stamp them now); every answer below is counted by hand in the fixture's comments."""

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from logistics.models import Shipment, TrackingEvent, TrackingLookupCount
from orders.models import NodeClock, Order, OrderEvent, Source, Status, StatusNode
from reports.models import DailyExceptionCauses, DailyHealthFigures
from reports.selectors.health import exceptions_by_cause, health_figures
from reports.services.daily import daily_figures_refresh
from tests.factories import CarrierFactory, ChannelFactory, WarehouseFactory, make_order, user_with_role

SH = ZoneInfo("Asia/Shanghai")
D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
_phones = itertools.count(1)
T, N = OrderEvent.Kind.TRANSITION, OrderEvent.Kind.NOTE


def at(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SH)


class Built:
    """One order of the fixture: its own timeline and history rows only."""

    def __init__(self, channel: str, warehouse, created: datetime, paid: datetime | None, **fields):
        customer = {"name": "王五", "phone": f"138{next(_phones):08d}", "member_level": "normal"}
        order = make_order(channel=channel, customer=customer, ordered_at=created.isoformat())
        self.base = Order.history.filter(id=order.pk).first()
        Order.history.filter(id=order.pk).delete()
        OrderEvent.objects.filter(order=order).delete()
        Order.objects.filter(pk=order.pk).update(created_at=created, paid_at=paid, warehouse=warehouse, **fields)
        self.order = Order.objects.get(pk=order.pk)
        self.event(created, OrderEvent.Kind.CREATED, "", Status.PLACED, Source.API)

    def event(self, when, kind, from_status, to_status, source, actor=None, history=None, hold_kind=""):
        event = OrderEvent.objects.create(
            order=self.order, kind=kind, from_status=from_status, to_status=to_status, source=source, actor=actor
        )
        OrderEvent.objects.filter(pk=event.pk).update(created_at=when)
        if history is not None:  # the order's history row, `history` after the event (or before: negative)
            row = self.base
            row.pk = row.history_id = None
            row.history_date = when + history
            row.history_user = actor
            row.hold_kind = hold_kind
            row.save()
        return self


def sec(n: int) -> timedelta:
    return timedelta(seconds=n)


@pytest.fixture
def health_days(db):
    kefu, cangku = user_with_role("客服", "kefu-h"), user_with_role("仓库", "cangku-h")
    tmall, jd = ChannelFactory(), ChannelFactory(code="jd", name="京东自营", kind="other")
    w1, w2 = WarehouseFactory(code="W1", name="一号仓"), WarehouseFactory(code="W2", name="二号仓")
    carrier = CarrierFactory()
    # Only 已打单 has a timeout here (60 min, clock time); the grace is the default 15 min.
    StatusNode.objects.update(timeout_minutes=None)
    StatusNode.objects.filter(status=Status.PRINTED).update(timeout_minutes=60, clock=NodeClock.CLOCK)

    # A (tmall, W1), day 1: paid 10:00, printed 11:00 by a scan (parcel registered), address edited 12:00 in the
    # admin, picked up 13:00 by the carrier (scan 12:55): 2 consistent steps, on time (3 h), 3 traced changes, 1
    # intervention, a 120-minute printed stay (> 60 + 15: breakpoint), 1 parcel in carrier hands (finished).
    a = Built("tmall", w1, at(D1, 10), at(D1, 10))
    a.event(at(D1, 11), T, Status.PLACED, Status.PRINTED, Source.SCAN, cangku, sec(0))
    a.event(at(D1, 12), N, "", "", Source.ADMIN, kefu, sec(0))
    a.event(at(D1, 13), T, Status.PRINTED, Status.PICKED_UP, Source.CARRIER, None, sec(30))
    parcel = Shipment.objects.create(
        order=a.order,
        channel=tmall,
        carrier=carrier,
        tracking_number="SF100",
        is_finished=True,
        last_event_at=at(D1, 13),
    )
    TrackingEvent.objects.create(
        shipment=parcel, occurred_at=at(D1, 12, 55), description="已揽收", fingerprint="a1", received_via="poll"
    )
    # B (tmall, W2): created and paid at 23:59:59 of day 1 and held in the admin at once without a user (a change
    # with no actor; an intervention; a hold waiting for the customer); released at 00:00:00 of day 3 by kefu.
    b = Built("tmall", w2, at(D1, 23, 59, 59), at(D1, 23, 59, 59))
    b.event(at(D1, 23, 59, 59), T, Status.PLACED, Status.ON_HOLD, Source.ADMIN, None, sec(0), hold_kind="customer")
    b.event(at(D3, 0, 0, 0), T, Status.ON_HOLD, Status.PAID, Source.ADMIN, kefu, sec(0))
    # C (jd, no warehouse): created and paid at 00:00:00 of day 3; printed in the admin at 01:00 without a parcel
    # (inconsistent), put in exception by the carrier at 02:00 (a 60-minute printed stay: not a breakpoint).
    c = Built("jd", None, at(D3, 0, 0, 0), at(D3, 0, 0, 0), status=Status.EXCEPTION)
    c.event(at(D3, 1), T, Status.PLACED, Status.PRINTED, Source.ADMIN, cangku, sec(0))
    c.event(at(D3, 2), T, Status.PRINTED, Status.EXCEPTION, Source.CARRIER, None, sec(1))
    # D (jd, W1): created and paid 09:00 of day 1, cancelled 09:30 by kefu: not in the pickup figure.
    d = Built("jd", w1, at(D1, 9), at(D1, 9), status=Status.CANCELLED)
    d.event(at(D1, 9, 30), T, Status.PLACED, Status.CANCELLED, Source.ADMIN, kefu, sec(0))
    # E (tmall, W1): legacy, paid on day 1: counted nowhere.
    Built("tmall", w1, at(D1, 8), at(D1, 8), is_legacy=True, source=Source.IMPORT)
    # F (jd, W2): created 03:00 of day 3; its parcel's first scan 03:00, stalled since 20:00.
    f = Built("jd", w2, at(D3, 3), None)
    stalled = Shipment.objects.create(
        order=f.order, channel=jd, carrier=carrier, tracking_number="SF200", stalled_since=at(D3, 20)
    )
    TrackingEvent.objects.create(
        shipment=stalled, occurred_at=at(D3, 3), description="已揽收", fingerprint="f1", received_via="poll"
    )
    # Lookups of day 1: 3 answered, 1 not found; malformed and rate-limited ones are not in the figure.
    for outcome, n in (("found", 3), ("not_found", 1), ("invalid", 5), ("rate_limited", 2)):
        TrackingLookupCount.objects.create(day=D1, door="page", outcome=outcome, n=n)
    for day in (D1, D2, D3):
        daily_figures_refresh(day=day)
    return {"tmall": tmall, "jd": jd, "w1": w1, "w2": w2}


def by_key(figures) -> dict:
    return {figure.key: figure for figure in figures}


def pairs(figures) -> dict:
    return {f.key: (f.numerator, f.denominator, f.value) for f in figures}


def test_health_figures_day_one_known_answers(health_days):
    assert pairs(health_figures(start=D1, end=D1)) == {
        "consistency": (2, 2, Decimal("100.0")),
        "pickup_on_time": (1, 2, Decimal("50.0")),
        "lookup_success": (3, 4, Decimal("75.0")),
        "trail": (4, 5, Decimal("80.0")),
        "breakpoint": (1, 3, Decimal("33.3")),
        "interventions": (3, 3, Decimal("1000.0")),
        "stall": (0, 1, Decimal("0.0")),
    }


def test_health_figures_empty_day_shows_dash(health_days):
    figures = health_figures(start=D2, end=D2)
    assert all(f.value is None and f.denominator == 0 for f in figures)
    assert {f.display for f in figures} == {"—"}
    assert not DailyHealthFigures.objects.filter(day=D2).exists()


def test_health_figures_midnight_events_land_on_day_three(health_days):
    # B's release at 00:00:00 and C's creation at 00:00:00 belong to day 3, not day 2.
    assert pairs(health_figures(start=D3, end=D3)) == {
        "consistency": (0, 1, Decimal("0.0")),
        "pickup_on_time": (0, 1, Decimal("0.0")),
        "lookup_success": (0, 0, None),
        "trail": (3, 3, Decimal("100.0")),
        "breakpoint": (0, 2, Decimal("0.0")),
        "interventions": (2, 2, Decimal("1000.0")),
        "stall": (1, 1, Decimal("100.0")),
    }


def test_health_figures_range_and_drill_down_sum_to_the_total(health_days):
    total = pairs(health_figures(start=D1, end=D3))
    assert total["trail"] == (7, 8, Decimal("87.5"))
    assert total["breakpoint"] == (1, 5, Decimal("20.0"))
    assert total["stall"] == (1, 2, Decimal("50.0"))
    tmall = pairs(health_figures(start=D1, end=D3, channel_id=health_days["tmall"].pk))
    jd = pairs(health_figures(start=D1, end=D3, channel_id=health_days["jd"].pk))
    assert tmall["interventions"] == (3, 2, Decimal("1500.0"))
    assert jd["interventions"] == (2, 3, Decimal("666.7"))
    assert tmall["lookup_success"] == (0, 0, None)  # lookups belong to no channel
    by_warehouse = [pairs(health_figures(start=D1, end=D3, warehouse_id=health_days[w].pk)) for w in ("w1", "w2")]
    no_warehouse = DailyHealthFigures.objects.filter(warehouse__isnull=True)
    for key in total:
        if key == "lookup_success":
            continue
        assert tmall[key][0] + jd[key][0] == total[key][0], key
        assert tmall[key][1] + jd[key][1] == total[key][1], key
    # W1 + W2 + the orders not routed yet (C) make the total.
    assert by_warehouse[0]["consistency"][:2] == (2, 2)
    assert by_warehouse[1]["interventions"][:2] == (2, 2)  # B's hold and release; B and F created
    assert {row.steps_checked for row in no_warehouse} == {1}
    for key, (numerator, denominator) in COLUMNS_OF.items():
        rest = (sum(getattr(r, numerator) for r in no_warehouse), sum(getattr(r, denominator) for r in no_warehouse))
        assert by_warehouse[0][key][0] + by_warehouse[1][key][0] + rest[0] == total[key][0], key
        assert by_warehouse[0][key][1] + by_warehouse[1][key][1] + rest[1] == total[key][1], key


COLUMNS_OF = {
    "consistency": ("steps_consistent", "steps_checked"),
    "pickup_on_time": ("picked_up_on_time", "paid"),
    "trail": ("changes_traced", "changes"),
    "breakpoint": ("orders_breakpoint", "orders_moved"),
    "interventions": ("interventions", "orders_created"),
    "stall": ("parcels_stalled", "parcels_in_transit"),
}


def test_exceptions_by_cause_counts_and_links(health_days):
    causes = exceptions_by_cause(start=D1, end=D3)
    assert [(label, count) for label, count, _ in causes] == [("运输异常（承运商）", 1), ("挂起：等待客户回复", 1)]
    assert "status__exact=exception" in causes[0][2]
    assert "hold_kind__exact=customer" in causes[1][2]
    assert exceptions_by_cause(start=D2, end=D2) == []
    assert exceptions_by_cause(start=D1, end=D3, channel_id=health_days["jd"].pk)[0][1] == 1
    assert DailyExceptionCauses.objects.get(day=D1).cause == "hold:customer"


def test_health_refresh_twice_gives_the_same_rows(health_days):
    def rows():
        keys = ("day", "channel_id", "warehouse_id")
        return list(DailyHealthFigures.objects.values_list(*keys, *HEALTH_FIELDS).order_by(*keys))

    before = rows()
    causes = list(DailyExceptionCauses.objects.values_list("day", "cause", "count").order_by("day", "cause"))
    for day in (D1, D2, D3):
        daily_figures_refresh(day=day)
    assert rows() == before
    assert list(DailyExceptionCauses.objects.values_list("day", "cause", "count").order_by("day", "cause")) == causes
    assert causes == [(D1, "hold:customer", 1), (D3, "exception:carrier", 1)]
    assert len(before) == 6  # day 1: tmall/W1, tmall/W2, jd/W1; day 3: tmall/W2, jd/-, jd/W2


HEALTH_FIELDS = [
    "steps_checked",
    "steps_consistent",
    "paid",
    "picked_up_on_time",
    "changes",
    "changes_traced",
    "orders_moved",
    "orders_breakpoint",
    "orders_created",
    "interventions",
    "parcels_in_transit",
    "parcels_stalled",
]


def test_health_figures_statements_constant_in_days_and_channels(health_days, django_assert_num_queries):
    # The settings row, the daily rows' sums, the lookups' sums (not read under a channel or warehouse filter).
    for start in (D1, D2, D3):
        with django_assert_num_queries(3):
            health_figures(start=start, end=D3)
        with django_assert_num_queries(2):
            health_figures(start=start, end=D3, channel_id=health_days["jd"].pk, warehouse_id=health_days["w2"].pk)
        with django_assert_num_queries(1):
            exceptions_by_cause(start=start, end=D3, channel_id=health_days["tmall"].pk)


def test_health_figures_bad_range_refused(db):
    with pytest.raises(ValueError, match="before it starts"):
        health_figures(start=D3, end=D1)


def test_health_template_renders_cards_and_dash(health_days):
    html = render_to_string(
        "admin/reports/_health.html",
        {
            "health_figures": health_figures(start=D1, end=D3),
            "exception_causes": exceptions_by_cause(start=D1, end=D3),
        },
    )
    assert 'data-health="trail"' in html
    assert "87.5%" in html and "7 / 8" in html
    assert reverse("admin:orders_order_changelist") in html
    empty = render_to_string(
        "admin/reports/_health.html",
        {"health_figures": health_figures(start=D2, end=D2), "exception_causes": []},
    )
    assert "—" in empty and "0.0%" not in empty and "100.0%" not in empty


def listed(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200, url  # a lookup the admin refuses redirects to ?e=1
    return {order.number for order in response.context["cl"].result_list}


def test_health_links_open_the_orders_behind_them(health_days, admin_client):
    jd, tmall = health_days["jd"].pk, health_days["tmall"].pk
    numbers = dict(Order.objects.values_list("paid_at", "number"))
    c = Order.objects.get(channel_id=jd, warehouse__isnull=True)
    Order.objects.filter(pk=c.pk).update(status=Status.PRINTED)  # printed now, with no parcel: to act on
    figures = by_key(health_figures(start=D1, end=D1, channel_id=tmall))
    # Paid on day 1 on tmall: A and B (the legacy order E is not in the figure, nor in its list).
    assert listed(admin_client, figures["pickup_on_time"].url) == {numbers[at(D1, 10)], numbers[at(D1, 23, 59, 59)]}
    assert len(listed(admin_client, figures["interventions"].url)) == 2  # created on day 1 on tmall: A and B
    day3 = by_key(health_figures(start=D3, end=D3, channel_id=jd))
    assert listed(admin_client, day3["consistency"].url) == {c.number}
    assert "overdue_by=15" in day3["breakpoint"].url
    listed(admin_client, day3["breakpoint"].url)
    for figure in health_figures(start=D1, end=D3, warehouse_id=health_days["w1"].pk):
        if figure.url:
            assert admin_client.get(figure.url).status_code == 200, figure.key
    for _label, _count, url in exceptions_by_cause(start=D1, end=D3):
        listed(admin_client, url)


def test_health_labels_are_translated(health_days):
    for figure in health_figures(start=D1, end=D1):
        for text in (figure.label, figure.definition):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text), (figure.key, text)
    by_channel = by_key(health_figures(start=D1, end=D1, channel_id=health_days["jd"].pk))
    assert by_channel["lookup_success"].definition.endswith("仅显示全部数据。")
    assert "4 小时" in by_key(health_figures(start=D1, end=D1))["pickup_on_time"].definition
