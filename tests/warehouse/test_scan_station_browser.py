"""A packer at the scan station in a real browser (Chromium via Playwright): scan, see, hear, next.

Expected messages are computed with Django's own translation in zh-hans, so they follow the compiled catalog.
"""

import re

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from orders.models import Source, Status
from tests.browser import login
from tests.warehouse.fulfilment import allocated_order

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]

RED = "rgb(186, 33, 33)"


def zh(text: str, **values) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(text) % values if values else translation.gettext(text)


def status_zh(status: Status) -> str:
    with translation.override("zh-hans"):
        return str(status.label)


def scan(page: Page, code: str) -> None:
    page.fill("#scan-code", code)
    page.press("#scan-code", "Enter")


def test_scan_station_print_then_refuse_repeat_then_handover_by_tracking_number(page: Page, live_server, cangku):
    # given: an allocated order with a gift line, and the packer at the station
    order = allocated_order(gift_note="钻石会员赠品 放在最上面")
    login(page, live_server, "cangku")
    page.goto(live_server.url + "/warehouse/scan/")
    expect(page.locator("h1")).to_contain_text("扫码出库")
    expect(page.locator("#scan-code")).to_be_focused()
    page.click(".step[data-step=print]")

    # when: scan the order number in Print mode
    scan(page, order.number)

    # then: big green confirmation with the new status, the gift to add, the ok sound, an empty input
    result = page.locator("#scan-result")
    expect(result).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#scan-message")).to_have_text(
        zh("Label printed: %(number)s is now '%(status)s'.", number=order.number, status=status_zh(Status.PRINTED))
    )
    expect(page.locator("#scan-order")).to_contain_text(order.number)
    gifts = page.locator("#scan-gifts")
    expect(gifts).to_be_visible()
    expect(gifts.locator("h2")).to_have_text("加赠品 Add gifts")
    expect(gifts.locator("li")).to_have_count(1)
    expect(gifts.locator("li")).to_contain_text("SAMPLE-3")
    expect(gifts.locator("li")).to_contain_text("面膜试用装")
    expect(gifts.locator("li")).to_contain_text("× 3")
    expect(gifts.locator("li")).to_contain_text("钻石会员赠品 放在最上面")
    expect(page.locator("body[data-sound=ok]")).to_have_count(1)
    expect(page.locator("#scan-code")).to_have_value("")
    expect(page.locator("#scan-code")).to_be_focused()
    font_px = float(page.eval_on_selector("#scan-message", "el => parseFloat(getComputedStyle(el).fontSize)"))
    assert font_px >= 28  # readable at arm's length

    # when: the same order is scanned again in Print mode
    scan(page, order.number)

    # then: refused in red, saying why, with the error sound; the parcel is still open, so the gifts stay listed
    expect(result).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#scan-message")).to_have_text(
        zh(
            "Order %(number)s is already '%(status)s': scan it in Handover when the carrier collects it.",
            number=order.number,
            status=status_zh(Status.PRINTED),
        )
    )
    assert page.eval_on_selector("#scan-message", "el => getComputedStyle(el).color") == RED
    expect(page.locator("body[data-sound=error]")).to_have_count(1)
    expect(gifts).to_be_visible()
    expect(gifts.locator("h2")).to_have_text("加赠品 Add gifts")
    expect(gifts.locator("li")).to_contain_text("SAMPLE-3")
    expect(page.locator("#scan-code")).to_have_value("")

    # when: switch to Handover (remembered on this device) and scan the tracking number
    page.click(".step[data-step=handover]")
    page.reload()
    expect(page.locator("input[name=step][value=handover]")).to_be_checked()
    scan(page, order.tracking_number)

    # then: confirmed
    expect(result).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#scan-message")).to_have_text(
        zh(
            "Handed to carrier: %(number)s is now '%(status)s'.",
            number=order.number,
            status=status_zh(Status.PICKED_UP),
        )
    )
    expect(page.locator("body[data-sound=ok]")).to_have_count(1)
    # the parcel is sealed by now: the gifts are a check, not a prompt to add them
    expect(gifts).to_be_visible()
    expect(gifts.locator("h2")).to_have_text("核对赠品已放入 Check the gifts are in")
    # and: the recent list shows all three scans, newest first
    history = page.locator("#scan-history li")
    expect(history).to_have_count(3)
    expect(history.nth(0)).to_contain_text(order.tracking_number)
    expect(history.nth(0)).to_have_class("ok")
    expect(history.nth(1)).to_have_class("error")

    # and: in the database the order was handed over by the packer, from the scan station
    order.refresh_from_db()
    assert order.status == Status.PICKED_UP
    event = order.events.filter(transition="pick_up").get()
    assert (event.source, event.actor_id) == (Source.SCAN, cangku.pk)
    assert order.events.filter(transition="print_label", source=Source.SCAN, actor=cangku).count() == 1


def test_scan_station_print_refused_without_waybill_still_shows_gifts_in_large_text(page: Page, live_server, cangku):
    # given: an order being packed, its waybill number not there yet
    order = allocated_order(tracking_number=None, gift_note="装箱时放入")
    login(page, live_server, "cangku")
    page.goto(live_server.url + "/warehouse/scan/")
    page.click(".step[data-step=print]")

    # when: the packer scans it at 打单确认
    scan(page, order.number)

    # then: the label is refused in red, and the gifts to put in the open parcel are listed in large text
    expect(page.locator("#scan-result")).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#scan-message")).to_have_text(
        zh("Order %(number)s has no tracking number yet: get its waybill number first.", number=order.number)
    )
    gifts = page.locator("#scan-gifts")
    expect(gifts).to_be_visible()
    expect(gifts.locator("h2")).to_have_text("加赠品 Add gifts")
    expect(gifts.locator("li")).to_contain_text("SAMPLE-3")
    expect(gifts.locator("li")).to_contain_text("× 3")
    expect(gifts.locator("li")).to_contain_text("装箱时放入")
    font_px = float(page.eval_on_selector("#scan-gift-list", "el => parseFloat(getComputedStyle(el).fontSize)"))
    assert font_px >= 24  # as large as at handover
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED
