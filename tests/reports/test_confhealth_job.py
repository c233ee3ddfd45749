"""The monthly job's schedule logic: this month's report (Asia/Shanghai) is built when it is missing — on the 1st, or
on any later run when the scheduler was down at midnight — and never twice; the cron entry exists."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from redis import Redis
from rq.cron import CronScheduler

from reports.jobs import build_config_health_report
from reports.models import ConfigHealthReport
from reports.services.confhealth import config_health_report_build, config_health_report_build_due, month_of

SH = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")


def test_the_month_is_the_shanghai_month():
    # 16:30 UTC on Nov 30 is 00:30 on Dec 1 in Shanghai
    assert month_of(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)).isoformat() == "2026-12-01"
    assert month_of(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)).isoformat() == "2026-11-01"


def test_built_on_the_first_just_after_midnight_and_not_again_that_month(db):
    first = config_health_report_build_due(now=datetime(2026, 12, 1, 0, 5, tzinfo=SH))
    assert first is not None and first.month.isoformat() == "2026-12-01" and first.generated_by is None
    assert config_health_report_build_due(now=datetime(2026, 12, 1, 1, 5, tzinfo=SH)) is None
    assert config_health_report_build_due(now=datetime(2026, 12, 31, 23, 55, tzinfo=SH)) is None
    assert ConfigHealthReport.objects.count() == 1
    # the next month is due at its first run
    january = config_health_report_build_due(now=datetime(2027, 1, 1, 0, 1, tzinfo=SH))
    assert january.month.isoformat() == "2027-01-01"
    assert ConfigHealthReport.objects.count() == 2  # history kept


def test_a_scheduler_down_at_midnight_builds_it_at_its_first_run_later_in_the_month(db):
    late = config_health_report_build_due(now=datetime(2026, 12, 3, 9, 0, tzinfo=SH))
    assert late is not None and late.month.isoformat() == "2026-12-01"


def test_a_report_built_by_hand_counts_for_the_month(db, yunying):
    config_health_report_build(actor=yunying, now=datetime(2026, 12, 1, 0, 0, 30, tzinfo=SH))
    assert config_health_report_build_due(now=datetime(2026, 12, 1, 0, 5, tzinfo=SH)) is None


def test_the_job_builds_this_months_report_once(db):
    report_id = build_config_health_report()
    report = ConfigHealthReport.objects.get(pk=report_id)
    assert report.month == timezone.localdate().replace(day=1)
    assert build_config_health_report() is None


def test_the_cron_entry_runs_the_job_every_hour_on_the_default_queue():
    scheduler = CronScheduler(connection=Redis.from_url(settings.REDIS_URL))
    scheduler.load_config_from_file("config.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    job = jobs["reports.jobs.build_config_health_report"]
    assert (job.interval, job.queue_name) == (3600, "default")
