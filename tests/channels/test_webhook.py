"""The webhook door: Standard Webhooks signature over the raw bytes, the timestamp window, one stored row per
webhook-id, refusals answered as {message, code, extra} and counted, never stored as an order source."""

import json
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Channel, InboxDelivery, IntakeRecord, Order, WebhookRefusal
from tests.channels.helpers import (
    OLD_SECRET,
    SECRET,
    batch,
    channel_order,
    django_headers,
    drain,
    signed_headers,
    webhook_channel,
)
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


def post(client, body: bytes, headers: dict, code: str = "shop"):
    url = reverse("api-channel-webhook", kwargs={"code": code})
    return client.post(url, data=body, content_type="application/json", **django_headers(headers))


def test_signed_delivery_is_stored_committed_and_processed_on_commit(
    client, django_capture_on_commit_callbacks, channels_queue
):
    SkuFactory(code="MASK-001")
    webhook_channel()
    body = batch(channel_order("WX100"), channel_order("WX101"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body, signed_headers(body, msg_id="msg_a"))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["duplicate"] is False and answer["webhook_id"] == "msg_a"
    delivery = InboxDelivery.objects.get(pk=answer["delivery"])
    assert delivery.body.encode() == body
    assert "webhook-signature" not in {name.lower() for name in delivery.headers}
    assert delivery.state == "received"
    drain(channels_queue)  # the job enqueued on commit, run by a real RQ worker
    delivery.refresh_from_db()
    assert delivery.state == "processed"
    assert set(Order.objects.values_list("channel_order_no", flat=True)) == {"WX100", "WX101"}


def test_the_view_does_one_insert_and_no_other_write(client):
    webhook_channel()
    body = batch(channel_order("WX1"))
    headers = signed_headers(body)
    with CaptureQueriesContext(connection) as queries:
        response = post(client, body, headers)
    assert response.status_code == 200
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 1 and "inboxdelivery" in writes[0].lower()


def test_a_retry_of_the_same_webhook_id_stores_nothing_new(client):
    webhook_channel()
    body = batch(channel_order("WX2"))
    headers = signed_headers(body, msg_id="msg_retry")
    first = post(client, body, headers)
    second = post(client, body, signed_headers(body, msg_id="msg_retry"))
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["delivery"] == first.json()["delivery"]
    assert InboxDelivery.objects.count() == 1


def test_rotating_secrets_previous_and_several_signatures_are_accepted(client):
    channel = webhook_channel(webhook_secret=SECRET, webhook_secret_previous=OLD_SECRET)
    body = batch(channel_order("WX3"))
    assert post(client, body, signed_headers(body, secrets=(OLD_SECRET,))).status_code == 200
    assert (
        post(client, body, signed_headers(body, secrets=("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFB", SECRET))).status_code
        == 200
    )
    channel.webhook_secret_previous = ""
    channel.save()
    refused = post(client, body, signed_headers(body, secrets=(OLD_SECRET,)))
    assert refused.status_code == 401 and refused.json()["code"] == "bad_signature"


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        ("body", 401, "bad_signature"),
        ("stale", 401, "stale_timestamp"),
        ("future", 401, "future_timestamp"),
        ("no_signature", 400, "missing_headers"),
        ("no_id", 400, "missing_headers"),
    ],
)
def test_refusals_name_the_problem_store_nothing_and_are_counted(client, tamper, status, code):
    webhook_channel()
    body = batch(channel_order("WX4"))
    now = int(time.time())
    headers = signed_headers(
        body, timestamp={"stale": now - 301, "future": now + 301}.get(tamper, now), msg_id="msg_bad"
    )
    if tamper == "body":
        body = body.replace(b"WX4", b"WX5")
    if tamper == "no_signature":
        del headers["webhook-signature"]
    if tamper == "no_id":
        del headers["webhook-id"]
    response = post(client, body, headers)
    assert response.status_code == status
    answer = response.json()
    assert answer["code"] == code and set(answer) == {"message", "code", "extra"}
    assert "/" in answer["message"] and answer["message"][0] > "\u2e80"  # Chinese first, then English
    assert InboxDelivery.objects.count() == 0
    refusal = WebhookRefusal.objects.get()
    assert (refusal.code, refusal.channel_code) == (code, "shop")
    assert not hasattr(refusal, "body")


def test_malformed_json_is_refused_after_the_signature(client):
    webhook_channel()
    body = b'{"orders": [ {"channel_order_no": "WX6",'
    response = post(client, body, signed_headers(body))
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"
    assert InboxDelivery.objects.count() == 0 and WebhookRefusal.objects.get().code == "malformed_json"


def test_unknown_inactive_and_webhookless_channels_are_refused(client):
    body = batch(channel_order("WX7"))
    assert post(client, body, signed_headers(body), code="nope").json()["code"] == "unknown_channel"
    webhook_channel(code="off", is_active=False)
    assert post(client, body, signed_headers(body), code="off").status_code == 404
    webhook_channel(code="pullonly", arrival=Channel.Arrival.PULL)
    response = post(client, body, signed_headers(body), code="pullonly")
    assert response.status_code == 403 and response.json()["code"] == "webhook_disabled"
    assert WebhookRefusal.objects.count() == 3 and InboxDelivery.objects.count() == 0


