"""配置健康度报告: build and store one (the monthly job, or "build now" in the admin)."""

from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from reports.models import ConfigHealthFinding, ConfigHealthReport, ReportSettings
from reports.selectors.confhealth import config_health_findings
from reports.services.daily import REPORT_TZ
from reports.services.settings import report_settings


def month_of(moment: datetime) -> date:
    """The first day of the Asia/Shanghai month `moment` falls in."""
    return moment.astimezone(REPORT_TZ).date().replace(day=1)


def config_health_report_build(*, actor=None, now: datetime | None = None) -> ConfigHealthReport:
    """Build a report of the configuration as it is now, for the month `now` falls in; earlier ones are kept.
    Texts are written in the site's language (Simplified Chinese)."""
    now = now or timezone.now()
    with translation.override(settings.LANGUAGE_CODE):
        findings = config_health_findings(
            now=now, today=now.astimezone(REPORT_TZ).date(), rarely_below=report_settings().rarely_hit_below
        )
    with transaction.atomic():
        report = ConfigHealthReport.objects.create(
            month=month_of(now), generated_at=now, generated_by=actor, findings_count=len(findings)
        )
        ConfigHealthFinding.objects.bulk_create(
            ConfigHealthFinding(
                report=report,
                kind=f.kind,
                severity=f.severity,
                subject=f.subject[:200],
                what=f.what[:500],
                why=f.why[:500],
                fix_url=f.fix_url,
                position=i,
            )
            for i, f in enumerate(findings)
        )
    return report


def config_health_report_build_due(*, now: datetime | None = None) -> ConfigHealthReport | None:
    """The monthly job: build this month's report when there is none yet (on the 1st, or on the first run after a
    scheduler that was down at midnight), else nothing. Two runs at once build it once (a lock on the settings
    row serialises them)."""
    now = now or timezone.now()
    month = month_of(now)
    with transaction.atomic():
        ReportSettings.objects.select_for_update().get(pk=report_settings().pk)
        if ConfigHealthReport.objects.filter(month=month).exists():
            return None
        return config_health_report_build(now=now)
