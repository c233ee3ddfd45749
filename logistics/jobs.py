"""RQ jobs of the logistics app: thin, idempotent, take ids, reload and call a service. Enqueued by name
(logistics.services.SUBSCRIBE_JOB / POLL_JOB / WAYBILL_CANCEL_JOB) and by the scheduler (config/cron.py)."""

from logistics.services import (
    shipment_poll,
    shipment_subscribe,
    shipment_waybill_cancel,
    shipments_poll_due,
    waybill_cancels_sweep,
)


def subscribe_parcel(shipment_id: int) -> str:
    return shipment_subscribe(shipment_id=shipment_id)


def poll_parcel(shipment_id: int) -> str:
    return shipment_poll(shipment_id=shipment_id)


def poll_due_parcels() -> int:
    return shipments_poll_due()


def waybill_cancel(shipment_id: int, reason: str = "") -> str:
    """Cancel an unused waybill at its carrier. A carrier that is unavailable raises, so RQ retries it with
    backoff (config.queue.RETRY_INTERVALS); sweep_waybill_cancels catches what the retries never finish."""
    return shipment_waybill_cancel(shipment_id=shipment_id, reason=reason)


def sweep_waybill_cancels() -> dict[str, int]:
    return waybill_cancels_sweep()
