"""RQ jobs of the reports app: thin, idempotent, call a service."""

from reports.services.daily import (
    current_figures_refresh,
    daily_figures_refresh_recent,
    hour_figures_refresh_settling,
)


def refresh_daily_figures() -> dict[str, int]:
    """Every 10 minutes (config/cron.py): today's and yesterday's figures, recomputed."""
    return daily_figures_refresh_recent(days=2)


def refresh_current_figures() -> dict[str, int]:
    """Every minute (config/cron.py): the status snapshot and the current hour's rows."""
    return current_figures_refresh()


def refresh_settling_hours() -> int:
    """Every 10 minutes (config/cron.py): the hour rows of the days before yesterday, up to two weeks back, whose
    orders may have been allocated to a warehouse since (today's and yesterday's: refresh_daily_figures)."""
    return hour_figures_refresh_settling(skip=2)
