"""RQ jobs of the orders app: thin, idempotent, reload and call a service."""

from orders.services.sweeps import overdue_alerts_raise


def sweep_overdue_orders() -> int:
    return overdue_alerts_raise()
