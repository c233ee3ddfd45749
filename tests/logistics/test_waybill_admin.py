"""The waybill account on the carrier row (secrets typed in, never shown back, not in history), the number-range
admin (运营主管 edits, 仓库 views, a handed-out number never comes again) and the warehouse sender."""

import pytest
from django.urls import reverse

from logistics.models import Carrier, WaybillNumberRange
from logistics.services import waybill_number_range_save, waybill_number_take
from tests.factories import user_with_role
from tests.logistics.test_callback_security import carrier_form
from warehouse.models import Warehouse

pytestmark = pytest.mark.django_db

SECRETS = {
    "api_key": "k100-key-hidden",
    "waybill_secret": "k100-secret-hidden",
    "waybill_partner_key": "partner-key-hidden",
    "waybill_partner_secret": "partner-secret-hidden",
}
ACCOUNT = {
    "waybill_api_url": "https://api.kuaidi100.com/label/order",
    "waybill_partner_id": "SF-0101",
    "waybill_partner_name": "美肤旗舰店",
    "waybill_net": "上海青浦网点",
    "waybill_code": "C01",
    "waybill_template_id": "sf_100150",
    "label_paper": "100x150",
}


def test_carrier_admin_waybill_account_saved_secrets_never_shown_back_or_in_history(client, yunying):
    client.force_login(yunying)
    response = client.post(
        reverse("admin:logistics_carrier_add"),
        carrier_form(callback_secret="salt-typed-1", **SECRETS, **ACCOUNT),
        follow=True,
    )
    assert response.status_code == 200
    carrier = Carrier.objects.get(code="shunfeng")
    for field, value in {**SECRETS, **ACCOUNT}.items():
        assert getattr(carrier, field) == value, field

    change_url = reverse("admin:logistics_carrier_change", args=[carrier.pk])
    page = client.get(change_url).content.decode()
    assert not [secret for secret in SECRETS.values() if secret in page]
    assert "sf_100150" in page and "电子面单账号（partnerId）" in page  # the rest is shown, in Chinese

    # Saving again with the secret inputs left empty keeps every stored secret.
    client.post(
        change_url, carrier_form(api_key="", callback_secret="", **(ACCOUNT | {"waybill_template_id": "sf_76130"}))
    )
    carrier.refresh_from_db()
    assert carrier.waybill_template_id == "sf_76130"
    assert all(getattr(carrier, field) == value for field, value in SECRETS.items())

    history = client.get(reverse("admin:logistics_carrier_history", args=[carrier.pk])).content.decode()
    assert not [secret for secret in SECRETS.values() if secret in history]
    assert not {"waybill_secret", "waybill_partner_key", "waybill_partner_secret"} & {
        f.name for f in carrier.history.model._meta.fields
    }


@pytest.mark.parametrize("role", ["客服", "仓库"])
def test_carrier_admin_view_only_page_lists_which_waybill_secrets_are_set(client, role):
    carrier = Carrier.objects.create(code="jd", name="京东物流", **SECRETS, **ACCOUNT)
    client.force_login(user_with_role(role, f"user-{role}"))
    page = client.get(reverse("admin:logistics_carrier_change", args=[carrier.pk])).content.decode()
    assert not [secret for secret in SECRETS.values() if secret in page]
    assert "电子面单密钥（partnerSecret）: 已设置（不显示）" in page


@pytest.fixture
def zto():
    return Carrier.objects.create(code="zhongtong", name="中通快递")


def range_form(carrier, **overrides) -> dict:
    data = {
        "carrier": carrier.pk,
        "prefix": "zt",
        "first_number": 1,
        "last_number": 500,
        "width": 10,
        "is_active": "on",
    }
    return data | overrides


def test_number_range_admin_yunying_adds_and_extends_never_rewinds(client, yunying, zto):
    client.force_login(yunying)
    response = client.post(reverse("admin:logistics_waybillnumberrange_add"), range_form(zto))
    assert response.status_code == 302
    number_range = WaybillNumberRange.objects.get()
    assert (number_range.prefix, number_range.next_number) == ("ZT", 1)
    assert [waybill_number_take(carrier=zto, key=f"k{i}") for i in range(2)] == ["ZT0000000001", "ZT0000000002"]

    change_url = reverse("admin:logistics_waybillnumberrange_change", args=[number_range.pk])
    page = client.get(change_url).content.decode()
    assert "ZT0000000003" in page and 'name="next_number"' not in page and 'name="first_number"' not in page
    client.post(change_url, {"last_number": 900, "is_active": "on", "next_number": 1, "first_number": 1})
    number_range.refresh_from_db()
    assert (number_range.first_number, number_range.next_number, number_range.last_number) == (1, 3, 900)

    shrink = client.post(change_url, {"last_number": 1, "is_active": "on"})
    assert shrink.status_code == 200 and "ZT0000000002 及之前的单号已发出" in shrink.content.decode()
    overlap = client.post(
        reverse("admin:logistics_waybillnumberrange_add"), range_form(zto, first_number=800, last_number=1000)
    )
    assert overlap.status_code == 200 and "重叠" in overlap.content.decode()
    assert WaybillNumberRange.objects.count() == 1


def test_number_range_admin_cangku_views_only(client, cangku, zto):
    number_range = waybill_number_range_save(
        number_range=WaybillNumberRange(carrier=zto, prefix="ZT", first_number=1, next_number=1, last_number=5),
        actor=None,
    )
    waybill_number_take(carrier=zto, key="k1")
    client.force_login(cangku)
    assert client.get(reverse("admin:logistics_waybillnumberrange_changelist")).status_code == 200
    assert client.get(reverse("admin:logistics_waybillnumberrange_add")).status_code == 403
    page = client.get(reverse("admin:logistics_waybillnumberrange_change", args=[number_range.pk]))
    assert page.status_code == 200 and 'name="last_number"' not in page.content.decode()
    assert (
        client.post(
            reverse("admin:logistics_waybillnumberrange_change", args=[number_range.pk]), {"last_number": 1}
        ).status_code
        == 403
    )
    issues = client.get(reverse("admin:logistics_waybillnumberissue_changelist")).content.decode()
    assert "ZT1" in issues and "k1" in issues


def test_warehouse_admin_yunying_edits_the_sender(client, yunying):
    warehouse = Warehouse.objects.create(code="SH01", name="上海青浦仓")
    client.force_login(yunying)
    url = reverse("admin:warehouse_warehouse_change", args=[warehouse.pk])
    form = {"code": "SH01", "name": "上海青浦仓", "daily_capacity": 0, "is_active": "on"}
    sender = {
        "sender_name": "美肤旗舰店仓库",
        "sender_phone": "021-6123 4567",
        "sender_address": "上海市青浦区华新镇华志路1688号",
        "sender_company": "美肤旗舰店",
    }
    assert "面单寄件人" in client.get(url).content.decode()
    bad = client.post(url, form | sender | {"sender_phone": "call me"})
    assert bad.status_code == 200 and "电话号码由数字组成" in bad.content.decode()
    assert client.post(url, form | sender).status_code == 302
    warehouse.refresh_from_db()
    assert {field: getattr(warehouse, field) for field in sender} == sender
