"""运营主管 opens a customer in the admin, clicks 生成年度报告 in a real browser and downloads the PDF; 客服 then finds
it under 报表 → 年度履约报告 and downloads it too."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import Customer
from reports.models import YearlyReport
from reports.services.yearly import yearly_report_generate
from tests.browser import login
from tests.reports import test_yearly_figures as fixtures

pytestmark = [pytest.mark.browser]

year_2025 = fixtures.year_2025


def download_pdf(page: Page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as handle:
        return handle.read()


def test_generate_then_download(page: Page, live_server, yunying, year_2025):
    login(page, live_server, yunying.username)
    page.goto(f"{live_server.url}/admin/orders/customer/{year_2025['a']}/change/")
    panel = page.locator("#oh-yearly")
    expect(panel).to_contain_text("年度履约报告")
    expect(panel.locator("#oh-yearly-none")).to_be_visible()
    page.select_option("#oh-yearly-year", "2025")
    panel.get_by_role("button", name="生成年度报告").click()
    expect(page.locator(".messagelist")).to_contain_text("2025 年度履约报告已生成")
    expect(page).to_have_url(f"{live_server.url}/admin/orders/customer/{year_2025['a']}/change/")
    data = download_pdf(page, page.locator("#oh-yearly-generated"))
    assert data.startswith(b"%PDF") and b"/FontFile2" in data
    report = YearlyReport.objects.get(customer_id=year_2025["a"], year=2025)
    assert bytes(report.pdf) == data
    # the panel now lists it
    expect(page.locator('#oh-yearly-reports a[data-year="2025"]')).to_be_visible()


def test_customer_service_downloads_from_the_list(page: Page, live_server, kefu, year_2025):
    customer = Customer.objects.get(pk=year_2025["a"])
    report = yearly_report_generate(customer=customer, year=2025, actor=None)  # as the yearly job makes it
    login(page, live_server, kefu.username)
    page.get_by_role("link", name="年度履约报告").first.click()
    expect(page.locator("h1")).to_contain_text("年度履约报告")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("139****0001")
    expect(row).to_contain_text("50.0%")
    assert download_pdf(page, row.locator("a.oh-yearly-download")) == bytes(report.pdf)
    # on the customer's page: the download, no generate button
    page.goto(f"{live_server.url}/admin/orders/customer/{customer.pk}/change/")
    expect(page.locator('#oh-yearly-reports a[data-year="2025"]')).to_be_visible()
    expect(page.locator("#oh-yearly-generate")).to_have_count(0)
