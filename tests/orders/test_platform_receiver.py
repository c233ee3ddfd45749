"""Platform-encrypted receivers (Taobao OAID, Douyin encrypted receiver id): the API's shipping_address takes the
platform's receiver id, the order keeps it (read-only in the admin) next to the masked name and phone as the
platform gave them, and a person typing a new plain address clears it (it named the old address). The waybill is
then ordered by it: tests/logistics/test_waybills.py checks the Kuaidi100 request carries oaid and no printAddr."""

import pytest
from django.urls import reverse

from orders.drafts import Address
from orders.models import Order
from orders.services.address import order_change_address
from tests.factories import order_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"
OAID = "1AbCdEfGhIjKlMnOpQrStUvWxYz2AbCdEfGhIjKlMnOp"
MASKED = {
    "receiver": "王**",
    "phone": "138****8000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路***",
}


def test_api_order_with_a_platform_receiver_id_keeps_it_and_the_masked_receiver_as_given(api):
    payload = order_payload(shipping_address={**MASKED, "platform_receiver_id": f" {OAID} "})
    response = api.post(URL, payload, format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert order.receiver_platform_id == OAID
    assert (order.receiver_name, order.receiver_phone, order.address_detail) == ("王**", "138****8000", "文三路***")
    assert response.json()["shipping_address"]["platform_receiver_id"] == OAID
    # an identical replay changes nothing
    replay = api.post(URL, payload, format="json")
    assert replay.status_code == 200 and replay.json().get("updated") in (None, [])


def test_api_platform_receiver_id_is_optional(api):
    response = api.post(URL, order_payload(), format="json")
    assert response.status_code == 201
    assert Order.objects.get(number=response.json()["number"]).receiver_platform_id == ""


def test_api_platform_receiver_id_longer_than_128_is_refused_naming_the_field_and_nothing_is_stored(api):
    payload = order_payload(shipping_address={**MASKED, "platform_receiver_id": "x" * 129})
    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert "platform_receiver_id" in str(response.json())
    assert not Order.objects.exists()


def test_admin_shows_the_platform_receiver_id_read_only(api, client, kefu):
    number = api.post(
        URL, order_payload(shipping_address={**MASKED, "platform_receiver_id": OAID}), format="json"
    ).json()["number"]
    order = Order.objects.get(number=number)
    client.force_login(kefu)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert OAID in page and "平台收件人ID" in page
    assert 'name="receiver_platform_id"' not in page  # shown, never an input


def test_a_typed_new_address_clears_the_platform_receiver_id(api, kefu):
    number = api.post(
        URL, order_payload(shipping_address={**MASKED, "platform_receiver_id": OAID}), format="json"
    ).json()["number"]
    order = Order.objects.get(number=number)
    typed = {
        "receiver_name": "李四",
        "receiver_phone": "13900001111",
        "province": "江苏",
        "city": "苏州",
        "district": "姑苏区",
        "address_detail": "平江路 8 号",
    }
    order_change_address(order=order, address=Address.from_order_fields(typed), reason="客户来电改地址", actor=kefu)
    order.refresh_from_db()
    assert order.city == "苏州" and order.receiver_platform_id == ""
