"""报表 → 一致性日报 in the admin: who may read and who may build, the list, a report's page, its xlsx download,
the "build now" form and its refusals."""

import socket
from datetime import timedelta
from io import BytesIO

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from reports.models import ConsistencyReport
from reports.services.consistency import consistency_report_build
from reports.services.settings import report_settings, report_settings_save
from tests.factories import ChannelFactory, user_with_role
from tests.reports.consistency_fixture import BUILT_AT, DAY, consistency_day_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

LIST = "/admin/reports/consistencyreport/"
BUILD = "/admin/reports/consistencyreport/build/"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_url(report) -> str:
    return f"{LIST}{report.pk}/change/"


def xlsx_url(report) -> str:
    return f"{LIST}{report.pk}/xlsx/"


@pytest.fixture
def report(consistency_day):
    return consistency_report_build(day=DAY, actor=None, now=BUILT_AT)


@pytest.mark.parametrize("role", ["仓库", "采购"])
def test_roles_without_the_report_get_403_everywhere_and_no_link(client, report, role):
    client.force_login(user_with_role(role))
    for url in (LIST, page_url(report), xlsx_url(report), BUILD):
        assert client.get(url).status_code == 403, url
    assert client.post(BUILD, {"day": "2026-11-19"}).status_code == 403
    assert LIST not in client.get("/admin/").content.decode()
    assert ConsistencyReport.objects.count() == 1


@pytest.mark.parametrize("role", ["客服", "财务"])
def test_customer_service_and_finance_read_but_do_not_build(client, report, role):
    client.force_login(user_with_role(role))
    home = client.get("/admin/").content.decode()
    assert f'href="{LIST}"' in home and "一致性日报" in home
    listing = client.get(LIST)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert page_url(report) in html and "立即生成日报" not in html
    detail = client.get(page_url(report)).content.decode()
    assert "各渠道" in detail and "下载 Excel" in detail and "重新生成并发送" not in detail
    assert client.get(xlsx_url(report)).status_code == 200
    assert client.get(BUILD).status_code == 403
    assert client.post(BUILD, {"day": "2026-11-19"}).status_code == 403
    assert not ConsistencyReport.objects.filter(day="2026-11-19").exists()


def test_the_list_shows_history_day_status_and_recipients(client, yunying, consistency_day):
    settings_row = report_settings()
    settings_row.consistency_recipients = "boss@example.com"
    report_settings_save(settings=settings_row)
    consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    settings_row.consistency_recipients = ""
    report_settings_save(settings=settings_row)
    consistency_report_build(day=DAY - timedelta(days=1), actor=None, now=BUILT_AT)
    client.force_login(yunying)
    html = client.get(LIST).content.decode()
    assert "2026-11-20" in html and "2026-11-19" in html
    assert html.index("2026-11-20") < html.index("2026-11-19")  # newest first
    assert "已发送" in html and "boss@example.com" in html and "未发送：未设置收件人" in html
    assert f'href="{BUILD}"' in html


def test_the_report_page_shows_the_stored_tables(client, kefu, report, consistency_day):
    client.force_login(kefu)
    response = client.get(page_url(report))
    assert response.status_code == 200
    html = response.content.decode()
    assert "跨系统订单一致性日报 2026-11-20" in html
    tables = response.context["tables"]
    assert tables.channel_rows[0] == ["京东自营", 1, 1, 2, 1, 0, 2, 1]
    assert tables.total_row == ["合计", 3, 5, 4, 1, 2, 3, 3]
    assert '<th scope="row">京东自营</th><td class="n">1</td><td class="n">1</td><td class="n">2</td>' in html
    assert "ERP 未确认的订单：1" in html and consistency_day["first"].number in html
    assert "由每日任务生成" in html and "未发送：未设置收件人" in html
    # the waiting order links to the order list, found by its number
    number = consistency_day["first"].number
    assert f'<a href="/admin/orders/order/?q={number}">{number}</a>' in html
    listing = client.get(f"/admin/orders/order/?q={number}")
    assert listing.status_code == 200 and number in listing.content.decode().split('id="result_list"')[1]
    assert "净订单：已创建订单减去疑似重复。" in html  # the definitions are on the page


