"""客服 finds the orders about to break their ship-by promise from the admin home in a real browser: the red
counter opens the order list filtered to red lights, the column shows each order's light."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser]


def test_red_counter_opens_the_list_filtered_by_promise_light(page: Page, live_server, kefu):
    now = timezone.now()
    late = make_order(promised_ship_by=(now - timedelta(hours=1)).isoformat())
    soon = make_order(platform_ship_by=(now + timedelta(hours=4)).isoformat())
    relaxed = make_order(promised_ship_by=(now + timedelta(days=2)).isoformat())
    login(page, live_server, kefu.username)

    red = page.locator('#promise-lights tr[data-light="red"]')
    expect(red.locator(".oh-promise-n")).to_have_text("1")
    expect(page.locator('#promise-lights tr[data-light="yellow"] .oh-promise-n')).to_have_text("1")
    red.locator("a").click()

    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(late.number)
    expect(rows.first.locator(".oh-promise")).to_contain_text("红灯")

    # the filter in the side bar: yellow, then all
    page.goto(f"{live_server.url}/admin/orders/order/")
    expect(page.locator(f'#result_list tr:has-text("{soon.number}") .oh-promise')).to_contain_text("黄灯")
    expect(page.locator(f'#result_list tr:has-text("{relaxed.number}") .oh-promise')).to_contain_text("绿灯")
    page.locator("#changelist-filter").get_by_role("link", name="黄灯").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody")).to_contain_text(soon.number)
