"""One typed intake input (OrderDraft), one address value (Address) and one phone rule (orders.phones)."""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from config.exceptions import InvalidInput
from orders.api import OrderIn
from orders.drafts import Address, CustomerDraft, LineDraft, OrderDraft
from orders.models import Order, Source
from orders.phones import is_cn_mobile, is_masked_phone, normalize_phone
from orders.selectors import order_lookup_ids
from orders.services.address import order_change_address
from orders.services.transitions import order_transition
from tests.factories import make_order, order_payload

URL = "/api/v1/orders/"
ROOT = Path(__file__).resolve().parents[2]
APPS = ("config", "orders", "rules", "warehouse", "logistics", "reports", "bench", "tests")


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits (Chinese input methods)
        ("+86 138 1234 5678", "13812345678"),
        ("＋８６－１３８－１２３４－５６７８", "13812345678"),
        ("0086-138-1234-5678", "13812345678"),
        ("86 13812345678", "13812345678"),
        ("(138) 1234-5678", "13812345678"),
        ("138****5678", "138****5678"),  # platform-masked: kept as given
        ("+86 138＊＊＊＊5678", "138****5678"),
        ("8613", "8613"),  # too short to carry a country code: left alone, the validator refuses it
    ],
)
def test_normalize_phone_usual_spellings_give_one_form(typed, clean):
    assert normalize_phone(typed) == clean


def test_normalize_phone_masked_is_its_own_kind():
    assert is_masked_phone("138****5678") and not is_cn_mobile("138****5678")
    assert is_cn_mobile("13812345678") and not is_masked_phone("13812345678")
    assert not is_cn_mobile(normalize_phone("12345678901"))  # 12x is no mobile prefix


