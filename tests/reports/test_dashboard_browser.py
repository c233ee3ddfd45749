"""运营主管 opens 报表 → 经营看板 from the admin home in a real browser: every chart is drawn by ECharts from the
static files of this server, and the page asks nothing of any other host (no CDN)."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from orders.models import Order
from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser]

CHARTS = ["chart-hours", "chart-statuses", "chart-channel-orders", "chart-channel-gmv"]


def test_charts_render_from_local_files_only(page: Page, live_server, yunying):
    assert (Path(settings.BASE_DIR) / "vendor/static/echarts/echarts.min.js").exists(), "run `make static-vendor`"
    order = make_order()
    Order.objects.filter(pk=order.pk).update(ordered_at=timezone.now())
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
    # the hour chart carries today's order
    total = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-hours')).getOption().series[0].data"
        ".reduce((a, b) => a + b, 0)"
    )
    assert total == 1
    page.locator("#dash-hours summary").click()
    expect(page.locator("#hours-total")).to_have_text("1")
    assert outside == []

    # a click on the 已下单 bar opens the order list filtered to that status
    page.locator("#chart-statuses").scroll_into_view_if_needed()
    x, y = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-statuses'))"
        ".convertToPixel({seriesIndex: 0}, [0, 0.1])"  # near the foot: there even while the bar grows in
    )
    box = page.locator("#chart-statuses").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/admin/orders/order/?status__exact=placed")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody")).to_contain_text(order.number)

    # and a click on today's bar of the channel chart opens that channel's orders of today
    page.go_back()
    chart = page.locator("#chart-channel-orders")
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-rendered", "1")
    x, y = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-channel-orders'))"
        ".convertToPixel({seriesIndex: 0}, [13, 0.1])"
    )
    box = chart.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    today = timezone.localdate()
    query = (
        f"/admin/orders/order/?channel__id__exact={order.channel_id}&ordered_at__year={today.year}"
        f"&ordered_at__month={today.month}&ordered_at__day={today.day}"
    )
    expect(page).to_have_url(re.compile(re.escape(query) + "$"))
    expect(page.locator("#result_list tbody")).to_contain_text(order.number)
