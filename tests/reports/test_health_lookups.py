"""客户自助查单成功率: the lookup counters written by real requests to the tracking page, its signed link and the
lookup API, read by the health figure."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from logistics.models import TrackingLookupCount
from logistics.selectors import tracking_link_token
from logistics.services import tracking_lookup_count
from reports.selectors.health import health_figures
from reports.services.daily import report_today
from tests.factories import make_order

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def counts() -> dict:
    return {(row.door, row.outcome): row.n for row in TrackingLookupCount.objects.filter(day=report_today())}


def lookup_figure():
    today = report_today()
    return next(f for f in health_figures(start=today, end=today) if f.key == "lookup_success")


@override_settings(ORDERHUB_TRACK_ATTEMPTS=3)
def test_tracking_page_counts_each_lookup_by_outcome(client: Client):
    order = make_order()
    last4 = order.receiver_phone[-4:]
    assert client.get("/track/").status_code == 200  # the empty form is not a lookup
    assert counts() == {}
    assert client.post("/track/", {"number": order.number, "last4": last4}, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert client.post("/track/", {"number": order.number, "last4": last4}, REMOTE_ADDR="10.0.0.2").status_code == 200
    assert client.post("/track/", {"number": "OH-NOPE", "last4": "1234"}, REMOTE_ADDR="10.0.0.3").status_code == 404
    assert client.post("/track/", {"number": "OH-NOPE2", "last4": "12a4"}, REMOTE_ADDR="10.0.0.4").status_code == 400
    for _ in range(3):  # the 4th attempt from one address is over the limit
        client.post("/track/", {"number": "OH-X", "last4": "0000"}, REMOTE_ADDR="10.9.9.9")
    assert client.post("/track/", {"number": "OH-X", "last4": "0000"}, REMOTE_ADDR="10.9.9.9").status_code == 429
    assert counts() == {
        ("page", "found"): 2,
        ("page", "not_found"): 4,
        ("page", "invalid"): 1,
        ("page", "rate_limited"): 1,
    }
    figure = lookup_figure()
    assert (figure.numerator, figure.denominator, figure.value) == (2, 6, Decimal("33.3"))


def test_tracking_link_counts_found_and_bad_token(client: Client):
    order = make_order()
    assert client.get(f"/track/o/{tracking_link_token(order)}/").status_code == 200
    assert client.get("/track/o/not-a-token/").status_code == 404
    assert counts() == {("link", "found"): 1, ("link", "not_found"): 1}


def test_lookup_api_counts_found_not_found_and_invalid(api):
    order = make_order()
    assert api.get("/api/v1/orders/lookup/", {"q": order.number}).status_code == 200
    assert api.get("/api/v1/orders/lookup/", {"q": "NOPE-123"}).json() == []
    response = api.get("/api/v1/orders/lookup/")
    assert response.status_code == 400 and response.json()["message"].startswith("q")
    assert counts() == {("api", "found"): 1, ("api", "not_found"): 1, ("api", "invalid"): 1}
    figure = lookup_figure()  # the staff's and integrators' lookups are not the customers' self-service
    assert (figure.numerator, figure.denominator) == (0, 0)


def test_lookup_count_lands_on_the_shanghai_day():
    tracking_lookup_count(door="page", outcome="found", now=datetime(2026, 11, 20, 23, 59, 59, tzinfo=SH))
    tracking_lookup_count(door="page", outcome="found", now=datetime(2026, 11, 21, 0, 0, 0, tzinfo=SH))
    tracking_lookup_count(door="page", outcome="found", now=datetime(2026, 11, 21, 0, 0, 0, tzinfo=SH))
    rows = dict(TrackingLookupCount.objects.values_list("day", "n"))
    assert {str(day): n for day, n in rows.items()} == {"2026-11-20": 1, "2026-11-21": 2}


def test_lookup_count_refuses_unknown_door_or_outcome():
    with pytest.raises(ValueError, match="door"):
        tracking_lookup_count(door="fax", outcome="found")
    with pytest.raises(ValueError, match="outcome"):
        tracking_lookup_count(door="page", outcome="maybe")
    assert not TrackingLookupCount.objects.exists()
