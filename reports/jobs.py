"""RQ jobs of the reports app: thin, idempotent, call a service."""

from reports.services.confhealth import config_health_report_build_due
from reports.services.consistency import consistency_reports_due
from reports.services.daily import (
    current_figures_refresh,
    daily_figures_refresh_recent,
    hour_figures_refresh_settling,
)
from reports.services.settings import report_settings
from reports.services.yearly import past_year, yearly_reports_generate_missing


def refresh_daily_figures() -> dict[str, int]:
    """Every 10 minutes (config/cron.py): today's and yesterday's figures, recomputed."""
    return daily_figures_refresh_recent(days=2)


def build_consistency_report() -> dict:
    """Every 10 minutes (config/cron.py): yesterday's consistency report once it is 10:00 in Asia/Shanghai and it
    has none yet, and the emails of recent reports that failed. RQ's cron strings count in UTC and a cron run
    missed while the scheduler was down is not made up, so this polls instead."""
    return consistency_reports_due()


def generate_yearly_reports(year: int | None = None) -> dict[str, int]:
    """Daily (config/cron.py): the past year's reports of the top ReportSettings.yearly_report_customers customers
    that are still missing. On 1 January it makes them all; on any later day a no-op, unless a run was missed or
    killed, whose missing reports it makes then."""
    return yearly_reports_generate_missing(year=year or past_year(), limit=report_settings().yearly_report_customers)


def build_config_health_report() -> int | None:
    """Hourly (config/cron.py): this month's configuration health report when it is missing — built on the 1st just
    after midnight Asia/Shanghai, or at the first run after a scheduler that was down then. Returns its id."""
    report = config_health_report_build_due()
    return report.pk if report else None


def refresh_current_figures() -> dict[str, int]:
    """Every minute (config/cron.py): the status snapshot and the current hour's rows."""
    return current_figures_refresh()


def refresh_settling_hours() -> int:
    """Every 10 minutes (config/cron.py): the hour rows of the days before yesterday, up to two weeks back, whose
    orders may have been allocated to a warehouse since (today's and yesterday's: refresh_daily_figures)."""
    return hour_figures_refresh_settling(skip=2)
