"""RQ jobs of the orders app: thin, idempotent, take ids, reload and call a service."""

from orders.services.allocation import allocation_tick, order_allocate_queued
from orders.services.sweeps import overdue_alerts_raise
from orders.services.tracking import parcel_poll, parcel_subscribe, parcels_poll_due, parcels_stall_sweep


def sweep_overdue_orders() -> int:
    return overdue_alerts_raise()


def allocate_order(order_id: int) -> str:
    return order_allocate_queued(order_id=order_id)


def tick_allocation_queue() -> dict[str, int]:
    return allocation_tick()


def poll_parcel(shipment_id: int) -> str:
    return parcel_poll(shipment_id=shipment_id)


def poll_due_parcels() -> int:
    return parcels_poll_due()


def sweep_stalled_parcels() -> int:
    return parcels_stall_sweep()


def subscribe_parcel(shipment_id: int) -> str:
    return parcel_subscribe(shipment_id=shipment_id)
