"""跨系统订单一致性日报: built for yesterday once 10:00 Asia/Shanghai has passed, stored, emailed with its xlsx.

- One report per day. Building a day again (the admin's button) replaces its figures and sends it again; the
  earlier figures stay in the report's history table. The daily job never rebuilds a day that has a report.
- The daily job (reports.jobs.build_consistency_report, every 10 minutes) builds yesterday's report as soon as
  the local time is 10:00 or later and there is none yet: a scheduler that was down at 10:00 builds it when it is
  back. The same run sends again the reports whose email failed (of the last MAIL_RETRY_DAYS days) and those
  left unsent by a killed run.
- A failed send is recorded on the report (state, attempts, error) and retried; no recipients configured: the
  report is stored, not sent, and says so.
"""

import smtplib
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from config.exceptions import ApplicationError
from reports.models import ConsistencyReport, email_list
from reports.selectors.consistency import (
    consistency_channel_rows,
    consistency_tables,
    consistency_totals,
    consistency_xlsx,
    consistency_xlsx_filename,
    erp_unacknowledged,
)
from reports.services.daily import REPORT_TZ, daily_figures_refresh, day_bounds
from reports.services.settings import report_settings

REPORT_TIME = time(10, 0)  # local (Asia/Shanghai) time from which yesterday's report is built
MAIL_RETRY_DAYS = 7
MAIL_TIMEOUT_SECONDS = 30
UNSENT_AFTER = timedelta(minutes=15)  # a report still "to be sent" this long after it was built: its run was killed
BUILD_LOCK = 0x52505432  # advisory lock space of the report build ("RPT2"), one lock per day
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def consistency_report_build(
    *,
    day: date,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
    only_if_missing: bool = False,
) -> ConsistencyReport | None:
    """Build (or build again) the report of `day`, a day that is over, and send it.
    `only_if_missing`: the daily job's call; a day that already has a report is left alone (returns None)."""
    now = now or timezone.now()
    if not isinstance(day, date) or isinstance(day, datetime):
        raise TypeError(f"day must be a date, not {type(day).__name__}")
    if day >= now.astimezone(REPORT_TZ).date():
        raise ApplicationError(
            gettext("The report of %(day)s cannot be built yet: only a day that is over has a report.")
            % {"day": f"{day:%Y-%m-%d}"},
            code="consistency_day_not_over",
            extra={"field": "day"},
        )
    start, end = day_bounds(day)
    with transaction.atomic():
        if connection.vendor == "postgresql":  # two builds of one day take turns (SQLite writes one at a time)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [BUILD_LOCK, day.toordinal()])
        report = ConsistencyReport.objects.select_for_update().filter(day=day).first()
        if report is not None and only_if_missing:
            return None
        daily_figures_refresh(day=day)  # the day's daily rows, counted once more now that the day is over
        channels = consistency_channel_rows(day=day, start=start, end=end)
        erp, erp_total = erp_unacknowledged(before=end, now=now)
        figures = {
            "channels": channels,
            "totals": consistency_totals(channels),
            "erp": erp,
            "erp_total": erp_total,
        }
        if report is None:
            report = ConsistencyReport(day=day, builds=1)
        else:
            report.builds += 1
        report.generated_at = now
        report.built_by = actor
        report.figures = figures
        report.mail_state = ConsistencyReport.Mail.PENDING
        report.recipients = ""
        report.mail_attempts = 0
        report.mail_error = ""
        report.sent_at = None
        report.save()
    return consistency_report_send(report=report, now=now)


def consistency_report_send(*, report: ConsistencyReport, now: datetime | None = None) -> ConsistencyReport:
    """Email the report to the settings' recipients, with its xlsx; record what happened on the report."""
    report.skip_history_when_saving = True  # the email's bookkeeping is not a new version of the figures
    try:
        return _send(report, now=now)
    finally:
        del report.skip_history_when_saving


def _send(report: ConsistencyReport, *, now: datetime | None) -> ConsistencyReport:
    recipients = email_list(report_settings().consistency_recipients or "")
    if not recipients:
        report.mail_state = ConsistencyReport.Mail.NO_RECIPIENTS
        report.recipients = ""
        report.save(update_fields=["mail_state", "recipients"])
        return report
    with translation.override(settings.LANGUAGE_CODE):
        message = _message(report, recipients)
    report.mail_attempts += 1
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:  # refused, unreachable, timed out
        report.mail_state = ConsistencyReport.Mail.FAILED
        report.mail_error = (f"{type(error).__name__}: {error}")[:500]
    else:
        report.mail_state = ConsistencyReport.Mail.SENT
        report.mail_error = ""
        report.sent_at = now or timezone.now()
    report.recipients = "\n".join(recipients)
    report.save(update_fields=["mail_state", "recipients", "mail_attempts", "mail_error", "sent_at"])
    return report


def _message(report: ConsistencyReport, recipients: list[str]) -> EmailMultiAlternatives:
    context = {"report": report, "tables": consistency_tables(report)}
    subject = gettext("Daily consistency report %(day)s") % {"day": f"{report.day:%Y-%m-%d}"}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("reports/consistency_email.txt", context),
        to=recipients,
        connection=get_connection(timeout=MAIL_TIMEOUT_SECONDS),
    )
    message.attach_alternative(render_to_string("reports/consistency_email.html", context), "text/html")
    message.attach(consistency_xlsx_filename(report), consistency_xlsx(report), XLSX_TYPE)
    return message


def consistency_reports_due(*, now: datetime | None = None) -> dict:
    """The daily job: yesterday's report once 10:00 local time has passed (if it has none yet), then the emails
    that failed or were left unsent. Returns what it did."""
    now = now or timezone.now()
    local = now.astimezone(REPORT_TZ)
    built = None
    if local.time() >= REPORT_TIME:
        yesterday = local.date() - timedelta(days=1)
        if consistency_report_build(day=yesterday, actor=None, now=now, only_if_missing=True) is not None:
            built = yesterday
    unsent = ConsistencyReport.objects.filter(day__gte=local.date() - timedelta(days=MAIL_RETRY_DAYS)).filter(
        Q(mail_state=ConsistencyReport.Mail.FAILED)
        | Q(mail_state=ConsistencyReport.Mail.PENDING, generated_at__lt=now - UNSENT_AFTER)
    )
    sent, failed = [], []
    for report in unsent.order_by("day"):  # a handful of reports at most (one per day)
        report = consistency_report_send(report=report, now=now)
        (sent if report.mail_state == ConsistencyReport.Mail.SENT else failed).append(f"{report.day:%Y-%m-%d}")
    return {"built": f"{built:%Y-%m-%d}" if built else None, "resent": sent, "still_failing": failed}
