"""A customer on a phone (375 px wide) looks up an order on /track/ in a real browser (Chromium via Playwright)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Page, expect

from logistics.models import Shipment, TrackingEvent
from orders.models import Source
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, make_order

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def look_up(page: Page, number: str, last4: str) -> None:
    page.fill("#track-number", number)
    page.fill("#track-last4", last4)
    page.click("#track-form button[type=submit]")


def test_tracking_page_on_phone_finds_order_then_refuses_wrong_phone(page: Page, live_server):
    # given: a paid order with a parcel and one carrier event
    order = make_order()
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    shipment = Shipment.objects.create(
        order=order, channel=order.channel, carrier=CarrierFactory(), tracking_number="SF1234567890"
    )
    TrackingEvent.objects.create(
        shipment=shipment,
        occurred_at=timezone.now() - timedelta(hours=1),
        description="快件已到达杭州转运中心",
        location="杭州",
        fingerprint="browser-1",
        received_via="poll",
        raw={},
    )
    page.set_viewport_size({"width": 375, "height": 740})

    # when: the customer types the order number and the last 4 digits of the phone
    page.goto(live_server.url + "/track/")
    expect(page.locator("h1")).to_contain_text("订单查询")
    look_up(page, order.number, "5678")

    # then: the customer-facing status, the parcel and its event, the masked receiver; nothing wider than the phone
    expect(page.locator("#order-number")).to_have_text(order.number)
    expect(page.locator("#status-label")).to_have_text("付款成功")
    expect(page.locator("#steps li[aria-current=step]")).to_have_text("付款成功")
    expect(page.locator(".parcel .carrier")).to_have_text("顺丰速运")
    expect(page.locator(".parcel .events li").first).to_contain_text("快件已到达杭州转运中心")
    expect(page.locator("#receiver-phone")).to_have_text("138****5678")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # when: another look-up with a wrong phone
    page.click("text=查询其他订单")
    look_up(page, order.number, "0000")

    # then: the not-found message and the form again
    expect(page.locator("#track-message")).to_contain_text("未找到匹配的订单，请检查单号和手机尾号")
    expect(page.locator("#track-number")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
