"""运营主管 opens 报表 → 配置健康度报告 in a real browser, builds this month's report, reads a finding and follows its
link to the admin page that fixes it."""

import re

import pytest
from playwright.sync_api import Page, expect

from orders.models import StatusNode
from tests.browser import login
from tests.reports.confhealth_config import clean_config

pytestmark = [pytest.mark.browser]


def test_build_the_report_and_follow_a_fix_link(page: Page, live_server, yunying):
    clean_config()
    StatusNode.objects.filter(status="picked_up").update(owner_group=None)
    node = StatusNode.objects.get(status="picked_up")

    login(page, live_server, yunying.username)
    page.get_by_role("link", name="配置健康度报告").first.click()
    expect(page.locator("h1")).to_contain_text("配置健康度报告")
    page.locator("#oh-build-confhealth").click()
    # the new report: one finding, grouped under its kind with its count
    expect(page.locator("#oh-findings-total")).to_have_text("1")
    expect(page.locator("#oh-summary td[data-kind=node_no_owner]")).to_have_text("1")
    row = page.locator("#kind-node_no_owner tr.oh-finding")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("既没有负责组，也没有负责人")
    row.get_by_role("link", name="去修改").click()
    expect(page).to_have_url(re.compile(rf"/admin/orders/statusnode/{node.pk}/change/$"))
    expect(page.locator("#content")).to_contain_text("已揽收")
