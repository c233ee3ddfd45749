"""导出 Excel on the admin lists: exactly the filtered, searched list, every page; view permission; a cap."""

from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.admin import OrderAdmin
from orders.models import Alert, Customer, Order, Source
from orders.services.alerts import alert_raise
from orders.services.transitions import order_transition
from tests.exports.xlsx_read import calamine_rows, openpyxl_rows, response_bytes
from tests.factories import make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

ORDERS = reverse("admin:orders_order_changelist")
ORDERS_EXPORT = reverse("admin:orders_order_export_xlsx")
CUSTOMERS = reverse("admin:orders_customer_changelist")
CUSTOMERS_EXPORT = reverse("admin:orders_customer_export_xlsx")


def paid_order(**kw) -> Order:
    return order_transition(order=make_order(**kw), transition="pay", actor=None, source=Source.API)


def with_phone(phone: str) -> dict:
    return {
        "customer": {"name": "李四", "phone": phone, "member_level": "gold"},
        "shipping_address": {
            "receiver": "李四",
            "phone": phone,
            "province": "上海",
            "city": "上海",
            "district": "浦东新区",
            "detail": "世纪大道 1 号",
        },
    }


def exported(client, url, params=None) -> list[list]:
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    return calamine_rows(response_bytes(response))


def test_order_export_follows_the_filter_and_the_search_and_has_plain_values(client, kefu):
    client.force_login(kefu)
    wanted = paid_order(
        **with_phone("13512345678"),
        paid_amount="1299.00",
        lines=[{"sku": "MASK-001", "quantity": 1, "unit_price": "1299.00"}],
    )
    make_order(**with_phone("13512345678"))  # same phone, not paid: filtered out
    paid_order()  # paid, other phone: not found by the search
    rows = exported(client, ORDERS_EXPORT, {"status__exact": "paid", "q": "13512345678"})
    header, *data = rows
    assert header[:2] == ["订单号", "状态"]
    assert [row[0] for row in data] == [wanted.number]
    assert data[0][1] == "支付已校验" == wanted.get_status_display()  # the label, not the code
    assert 1299.0 in data[0]  # the amount is a number
    assert "13512345678" in data[0] and "李四" in data[0]
    assert not any("<" in str(value) for value in data[0])  # no HTML from the list's badges


def test_order_export_takes_every_page_in_the_list_order(client, kefu, monkeypatch):
    client.force_login(kefu)
    orders = [paid_order() for _ in range(4)]
    monkeypatch.setattr(OrderAdmin, "list_per_page", 2)
    rows = exported(client, ORDERS_EXPORT, {"o": "1", "p": "1"})  # by number; the screen shows page 2 of 2
    assert [row[0] for row in rows[1:]] == sorted(o.number for o in orders)


def test_export_queries_do_not_grow_with_the_rows(client, cangku):
    client.force_login(cangku)
    for _ in range(2):
        paid_order()
    with CaptureQueriesContext(connection) as few:
        exported(client, ORDERS_EXPORT)
    for _ in range(8):
        paid_order()
    with CaptureQueriesContext(connection) as many:
        assert len(exported(client, ORDERS_EXPORT)) == 11
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_list_has_the_button_with_the_filters_of_the_list(client, kefu):
    client.force_login(kefu)
    paid_order()
    html = client.get(ORDERS, {"status__exact": "paid", "q": "138", "p": "0"}).content.decode()
    assert 'id="oh-export-xlsx"' in html and "导出 Excel" in html
    assert f'href="{ORDERS_EXPORT}?status__exact=paid&amp;q=138"' in html
    assert "导出所选" in html  # the action too
    popup = client.get(ORDERS, {"_popup": "1"}).content.decode()  # a raw-id picker of another form
    assert "oh-export-xlsx" not in popup and "导出所选" not in popup


def test_export_needs_view_permission(client, kefu):
    nobody = get_user_model().objects.create_user(username="staff-only", password="pw-12345", is_staff=True)
    client.force_login(nobody)
    assert client.get(ORDERS_EXPORT).status_code == 403
    client.force_login(kefu)  # customer service may not see stock movements
    assert client.get(reverse("admin:warehouse_stockmovement_export_xlsx")).status_code == 403
    assert client.get(reverse("admin:warehouse_stocklevel_export_xlsx")).status_code == 200
    client.logout()
    assert client.get(ORDERS_EXPORT).status_code == 302  # to the login page