def test_an_unknown_report_is_404(client, kefu):
    client.force_login(kefu)
    assert client.get(f"{LIST}999999/change/").status_code == 404
    assert client.get(f"{LIST}999999/xlsx/").status_code == 404


def test_the_xlsx_download_opens_with_openpyxl(client, caiwu, report):
    client.force_login(caiwu)
    response = client.get(xlsx_url(report))
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response["Content-Disposition"]
    assert "2026-11-20.xlsx" in response["Content-Disposition"]
    book = load_workbook(BytesIO(response.content), read_only=True)
    rows = list(book["渠道"].iter_rows(values_only=True))
    assert rows[-1] == ("合计", 3, 5, 4, 1, 2, 3, 3)
    assert rows[2] == ("拼多多店", 0, 0, 0, 0, 0, 0, 0)
    erp = list(book["ERP 未确认"].iter_rows(values_only=True))
    assert len(erp) == 2 and erp[1][2] == "聚水潭"


def test_the_list_reads_a_fixed_number_of_queries(client, yunying):
    ChannelFactory()
    client.force_login(yunying)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    consistency_report_build(day=DAY, actor=yunying, now=BUILT_AT)
    one = queries()
    for back in range(1, 6):
        consistency_report_build(day=DAY - timedelta(days=back), actor=yunying, now=BUILT_AT)
    assert queries() == one


def test_ops_manager_builds_a_day_now(client, yunying, consistency_day):
    settings_row = report_settings()
    settings_row.consistency_recipients = "boss@example.com"
    report_settings_save(settings=settings_row)
    client.force_login(yunying)
    form = client.get(BUILD)
    assert form.status_code == 200
    yesterday = timezone.localdate() - timedelta(days=1)
    assert f'value="{yesterday:%Y-%m-%d}"' in form.content.decode()
    response = client.post(BUILD, {"day": "2026-11-20"}, follow=True)
    report = ConsistencyReport.objects.get(day=DAY)
    assert response.redirect_chain[-1][0] == page_url(report)
    assert report.built_by == yunying and report.mail_state == "sent"
    assert "2026-11-20 的日报已生成并发送给 boss@example.com。" in response.content.decode()
    assert len(mail.outbox) == 1
    # the page's rebuild button: the same day again, replaced, sent again
    again = client.post(BUILD, {"day": "2026-11-20"}, follow=True)
    assert again.status_code == 200
    assert ConsistencyReport.objects.get(day=DAY).builds == 2 and len(mail.outbox) == 2


@pytest.mark.parametrize(
    ("day", "error"),
    [
        ("", "请填写日报的日期。"),
        ("2026-13-45", "日期格式不对：请按 YYYY-MM-DD 填写。"),
        ("abc", "日期格式不对：请按 YYYY-MM-DD 填写。"),
        ("today", "的日报还不能生成：只有已经结束的日期才有日报。"),
        ("tomorrow", "的日报还不能生成：只有已经结束的日期才有日报。"),
    ],
)
def test_build_refuses_bad_days_with_a_clear_error(client, admin_user, day, error):
    today = timezone.localdate()
    day = {"today": f"{today:%Y-%m-%d}", "tomorrow": f"{today + timedelta(days=1):%Y-%m-%d}"}.get(day, day)
    client.force_login(admin_user)
    response = client.post(BUILD, {"day": day})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ConsistencyReport.objects.exists()


def test_the_report_page_reflects_a_failed_send(client, yunying, consistency_day, settings):
    settings_row = report_settings()
    settings_row.consistency_recipients = "boss@example.com"
    report_settings_save(settings=settings_row)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()  # nobody listens: refused
    client.force_login(yunying)
    response = client.post(BUILD, {"day": "2026-11-20"}, follow=True)
    html = response.content.decode()
    assert "发送失败（下次运行重试）" in html
    assert "2026-11-20 的日报已生成，但发送失败" in html
    assert ConsistencyReport.objects.get().mail_state == "failed"
