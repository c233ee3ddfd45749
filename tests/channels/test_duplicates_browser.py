"""客服 opens a held 疑似重复 order and follows the link to its twin; 运营主管 changes the duplicate settings."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import DuplicateSettings, Status
from orders.services.channel_intake import Outcome
from tests.browser import login
from tests.channels.reports import channel_no, report, take

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]


def test_customer_service_sees_the_twin_link_on_the_order_page(page: Page, live_server, kefu):
    first = take(report(channel_no())).order
    second = take(report(channel_no(), channel="douyin"), name="抖音小店")
    assert second.outcome == Outcome.DUPLICATE
    login(page, live_server, "kefu")
    page.goto(f"{live_server.url}/admin/orders/order/{second.order.pk}/change/")
    panel = page.locator("#oh-duplicate")
    expect(panel).to_contain_text("疑似重复")
    expect(page.locator("#oh-status")).to_contain_text(first.number)  # the hold's reason names the twin
    panel.get_by_role("link", name=first.number).click()
    page.wait_for_url(f"{live_server.url}/admin/orders/order/{first.pk}/change/")
    expect(page.locator("#oh-current-status")).to_have_text(first.get_status_display())
    assert first.status == Status.PLACED


def test_ops_manager_edits_the_settings_and_customer_service_only_reads_them(page: Page, live_server, yunying, kefu):
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/orders/duplicatesettings/")
    page.wait_for_url("**/duplicatesettings/1/change/")
    page.fill("#id_window_hours", "12")
    page.locator("input[name=match_fields][value=sku_set]").uncheck()
    page.locator("input[name=match_fields][value=receiver_address]").check()
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    row = DuplicateSettings.objects.get(pk=1)
    assert (row.window_hours, sorted(row.match_fields)) == (12, ["buyer_phone", "receiver_address"])
    assert row.history.count() >= 2  # the change is kept

    # a phone must stay among the match fields: the form says so and nothing changes
    page.goto(f"{live_server.url}/admin/orders/duplicatesettings/1/change/")
    page.locator("input[name=match_fields][value=buyer_phone]").uncheck()
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text("电话")
    assert DuplicateSettings.objects.get(pk=1).match_fields == row.match_fields

    page.context.clear_cookies()
    login(page, live_server, "kefu")
    page.goto(f"{live_server.url}/admin/orders/duplicatesettings/1/change/")
    expect(page.locator("input[name=_save]")).to_have_count(0)  # read-only for customer service
