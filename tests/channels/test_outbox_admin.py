"""The outbox in the admin: 运营主管 configures ERP endpoints and a channel's ship confirmation with secrets
typed in and never shown back, and puts a dead letter back with 重新推送; 客服 sees the messages, not the
endpoints' secrets and not the button."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from orders.models import Alert, ErpEndpoint, OutboxMessage, ShipConfirmSettings
from orders.services.outbox_delivery import outbox_deliver_batch
from tests.channels.erp_peer import ErpPeer
from tests.channels.outbox_fixtures import endpoint
from tests.factories import ChannelFactory, make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

MESSAGES = reverse("admin:orders_outboxmessage_changelist")
ENDPOINTS = reverse("admin:orders_erpendpoint_changelist")


def endpoint_form(**overrides) -> dict:
    data = {
        "name": "旺店通 ERP",
        "kind": "webhook",
        "url": "https://erp.example.com/hook",
        "app_key": "",
        "secret": "typed-secret-123",
        "qimen_customer_id": "",
        "qimen_warehouse_code": "",
        "qimen_owner_code": "",
        "jst_access_token": "",
        "jst_shop_id": "",
        "subscribed_statuses": ["cancelled", "picked_up"],
        "max_attempts": "5",
        "timeout_seconds": "10",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_erp_endpoint_admin_secret_typed_in_never_shown_and_kept_when_left_empty(client, yunying):
    client.force_login(yunying)
    # when: saved with a secret
    response = client.post(reverse("admin:orders_erpendpoint_add"), endpoint_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    erp = ErpEndpoint.objects.get(name="旺店通 ERP")
    assert erp.secret == "typed-secret-123" and erp.subscribed_statuses == ["cancelled", "picked_up"]
    # then: the change page never carries it
    change = reverse("admin:orders_erpendpoint_change", args=[erp.pk])
    page = client.get(change).content.decode()
    assert ("typed-secret-123" not in page and "never shown" in page) or "不显示" in page
    # when: saved again with the field left empty
    assert client.post(change, endpoint_form(secret="", max_attempts="7")).status_code == 302
    erp.refresh_from_db()
    assert (erp.secret, erp.max_attempts) == ("typed-secret-123", 7)
    # and: history never records the secret
    assert not hasattr(erp.history.first(), "secret")


def test_erp_endpoint_admin_qimen_refuses_a_status_it_has_no_message_for(client, yunying):
    client.force_login(yunying)
    data = endpoint_form(
        kind="qimen",
        app_key="qm",
        qimen_customer_id="C1",
        qimen_warehouse_code="WH",
        qimen_owner_code="OW",
        subscribed_statuses=["paid"],
    )
    response = client.post(reverse("admin:orders_erpendpoint_add"), data)
    assert response.status_code == 200
    assert "subscribed_statuses" in response.context["adminform"].form.errors
    assert not ErpEndpoint.objects.exists()


def test_erp_endpoint_admin_jushuitan_without_token_names_the_field(client, yunying):
    client.force_login(yunying)
    response = client.post(reverse("admin:orders_erpendpoint_add"), endpoint_form(kind="jushuitan", app_key="a"))
    errors = response.context["adminform"].form.errors
    assert {"jst_access_token", "jst_shop_id"} <= set(errors)


def test_outbox_admin_kefu_sees_messages_but_not_endpoints_or_retry(client, kefu, peer):
    endpoint(peer)
    order = make_order()
    client.force_login(kefu)
    page = client.get(MESSAGES)
    assert page.status_code == 200 and order.number.encode() in page.content
    assert b'value="retry"' not in page.content
    assert client.get(ENDPOINTS).status_code == 403
    message = OutboxMessage.objects.get(order=order)
    detail = client.get(reverse("admin:orders_outboxmessage_change", args=[message.pk]))
    assert detail.status_code == 200 and WEBHOOK_SECRET_BYTES not in detail.content
    refused = client.post(MESSAGES, {"action": "retry", ACTION_CHECKBOX_NAME: [message.pk]})
    assert refused.status_code in (200, 302, 403)
    message.refresh_from_db()
    assert message.state == "pending" and message.history.count() == 1


WEBHOOK_SECRET_BYTES = "erp-webhook-secret-密钥".encode()


def test_outbox_admin_retry_as_yunying_puts_a_dead_letter_back_and_delivery_resolves_its_alert(
    client, yunying, fast_retries
):
    # given: a dead letter (the ERP refused twice)
    answers = {"ok": False}
    erp_peer = ErpPeer(lambda seen: (200, "{}") if answers["ok"] else (503, "down"))
    try:
        endpoint(erp_peer, max_attempts=2)
        order = make_order()
        outbox_deliver_batch()
        outbox_deliver_batch()
        message = OutboxMessage.objects.get(order=order)
        assert message.state == "dead"
        alert = Alert.objects.get(kind=Alert.Kind.ERP_PUSH_DEAD, order=order)
        # when: 运营主管 pushes it again from the list
        client.force_login(yunying)
        page = client.get(MESSAGES)
        assert b'value="retry"' in page.content
        response = client.post(MESSAGES, {"action": "retry", ACTION_CHECKBOX_NAME: [message.pk]}, follow=True)
        # then
        assert response.status_code == 200
        message.refresh_from_db()
        assert (message.state, message.attempts) == ("pending", 0)
        assert message.history.first().history_user == yunying
        # when: the ERP is back
        answers["ok"] = True
        assert outbox_deliver_batch().delivered == 1
    finally:
        erp_peer.stop()
    message.refresh_from_db()
    alert.refresh_from_db()
    assert message.state == "delivered" and alert.resolved_at is not None
    assert erp_peer.delivered[order.number] == 1


def test_channel_admin_ship_confirm_inline_secret_never_shown(client, yunying, kefu):
    channel = ChannelFactory()
    ShipConfirmSettings.objects.create(channel=channel, url="https://conn.example.com/ship", secret="ship-secret-9")
    change = reverse("admin:orders_channel_change", args=[channel.pk])
    client.force_login(yunying)
    page = client.get(change).content.decode()
    assert "https://conn.example.com/ship" in page and "ship-secret-9" not in page
    client.force_login(kefu)
    page = client.get(change)
    assert page.status_code == 200
    assert "https://conn.example.com/ship" in page.content.decode() and b"ship-secret-9" not in page.content
    assert "密钥: 已设置（不显示）" in page.content.decode()  # only whether it is set
