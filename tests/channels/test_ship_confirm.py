"""Ship confirmation back to the channel (发货回传): written at print or at pickup as the channel's settings say,
carrying the parcel registry's carrier and tracking number and the platform's ship-by deadline, delivered as
signed JSON to the channel's connector; a refusal dead-letters at once and alerts 客服 with the deadline, and an
order near its deadline without a delivered confirmation alerts too."""

from datetime import timedelta

import pytest
from django.utils import timezone

from logistics.selectors import primary_parcel
from orders.models import Alert, Channel, OutboxMessage, ShipConfirmSettings, Source
from orders.services.alerts import alert_acknowledge
from orders.services.outbox import deadline_text
from orders.services.outbox_delivery import outbox_deliver_batch, ship_by_deadline_alerts
from orders.services.transitions import order_transition
from tests.channels.erp_peer import ErpPeer
from tests.factories import ChannelFactory
from tests.warehouse.fulfilment import allocated_order, printed_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

SECRET = "connector-secret"


def ship_by(hours: float) -> str:
    return (timezone.now() + timedelta(hours=hours)).replace(microsecond=0).isoformat()


def confirm_settings(peer: ErpPeer, *, confirm_at: str) -> ShipConfirmSettings:
    channel: Channel = ChannelFactory()
    return ShipConfirmSettings.objects.create(channel=channel, url=peer.url, secret=SECRET, confirm_at=confirm_at)


def test_channel_push_confirm_at_print_sends_carrier_tracking_number_and_deadline(peer):
    # given
    confirm_settings(peer, confirm_at="printed")
    deadline = ship_by(20)
    # when
    order = printed_order(platform_ship_by=deadline)
    # then: one row with the registry's parcel
    parcel = primary_parcel(order=order)
    message = OutboxMessage.objects.get(order=order, kind="ship_confirm")
    assert message.payload["tracking_number"] == parcel.tracking_number != ""
    assert message.payload["carrier"] == parcel.carrier.code == "shunfeng"
    assert message.payload["platform_ship_by"] == timezone.localtime(order.platform_ship_by).isoformat()
    assert message.payload["channel_order_no"] == order.channel_order_no
    assert message.target == f"ship:{order.channel_id}" and message.idempotency_key == f"{order.number}-ship-1"
    # when: delivered, then picked up
    assert outbox_deliver_batch().delivered == 1
    order_transition(order=order, transition="pick_up", actor=None, source=Source.SCAN)
    # then: the connector heard it once, signed; pickup writes no second confirmation
    [seen] = peer.seen
    assert seen.key == message.idempotency_key and seen.headers["webhook-signature"].startswith("v1,")
    assert OutboxMessage.objects.filter(order=order, kind="ship_confirm").count() == 1


def test_channel_push_confirm_at_pickup_waits_for_the_carrier(peer):
    confirm_settings(peer, confirm_at="picked_up")
    order = printed_order()
    assert not OutboxMessage.objects.filter(order=order).exists()
    order = order_transition(order=order, transition="pick_up", actor=None, source=Source.SCAN)
    message = OutboxMessage.objects.get(order=order, kind="ship_confirm")
    assert message.payload["confirmed_at_status"] == "picked_up"


def test_channel_push_switched_off_or_other_channel_writes_nothing(peer):
    settings_row = confirm_settings(peer, confirm_at="printed")
    settings_row.is_active = False
    settings_row.save()
    order = printed_order()
    assert not OutboxMessage.objects.filter(order=order).exists()


def test_outbox_deliver_batch_connector_refusal_dead_letters_and_alerts_kefu_with_the_deadline():
    # given: a connector that refuses (the platform says the order is closed)
    refusing = ErpPeer(lambda seen: (400, '{"message": "订单已关闭 order closed"}'))
    try:
        confirm_settings(refusing, confirm_at="printed")
        order = printed_order(platform_ship_by=ship_by(3))
        # when
        result = outbox_deliver_batch()
    finally:
        refusing.stop()
    # then: dead at the first refusal, with an alert to 客服 naming the platform deadline
    assert result.dead == 1
    message = OutboxMessage.objects.get(order=order)
    assert (message.state, message.attempts) == ("dead", 1)
    alert = Alert.objects.get(kind=Alert.Kind.SHIP_CONFIRM_FAILED, order=order)
    assert alert.owner_group.name == "客服"
    assert deadline_text(order.platform_ship_by) in alert.message and "订单已关闭" in alert.message


def test_ship_by_deadline_alerts_near_deadline_without_confirmation_alert_once_and_resolve_on_delivery(peer):
    # given: confirmation at pickup; one order due in an hour, one due in two days
    confirm_settings(peer, confirm_at="picked_up")
    near = printed_order(platform_ship_by=ship_by(1))
    far = printed_order(platform_ship_by=ship_by(48))
    # when: the sweep runs twice
    assert ship_by_deadline_alerts() == 1
    ship_by_deadline_alerts()
    # then: one open alert for the near order, naming its deadline, owned by 客服
    [alert] = Alert.objects.filter(kind=Alert.Kind.SHIP_CONFIRM_FAILED)
    assert alert.order == near and alert.owner_group.name == "客服"
    assert deadline_text(near.platform_ship_by) in alert.message
    assert not Alert.objects.filter(order=far).exists()
    # when: the carrier picks it up and the confirmation is delivered
    order_transition(order=near, transition="pick_up", actor=None, source=Source.SCAN)
    assert outbox_deliver_batch().delivered == 1
    # then: the alert resolved itself, and the sweep finds nothing to say
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert ship_by_deadline_alerts() == 0


def test_ship_by_deadline_alerts_acknowledged_alert_is_not_raised_again(peer, kefu):
    confirm_settings(peer, confirm_at="picked_up")
    order = printed_order(platform_ship_by=ship_by(1))
    ship_by_deadline_alerts()
    alert = Alert.objects.get(kind=Alert.Kind.SHIP_CONFIRM_FAILED, order=order)
    alert_acknowledge(alert=alert, actor=kefu)
    assert ship_by_deadline_alerts() == 0
    assert Alert.objects.filter(kind=Alert.Kind.SHIP_CONFIRM_FAILED, order=order).count() == 1


def test_ship_by_deadline_alerts_channel_without_ship_confirmation_is_not_watched():
    allocated_order(platform_ship_by=ship_by(1))
    assert ship_by_deadline_alerts() == 0
