import json
import threading
from decimal import Decimal

import pytest
from django.db import connection

from orders.models import Customer, Order, OrderEvent, OrderLine
from tests.conftest import client_for
from tests.factories import SkuFactory, order_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"


def test_order_create_new_order_returns_201_and_stores_everything(api):
    # given
    payload = order_payload()
    # when
    response = api.post(URL, payload, format="json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["duplicate"] is False
    assert body["status"] == "placed"
    order = Order.objects.get(number=body["number"])
    assert order.channel_order_no == payload["channel_order_no"]
    assert order.subtotal == Decimal("198.00")
    assert order.lines.get().quantity == 2
    assert order.customer.phone == "13812345678"
    assert order.state_deadline is not None  # the placed node has a 30-minute timeout by default
    assert list(order.events.values_list("kind", flat=True)) == ["created"]
    assert order.history.count() == 1
    assert order.lines.get().history.count() == 1  # lines are audited too
    assert order.history.get().history_user.username == "api"


def test_order_create_number_is_date_prefixed_and_random():
    from django.utils import timezone

    from orders.services.intake import NUMBER_ALPHABET, order_number_generate

    numbers = [order_number_generate() for _ in range(200)]
    today = f"OH{timezone.localtime():%y%m%d}"
    assert all(n.startswith(today) and len(n) == 16 for n in numbers)
    assert all(set(n[8:]) <= set(NUMBER_ALPHABET) for n in numbers)
    assert len(set(numbers)) == 200
    assert numbers != sorted(numbers)  # not handed out in sequence


def test_order_create_replay_returns_200_with_same_order_and_duplicate_flag(api):
    payload = order_payload()
    first = api.post(URL, payload, format="json")
    replay = api.post(URL, payload, format="json")
    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert replay.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1


def test_order_create_with_paid_at_enters_paid(api):
    response = api.post(URL, order_payload(paid_at="2026-11-22T10:00:00+08:00"), format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "paid"
    order = Order.objects.get(number=response.json()["number"])
    # created, the payment recorded (amount, time, reference), then the status change
    assert [(e.kind, e.transition) for e in order.events.all()] == [
        ("created", ""),
        ("note", ""),
        ("transition", "pay"),
    ]
    assert order.paid_at is not None and order.payment_reference == order.channel_order_no


def test_order_create_same_channel_order_no_with_other_details_is_409(api):
    payload = order_payload()
    api.post(URL, payload, format="json")
    clash = dict(payload, buyer_id="someone-else")
    response = api.post(URL, clash, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "channel_order_conflict"
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_order_create_concurrent_replay_makes_one_order(integrator):
    # given: ten connectors posting the very same order at once
    payload = order_payload()
    statuses, numbers = [], []
    barrier = threading.Barrier(10)

    def post():
        try:
            client = client_for(integrator)
            barrier.wait()
            response = client.post(URL, payload, format="json")
            statuses.append(response.status_code)
            numbers.append(response.json()["number"])
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(10)]
    # when
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then
    assert sorted(statuses) == [200] * 9 + [201]
    assert len(set(numbers)) == 1
    assert Order.objects.count() == 1
    assert OrderLine.objects.count() == 1
    assert OrderEvent.objects.count() == 1
    assert Customer.objects.count() == 1


BAD_INPUTS = [
    ("malformed JSON", "{not json", "parse_error", None),
    ("unknown channel", {"channel": "nope"}, "unknown_channel", "channel"),
    ("unknown SKU", {"lines": [{"sku": "NO-SUCH", "quantity": 1, "unit_price": "1.00"}]}, "unknown_sku", "NO-SUCH"),
    ("zero quantity", {"lines": [{"sku": "MASK-001", "quantity": 0, "unit_price": "1.00"}]}, "invalid", "quantity"),
    ("negative quantity", {"lines": [{"sku": "MASK-001", "quantity": -2, "unit_price": "1"}]}, "invalid", "quantity"),
    ("negative amount", {"paid_amount": "-1.00"}, "invalid", "paid_amount"),
    ("negative price", {"lines": [{"sku": "MASK-001", "quantity": 1, "unit_price": "-5"}]}, "invalid", "unit_price"),
    ("bad phone", {"customer": {"name": "张三", "phone": "12345"}}, "invalid", "phone"),
    (
        "bad receiver phone",
        {"shipping_address": {"receiver": "a", "phone": "abc", "province": "浙江", "city": "杭州", "detail": "x"}},
        "invalid",
        "phone",
    ),
    ("wrong type", {"paid_amount": "lots"}, "invalid", "paid_amount"),
    ("quantity as text", {"lines": [{"sku": "MASK-001", "quantity": "two", "unit_price": "1"}]}, "invalid", "quantity"),
    ("bad date", {"ordered_at": "yesterday"}, "invalid", "ordered_at"),
    ("no lines", {"lines": []}, "invalid", "lines"),
    ("presale without deposit", {"is_presale": True}, "invalid_field", "deposit_amount"),
]


@pytest.mark.parametrize(("case", "change", "code", "named"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_order_create_bad_input_is_400_naming_the_problem_and_writes_nothing(api, case, change, code, named):
    SkuFactory(code="MASK-001")
    if isinstance(change, str):
        response = api.post(URL, change, content_type="application/json")
    else:
        response = api.post(URL, json.dumps(order_payload(**change)), content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "code", "extra"}
    assert body["code"] == code
    if named:
        assert named in json.dumps(body, ensure_ascii=False)
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    "field", ["channel", "channel_order_no", "ordered_at", "customer", "shipping_address", "lines"]
)
def test_order_create_missing_required_field_is_400_naming_it(api, field):
    payload = order_payload()
    del payload[field]
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(field)
    assert Order.objects.count() == 0


def test_order_create_without_add_permission_is_403(kefu):
    response = client_for(kefu).post(URL, order_payload(), format="json")
    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_order_create_anonymous_is_401():
    from rest_framework.test import APIClient

    response = APIClient().post(URL, order_payload(), format="json")
    assert response.status_code == 401


INTAKE_EXTRAS = ["duplicate", "differences", "updated", "held", "flagged", "payment_recorded"]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "lines": "two",
            "tags": ["加急", "VIP"],
            "promo_code": "DOUBLE11",
            "invoice_title": "杭州某某有限公司",
            "priority": 2,
            "promised_ship_by": "2026-12-03T18:00:00+08:00",
            "platform_ship_by": "2026-12-04T12:00:00Z",
            "is_presale": True,
            "deposit_amount": "20.50",
            "paid_amount": "0",
            "buyer_id": "",
        },
    ],
    ids=["plain", "every-field"],
)
def test_order_create_201_body_equals_the_read_serializer_for_the_same_order(api, overrides):
    # given: the 201 answer is built as a plain dict, not through OrderOut
    overrides = dict(overrides)
    if overrides.pop("lines", None) == "two":
        second = SkuFactory(code="SERUM-9", name="精华液 30ml")
        overrides["lines"] = [
            {"sku": "MASK-001", "quantity": 3, "unit_price": "99.9"},
            {"sku": second.code, "quantity": 1, "unit_price": "0"},
        ]
        overrides["sku"] = SkuFactory(code="MASK-001", name="补水面膜")
    payload = order_payload(**overrides)
    # when
    created = api.post(URL, payload, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    read = api.get(f"{URL}{body['number']}/")
    # then: same keys in the same order, same values, plus the intake's own keys
    assert read.status_code == 200
    expected = read.json()
    assert list(body) == [*expected, *INTAKE_EXTRAS]
    assert {k: body[k] for k in expected} == expected
    assert [body[k] for k in INTAKE_EXTRAS] == [False, [], [], False, False, False]


def test_order_create_history_rows_are_the_ones_simple_history_writes(api, integrator):
    # given: intake writes the '+' rows of the order, its lines and a new customer itself (not through post_save)
    payload = order_payload(customer={"name": "新客", "phone": "13900001111", "member_level": "silver"})
    # when
    response = api.post(URL, payload, format="json")
    # then: one '+' row each, every tracked field as stored, who and why
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    customer = order.customer
    (line,) = order.lines.all()
    for instance, user, reason in (
        (order, integrator, "created via api"),
        (customer, integrator, "customer from channel order"),  # the request's user (history middleware)
        (line, integrator, None),
    ):
        (row,) = instance.history.all()
        assert (row.history_type, row.history_user, row.history_change_reason) == ("+", user, reason)
        tracked = type(row).tracked_fields
        assert len(tracked) > 5
        assert {f.attname: getattr(row, f.attname) for f in tracked} == {
            f.attname: getattr(instance, f.attname) for f in tracked
        }
