"""报表 → 年度履约报告 and the panel on the customer's page, per role: 客服 downloads, 运营主管 and 管理员 generate,
仓库 / 采购 / 财务 get 403 and see no link; bad input is a Chinese message and changes nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Customer
from reports.models import YearlyReport
from reports.services.yearly import yearly_report_generate
from tests.factories import user_with_role
from tests.reports import test_yearly_figures as fixtures
from tests.reports.test_yearly_figures import at, placed

year_2025 = fixtures.year_2025

LIST = "/admin/reports/yearlyreport/"
GENERATE = "/admin/reports/yearlyreport/generate/"


def download_url(report: YearlyReport) -> str:
    return reverse("admin:reports_yearlyreport_download", args=[report.pk])


@pytest.fixture
def report(year_2025):
    return yearly_report_generate(customer=Customer.objects.get(pk=year_2025["a"]), year=2025, actor=None)


@pytest.mark.parametrize("role", ["仓库", "采购", "财务"])
def test_other_roles_get_403_and_no_link(client, role, report):
    client.force_login(user_with_role(role))
    assert client.get(LIST).status_code == 403
    assert client.get(download_url(report)).status_code == 403
    response = client.post(GENERATE, {"customer": report.customer_id, "year": "2025"})
    assert response.status_code == 403
    assert LIST not in client.get("/admin/").content.decode()
    page = client.get(reverse("admin:orders_customer_change", args=[report.customer_id]))
    assert page.status_code == 200  # they may read the customer, not the report
    assert 'id="oh-yearly"' not in page.content.decode()


def test_customer_service_downloads_but_does_not_generate(client, kefu, report):
    client.force_login(kefu)
    home = client.get("/admin/").content.decode()
    assert f'href="{LIST}"' in home and "年度履约报告" in home
    listing = client.get(LIST)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert download_url(report) in html and "50.0%" in html and "139****0001" in html
    assert "13900000001" not in html
    pdf = client.get(download_url(report))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert "attachment" in pdf["Content-Disposition"] and pdf.content.startswith(b"%PDF")
    page = client.get(reverse("admin:orders_customer_change", args=[report.customer_id])).content.decode()
    assert download_url(report) in page and 'id="oh-yearly-generate"' not in page
    assert client.post(GENERATE, {"customer": report.customer_id, "year": "2025"}).status_code == 403


@pytest.mark.parametrize("role", ["运营主管", "管理员"])
def test_ops_manager_and_admin_generate_from_the_customer_page(client, role, year_2025):
    client.force_login(user_with_role(role))
    customer_url = reverse("admin:orders_customer_change", args=[year_2025["a"]])
    page = client.get(customer_url).content.decode()
    assert 'id="oh-yearly-generate"' in page and "生成年度报告" in page and "该客户还没有年度报告" in page
    response = client.post(GENERATE, {"customer": year_2025["a"], "year": "2025", "next": customer_url}, follow=True)
    assert response.redirect_chain[-1][0] == customer_url
    report = YearlyReport.objects.get(customer_id=year_2025["a"], year=2025)
    assert report.generated_by.username.startswith(role)
    html = response.content.decode()
    assert "2025 年度履约报告已生成" in html and download_url(report) in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"year": "2025"}, "客户：— 不是客户编号"),
        ({"customer": "x", "year": "2025"}, "客户：x 不是客户编号"),
        ({"customer": "999999", "year": "2025"}, "客户：不存在编号为 999999 的客户"),
        ({"customer": "A", "year": "abc"}, "年份：abc 不是有效的年份"),
        ({"customer": "A", "year": "1850"}, "年份：1850 不在"),
        ({"customer": "A", "year": "2024"}, "在 2024 年没有订单，未生成年度报告"),
    ],
)
def test_bad_input_is_a_clear_message_and_makes_nothing(client, yunying, year_2025, data, message):
    if data.get("customer") == "A":
        data = {**data, "customer": year_2025["a"]}
    client.force_login(yunying)
    response = client.post(GENERATE, data, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not YearlyReport.objects.exists()


def test_generate_only_by_post_and_an_outside_next_is_ignored(client, yunying, year_2025):
    client.force_login(yunying)
    assert client.get(GENERATE).status_code == 405
    response = client.post(GENERATE, {"customer": year_2025["a"], "year": "2025", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == LIST


def test_a_missing_report_is_404(client, kefu, db):
    client.force_login(kefu)
    assert client.get("/admin/reports/yearlyreport/999999/download/").status_code == 404


def test_the_list_reads_a_fixed_number_of_queries(client, kefu, year_2025):
    yearly_report_generate(customer=Customer.objects.get(pk=year_2025["a"]), year=2025, actor=None)
    client.force_login(kefu)
    client.get(LIST)  # warm the session and content types

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST).status_code == 200
        return len(queries)

    one = count()
    for n in range(3):
        c = placed(f"1390000008{n}", at(2025, 10, 1, n), "1.00").customer
        yearly_report_generate(customer=c, year=2025, actor=None)
    assert count() == one
