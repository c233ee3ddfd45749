"""RQ jobs of the logistics app: thin, idempotent, take ids, reload and call a service. Enqueued by name
(logistics.services.SUBSCRIBE_JOB / POLL_JOB) and by the scheduler (config/cron.py)."""

from logistics.services import shipment_poll, shipment_subscribe, shipments_poll_due


def subscribe_parcel(shipment_id: int) -> str:
    return shipment_subscribe(shipment_id=shipment_id)


def poll_parcel(shipment_id: int) -> str:
    return shipment_poll(shipment_id=shipment_id)


def poll_due_parcels() -> int:
    return shipments_poll_due()
