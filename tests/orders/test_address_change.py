"""Address changes from the admin: applied before the label is printed, an intercept request after."""

import pytest

from config.exceptions import Conflict, InvalidInput
from orders.drafts import Address
from orders.models import AddressChange, Alert, Source, Status
from orders.services.address import address_change_resolve, order_change_address
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

NEW = {
    "receiver_name": "李四",
    "receiver_phone": "13900001111",
    "province": "江苏",
    "city": "苏州",
    "district": "姑苏区",
    "address_detail": "平江路 8 号",
}


def moved(*steps):
    order = make_order()
    CarrierFactory()
    for name, source, changes in steps:
        order = order_transition(order=order, transition=name, actor=None, source=source, changes=changes)
    return order


PAID = [("pay", Source.API, {})]
PRINTED = [
    *PAID,
    ("start_allocation", Source.SYSTEM, {}),
    ("allocate", Source.SYSTEM, {}),
    ("print_label", Source.SCAN, {"carrier": "shunfeng", "tracking_number": "SF5550001"}),
]


def test_before_printing_the_address_is_applied_and_the_old_one_kept_in_history(kefu):
    order = moved(*PAID)
    change = order_change_address(
        order=order, address=Address.from_order_fields(NEW), reason="客户来电改地址", actor=kefu
    )
    order.refresh_from_db()
    assert change.state == AddressChange.State.APPLIED and order.city == "苏州" and order.status == Status.PAID
    previous = order.history.all()[1]
    assert previous.city == "杭州" and order.history.first().history_user == kefu
    assert order.events.filter(kind="note", reason__contains="平江路").exists()


def test_after_printing_it_becomes_an_intercept_request_and_an_exception(kefu):
    order = moved(*PRINTED)
    change = order_change_address(order=order, address=Address.from_order_fields(NEW), reason="客户搬家", actor=kefu)
    order.refresh_from_db()
    assert change.state == AddressChange.State.INTERCEPT
    assert order.status == Status.EXCEPTION and "拦截改址" in order.status_reason and order.city == "杭州"
    assert Alert.objects.filter(order=order, message__contains="SF5550001").exists()
    address_change_resolve(change=change, intercepted=True, actor=kefu)
    order.refresh_from_db()
    assert order.city == "苏州"
    with pytest.raises(Conflict):
        address_change_resolve(change=change, intercepted=True, actor=kefu)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"receiver_phone": "12345"}, "receiver_phone"),
        ({"city": ""}, "city"),
        ({"address_detail": "x" * 513}, "address_detail"),  # 512: room for a platform's ciphertext
    ],
)
def test_bad_address_is_refused_naming_the_field_and_changes_nothing(kefu, override, field):
    order = moved(*PAID)
    with pytest.raises(InvalidInput) as refused:
        order_change_address(
            order=order, address=Address.from_order_fields({**NEW, **override}), reason="改", actor=kefu
        )
    assert refused.value.extra["field"] == field
    order.refresh_from_db()
    assert order.city == "杭州" and not AddressChange.objects.exists()


def test_admin_address_page_applies_the_change(client, kefu):
    order = moved(*PAID)
    client.force_login(kefu)
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert f"/admin/orders/order/{order.pk}/address/" in page
    response = client.post(f"/admin/orders/order/{order.pk}/address/", {**NEW, "reason": "客户来电"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.receiver_name == "李四"
    bad = client.post(f"/admin/orders/order/{order.pk}/address/", {**NEW, "receiver_phone": "1", "reason": "x"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