def test_cells_that_start_a_formula_are_text_and_phones_stay_as_stored(client, kefu):
    client.force_login(kefu)
    Customer.objects.bulk_create(
        [
            Customer(name='=HYPERLINK("http://evil.example","点我")', phone="13800138000"),
            Customer(name="@SUM(1+1)", phone="138****8000", platform_buyer="tmall:b1"),
            Customer(name="+86 的客户", phone="~AgAAAAEncrypted~", platform_buyer="pdd:b2"),
        ]
    )
    response = client.get(CUSTOMERS_EXPORT, {"o": "1"})  # by name
    data = response_bytes(response)
    cells = openpyxl_rows(data)
    names = {row[0].value: row[0] for row in cells[1:]}
    for name in ['=HYPERLINK("http://evil.example","点我")', "@SUM(1+1)", "+86 的客户"]:
        assert names[name].data_type == "s" and names[name].quotePrefix
    phones = {row[0]: row[1] for row in calamine_rows(data)[1:]}
    assert phones["@SUM(1+1)"] == "138****8000"  # masked stays masked
    assert phones["+86 的客户"] == "~AgAAAAEncrypted~"  # encrypted as the list shows it


def test_a_long_list_is_streamed_from_a_file_with_every_row(client, kefu):
    client.force_login(kefu)
    Customer.objects.bulk_create(
        [Customer(name=f"客户{i:05d}", phone=f"139{i:08d}", member_level="silver") for i in range(4500)]
    )
    response = client.get(CUSTOMERS_EXPORT, {"member_level__exact": "silver", "o": "1"})
    assert response.streaming and hasattr(response, "file_to_stream")  # a FileResponse, read in blocks
    rows = calamine_rows(response_bytes(response))
    assert len(rows) == 4501
    assert rows[1][0] == "客户00000" and rows[-1][0] == "客户04499"
    assert rows[1][3] == "银卡会员"  # the member level as its label


def test_the_download_is_named_after_the_list_in_chinese(client, kefu):
    client.force_login(kefu)
    response = client.get(ORDERS_EXPORT)
    assert response["Content-Disposition"].startswith("attachment;")
    assert f"filename*=utf-8''{quote('订单')}_" in response["Content-Disposition"]


@override_settings(XLSX_EXPORT_MAX_ROWS=2)
def test_a_list_over_the_cap_is_refused_with_a_message(client, kefu):
    client.force_login(kefu)
    Customer.objects.bulk_create([Customer(name=f"c{i}", phone=f"1370000000{i}") for i in range(3)])
    response = client.get(CUSTOMERS_EXPORT, {"q": "c"})
    assert response.status_code == 302 and response["Location"] == f"{CUSTOMERS}?q=c"
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "3" in message and "2" in message and "未导出" in message


def test_export_selected_action_exports_the_ticked_rows(client, kefu):
    client.force_login(kefu)
    first, second, third = (paid_order() for _ in range(3))
    response = client.post(
        ORDERS, {"action": "export_selected_xlsx", "_selected_action": [first.pk, third.pk], "index": 0}
    )
    assert response.status_code == 200 and response.streaming
    numbers = {row[0] for row in calamine_rows(response_bytes(response))[1:]}
    assert numbers == {first.number, third.number} and second.number not in numbers


def test_every_wired_list_exports(client, cangku, yunying):
    order = paid_order()
    alert_raise(kind=Alert.Kind.RULE_ERROR, message="-1 件 破损", order=order)
    client.force_login(cangku)
    for name in ["orders_order", "orders_customer", "orders_alert", "warehouse_stocklevel", "warehouse_stockmovement"]:
        rows = exported(client, reverse(f"admin:{name}_export_xlsx"))
        assert len(rows) >= 2 and all(rows[0]), name
    page = client.get(reverse("admin:warehouse_stocklevel_changelist")).content.decode()  # its own template
    assert 'id="oh-export-xlsx"' in page and reverse("admin:warehouse_stocklevel_adjust") in page
    levels = exported(client, reverse("admin:warehouse_stocklevel_export_xlsx"))
    assert levels[0][-1] == "可用" and all(isinstance(row[-1], int | float) for row in levels[1:])
    alerts = exported(client, reverse("admin:orders_alert_export_xlsx"))
    assert "-1 件 破损" in alerts[1]
    client.force_login(yunying)
    assert exported(client, reverse("admin:rules_rule_export_xlsx"))[0][0]
