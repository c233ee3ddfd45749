"""Issue 11 pages: 打单确认 at the scan station gets the waybill and answers with its label link; the label PDF page;
the pick wave's 获取面单; the order page's 获取面单 / 打印面单 buttons and the bulk action. The carrier is a real
local Kuaidi100 waybill server (or a manual number range)."""

import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from logistics.models import Shipment
from logistics.selectors import orders_with_tracking_number, tracking_number_of
from orders.models import Alert, Order, Source, Status
from orders.services.scan import order_scan
from orders.services.transitions import order_transition
from orders.services.waybills import order_waybill_obtain
from tests.logistics.test_labels import decoded
from tests.warehouse.waybills import (
    Kuaidi100WaybillServer,
    allocated_for,
    kuaidi100_carrier,
    manual_carrier,
    with_sender,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

SCAN_URL = "/warehouse/scan/"
LABELS_URL = "/warehouse/labels/"


@pytest.fixture(autouse=True)
def english_messages():
    with translation.override("en"):
        yield


@pytest.fixture
def provider(httpserver):
    server = Kuaidi100WaybillServer()
    httpserver.expect_request("/label/order", method="POST").respond_with_handler(server)
    return server


@pytest.fixture
def sf(httpserver, stocked):
    with_sender()
    return kuaidi100_carrier(httpserver.url_for("/label/order"))


def post_scan(client, **payload):
    return client.post(SCAN_URL, data=json.dumps(payload), content_type="application/json")


def test_scan_print_without_waybill_gets_it_prints_and_answers_the_label_link(client, cangku, sf, provider):
    order = allocated_for(sf, gift_note="随单赠送")
    client.force_login(cangku)

    response = post_scan(client, code=order.number, step="print")

    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["status"]) == (True, Status.PRINTED)
    assert body["label_url"] == f"{LABELS_URL}?orders={order.number}"
    assert body["gifts"][0]["sku"] == "SAMPLE-3"
    shipment = Shipment.objects.get(order=order, is_active=True)
    assert shipment.tracking_number == "SF1400000000001" and shipment.waybill_state == "ordered"
    order.refresh_from_db()
    assert order.status == Status.PRINTED
    assert order.events.filter(transition="print_label", source=Source.SCAN, actor=cangku).count() == 1

    # the label the page opens: the waybill's number and the order's as barcodes; the waybill is now printed
    pdf = client.get(body["label_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].startswith("inline")
    assert decoded(pdf.content) == [sorted(["SF1400000000001", order.number])]
    shipment.refresh_from_db()
    assert shipment.waybill_state == Shipment.WaybillState.PRINTED


def test_scan_print_with_a_waybill_confirms_without_asking_the_carrier_again(client, cangku, sf, provider):
    order = allocated_for(sf)
    order_waybill_obtain(order=order, actor=cangku, source=Source.ADMIN)
    client.force_login(cangku)

    body = post_scan(client, code="SF1400000000001", step="print").json()  # scanned by its tracking number

    assert body["ok"] is True and body["label_url"].endswith(order.number)
    assert len(provider.seen) == 1
    # printed already: refused as before, but the label can be printed again (same number)
    again = post_scan(client, code=order.number, step="print").json()
    assert again["ok"] is False and again["label_url"].endswith(order.number)


def test_scan_print_carrier_refusal_shows_its_reason_and_keeps_the_order_allocated(
    client, cangku, httpserver, provider
):
    with_sender()
    wrong = kuaidi100_carrier(httpserver.url_for("/label/order"), partner_id="NO-SUCH-ACCOUNT")
    order = allocated_for(wrong, gift_note="装箱时放入")
    client.force_login(cangku)

    response = post_scan(client, code=order.number, step="print")

    assert response.status_code == 409
    body = response.json()
    assert body["ok"] is False and body["code"] == "waybill_failed"
    assert order.number in body["message"] and "电子面单账号不存在" in body["message"]
    assert body["status"] == Status.ALLOCATED and body["gifts"]  # the gifts still go in the open parcel
    assert body["label_url"] == ""
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED and not Shipment.objects.filter(order=order).exists()
    assert Alert.objects.filter(order=order, kind=Alert.Kind.WAYBILL_FAILED, resolved_at__isnull=True).count() == 1


def test_scan_print_carrier_without_waybills_tells_the_packer_what_to_do(client, cangku):
    with_sender()
    order = allocated_for(manual_carrier(first=None))
    client.force_login(cangku)

    body = post_scan(client, code=order.number, step="print").json()

    assert body["ok"] is False and body["code"] == "wrong_step"
    assert "还没有运单号" in body["message"] and "面单号段" in body["message"]  # the page speaks Chinese
    assert not Alert.objects.filter(order=order).exists()


def test_scan_print_without_javascript_renders_the_label_link(client, cangku):
    with_sender()
    order = allocated_for(manual_carrier())
    client.force_login(cangku)

    response = client.post(SCAN_URL, {"code": order.number, "step": "print"})

    assert response.status_code == 200
    html = response.content.decode()
    link = re.search(r'<a id="scan-label-link"[^>]*href="([^"]+)"', html)
    assert link and link.group(1) == f"{LABELS_URL}?orders={order.number}"
    assert "打印面单" in html
    order.refresh_from_db()
    assert order.status == Status.PRINTED and tracking_number_of(order) == "ZT0000000001"


def test_labels_page_names_orders_without_a_waybill_and_unknown_orders(client, cangku, sf, provider, kefu):
    ready, waiting = allocated_for(sf), allocated_for(sf)
    order_waybill_obtain(order=ready, actor=cangku, source=Source.ADMIN)
    client.force_login(cangku)

    missing = client.get(f"{LABELS_URL}?orders={ready.number},{waiting.number}")
    unknown = client.get(f"{LABELS_URL}?orders=NO-SUCH-ORDER")
    empty = client.get(LABELS_URL)

    assert missing.status_code == 409 and waiting.number in missing.content.decode()
    assert ready.number not in missing.content.decode()
    assert unknown.status_code == 404 and "NO-SUCH-ORDER" in unknown.content.decode()
    assert empty.status_code == 400
    assert Shipment.objects.get(order=ready).waybill_state == "ordered"  # nothing printed by a refused request
    client.force_login(kefu)
    assert client.get(f"{LABELS_URL}?orders={ready.number}").status_code == 403


def test_picklist_get_waybills_for_the_wave_lists_failures_and_links_one_pdf(client, cangku, sf, provider):
    first, second = allocated_for(sf), allocated_for(sf)
    refused = allocated_for(manual_carrier(first=None))
    client.force_login(cangku)
    page = client.get("/warehouse/picklist/").content.decode()
    wave = re.search(r'name="orders" value="([^"]+)"', page).group(1)
    assert set(filter(None, wave.split(","))) == {first.number, second.number, refused.number}
    assert 'action="/warehouse/picklist/waybills/"' in page and "csrfmiddlewaretoken" in page

    response = client.post("/warehouse/picklist/waybills/", {"orders": wave})

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="waybills-ok">2<', html) and re.search(r'id="waybills-failed">1<', html)
    assert refused.number in html and "中通快递" in html
    link = re.search(r'id="labels-link" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert refused.number not in link
    pdf = client.get(link)
    assert pdf.status_code == 200
    numbers = {s.order_id: s.tracking_number for s in Shipment.objects.filter(is_active=True)}
    assert sorted(map(sorted, decoded(pdf.content))) == sorted(
        sorted([numbers[o.pk], o.number]) for o in (first, second)
    )
    assert client.get("/warehouse/picklist/waybills/").status_code == 405  # it orders waybills: POST only


def test_order_page_get_waybill_button_shows_the_waybill_and_print_link(client, cangku, sf, provider, kefu):
    order = allocated_for(sf)
    change = reverse("admin:orders_order_change", args=[order.pk])
    client.force_login(cangku)
    assert 'id="oh-get-waybill"' in client.get(change).content.decode()

    response = client.post(reverse("admin:orders_order_waybill", args=[order.pk]), follow=True)

    html = response.content.decode()
    assert "SF1400000000001" in html and 'id="oh-print-label"' in html and 'id="oh-get-waybill"' not in html
    assert "310-浦东 021" in html
    assert f"{LABELS_URL}?orders={order.number}" in html
    client.force_login(kefu)  # customer service sees the waybill, but gets and prints none
    html = client.get(change).content.decode()
    assert "SF1400000000001" in html and 'id="oh-print-label"' not in html
    assert client.post(reverse("admin:orders_order_waybill", args=[order.pk])).status_code == 403


def test_order_page_shows_the_carriers_reason_while_the_alert_is_open(client, cangku, httpserver, provider):
    with_sender()
    wrong = kuaidi100_carrier(httpserver.url_for("/label/order"), partner_id="NO-SUCH-ACCOUNT")
    order = allocated_for(wrong)
    client.force_login(cangku)

    response = client.post(reverse("admin:orders_order_waybill", args=[order.pk]), follow=True)

    html = response.content.decode()
    assert re.search(r'id="oh-waybill-failed">[^<]*电子面单账号不存在', html)
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED


def test_admin_action_get_waybills_and_print_counts_failures_and_links_the_pdf(client, cangku, sf, provider):
    good = allocated_for(sf)
    bad = allocated_for(manual_carrier(first=None))
    paid = order_transition(order=allocated_for(sf), transition="cancel", actor=None, source="admin", reason="x")
    client.force_login(cangku)

    response = client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "get_waybills_and_print", "_selected_action": [good.pk, bad.pk, paid.pk]},
        follow=True,
    )

    html = response.content.decode()
    assert "已获取面单 1 单，失败 2 单。" in html
    assert bad.number in html and paid.number in html
    link = re.search(r'id="oh-labels-link"', html)
    assert link and f"{LABELS_URL}?orders={good.number}" in html
    assert Shipment.objects.filter(order=good, is_active=True).count() == 1


def test_demo_first_print_scan_after_load_demo_gets_a_waybill_from_the_demo_ranges(cangku):
    call_command("load_demo", orders=30)
    waiting = [
        o for o in orders_with_tracking_number(Order.objects.filter(status=Status.ALLOCATED)) if not o.tracking_number
    ]
    assert waiting, "the demo has allocated orders waiting for their waybill"

    result = order_scan(code=waiting[0].number, step="print", actor=cangku)

    assert result.order.status == Status.PRINTED
    shipment = Shipment.objects.get(order=waiting[0], is_active=True)
    assert shipment.waybill_state == "ordered" and shipment.waybill_key == f"{waiting[0].number}-1"
