"""RQ jobs of the reports app: thin, idempotent, call a service."""

from reports.services.daily import daily_figures_refresh_recent
from reports.services.settings import report_settings
from reports.services.yearly import past_year, yearly_reports_generate_missing


def refresh_daily_figures() -> dict[str, int]:
    """Every 10 minutes (config/cron.py): today's and yesterday's figures, recomputed."""
    return daily_figures_refresh_recent(days=2)


def generate_yearly_reports(year: int | None = None) -> dict[str, int]:
    """Daily (config/cron.py): the past year's reports of the top ReportSettings.yearly_report_customers customers
    that are still missing. On 1 January it makes them all; on any later day a no-op, unless a run was missed or
    killed, whose missing reports it makes then."""
    return yearly_reports_generate_missing(year=year or past_year(), limit=report_settings().yearly_report_customers)
