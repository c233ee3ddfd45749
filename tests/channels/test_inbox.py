from decimal import Decimal

import pytest

from orders.models import InboxDelivery, IntakeRecord, Order, Via
from orders.services.channel_inbox import inbox_delivery_process, inbox_delivery_store
from tests.channels.helpers import batch, channel_order, webhook_channel
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


def test_store_then_process_creates_orders_and_one_record_each():
    SkuFactory(code="MASK-001")
    channel = webhook_channel()
    body = batch(channel_order("WX1"), channel_order("WX2", paid_amount="59.00", paid_at="2026-12-01 10:00:00"))
    delivery, created = inbox_delivery_store(channel=channel, via=Via.WEBHOOK, delivery_id="d1", body=body, headers={})
    assert created
    again, created_again = inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id="d1", body=body, headers={}
    )
    assert (again.pk, created_again) == (delivery.pk, False)
    assert InboxDelivery.objects.count() == 1

    summary = inbox_delivery_process(delivery=delivery)
    assert (summary.orders, summary.rejected) == (2, 0)
    orders = {order.channel_order_no: order for order in Order.objects.filter(channel=channel)}
    assert set(orders) == {"WX1", "WX2"}
    assert orders["WX2"].paid_amount == Decimal("59.00")
    records = IntakeRecord.objects.filter(delivery=delivery).order_by("index")
    assert [(r.channel_order_no, r.outcome, r.order_id) for r in records] == [
        ("WX1", "created", orders["WX1"].pk),
        ("WX2", "created", orders["WX2"].pk),
    ]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.taken_count, delivery.rejected_count) == ("processed", 2, 0)

    rerun = inbox_delivery_process(delivery=delivery)
    assert rerun.already and rerun.orders == 2
    assert IntakeRecord.objects.count() == 2 and Order.objects.count() == 2


def test_the_sweep_enqueues_old_unprocessed_deliveries_and_sets_aside_stuck_ones(
    channels_queue, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from orders.models import Alert
    from orders.services.channel_inbox import MAX_ATTEMPTS, inbox_deliveries_sweep, inbox_delivery_replay

    SkuFactory(code="MASK-001")
    channel = webhook_channel()
    old, _ = inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id="old", body=batch(channel_order("SW-1")), headers={}
    )
    inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id="new", body=batch(channel_order("SW-2")), headers={}
    )
    stuck, _ = inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id="stuck", body=batch(channel_order("SW-3")), headers={}
    )
    InboxDelivery.objects.filter(pk__in=[old.pk, stuck.pk]).update(received_at=timezone.now() - timedelta(minutes=2))
    InboxDelivery.objects.filter(pk=stuck.pk).update(attempts=MAX_ATTEMPTS)
    channels_queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        assert inbox_deliveries_sweep() == 1  # only the old one: the new one's job is still on its way
    [job] = channels_queue.get_jobs()
    assert job.kwargs == {"delivery_id": old.pk}
    stuck.refresh_from_db()
    assert stuck.state == "failed" and Alert.objects.filter(kind="other", message__contains="stuck").exists()
    assert inbox_deliveries_sweep() == 1 and Alert.objects.filter(message__contains="stuck").count() == 1
    # a replay from the log runs a set-aside delivery whole
    summary = inbox_delivery_replay(delivery=stuck)
    assert summary.orders == 1 and Order.objects.filter(channel_order_no="SW-3").exists()
    stuck.refresh_from_db()
    assert stuck.state == "processed"
