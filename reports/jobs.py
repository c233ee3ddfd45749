"""RQ jobs of the reports app: thin, idempotent, call a service."""

from reports.services.confhealth import config_health_report_build_due
from reports.services.daily import daily_figures_refresh_recent


def refresh_daily_figures() -> dict[str, int]:
    """Every 10 minutes (config/cron.py): today's and yesterday's figures, recomputed."""
    return daily_figures_refresh_recent(days=2)


def build_config_health_report() -> int | None:
    """Hourly (config/cron.py): this month's configuration health report when it is missing — built on the 1st just
    after midnight Asia/Shanghai, or at the first run after a scheduler that was down then. Returns its id."""
    report = config_health_report_build_due()
    return report.pk if report else None
