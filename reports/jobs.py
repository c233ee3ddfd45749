"""RQ jobs of the reports app: thin, idempotent, call a service."""

from reports.services.daily import daily_figures_refresh_recent


def refresh_daily_figures() -> dict[str, int]:
    """Every 10 minutes (config/cron.py): today's and yesterday's figures, recomputed."""
    return daily_figures_refresh_recent(days=2)
