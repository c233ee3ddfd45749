"""Every carrier callback is verified: no push adapter without a secret, and an unsigned or wrongly signed push
changes nothing. Through the real callback endpoint and the real admin form."""

import json

import pytest
from django.contrib.messages import get_messages
from django.db import IntegrityError, transaction
from django.urls import reverse

from config.exceptions import InvalidInput
from logistics.carriers import generic, kuaidi100
from logistics.models import Carrier, TrackingEvent
from logistics.services import carrier_save
from orders.models import Status
from tests.factories import user_with_role
from tests.logistics.parcels import printed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

CALLBACK = "/api/v1/logistics/callback/{code}/"
ADD_URL = reverse("admin:logistics_carrier_add")


def signed_for_delivery(number: str) -> str:
    """A Kuaidi100 push saying the parcel was signed for (签收)."""
    return json.dumps(
        {
            "status": "shutdown",
            "lastResult": {
                "nu": number,
                "state": "3",
                "ischeck": "1",
                "data": [{"time": "2026-11-21 18:00:00", "ftime": "2026-11-21 18:00:00", "context": "已签收"}],
            },
        },
        ensure_ascii=False,
    )


def carrier_form(**overrides) -> dict:
    data = {
        "code": "shunfeng",
        "name": "顺丰速运",
        "adapter": "kuaidi100",
        "provider_code": "shunfeng",
        "api_base_url": "https://poll.kuaidi100.com",
        "api_customer": "K100CUSTOMER",
        "api_key": "k100-key",
        "callback_secret": "",
        "stall_hours": 36,
        "poll_minutes": 120,
        "waybill_pay_type": "SHIPPER",
        "waybill_express_type": "标准快递",
        "label_paper": "76x130",
        "is_active": "on",
        "state_mappings-TOTAL_FORMS": 0,
        "state_mappings-INITIAL_FORMS": 0,
        "state_mappings-MIN_NUM_FORMS": 0,
        "state_mappings-MAX_NUM_FORMS": 1000,
    }
    data.update(overrides)
    return data


def test_carrier_callback_forged_push_for_carrier_saved_without_salt_is_refused_and_order_unchanged(admin_client):
    # given: a Kuaidi100 carrier saved in the admin without typing a salt, and a printed order of it
    assert admin_client.post(ADD_URL, carrier_form()).status_code == 302
    carrier = Carrier.objects.get(code="shunfeng")
    order = printed(carrier)

    # when: anybody pushes "签收" for that parcel, unsigned
    response = admin_client.post(CALLBACK.format(code="shunfeng"), {"param": signed_for_delivery("SF1000000001")})

    # then: refused in Kuaidi100's convention, nothing stored, the order still printed
    assert response.status_code == 403
    assert response.json()["result"] is False and response.json()["returnCode"] == "403"
    assert not TrackingEvent.objects.exists()
    order.refresh_from_db()
    assert order.status == Status.PRINTED


def test_carrier_callback_wrongly_signed_kuaidi100_push_is_refused_and_order_unchanged(client):
    carrier = Carrier.objects.create(code="shunfeng", name="顺丰速运", adapter="kuaidi100", callback_secret="salt-1")
    order = printed(carrier)
    param = signed_for_delivery("SF1000000001")

    for sign in ("", kuaidi100.sign(param, "guessed-salt"), kuaidi100.sign(param)):
        response = client.post(CALLBACK.format(code="shunfeng"), {"param": param, "sign": sign})
        assert response.status_code == 403
        assert response.json()["result"] is False

    assert not TrackingEvent.objects.exists()
    order.refresh_from_db()
    assert order.status == Status.PRINTED
    # and the right salt still works
    ok = client.post(CALLBACK.format(code="shunfeng"), {"param": param, "sign": kuaidi100.sign(param, "salt-1")})
    assert ok.json() == {"result": True, "returnCode": "200", "message": ok.json()["message"]}


