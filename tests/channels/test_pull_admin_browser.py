"""运营主管 sets up a Taobao channel's pull and starts a backfill over several windows, in a real browser."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from orders.models import Channel, ChannelBackfill, ChannelPull, Order
from orders.services.channel_pulls import channel_backfill_run
from tests.browser import login
from tests.channels.platforms import (  # noqa: F401 - the fixture
    APP_KEY,
    APP_SECRET,
    TOKEN,
    platforms_fixture,
    taobao_trade,
)
from tests.factories import SkuFactory

pytestmark = [pytest.mark.browser]


def test_manager_sets_up_the_pull_then_backfills_two_hours_of_trades(page: Page, live_server, yunying, platforms):
    # given a Taobao channel with no pull yet, and a platform holding trades of yesterday
    SkuFactory(code="MASK-001")
    platform = platforms("taobao")
    channel = Channel.objects.create(code="tmall", name="天猫旗舰店", kind=Channel.Kind.TAOBAO, arrival="pull")
    start = (timezone.localtime() - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    for n in range(3):
        platform.put(f"BF{n}", start + timedelta(minutes=40 * n + 5), taobao_trade(f"BF{n}"))

    # when she types the pull's settings on the channel's page and saves
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/orders/channel/{channel.pk}/change/")
    page.check("#id_pull-0-enabled")
    page.fill("#id_pull-0-base_url", platform.url)
    page.fill("#id_pull-0-app_key", APP_KEY)
    page.fill("#id_pull-0-app_secret", APP_SECRET)
    page.fill("#id_pull-0-access_token", TOKEN)
    page.fill("#id_pull-0-window_minutes", "2000")  # over Taobao's one day: refused
    page.click("input[name=_continue]")
    expect(page.locator(".errorlist").first).to_be_visible()
    assert not ChannelPull.objects.exists()
    page.fill("#id_pull-0-app_secret", APP_SECRET)  # a refused form does not send the keys back either
    page.fill("#id_pull-0-access_token", TOKEN)
    page.fill("#id_pull-0-window_minutes", "30")
    page.click("input[name=_continue]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()

    # then the keys are stored and never shown back
    pull = ChannelPull.objects.get(channel=channel)
    assert (pull.enabled, pull.app_secret, pull.access_token, pull.window_minutes) == (True, APP_SECRET, TOKEN, 30)
    assert APP_SECRET not in page.content() and TOKEN not in page.content()

    # when she starts a backfill of two hours from the channel's page
    page.click("#start-backfill")
    expect(page.locator("#id_channel")).to_have_value(str(channel.pk))
    page.fill("#id_start_0", start.strftime("%Y-%m-%d"))
    page.fill("#id_start_1", start.strftime("%H:%M:%S"))
    end = start + timedelta(hours=2)
    page.fill("#id_end_0", end.strftime("%Y-%m-%d"))
    page.fill("#id_end_1", end.strftime("%H:%M:%S"))
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    backfill = ChannelBackfill.objects.get()
    assert backfill.started_by == yunying and backfill.state == "pending"

    # and its job runs (here in this process): four 30-minute windows, every trade an order
    assert channel_backfill_run(backfill_id=backfill.pk).startswith("done")
    assert set(Order.objects.filter(channel=channel).values_list("channel_order_no", flat=True)) == {
        "BF0",
        "BF1",
        "BF2",
    }
    page.goto(f"{live_server.url}/admin/orders/channelbackfill/{backfill.pk}/change/")
    expect(page.locator(".field-windows_done .readonly")).to_have_text("4")
    expect(page.locator(".field-orders_seen .readonly")).to_have_text("3")
