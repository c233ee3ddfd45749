"""RQ jobs of the reports app: thin, idempotent, call a service."""

from reports.services.daily import daily_figures_refresh_recent


def refresh_daily_figures() -> dict[str, int]:
    """Every 10 minutes (config/cron.py): today's and yesterday's figures, recomputed."""
    return daily_figures_refresh_recent(days=2)


# --- 跨系统订单一致性日报 -------------------------------------------------------------------------------------
from reports.services.consistency import consistency_reports_due  # noqa: E402


def build_consistency_report() -> dict:
    """Every 10 minutes (config/cron.py): yesterday's consistency report once it is 10:00 in Asia/Shanghai and it
    has none yet, and the emails of recent reports that failed. RQ's cron strings count in UTC and a cron run
    missed while the scheduler was down is not made up, so this polls instead."""
    return consistency_reports_due()
