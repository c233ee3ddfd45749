"""跨系统订单一致性日报: the figures against a hand-built day, the stored report, its email through Django's mail
with the xlsx attached, a failed send retried, the 10:00 Asia/Shanghai schedule and an idempotent rebuild."""

import email
import socket
from datetime import datetime
from email import policy
from io import BytesIO

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook
from redis import Redis
from rq.cron import CronScheduler

from config.exceptions import ApplicationError
from orders.models import IntakeRecord
from reports.models import ConsistencyReport, DailyChannelFigures
from reports.selectors.consistency import CHANNEL_FIGURES
from reports.services.consistency import consistency_report_build, consistency_reports_due
from reports.services.settings import report_settings, report_settings_save
from tests.factories import ChannelFactory
from tests.notify.peers import SMTPServer
from tests.reports.consistency_fixture import (  # noqa: F401
    AFTER,
    BUILT_AT,
    DAY,
    EXPECTED,
    at,
    consistency_day_fixture,
    placed,
)

pytestmark = pytest.mark.django_db


def figures_by_code(report: ConsistencyReport) -> dict:
    return {row["code"]: tuple(row[key] for key in CHANNEL_FIGURES) for row in report.figures["channels"]}


def recipients(text: str) -> None:
    settings_row = report_settings()
    settings_row.consistency_recipients = text
    report_settings_save(settings=settings_row)


def workbook(content: bytes):
    return load_workbook(BytesIO(content), read_only=True)


def sheet_rows(book, title: str) -> list[tuple]:
    return [tuple(row) for row in book[title].iter_rows(values_only=True)]


def test_figures_per_channel_against_the_hand_built_day(consistency_day):
    # the fixture's orders come in through the API: no intake line of their own
    assert IntakeRecord.objects.count() == 6
    report = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    assert figures_by_code(report) == EXPECTED
    assert report.figures["totals"] == {
        "deliveries": 3,
        "received": 5,
        "created": 4,
        "duplicates": 1,
        "rejected": 2,
        "timeouts": 3,
        "net": 3,
    }
    # the created / duplicates / rejected figures are the daily rows', refreshed for the day
    daily = {row.channel.code: row for row in DailyChannelFigures.objects.filter(day=DAY).select_related("channel")}
    assert (daily["tmall"].created, daily["tmall"].rejected, daily["jd"].duplicates) == (2, 2, 1)


def test_the_next_day_counts_only_what_crossed_midnight(consistency_day):
    report = consistency_report_build(day=AFTER, actor=None, now=at(AFTER + (AFTER - DAY), 10))
    got = figures_by_code(report)
    # tmall: the order and the intake line at 00:00:00; jd: only its pull episode begun at 00:30
    assert got["tmall"] == (0, 1, 1, 0, 0, 0, 1)
    assert got["jd"] == (0, 0, 0, 0, 0, 1, 0)
    assert got["pdd"] == (0,) * 7


def test_erp_orders_not_acknowledged_with_how_long_they_wait(consistency_day):
    report = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    assert report.figures["erp_total"] == 1
    (row,) = report.figures["erp"]
    assert row["order"] == consistency_day["first"].number
    assert (row["channel"], row["endpoint"]) == ("天猫旗舰店", "聚水潭")
    assert (row["messages"], row["dead"], row["attempts"]) == (2, 1, 8)
    assert datetime.fromisoformat(row["since"]) == at(DAY, 9, 0, 5)
    # from 09:00:05 of the day to 10:00 the next morning: 24 h 59 min 55 s, whole minutes
    assert row["waited_minutes"] == 24 * 60 + 59


def test_a_day_not_over_is_refused():
    with pytest.raises(ApplicationError) as refused:
        consistency_report_build(day=AFTER, actor=None, now=at(AFTER, 23, 59, 59))
    assert "2026-11-21" in refused.value.message
    assert not ConsistencyReport.objects.exists()


