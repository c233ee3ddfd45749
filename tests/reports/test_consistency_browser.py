"""运营主管 opens 报表 → 一致性日报 from the admin home in a real browser, opens a day's report, downloads its xlsx
(opened with openpyxl) and builds the day again with the page's button."""

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from reports.models import ConsistencyReport
from reports.services.consistency import consistency_report_build
from tests.browser import login
from tests.reports.consistency_fixture import BUILT_AT, DAY, consistency_day_fixture  # noqa: F401

pytestmark = [pytest.mark.browser]


def test_open_the_report_download_it_and_build_it_again(page: Page, live_server, yunying, consistency_day, tmp_path):
    consistency_report_build(day=DAY, actor=None, now=BUILT_AT)

    login(page, live_server, yunying.username)
    page.get_by_role("link", name="一致性日报").first.click()
    expect(page.locator("#result_list")).to_contain_text("2026-11-20")
    expect(page.locator("#result_list")).to_contain_text("未发送：未设置收件人")
    page.locator("#result_list").get_by_role("link", name="2026-11-20").click()

    expect(page.locator("h1")).to_contain_text("跨系统订单一致性日报 2026-11-20")
    channels = page.locator("#table-channels")
    expect(channels.locator("tbody tr")).to_have_count(3)
    expect(channels.locator("tbody tr").first).to_contain_text("京东自营")
    expect(channels.locator("tfoot td").last).to_have_text("3")  # net orders in all
    expect(page.locator("#table-erp tbody")).to_contain_text(consistency_day["first"].number)

    with page.expect_download() as download_info:
        page.locator("#consistency-download").click()
    download = download_info.value
    assert download.suggested_filename == "一致性日报_2026-11-20.xlsx"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    book = load_workbook(target, read_only=True)
    rows = list(book["渠道"].iter_rows(values_only=True))
    assert rows[-1] == ("合计", 3, 5, 4, 1, 2, 3, 3)

    page.locator("#consistency-rebuild").click()
    expect(page.locator(".messagelist")).to_contain_text("2026-11-20 的日报已生成并保存，未发送")
    expect(page.locator("#consistency-meta")).to_contain_text("共生成 2 次")
    assert ConsistencyReport.objects.get(day=DAY).built_by == yunying
