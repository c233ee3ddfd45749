"""Payment: one service (orders.services.payment) behind the channel replay, 财务's 确认收款 and the API."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import Order, OrderEvent, Source
from orders.services.transitions import order_transition
from tests.conftest import client_for
from tests.factories import make_order, order_payload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

URL = "/api/v1/orders/"
PAID_AT = "2026-11-22T10:00:00+08:00"


def payment_url(order: Order) -> str:
    return f"/api/v1/orders/{order.number}/payment/"


def unpaid_order(**overrides) -> Order:
    return make_order(paid_amount="0", **overrides)


def test_order_create_replay_with_paid_amount_and_paid_at_pays_the_order(api):
    # given an order that arrived unpaid
    payload = order_payload(paid_amount="0")
    created = api.post(URL, payload, format="json").json()
    assert created["status"] == "placed"
    # when the channel sends it again, now paid
    replay = api.post(
        URL, dict(payload, paid_amount="198.00", paid_at=PAID_AT, payment_reference="T2026"), format="json"
    )
    # then
    assert replay.status_code == 200, replay.content
    body = replay.json()
    assert body["duplicate"] is True and body["payment_recorded"] is True
    assert (body["status"], body["payment_status"], body["paid_amount"]) == ("paid", "paid", "198.00")
    order = Order.objects.get(number=created["number"])
    assert order.payment_reference == "T2026" and order.paid_at.isoformat() == "2026-11-22T02:00:00+00:00"
    note = order.events.get(kind=OrderEvent.Kind.NOTE)
    assert note.data["payment"]["paid_amount"] == "198.00" and "T2026" in note.reason
    assert order.events.filter(transition="pay").count() == 1
    assert order.history.filter(history_change_reason__startswith="payment recorded").exists()


def test_order_confirm_payment_in_admin_as_caiwu_pays_the_order(client, caiwu):
    order = unpaid_order()
    client.force_login(caiwu)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert b'id="oh-confirm-payment"' in page.content
    form_url = reverse("admin:orders_order_payment", args=[order.pk])
    assert "198.00" in client.get(form_url).content.decode()  # the expected amount is shown
    response = client.post(
        form_url, {"paid_amount": "198.00", "paid_at": "2026-11-22T10:00", "payment_reference": "BANK-778"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.payment_status, order.paid_amount) == ("paid", "paid", Decimal("198.00"))
    assert order.payment_reference == "BANK-778"
    assert order.paid_at == timezone.make_aware(timezone.datetime(2026, 11, 22, 10, 0))
    assert order.events.get(transition="pay").actor == caiwu
    assert order.history.first().history_user == caiwu


def test_order_confirm_payment_in_admin_bad_input_shows_field_error_and_changes_nothing(client, caiwu):
    order = unpaid_order()
    client.force_login(caiwu)
    form_url = reverse("admin:orders_order_payment", args=[order.pk])
    future = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(form_url, {"paid_amount": "198.00", "paid_at": future, "payment_reference": "X"})
    assert response.status_code == 200
    assert response.context["form"].errors["paid_at"]
    order.refresh_from_db()
    assert (order.status, order.paid_amount, order.payment_reference) == ("placed", Decimal("0"), "")


def test_order_confirm_payment_in_admin_without_pay_permission_is_refused(client, kefu):
    order = unpaid_order()
    client.force_login(kefu)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert b'id="oh-confirm-payment"' not in page.content
    form_url = reverse("admin:orders_order_payment", args=[order.pk])
    assert client.get(form_url).status_code == 403
    assert client.post(form_url, {"paid_amount": "198", "paid_at": "2026-11-22T10:00"}).status_code == 403


def test_payment_api_records_payment_and_moves_the_order_on(api):
    order = unpaid_order()
    response = api.post(
        payment_url(order), {"paid_amount": "198.00", "paid_at": PAID_AT, "payment_reference": "TB-1"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "paid" and response.json()["payment_reference"] == "TB-1"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"paid_amount": "-1.00"}, "paid_amount"),
        ({"paid_amount": "0"}, "paid_amount"),
        ({"paid_amount": "lots"}, "paid_amount"),
        ({"payment_reference": ""}, "payment_reference"),
        ({"payment_reference": None}, "payment_reference"),
        ({"paid_at": "yesterday"}, "paid_at"),
    ],
)
def test_payment_api_bad_input_is_400_naming_the_field(api, change, field):
    order = unpaid_order()
    body = {"paid_amount": "198.00", "paid_at": PAID_AT, "payment_reference": "TB-1", **change}
    response = api.post(payment_url(order), body, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(field)
    order.refresh_from_db()
    assert (order.status, order.paid_amount, order.events.count()) == ("placed", Decimal("0"), 1)


def test_payment_api_in_the_future_is_400_from_the_service(api):
    order = unpaid_order()
    future = (timezone.now() + timedelta(days=1)).isoformat()
    response = api.post(
        payment_url(order), {"paid_amount": "198.00", "paid_at": future, "payment_reference": "X"}, format="json"
    )
    assert response.status_code == 400 and response.json()["extra"]["field"] == "paid_at"


def test_payment_api_on_cancelled_order_is_409(api):
    order = order_transition(
        order=unpaid_order(), transition="cancel", actor=None, source=Source.ADMIN, reason="买家取消"
    )
    response = api.post(
        payment_url(order), {"paid_amount": "198.00", "paid_at": PAID_AT, "payment_reference": "X"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "transition_not_allowed"
    order.refresh_from_db()
    assert (order.status, order.paid_amount) == ("cancelled", Decimal("0"))


def test_payment_api_without_pay_permission_is_403(kefu):
    order = unpaid_order()
    response = client_for(kefu).post(
        payment_url(order), {"paid_amount": "198.00", "paid_at": PAID_AT, "payment_reference": "X"}, format="json"
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.paid_amount == 0


def test_payment_api_unknown_order_is_404(api):
    response = api.post(
        "/api/v1/orders/OH000000XXXXXXXX/payment/",
        {"paid_amount": "1.00", "paid_at": PAID_AT, "payment_reference": "X"},
        format="json",
    )
    assert response.status_code == 404


def test_order_confirm_payment_amount_mismatch_holds_with_figures_until_released(api, kefu, caiwu):
    order = unpaid_order()
    response = api.post(
        payment_url(order), {"paid_amount": "150.00", "paid_at": PAID_AT, "payment_reference": "TB-9"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "on_hold" and body["payment_status"] == "unpaid"
    assert (
        "金额不符" in body["status_reason"] and "198.00" in body["status_reason"] and "150.00" in body["status_reason"]
    )
    order.refresh_from_db()
    assert order.paid_amount == Decimal("150.00") and order.resume_status == "placed"
    hold = order.events.get(transition="hold")
    assert "金额不符" in hold.reason
    # customer service checks with the buyer and releases; finance then verifies what was paid
    order = order_transition(order=order, transition="release", actor=kefu, source=Source.ADMIN)
    assert order.status == "placed"
    order = order_transition(order=order, transition="pay", actor=caiwu, source=Source.ADMIN)
    assert (order.status, order.payment_status) == ("paid", "paid")


def test_order_confirm_payment_presale_deposit_then_balance(api):
    order = make_order(is_presale=True, deposit_amount="50.00", paid_amount="0")
    url = payment_url(order)
    deposit = api.post(url, {"paid_amount": "50.00", "paid_at": PAID_AT, "payment_reference": "D-1"}, format="json")
    assert (deposit.json()["status"], deposit.json()["payment_status"]) == ("placed", "deposit_paid")
    balance = api.post(url, {"paid_amount": "198.00", "paid_at": PAID_AT, "payment_reference": "B-1"}, format="json")
    assert (balance.json()["status"], balance.json()["payment_status"]) == ("paid", "paid")
    assert balance.json()["payment_reference"] == "B-1"
    again = api.post(url, {"paid_amount": "198.00", "paid_at": PAID_AT, "payment_reference": "B-1"}, format="json")
    assert again.status_code == 409  # already paid


def test_order_confirm_payment_presale_balance_short_holds(api):
    order = make_order(is_presale=True, deposit_amount="50.00", paid_amount="0")
    url = payment_url(order)
    api.post(url, {"paid_amount": "50.00", "paid_at": PAID_AT, "payment_reference": "D-1"}, format="json")
    short = api.post(url, {"paid_amount": "120.00", "paid_at": PAID_AT, "payment_reference": "B-1"}, format="json")
    assert short.json()["status"] == "on_hold" and "金额不符" in short.json()["status_reason"]


def test_order_confirm_payment_in_admin_presale_shows_deposit_and_total(client, caiwu):
    order = make_order(is_presale=True, deposit_amount="50.00", paid_amount="0")
    client.force_login(caiwu)
    page = client.get(reverse("admin:orders_order_payment", args=[order.pk])).content.decode()
    assert "¥50.00" in page and "¥198.00" in page
    response = client.post(
        reverse("admin:orders_order_payment", args=[order.pk]),
        {"paid_amount": "50.00", "paid_at": "2026-11-22T10:00", "payment_reference": "D-7"},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.payment_status) == ("placed", "deposit_paid")