def test_carrier_callback_unsigned_generic_push_answers_hub_error_and_changes_nothing(client):
    carrier = Carrier.objects.create(code="deppon", name="德邦", adapter="generic", callback_secret="s3cret")
    order = printed(carrier, number="DPK0001")
    body = json.dumps(
        {
            "tracking_number": "DPK0001",
            "events": [{"time": "2026-11-21T09:00:00+08:00", "state": "3", "description": "签收"}],
        }
    ).encode()

    response = client.post(CALLBACK.format(code="deppon"), body, content_type="application/json")

    assert response.status_code == 403
    assert response.json() == {"message": response.json()["message"], "code": "bad_signature", "extra": {}}
    assert not TrackingEvent.objects.exists()
    order.refresh_from_db()
    assert order.status == Status.PRINTED
    signed = client.post(
        CALLBACK.format(code="deppon"),
        body,
        content_type="application/json",
        headers={"X-OrderHub-Signature": generic.signature("s3cret", body)},
    )
    assert signed.status_code == 200 and signed.json()["code"] == "ok"


def test_carrier_admin_save_push_adapter_without_secret_generates_one_and_shows_it_once(admin_client):
    # when: a Kuaidi100 carrier is added without a salt
    response = admin_client.post(ADD_URL, carrier_form(), follow=True)

    # then: a secret was generated, stored, and shown once in a message
    carrier = Carrier.objects.get(code="shunfeng")
    assert len(carrier.callback_secret) >= 32
    shown = [str(m) for m in response.context["messages"]]
    assert any(carrier.callback_secret in m for m in shown), shown
    assert carrier.callback_secret in response.content.decode()
    # and never again: not on the change form, not after saving it again with the field left empty
    change_url = reverse("admin:logistics_carrier_change", args=[carrier.pk])
    page = admin_client.get(change_url).content.decode()
    assert carrier.callback_secret not in page and "k100-key" not in page
    again = admin_client.post(change_url, carrier_form(api_key=""), follow=True)
    assert carrier.callback_secret not in again.content.decode()
    assert not [m for m in get_messages(again.wsgi_request) if carrier.callback_secret in str(m)]
    carrier.refresh_from_db()
    assert carrier.callback_secret and carrier.api_key == "k100-key"  # both kept


def test_carrier_admin_switch_manual_carrier_to_push_adapter_gets_a_secret(admin_client):
    carrier = Carrier.objects.create(code="zhongtong", name="中通快递")
    change_url = reverse("admin:logistics_carrier_change", args=[carrier.pk])

    response = admin_client.post(change_url, carrier_form(code="zhongtong", name="中通快递", adapter="generic"))

    assert response.status_code == 302
    carrier.refresh_from_db()
    assert carrier.adapter == "generic" and carrier.callback_secret


def test_carrier_admin_typed_secret_is_kept_and_not_shown(admin_client):
    response = admin_client.post(ADD_URL, carrier_form(callback_secret="my-own-salt-2026"), follow=True)

    assert Carrier.objects.get(code="shunfeng").callback_secret == "my-own-salt-2026"
    assert "my-own-salt-2026" not in response.content.decode()


def test_carrier_save_push_adapter_without_secret_refused_on_the_field():
    carrier = Carrier(code="yunda", name="韵达", adapter="kuaidi100")

    with pytest.raises(InvalidInput) as refused:
        carrier_save(carrier=carrier, actor=None)

    assert refused.value.extra == {"field": "callback_secret"}
    assert not Carrier.objects.filter(code="yunda").exists()


def test_carrier_push_adapter_without_secret_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        Carrier.objects.create(code="yunda", name="韵达", adapter="kuaidi100", callback_secret="")
    Carrier.objects.create(code="jd", name="京东物流")  # manual carriers need none


@pytest.mark.parametrize("role", ["客服", "财务", "采购"])
def test_carrier_admin_view_only_page_shows_whether_keys_are_set_never_the_keys(client, role):
    carrier = Carrier.objects.create(
        code="shunfeng", name="顺丰速运", adapter="kuaidi100", api_key="k100-key", callback_secret="salt-hidden-1"
    )
    client.force_login(user_with_role(role, f"user-{role}"))

    response = client.get(reverse("admin:logistics_carrier_change", args=[carrier.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "salt-hidden-1" not in html and "k100-key" not in html
    assert "已设置（不显示）" in html
