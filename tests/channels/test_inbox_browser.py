"""运营主管 tries a channel's field mapping on a pasted sample in a real browser, then saves it."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import Channel, InboxDelivery, Order
from tests.browser import login
from tests.channels.helpers import batch, channel_order, webhook_channel
from tests.factories import SkuFactory

pytestmark = [pytest.mark.browser]


def test_manager_tries_the_mapping_on_a_sample_then_saves(page: Page, live_server, yunying):
    SkuFactory(code="MASK-001")
    channel = webhook_channel(code="mini")
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/orders/channel/{channel.pk}/change/")
    expect(page.locator("#id_map_receiver")).to_have_value("shipping_address.receiver")

    # when: a sample with a good order, an unknown SKU and an order without its number, tried as it is
    bad = channel_order("S-3")
    del bad["channel_order_no"]
    sample = batch(channel_order("S-1"), channel_order("S-2", sku="NOPE-7"), bad).decode()
    page.fill("#id_sample", sample)
    page.fill("#id_name", "改名未保存")
    page.click("#channel-try")

    # then: what it would create, each line's SKU, and the refusal with its reason; nothing saved
    orders = page.locator("#trial-orders tr.trial-order")
    expect(orders).to_have_count(2)
    expect(orders.nth(0)).to_contain_text("S-1")
    expect(orders.nth(0)).to_contain_text("MASK-001 → MASK-001")
    expect(orders.nth(1).locator(".unknown-sku")).to_be_visible()
    expect(page.locator("#trial-orders tr.trial-refused")).to_contain_text("channel_order_no")
    channel.refresh_from_db()
    assert channel.name == "小程序商城"
    assert Order.objects.count() == 0 and InboxDelivery.objects.count() == 0

    # when: the receiver path is changed and tried again, then saved
    page.fill("#id_map_receiver", "customer.name")
    page.click("#channel-try")
    expect(page.locator("#trial-orders tr.trial-order").nth(0)).to_contain_text("李四")
    page.fill("#id_sample", "")
    page.fill("#id_name", "小程序商城二")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    channel.refresh_from_db()
    assert channel.name == "小程序商城二"
    assert channel.field_mapping["fields"]["receiver"] == "customer.name"
    assert Channel.objects.get(code="mini").webhook_secret  # the secret typed before stays


def test_choosing_a_kind_on_the_add_page_fills_the_mapping_from_its_default(page: Page, live_server, yunying):
    from orders.channels.mapping import default_mapping

    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/orders/channel/add/")
    page.fill("#id_map_channel_order_no", "")
    page.fill("#id_status_map", "")
    page.select_option("#id_kind", "douyin")
    douyin = default_mapping("douyin")
    expect(page.locator("#id_map_channel_order_no")).to_have_value(douyin["fields"]["channel_order_no"])
    expect(page.locator("#id_map_line_sku")).to_have_value(douyin["fields"]["line_sku"])
    expect(page.locator("#id_amounts")).to_have_value(douyin.get("amounts") or "yuan")
    first_code = next(iter(douyin["status_map"]), "")
    assert first_code in page.locator("#id_status_map").input_value()
