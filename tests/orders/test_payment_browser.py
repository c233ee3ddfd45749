"""财务 confirms a payment from the order page in a real browser (Chromium via Playwright)."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]


def test_order_confirm_payment_in_admin_browser_pays_or_refuses_on_the_field(page: Page, live_server, caiwu):
    order = make_order(paid_amount="0")
    login(page, live_server, "caiwu")
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    page.click("#oh-confirm-payment")
    expect(page.locator("h1")).to_contain_text("确认收款")
    expect(page.locator("#oh-payment-expected")).to_contain_text("198.00")
    # a missing reference is refused on its field, nothing changes
    page.fill("#id_paid_amount", "198.00")
    page.click("#payment-form input[type=submit]")
    expect(page.locator("#id_payment_reference:invalid")).to_have_count(1)  # the browser asks first
    page.fill("#id_payment_reference", "TB20261122-01")
    page.click("#payment-form input[type=submit]")
    expect(page.locator("#oh-current-status")).to_have_text("支付已校验")
    expect(page.locator("ul.messagelist")).to_contain_text("已登记收款")
    expect(page.locator("#oh-timeline")).to_contain_text("TB20261122-01")
    expect(page.locator("#oh-confirm-payment")).to_have_count(0)  # paid: no button any more
    order.refresh_from_db()
    assert (order.status, order.payment_reference) == ("paid", "TB20261122-01")