def test_the_report_is_emailed_with_its_table_and_the_xlsx_attached(consistency_day):
    recipients("boss@example.com, ops@example.com")
    report = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    assert report.mail_state == ConsistencyReport.Mail.SENT
    assert report.recipients.split() == ["boss@example.com", "ops@example.com"]
    assert report.sent_at == BUILT_AT and report.mail_attempts == 1
    (sent,) = mail.outbox
    assert sent.to == ["boss@example.com", "ops@example.com"]
    assert sent.subject == "跨系统订单一致性日报 2026-11-20"
    assert "京东自营 | 1 | 1 | 2 | 1 | 0 | 2 | 1" in sent.body
    assert "ERP 未确认的订单：1" in sent.body
    html, mimetype = sent.alternatives[0]
    assert mimetype == "text/html" and "<th>净订单</th>" in html and consistency_day["first"].number in html
    (name, content, attachment_type) = sent.attachments[0]
    assert name == "一致性日报_2026-11-20.xlsx"
    assert attachment_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = workbook(content)
    assert book.sheetnames == ["渠道", "ERP 未确认"]
    channels = sheet_rows(book, "渠道")
    assert channels[0] == ("渠道", "投递数", "上报订单", "已创建订单", "疑似重复", "已拒收", "超时/失败", "净订单")
    assert channels[1:] == [
        ("京东自营", 1, 1, 2, 1, 0, 2, 1),
        ("拼多多店", 0, 0, 0, 0, 0, 0, 0),
        ("天猫旗舰店", 2, 4, 2, 0, 2, 1, 2),
        ("合计", 3, 5, 4, 1, 2, 3, 3),
    ]
    erp = sheet_rows(book, "ERP 未确认")
    assert erp[1][0] == consistency_day["first"].number
    assert erp[1][3].isoformat() == "2026-11-20T09:00:05"  # local time
    assert float(erp[1][4]) == 25.0  # hours waited, one decimal


def test_sent_through_a_real_smtp_server_the_attachment_opens(consistency_day, settings):
    recipients("boss@example.com")
    with SMTPServer() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        report = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    assert report.mail_state == ConsistencyReport.Mail.SENT
    (received,) = smtp.mails
    assert received.recipients == ["boss@example.com"]
    message = email.message_from_string(received.data, policy=policy.default)
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "一致性日报_2026-11-20.xlsx"
    assert sheet_rows(workbook(part.get_content()), "渠道")[-1] == ("合计", 3, 5, 4, 1, 2, 3, 3)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_failed_send_is_recorded_and_retried_by_the_next_run(consistency_day, settings):
    recipients("boss@example.com")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _closed_port()  # nobody listens: refused
    report = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    assert report.mail_state == ConsistencyReport.Mail.FAILED
    assert "ConnectionRefusedError" in report.mail_error and report.mail_attempts == 1
    assert report.sent_at is None
    # still down at the next run: failed again, counted
    assert consistency_reports_due(now=at(AFTER, 10, 10)) == {
        "built": None,
        "resent": [],
        "still_failing": ["2026-11-20"],
    }
    assert ConsistencyReport.objects.get().mail_attempts == 2
    # the mail server is back: the run after sends it
    with SMTPServer() as smtp:
        settings.EMAIL_PORT = smtp.port
        assert consistency_reports_due(now=at(AFTER, 10, 20))["resent"] == ["2026-11-20"]
    assert len(smtp.mails) == 1
    report.refresh_from_db()
    assert (report.mail_state, report.mail_error, report.mail_attempts) == ("sent", "", 3)
    assert report.sent_at == at(AFTER, 10, 20)
    # and not again
    assert consistency_reports_due(now=at(AFTER, 10, 30)) == {"built": None, "resent": [], "still_failing": []}


def test_no_recipients_stored_not_sent_and_said_so(consistency_day):
    recipients("")
    report = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    assert report.mail_state == ConsistencyReport.Mail.NO_RECIPIENTS
    assert report.get_mail_state_display() == "未发送：未设置收件人"
    assert mail.outbox == []
    assert consistency_reports_due(now=at(AFTER, 11))["resent"] == []  # not retried: nothing to send to
    assert ConsistencyReport.objects.get().figures["totals"]["created"] == 4