@pytest.mark.parametrize("size", [2 * 1024 * 1024 + 10, 3 * 1024 * 1024])  # over ours; over Django's own limit
def test_a_body_too_large_is_refused(client, size):
    webhook_channel()
    body = json.dumps({"orders": [], "pad": "x" * size}).encode()
    response = post(client, body, signed_headers(body))
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    assert InboxDelivery.objects.count() == 0
    assert WebhookRefusal.objects.get().body_size >= size


def test_get_is_not_allowed(client):
    webhook_channel()
    assert client.get(reverse("api-channel-webhook", kwargs={"code": "shop"})).status_code == 405


def test_a_batch_keeps_its_good_orders_and_rejects_the_bad_ones_with_reasons(
    client, django_capture_on_commit_callbacks, channels_queue
):
    SkuFactory(code="MASK-001")
    webhook_channel()
    missing = channel_order("WX21")
    del missing["shipping_address"]["province"]
    body = batch(
        channel_order("WX20"),
        missing,
        channel_order("WX22", sku="NOPE-9"),
        channel_order("WX23", lines=[{"sku": "MASK-001", "quantity": "two", "unit_price": "1"}]),
        channel_order("WX24"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, signed_headers(body)).status_code == 200
    drain(channels_queue)
    records = {r.channel_order_no: r for r in IntakeRecord.objects.all()}
    assert {no: r.outcome for no, r in records.items()} == {
        "WX20": "created",
        "WX21": "rejected",
        "WX22": "rejected",
        "WX23": "rejected",
        "WX24": "created",
    }
    assert "province" in records["WX21"].reason and records["WX21"].field == "province"
    assert "NOPE-9" in records["WX22"].reason and records["WX22"].code == "unknown_sku"
    assert "two" in records["WX23"].reason and records["WX23"].field == "line_quantity"
    assert set(Order.objects.values_list("channel_order_no", flat=True)) == {"WX20", "WX24"}
    delivery = InboxDelivery.objects.get()
    assert (delivery.orders_count, delivery.taken_count, delivery.rejected_count) == (5, 2, 3)


def test_the_webhook_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/channels/{code}/webhook/"]["post"]
    assert {p["name"] for p in operation["parameters"]} >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert {"200", "401"} <= set(operation["responses"])


def test_the_sender_reads_the_outcome_later_and_on_a_resend(client, channels_queue, django_capture_on_commit_callbacks):
    SkuFactory(code="MASK-001")
    webhook_channel()
    body = batch(channel_order("OUT-1"), channel_order("OUT-2", sku="NOPE-3"))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, body, signed_headers(body, msg_id="msg_out"))
    url = reverse("api-channel-webhook-outcome", kwargs={"code": "shop", "webhook_id": "msg_out"})
    pending = client.get(url, **django_headers(signed_headers(b"", msg_id="msg_out")))
    assert pending.status_code == 200 and pending.json()["state"] == "received"
    drain(channels_queue)
    done = client.get(url, **django_headers(signed_headers(b"", msg_id="msg_out"))).json()
    assert (done["state"], done["orders"], done["taken"]) == ("processed", 2, 1)
    [rejected] = done["rejected"]
    assert rejected["channel_order_no"] == "OUT-2" and "NOPE-3" in rejected["reason"]
    resend = post(client, body, signed_headers(body, msg_id="msg_out")).json()
    assert resend["duplicate"] is True and resend["rejected"] == done["rejected"]
    # signed for another id, unsigned, or never stored: refused
    other = client.get(url, **django_headers(signed_headers(b"", msg_id="msg_other")))
    assert other.status_code == 400 and other.json()["code"] == "webhook_id_mismatch"
    assert client.get(url).status_code == 400
    unknown = reverse("api-channel-webhook-outcome", kwargs={"code": "shop", "webhook_id": "never"})
    missing = client.get(unknown, **django_headers(signed_headers(b"", msg_id="never")))
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_delivery"


def test_signing_matches_the_standard_webhooks_published_example():
    """The example of the Standard Webhooks / Svix documentation, computed by them, not by our code."""
    from orders.channels import signing

    secret, msg_id, stamp = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing.sign(secret=secret, msg_id=msg_id, timestamp=stamp, body=body) == expected
    signing.verify(
        secrets=[secret], msg_id=msg_id, timestamp=stamp, signature=f"v1,xx {expected}", body=body, now=1614265330
    )
    with pytest.raises(signing.SignatureError) as bad:
        signing.verify(
            secrets=[secret], msg_id=msg_id, timestamp=stamp, signature=expected, body=body + b" ", now=1614265330
        )
    assert bad.value.code == "bad_signature"
    with pytest.raises(signing.SignatureError) as other_version:
        signing.verify(
            secrets=[secret], msg_id=msg_id, timestamp=stamp, signature="v2," + expected[3:], body=body, now=1614265330
        )
    assert other_version.value.code == "bad_signature"
