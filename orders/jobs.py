"""RQ jobs of the orders app: thin, idempotent, take ids, reload and call a service."""

from orders.services.allocation import allocation_tick, order_allocate_queued
from orders.services.sweeps import overdue_alerts_raise


def sweep_overdue_orders() -> int:
    return overdue_alerts_raise()


def allocate_order(order_id: int) -> str:
    return order_allocate_queued(order_id=order_id)


def tick_allocation_queue() -> dict[str, int]:
    return allocation_tick()