def test_phone_rule_cn_mobile_regex_lives_only_in_orders_phones():
    # given the project's Python files but migrations (they freeze the validator as it was)
    files = [path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts]
    pattern = re.compile(r"1\[3-9\]")
    # when looking for another spelling of the CN-mobile regex
    offenders = [
        str(path.relative_to(ROOT))
        for path in files
        if path.relative_to(ROOT).as_posix() not in ("orders/phones.py", "tests/orders/test_drafts_and_phones.py")
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert len(files) > 50
    # then there is none
    assert offenders == []


@pytest.mark.django_db
def test_order_draft_from_api_builds_typed_frozen_values():
    payload = order_payload(
        customer={"name": "张三", "phone": "+86 138-1234-5678"},
        shipping_address={
            "receiver": "张三",
            "phone": "１３８ １２３４ ５６７８",
            "province": "浙江",
            "city": "杭州",
            "detail": "文三路 100 号",
        },
        lines=[{"sku": "MASK-001", "quantity": 2, "unit_price": "99.50"}],
        tags=["vip"],
        platform_ship_by="2026-12-03T18:00:00+08:00",
    )
    serializer = OrderIn(data=payload)
    serializer.is_valid(raise_exception=True)
    draft = OrderDraft.from_api(serializer.validated_data)
    assert draft.customer == CustomerDraft(name="张三", phone="13812345678", member_level=None)
    assert draft.address == Address(
        receiver="张三", phone="13812345678", province="浙江", city="杭州", district="", detail="文三路 100 号"
    )
    assert draft.lines == (LineDraft(sku="MASK-001", quantity=2, unit_price=Decimal("99.50")),)
    assert draft.subtotal == Decimal("199.00") and isinstance(draft.paid_amount, Decimal)
    assert draft.tags == ("vip",) and draft.promo_code is None  # not said: a replay then changes nothing
    assert draft.platform_ship_by.isoformat() == "2026-12-03T18:00:00+08:00"
    with pytest.raises(AttributeError):
        draft.channel = "other"  # frozen


def test_address_maps_the_order_spelling_in_one_place():
    address = Address.from_order_fields(
        {"receiver_name": " 李四 ", "receiver_phone": "+86 139 0000 1111", "province": "江苏", "city": "苏州",
         "district": None, "address_detail": "平江路 8 号"}
    )  # fmt: skip
    assert address.order_fields() == {
        "receiver_name": "李四",
        "receiver_phone": "13900001111",
        "province": "江苏",
        "city": "苏州",
        "district": "",
        "address_detail": "平江路 8 号",
        "receiver_platform_id": "",  # a typed address has no platform receiver id
    }
    assert Address.from_payload(address.payload()) == address
    assert address.differences(Address.from_payload(dict(address.payload(), city="南京"))) == [("city", "苏州", "南京")]


@pytest.mark.django_db
@pytest.mark.usefixtures("stocked")
def test_order_create_phone_in_any_spelling_is_stored_in_one_form(api):
    payload = order_payload(
        customer={"name": "张三", "phone": "+86 138 1234 5678"},
        shipping_address={
            "receiver": "张三",
            "phone": "１３８－１２３４－５６７８",
            "province": "浙江",
            "city": "杭州",
            "detail": "文三路 100 号",
        },
    )
    response = api.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert (order.customer.phone, order.receiver_phone) == ("13812345678", "13812345678")
    assert response.json()["shipping_address"]["phone"] == "13812345678"


@pytest.mark.django_db
@pytest.mark.usefixtures("stocked")
def test_order_create_masked_receiver_phone_is_kept_but_customer_phone_must_be_real(api):
    address = {"receiver": "张*", "phone": "138****5678", "province": "浙江", "city": "杭州", "detail": "文三路"}
    response = api.post(URL, order_payload(shipping_address=address), format="json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert order.receiver_phone == "138****5678"
    order.full_clean()  # the model's validator accepts it too
    assert order_lookup_ids(q="138****5678") == [order.pk]
    refused = api.post(
        URL, order_payload(channel_order_no="TB-M2", customer={"name": "张", "phone": "138****5678"}), format="json"
    )
    assert refused.status_code == 400 and refused.json()["extra"]["fields"]["customer"]["phone"]


@pytest.mark.django_db
@pytest.mark.usefixtures("stocked")
def test_order_create_platform_ship_by_is_stored_and_shown_in_detail(api):
    deadline = (timezone.now() + timedelta(hours=48)).replace(microsecond=0)
    response = api.post(URL, order_payload(platform_ship_by=deadline.isoformat()), format="json")
    assert response.status_code == 201, response.content
    number = response.json()["number"]
    assert Order.objects.get(number=number).platform_ship_by == deadline
    detail = api.get(f"{URL}{number}/").json()
    assert detail["platform_ship_by"] == timezone.localtime(deadline).isoformat()
    assert detail["promised_ship_by"] is None


@pytest.mark.django_db
@pytest.mark.usefixtures("stocked")
def test_order_create_replay_compares_addresses_not_spellings(api):
    payload = order_payload()
    created = api.post(URL, payload, format="json").json()
    # the same address, the phone spelled another way: identical, nothing to update
    same = dict(payload, shipping_address=dict(payload["shipping_address"], phone="+86 138-1234-5678"))
    body = api.post(URL, same, format="json").json()
    assert (body["duplicate"], body["differences"], body["updated"]) == (True, [], [])
    # another district and a platform deadline: both reported and applied
    deadline = (timezone.now() + timedelta(hours=24)).replace(microsecond=0)
    moved = dict(
        payload,
        shipping_address=dict(payload["shipping_address"], district="滨江区"),
        platform_ship_by=deadline.isoformat(),
    )
    body = api.post(URL, moved, format="json").json()
    assert body["updated"] == ["shipping_address.district", "platform_ship_by"]
    order = Order.objects.get(number=created["number"])
    assert (order.district, order.platform_ship_by) == ("滨江区", deadline)


@pytest.mark.django_db
@pytest.mark.usefixtures("stocked")
def test_order_change_address_takes_an_address_with_any_phone_spelling(kefu):
    order = make_order()
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    new = Address.from_payload(
        {"receiver": "李四", "phone": "+86 139 0000 1111", "province": "江苏", "city": "苏州", "detail": "平江路 8 号"}
    )
    change = order_change_address(order=order, address=new, reason="客户来电", actor=kefu)
    order.refresh_from_db()
    assert order.receiver_phone == "13900001111" and change.new_address["receiver_phone"] == "13900001111"
    # a person types a real number: a masked one is refused, naming the field
    with pytest.raises(InvalidInput) as refused:
        order_change_address(
            order=order, address=Address.from_payload(dict(new.payload(), phone="139****1111")), reason="x", actor=kefu
        )
    assert refused.value.extra["field"] == "receiver_phone"


@pytest.mark.django_db
@pytest.mark.usefixtures("stocked")
def test_order_lookup_phone_typed_with_country_code_and_dashes_finds_the_order():
    order = make_order()
    assert order_lookup_ids(q="+86 138-1234-5678") == [order.pk]
