"""The yearly fulfilment report PDF (parsed back with pypdf: the embedded font, the pages, the figures in the text,
masked phones), a customer without orders, and the job making the top customers' reports once."""

import io
from decimal import Decimal

import pytest
from django.conf import settings
from pypdf import PdfReader
from redis import Redis
from rq.cron import CronScheduler

from config.exceptions import Conflict, InvalidInput
from orders.models import Customer, Order
from reports.jobs import generate_yearly_reports
from reports.models import YearlyReport
from reports.services.settings import report_settings, report_settings_save
from reports.services.yearly import (
    past_year,
    report_year_check,
    yearly_report_generate,
    yearly_reports_generate_missing,
)
from tests.reports import test_yearly_figures as fixtures
from tests.reports.test_yearly_figures import A_PHONE, at, placed

year_2025 = fixtures.year_2025  # the hand-built year, a fixture of this module too


def pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def fonts_of(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


def test_the_report_pdf_carries_the_figures_in_the_embedded_font(year_2025):
    customer = Customer.objects.get(pk=year_2025["a"])
    report = yearly_report_generate(customer=customer, year=2025, actor=None)
    data = bytes(report.pdf)
    assert data.startswith(b"%PDF")
    assert b"/FontFile2" in data  # the TrueType font is embedded
    reader, text = pdf_text(data)
    assert len(reader.pages) >= 1
    assert all("WenQuanYiZenHei" in name for name in fonts_of(reader))  # no unembedded base font
    assert "我的年度履约报告" in text and "2025" in text
    assert "50.0%（2 / 4）" in text  # on-time ship rate with its counts
    assert "36.00 小时" in text  # average delivery time
    assert "¥390.50" in text
    assert year_2025["o2"].number in text and "2025-06-04 08:00" in text  # the exception order, listed
    assert "快递丢件" not in text  # its reason is staff-internal: not in a PDF for the customer
    assert "口径说明" in text and "发货期限" in text  # the definitions are printed
    assert "139****0001" in text and A_PHONE not in text  # the phone masked
    # stored with its figures
    assert (report.year, report.orders, report.gmv) == (2025, 5, Decimal("390.50"))
    assert report.figures["on_time_rate"] == "50.0" and report.figures["exceptions"] == 1


def test_a_platform_masked_phone_stays_masked(year_2025):
    masked = Customer.objects.create(name="淘宝买家", phone="138****5678", platform_buyer="tmall:b-1")
    Order.objects.filter(pk=year_2025["o3"].pk).update(customer=masked)
    report = yearly_report_generate(customer=masked, year=2025, actor=None)
    _, text = pdf_text(bytes(report.pdf))
    assert "138****5678" in text and report.orders == 1


def test_generating_again_remakes_the_one_report(year_2025):
    customer = Customer.objects.get(pk=year_2025["a"])
    first = yearly_report_generate(customer=customer, year=2025, actor=None)
    placed(A_PHONE, at(2025, 7, 7, 7), "1.00")
    second = yearly_report_generate(customer=customer, year=2025, actor=None)
    assert second.pk == first.pk and second.orders == 6
    assert YearlyReport.objects.filter(customer=customer).count() == 1


def test_a_customer_without_orders_that_year_gets_a_message_and_no_pdf(year_2025):
    customer = Customer.objects.get(pk=year_2025["a"])
    with pytest.raises(Conflict) as refused:
        yearly_report_generate(customer=customer, year=2024, actor=None)
    assert refused.value.code == "no_orders_in_year" and "2024" in refused.value.message
    assert not YearlyReport.objects.exists()


@pytest.mark.parametrize("bad", ["", "abc", "1999", "3000", "20 25"])
def test_a_bad_year_is_refused(bad):
    with pytest.raises(InvalidInput):
        report_year_check(bad)


def test_the_job_makes_the_top_customers_reports_once(year_2025, django_assert_max_num_queries):
    # A: 5 orders, C: 2, D: 1 — the top 2 are A and C
    c = placed("13900000003", at(2025, 5, 5, 5), "5.00").customer_id
    placed("13900000003", at(2025, 5, 6, 5), "5.00")
    d = placed("13900000004", at(2025, 4, 4, 4), "5000.00").customer_id
    settings_row = report_settings()
    settings_row.yearly_report_customers = 2
    report_settings_save(settings=settings_row)

    result = generate_yearly_reports(year=2025)
    assert result == {"year": 2025, "top": 2, "already": 0, "generated": 2}
    assert set(YearlyReport.objects.filter(year=2025).values_list("customer_id", flat=True)) == {year_2025["a"], c}
    first_pdf = YearlyReport.objects.get(customer_id=c).generated_at

    again = generate_yearly_reports(year=2025)  # idempotent: nothing new, nothing remade
    assert again == {"year": 2025, "top": 2, "already": 2, "generated": 0}
    assert YearlyReport.objects.get(customer_id=c).generated_at == first_pdf

    # a run that was killed half-way left one out: the next makes only that one
    YearlyReport.objects.filter(customer_id=year_2025["a"]).delete()
    assert generate_yearly_reports(year=2025)["generated"] == 1
    assert YearlyReport.objects.filter(year=2025).count() == 2

    # by GMV, in batches of one: D comes first
    result = yearly_reports_generate_missing(year=2025, limit=3, by="gmv", batch_size=1)
    assert result["generated"] == 1 and YearlyReport.objects.filter(customer_id=d).exists()


def test_the_job_queries_per_batch_not_per_customer(year_2025, django_assert_max_num_queries):
    for n in range(5, 11):
        placed(f"139000000{n:02d}", at(2025, 2, 2, n), "1.00")
    with django_assert_max_num_queries(12):  # top, existing, then per batch: 4 figures, customers, insert, count
        assert yearly_reports_generate_missing(year=2025, limit=100, batch_size=20)["generated"] == 7


def test_the_job_defaults_to_the_past_year(year_2025):
    assert generate_yearly_reports()["year"] == past_year()


def test_the_cron_runs_it_daily_at_01_30_shanghai():
    scheduler = CronScheduler(connection=Redis.from_url(settings.REDIS_URL))
    scheduler.load_config_from_file("config.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    job = jobs["reports.jobs.generate_yearly_reports"]
    assert (job.cron, job.queue_name) == ("30 17 * * *", "default")


def test_a_report_made_while_the_year_ran_is_remade_by_the_job(year_2025):
    customer = Customer.objects.get(pk=year_2025["a"])
    partial = yearly_report_generate(customer=customer, year=2025, actor=None)
    # made by hand in October 2025, before the year's last orders
    YearlyReport.objects.filter(pk=partial.pk).update(generated_at=at(2025, 10, 1, 12), orders=1)
    result = yearly_reports_generate_missing(year=2025, limit=1)
    assert (result["already"], result["generated"]) == (0, 1)
    remade = YearlyReport.objects.get(customer=customer, year=2025)
    assert remade.pk == partial.pk and remade.orders == 5 and remade.generated_at > at(2026, 1, 1, 0)
