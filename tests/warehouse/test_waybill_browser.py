"""Issue 11 in a real browser (Chromium via Playwright): a packer scans an allocated order at 打单确认, the hub gets
its waybill from the carrier (a real local Kuaidi100 waybill server), the page opens the label PDF for printing and
shows a 打印面单 link, and the order is confirmed; a carrier refusal is shown in red with the carrier's reason."""

import re

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from logistics.models import Shipment
from orders.models import Status
from tests.browser import login
from tests.logistics.test_labels import decoded
from tests.warehouse.waybills import Kuaidi100WaybillServer, allocated_for, kuaidi100_carrier, with_sender

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]

RED = "rgb(186, 33, 33)"


def zh(text: str, **values) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(text) % values if values else translation.gettext(text)


def status_zh(status: Status) -> str:
    with translation.override("zh-hans"):
        return str(status.label)


@pytest.fixture
def provider(httpserver):
    server = Kuaidi100WaybillServer()
    httpserver.expect_request("/label/order", method="POST").respond_with_handler(server)
    return server


def scan(page: Page, code: str) -> None:
    page.fill("#scan-code", code)
    page.press("#scan-code", "Enter")


def station(page: Page, live_server) -> None:
    login(page, live_server, "cangku")
    page.goto(live_server.url + "/warehouse/scan/")
    page.click(".step[data-step=print]")


def test_scan_station_print_gets_the_waybill_opens_the_label_and_confirms(
    page: Page, live_server, cangku, httpserver, provider
):
    # given: an allocated Kuaidi100 order with no tracking number yet
    with_sender()
    order = allocated_for(kuaidi100_carrier(httpserver.url_for("/label/order")), gift_note="放在最上面")
    station(page, live_server)

    # when: the packer scans it at 打单确认 — the page opens the label for printing by itself
    with page.expect_request(re.compile(r"/warehouse/labels/\?orders=")) as opened:
        scan(page, order.number)

    # then: confirmed in green, the gifts listed, and the 打印面单 link to the same label
    expect(page.locator("#scan-result")).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#scan-message")).to_have_text(
        zh("Label printed: %(number)s is now '%(status)s'.", number=order.number, status=status_zh(Status.PRINTED))
    )
    expect(page.locator("#scan-gifts li")).to_contain_text("SAMPLE-3")
    link = page.locator("#scan-label-link")
    expect(link).to_be_visible()
    expect(link).to_have_text("打印面单 Print label")
    href = link.get_attribute("href")
    assert href == f"/warehouse/labels/?orders={order.number}" and opened.value.url.endswith(href)
    expect(page.locator("#scan-code")).to_be_focused()  # ready for the next parcel

    # and: the link serves the label PDF, whose barcodes read back as the waybill's and the order's numbers
    pdf = page.request.get(live_server.url + href)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    shipment = Shipment.objects.get(order=order, is_active=True)
    assert decoded(pdf.body()) == [sorted([shipment.tracking_number, order.number])]
    assert shipment.tracking_number == "SF1400000000001" and shipment.waybill_state == "printed"
    order.refresh_from_db()
    assert order.status == Status.PRINTED
    assert [c["param"]["orderId"] for c in provider.seen] == [f"{order.number}-1"]  # asked once


def test_scan_station_print_carrier_refusal_shows_the_reason_in_red_and_keeps_the_order(
    page: Page, live_server, cangku, httpserver, provider
):
    # given: the carrier does not know the waybill account
    with_sender()
    carrier = kuaidi100_carrier(httpserver.url_for("/label/order"), partner_id="NO-SUCH-ACCOUNT")
    order = allocated_for(carrier)
    station(page, live_server)

    # when
    scan(page, order.number)

    # then: refused in red with the carrier's own reason; no label link; the order stays 仓单已生成
    expect(page.locator("#scan-result")).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#scan-message")).to_have_text(
        zh(
            "Order %(number)s got no waybill from %(carrier)s: %(reason)s",
            number=order.number,
            carrier="顺丰速运",
            reason="电子面单账号不存在",
        )
    )
    assert page.eval_on_selector("#scan-message", "el => getComputedStyle(el).color") == RED
    expect(page.locator("#scan-label")).to_be_hidden()
    expect(page.locator("#scan-order")).to_contain_text(status_zh(Status.ALLOCATED))
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED and not Shipment.objects.filter(order=order).exists()
