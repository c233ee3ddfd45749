"""RQ jobs of the orders app: thin, idempotent, take ids, reload and call a service."""

from orders.models import InboxDelivery
from orders.services import imports
from orders.services.allocation import allocation_tick, order_allocate_queued, orders_release_stock_holds
from orders.services.calendars import calendar_years_check
from orders.services.channel_inbox import inbox_deliveries_sweep, inbox_delivery_process
from orders.services.channel_pulls import channel_backfill_run, channel_pull_run, channels_pull_due
from orders.services.notify import alert_notifications_plan, allocation_slow_notices
from orders.services.notify_delivery import notifications_deliver_due
from orders.services.outbox_delivery import outbox_deliver_due, ship_by_deadline_alerts
from orders.services.sweeps import alerts_resolve_stale, overdue_alerts_raise
from orders.services.tracking import parcel_follow, parcels_stall_sweep
from orders.services.waybill_cancels import waybill_cancel_follow


def sweep_overdue_orders() -> int:
    alerts_resolve_stale()  # orders that moved on first, so their alerts do not linger
    return overdue_alerts_raise().raised


def allocate_order(order_id: int) -> str:
    return order_allocate_queued(order_id=order_id)


def tick_allocation_queue() -> dict[str, int]:
    return allocation_tick()


def release_stock_holds(sku_ids: list[int] | None = None) -> dict[str, int]:
    """Enqueued by name (orders.jobs.release_stock_holds) by warehouse.services when stock comes in."""
    return orders_release_stock_holds(sku_ids=sku_ids)


def follow_parcel(shipment_id: int, event_ids: list[int]) -> str:
    """Enqueued by name (orders.jobs.follow_parcel) by logistics.services after a poll stored new events."""
    return parcel_follow(shipment_id=shipment_id, event_ids=event_ids)


def sweep_stalled_parcels() -> int:
    return parcels_stall_sweep()


def follow_waybill_cancel(shipment_id: int) -> str:
    """Enqueued by name (orders.jobs.follow_waybill_cancel) by logistics.services when a waybill's cancel failed,
    or succeeded after a failure."""
    return waybill_cancel_follow(shipment_id=shipment_id)


def deliver_outbox() -> dict[str, int]:
    """Enqueued by name (orders.jobs.deliver_outbox) on the commit of each transaction that wrote outbox rows, and
    after a batch with retries, for when the first is due. Delivers whatever is due, not one row: idempotent."""
    return outbox_deliver_due()


def sweep_outbox() -> dict[str, int]:
    """Every minute: due rows a lost enqueue, a killed worker or a Redis restart left behind, then the orders near
    their platform ship-by deadline without a delivered ship confirmation."""
    totals = outbox_deliver_due()
    totals["ship_by_alerts"] = ship_by_deadline_alerts()
    return totals


def process_inbox_delivery(delivery_id: int) -> dict:
    """Enqueued by name (orders.jobs.process_inbox_delivery) by orders.services.channel_inbox on store."""
    delivery = InboxDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        return {"missing": delivery_id}
    summary = inbox_delivery_process(delivery=delivery)
    return {"orders": summary.orders, "rejected": summary.rejected, "processed": summary.processed}


def sweep_inbox_deliveries() -> int:
    return inbox_deliveries_sweep()


def pull_due_channels() -> int:
    """Every minute (config/cron.py): one pull_channel job per channel that is due."""
    return channels_pull_due()


def pull_channel(channel_id: int) -> str:
    """Enqueued by name (orders.jobs.pull_channel) by orders.services.channel_pulls. A failure is recorded on the
    channel's pull (backoff, alert), not raised: the cron asks again when its next attempt is due."""
    return channel_pull_run(channel_id=channel_id)


def run_backfill(backfill_id: int) -> str:
    """Enqueued by name (orders.jobs.run_backfill) when a manager starts a backfill; resumed by the cron."""
    return channel_backfill_run(backfill_id=backfill_id)


def deliver_notifications(channel_id: int | None = None) -> dict[str, int]:
    """Enqueued by name (orders.jobs.deliver_notifications) when notification rows were planned, or when a
    channel's retries or rate allow the next send. Sends whatever is due (on the channel named): idempotent."""
    return notifications_deliver_due(channel_id=channel_id)


def sweep_notifications() -> dict[str, int]:
    """Every minute: plan the new alerts' deliveries, the 正在智能分仓中 notices, then send what is due."""
    planned = alert_notifications_plan()
    notices = allocation_slow_notices()
    totals = notifications_deliver_due()
    return {"planned": planned, "allocation_notices": notices, **totals}


def check_calendar_years() -> list[int]:
    """Daily: alert once per year whose public holidays chinese_calendar does not know yet."""
    return calendar_years_check()


def import_dry_run(job_id: int) -> dict:
    """Enqueued by name (orders.jobs.import_dry_run) by orders.services.imports.import_dry_run_start."""
    return imports.import_dry_run(job_id=job_id)


def import_commit(job_id: int) -> dict:
    """Enqueued by name on the "imports" queue by orders.services.imports.import_commit_start; resumes."""
    return imports.import_commit(job_id=job_id)