def test_schedule_at_0959_nothing_at_1000_yesterdays_report(consistency_day):
    recipients("boss@example.com")
    assert consistency_reports_due(now=at(AFTER, 9, 59, 59))["built"] is None
    assert not ConsistencyReport.objects.exists()
    assert consistency_reports_due(now=at(AFTER, 10))["built"] == "2026-11-20"
    report = ConsistencyReport.objects.get()
    assert report.day == DAY and report.built_by is None and report.mail_state == "sent"
    # the next ticks of the day leave it alone: one report, one email
    assert consistency_reports_due(now=at(AFTER, 10, 10))["built"] is None
    assert consistency_reports_due(now=at(AFTER, 23, 59))["built"] is None
    assert ConsistencyReport.objects.get().builds == 1 and len(mail.outbox) == 1
    # the day after, before 10:00: still nothing new
    assert consistency_reports_due(now=at(AFTER + (AFTER - DAY), 9, 59))["built"] is None
    assert ConsistencyReport.objects.count() == 1


def test_schedule_a_scheduler_down_at_1000_builds_when_it_is_back(consistency_day):
    # 10:00 local is 02:00 UTC; the scheduler comes back at 15:30
    assert consistency_reports_due(now=at(AFTER, 15, 30))["built"] == "2026-11-20"
    assert figures_by_code(ConsistencyReport.objects.get()) == EXPECTED


def test_a_report_left_unsent_by_a_killed_run_is_sent_by_a_later_one(consistency_day):
    recipients("boss@example.com")
    report = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    ConsistencyReport.objects.filter(pk=report.pk).update(mail_state="pending")  # as if killed before sending
    mail.outbox.clear()
    assert consistency_reports_due(now=at(AFTER, 10, 10))["resent"] == []  # it may still be sending
    assert consistency_reports_due(now=at(AFTER, 10, 20))["resent"] == ["2026-11-20"]
    assert len(mail.outbox) == 1


def test_building_a_day_again_replaces_it(consistency_day, yunying):
    first = consistency_report_build(day=DAY, actor=None, now=BUILT_AT)
    again = consistency_report_build(day=DAY, actor=yunying, now=at(AFTER, 11))
    assert ConsistencyReport.objects.count() == 1 and again.pk == first.pk
    assert again.figures["channels"] == first.figures["channels"]
    assert (again.builds, again.built_by, again.generated_at) == (2, yunying, at(AFTER, 11))
    # the ERP wait is measured from the new build; the earlier figures stay in the history
    assert again.figures["erp"][0]["waited_minutes"] == first.figures["erp"][0]["waited_minutes"] + 60
    versions = list(ConsistencyReport.history.filter(id=first.pk).order_by("history_date"))
    assert [v.builds for v in versions] == [1, 2]
    assert versions[0].figures["erp"][0]["waited_minutes"] == 24 * 60 + 59


def test_the_cron_polls_every_ten_minutes_on_the_default_queue():
    scheduler = CronScheduler(connection=Redis.from_url(django_settings.REDIS_URL))
    scheduler.load_config_from_file("config.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    job = jobs["reports.jobs.build_consistency_report"]
    assert (job.interval, job.cron, job.queue_name) == (600, None, "default")


def test_the_build_reads_a_fixed_number_of_queries_whatever_the_channels_and_orders(consistency_day):
    def queries(day) -> int:
        with CaptureQueriesContext(connection) as captured:
            consistency_report_build(day=day, actor=None, now=BUILT_AT)
        return len(captured)

    queries(DAY)  # the first build creates the row; the ones after replace it
    few = queries(DAY)
    for n in range(6):
        ChannelFactory(code=f"shop{n}", name=f"门店{n}", kind="other")
        placed(f"shop{n}", at(DAY, 8, n))
    assert queries(DAY) == few  # built again: the same statements, more channels and orders
    report = ConsistencyReport.objects.get(day=DAY)
    assert len(report.figures["channels"]) == 9 and report.figures["totals"]["created"] == 10
