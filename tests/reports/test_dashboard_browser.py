"""运营主管 opens 报表 → 经营看板 from the admin home in a real browser: every chart is drawn by ECharts from the
static files of this server, the filter bar narrows the figures to one channel, a click on a bar opens the order
list behind it, and the page asks nothing of any other host (no CDN)."""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from orders.models import Order, Status
from reports.services.daily import current_figures_refresh, daily_figures_refresh_recent
from tests.browser import login
from tests.factories import ChannelFactory, make_order

pytestmark = [pytest.mark.browser]

CHARTS = [
    "chart-channel-orders",
    "chart-channel-gmv",
    "chart-warehouses",
    "chart-statuses",
    "chart-hours",
    "chart-nodes",
]


def chart_sum(page: Page, chart: str) -> int:
    return page.evaluate(
        f"() => echarts.getInstanceByDom(document.getElementById('{chart}')).getOption().series[0].data"
        ".reduce((a, b) => a + b, 0)"
    )


def click_bar(page: Page, chart: str, index: int) -> None:
    """Click near the foot of bar `index` of the first series (there even while the bar grows in)."""
    el = page.locator(f"#{chart}")
    el.scroll_into_view_if_needed()
    expect(el).to_have_attribute("data-rendered", "1")
    x, y = page.evaluate(
        f"() => echarts.getInstanceByDom(document.getElementById('{chart}')).convertToPixel({{seriesIndex: 0}}, "
        f"[{index}, 0.1])"
    )
    box = el.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def test_charts_render_filter_by_a_channel_and_drill_down_with_local_files_only(page: Page, live_server, yunying):
    assert (Path(settings.BASE_DIR) / "vendor/static/echarts/echarts.min.js").exists(), "run `make static-vendor`"
    ChannelFactory()
    jd = ChannelFactory(code="jd", name="京东自营", kind="other")
    mine = make_order()
    theirs = [make_order(channel="jd"), make_order(channel="jd")]
    Order.objects.update(ordered_at=timezone.now(), status=Status.PLACED)
    daily_figures_refresh_recent(days=1)
    current_figures_refresh()
    outside = []
    server = urlsplit(live_server.url).netloc
    page.on("request", lambda request: urlsplit(request.url).netloc != server and outside.append(request.url))

    login(page, live_server, yunying.username)
    page.get_by_role("link", name="经营看板").click()
    expect(page.locator("h1")).to_contain_text("经营看板")
    for chart in CHARTS:
        el = page.locator(f"#{chart}")
        expect(el.locator("canvas").first).to_be_visible()
        expect(el).to_have_attribute("data-rendered", "1")  # set by dashboard.js when ECharts has drawn it
        assert page.evaluate("id => !!echarts.getInstanceByDom(document.getElementById(id))", chart), chart
    assert chart_sum(page, "chart-hours") == 3
    # the health figures under the filter bar, each with its definition; nothing to count shows "—", never 0 %
    cards = page.locator("#dash-health [data-health]")
    expect(cards).to_have_count(7)
    for key in ("consistency", "pickup_on_time", "lookup_success", "trail", "breakpoint", "interventions", "stall"):
        expect(page.locator(f'#dash-health [data-health="{key}"] .oh-health-definition')).not_to_be_empty()
    expect(page.locator('#dash-health [data-health="lookup_success"] .oh-health-value')).to_have_text("—")
    page.locator("#dash-hours summary").click()
    expect(page.locator("#hours-total")).to_have_text("3")

    # the filter bar: one channel
    page.get_by_label("渠道", exact=True).select_option(label="京东自营")
    page.get_by_role("button", name="显示").click()
    page.wait_for_url(re.compile(rf"channel={jd.pk}"))
    expect(page.locator("#chart-hours")).to_have_attribute("data-rendered", "1")
    assert chart_sum(page, "chart-hours") == 2
    assert chart_sum(page, "chart-statuses") == 2

    # a click on today's bar of the channel chart opens that channel's orders of today
    click_bar(page, "chart-channel-orders", 13)
    today = timezone.localdate()
    query = (
        f"/admin/orders/order/?channel__id__exact={jd.pk}&ordered_from={today.isoformat()}"
        f"&ordered_before={(today + timedelta(days=1)).isoformat()}"
    )
    expect(page).to_have_url(re.compile(re.escape(query) + "$"))
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    for order in theirs:
        expect(page.locator("#result_list tbody")).to_contain_text(order.number)
    expect(page.locator("#result_list tbody")).not_to_contain_text(mine.number)

    # and a click on the 已下单 bar opens the channel's orders in that status
    page.go_back()
    click_bar(page, "chart-statuses", 0)
    page.wait_for_url(f"**/admin/orders/order/?channel__id__exact={jd.pk}&status__exact=placed")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    assert outside == []
