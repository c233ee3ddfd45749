"""The outbox: rows written in the transaction of the change (none when nothing subscribes), delivered to real
local ERP servers with retries, dead letters with an alert, per-order ordering, and 重新推送 in the admin."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.models import Alert, OutboxMessage, Source, Status
from orders.services.outbox_delivery import backoff, outbox_deliver_batch
from orders.services.transitions import order_transition
from tests.channels.erp_peer import QIMEN_FAILURE, QIMEN_SUCCESS, ErpPeer, slow
from tests.channels.outbox_fixtures import WEBHOOK_SECRET, endpoint
from tests.factories import make_order
from tests.orders.test_lifecycle import _paid_post

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def test_order_create_with_an_endpoint_writes_the_accepted_row_with_the_order(peer, stocked):
    # given
    erp = endpoint(peer)
    # when
    order = make_order(paid_at="2026-11-30T10:00:00+08:00", payment_reference="TRADE-1")
    # then: one row, the order number as key, the order as it stands after its creation (paid)
    message = OutboxMessage.objects.get(order=order)
    assert (message.endpoint, message.kind, message.sequence) == (erp, "order_accepted", 1)
    assert message.idempotency_key == order.number and message.state == "pending"
    assert message.payload["order"]["status"] == Status.PAID
    assert message.payload["order"]["lines"][0] == {
        "sku": "MASK-001",
        "name": "补水面膜",
        "quantity": 2,
        "unit_price": "99.00",
        "is_gift": False,
    }
    assert message.history.count() == 1


def test_order_create_without_an_endpoint_writes_no_row_and_reads_no_endpoint(stocked):
    make_order()  # the process's list of endpoints is read once (empty)
    with CaptureQueriesContext(connection) as queries:
        order = make_order()
    assert not OutboxMessage.objects.filter(order=order).exists()
    touched = [q["sql"] for q in queries.captured_queries if "outbox" in q["sql"] or "erpendpoint" in q["sql"]]
    assert touched == []


def test_order_transition_subscribed_status_row_commits_with_the_change_and_goes_with_a_rollback(peer, stocked):
    # given: an endpoint that also wants cancellations
    endpoint(peer, subscribed_statuses=[Status.CANCELLED])
    order = make_order()
    # when: the cancel is rolled back
    with pytest.raises(_Rollback), transaction.atomic():
        order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="买家取消")
        assert OutboxMessage.objects.filter(order=order, kind="status_changed").count() == 1
        raise _Rollback
    # then: neither the change nor its row is there
    order.refresh_from_db()
    assert order.status == Status.PLACED
    assert not OutboxMessage.objects.filter(order=order, kind="status_changed").exists()
    # when: it is kept
    order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="买家取消")
    # then: the row is the second of the order, keyed by number, status and sequence
    change = OutboxMessage.objects.get(order=order, kind="status_changed")
    assert (change.sequence, change.idempotency_key) == (2, f"{order.number}-cancelled-2")
    assert change.payload["change"]["reason"] == "买家取消"
    assert change.payload["change"]["to_status"] == Status.CANCELLED


def test_order_transition_not_subscribed_status_writes_no_row(peer, stocked):
    endpoint(peer, subscribed_statuses=[Status.CANCELLED])
    order = make_order()
    order_transition(order=order, transition="pay", actor=None, source=Source.API)
    assert list(OutboxMessage.objects.filter(order=order).values_list("kind", flat=True)) == ["order_accepted"]


def test_outbox_deliver_batch_accepting_erp_gets_a_signed_webhook_once(peer, stocked):
    # given
    endpoint(peer)
    order = make_order()
    # when
    result = outbox_deliver_batch()
    # then
    assert (result.claimed, result.delivered) == (1, 1)
    message = OutboxMessage.objects.get(order=order)
    assert message.state == "delivered" and message.attempts == 1 and message.delivered_at is not None
    assert message.last_answer == '{"ok": true}'
    [seen] = peer.seen
    assert seen.key == order.number
    signed = f"{seen.key}.{seen.headers['webhook-timestamp']}.".encode() + seen.body
    digest = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).digest()).decode()
    assert seen.headers["webhook-signature"] == f"v1,{digest}"
    assert json.loads(seen.body)["data"]["order"]["number"] == order.number
    # and: nothing is due any more
    assert outbox_deliver_batch().claimed == 0
    assert peer.delivered[order.number] == 1


def test_outbox_deliver_batch_erp_answering_500_retries_then_dead_letters_with_an_alert(fast_retries, stocked):
    # given: an ERP that always fails, allowed 3 attempts
    failing = ErpPeer(lambda seen: (500, "internal error"))
    try:
        erp = endpoint(failing, max_attempts=3)
        order = make_order()
        # when: three batches
        outcomes = [outbox_deliver_batch() for _ in range(3)]
    finally:
        failing.stop()
    # then
    assert [(r.failed, r.dead) for r in outcomes] == [(1, 0), (1, 0), (0, 1)]
    message = OutboxMessage.objects.get(order=order)
    assert (message.state, message.attempts) == ("dead", 3)
    assert "HTTP 500" in message.last_error
    alert = Alert.objects.get(kind=Alert.Kind.ERP_PUSH_DEAD, order=order)
    assert order.number in alert.message and erp.name in alert.message
    assert alert.owner_group.name == "运营主管" and alert.severity == "critical"
    assert len(failing.seen) == 3
    assert outbox_deliver_batch().claimed == 0  # dead rows are not claimed


def test_outbox_deliver_batch_timing_out_erp_fails_that_target_only(stocked):
    # given: one ERP that answers after 3 s (timeout 1 s) and one that accepts
    sleepy, quick = ErpPeer(slow(3)), ErpPeer()
    try:
        endpoint(sleepy, timeout_seconds=1)
        endpoint(quick)
        orders = [make_order(), make_order()]
        # when
        result = outbox_deliver_batch()
    finally:
        sleepy.stop()
        quick.stop()
    # then: the quick one got both orders; the sleepy one was tried once (its second row waits for the next batch)
    assert sorted(quick.delivered) == sorted(o.number for o in orders)
    assert (result.delivered, result.failed, result.waiting) == (2, 1, 1)
    failed = OutboxMessage.objects.get(state="pending", attempts=1)
    assert "timed out" in failed.last_error
    assert failed.next_attempt_at > timezone.now()


def test_outbox_deliver_batch_qimen_failure_flag_is_retried_and_success_delivers(fast_retries, stocked):
    answers = iter([(200, QIMEN_FAILURE), (200, QIMEN_SUCCESS)])
    qimen = ErpPeer(lambda seen: next(answers))
    try:
        endpoint(qimen, kind="qimen")
        order = make_order()
        first = outbox_deliver_batch()
        message = OutboxMessage.objects.get(order=order)
        assert (first.failed, message.state) == (1, "pending")
        assert "W001" in message.last_error and "仓库编码不存在" in message.last_error
        second = outbox_deliver_batch()
    finally:
        qimen.stop()
    message.refresh_from_db()
    assert (second.delivered, message.state, message.attempts) == (1, "delivered", 2)
    assert [s.query["method"] for s in qimen.seen] == ["taobao.qimen.deliveryorder.create"] * 2
    assert f"<deliveryOrderCode>{order.number}</deliveryOrderCode>" in qimen.seen[0].body.decode()


def test_outbox_deliver_batch_jushuitan_199_backs_off_longer(settings, stocked):
    settings.OUTBOX_BACKOFF_SECONDS, settings.OUTBOX_THROTTLED_SECONDS = 10, 600
    busy = ErpPeer(lambda seen: (200, '{"code": 199, "msg": "调用太频繁"}'))
    try:
        endpoint(busy, kind="jushuitan")
        order = make_order()
        before = timezone.now()
        result = outbox_deliver_batch()
    finally:
        busy.stop()
    message = OutboxMessage.objects.get(order=order)
    assert (result.failed, message.state) == (1, "pending")
    assert "199" in message.last_error
    # an ordinary failure waits 5–15 s after the first attempt; "too frequent" at least half of 600 s
    assert message.next_attempt_at >= before + timedelta(seconds=300)
    assert busy.seen[0].path == "/push" and "sign" in busy.seen[0].body.decode()


def test_backoff_doubles_with_jitter_and_is_capped(settings):
    settings.OUTBOX_BACKOFF_SECONDS, settings.OUTBOX_BACKOFF_MAX_SECONDS = 10, 100
    for attempts, base in ((1, 10), (2, 20), (3, 40), (8, 100)):
        waits = {backoff(attempts=attempts).total_seconds() for _ in range(20)}
        assert all(base * 0.5 <= w <= base * 1.5 for w in waits)
        assert len(waits) > 1  # jittered


def test_outbox_deliver_batch_failing_first_message_holds_its_orders_later_ones_not_others(fast_retries, stocked):
    # given: an ERP that refuses order A's accepted message for now, and wants cancellations too
    held = set()
    erp_peer = ErpPeer(lambda seen: (500, "busy") if seen.key in held else (200, "{}"))
    try:
        endpoint(erp_peer, subscribed_statuses=[Status.CANCELLED], max_attempts=10)
        a, b = make_order(), make_order()
        held.add(a.number)
        for order in (a, b):
            order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="取消")
        # when: two batches while A's first message fails
        outbox_deliver_batch()
        outbox_deliver_batch()
        # then: B's two messages arrived in order; A's second was never sent
        keys = [s.key for s in erp_peer.seen]
        assert [k for k in keys if k.startswith(b.number)] == [b.number, f"{b.number}-cancelled-2"]
        assert f"{a.number}-cancelled-2" not in keys
        assert keys.count(a.number) == 2
        # when: A's ERP side recovers
        held.clear()
        outbox_deliver_batch()
        outbox_deliver_batch()
    finally:
        erp_peer.stop()
    # then: A's messages arrived, the first before the second
    keys = [s.key for s in erp_peer.seen if s.key.startswith(a.number)]
    assert keys[-2:] == [a.number, f"{a.number}-cancelled-2"]
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {"delivered"}


def test_order_create_paid_post_with_an_endpoint_costs_three_statements_more(api, peer, stocked):
    # given: the statements of a paid POST without any ERP endpoint (the process's endpoint list read once)
    _order, without = _paid_post(api)
    assert not OutboxMessage.objects.exists()
    # when: an endpoint is active (and, say, subscribes to paid: the creation's own moves are in the snapshot)
    endpoint(peer, subscribed_statuses=[Status.PAID])
    _paid_post(api)  # this process reads the endpoint list again once
    order, with_endpoint = _paid_post(api)
    # then: the order's lines for the snapshot, the row and its history row: three statements, one row
    print(f"\n{len(without)} statements without an endpoint, {len(with_endpoint)} with one")
    assert len(with_endpoint) - len(without) <= 3
    assert list(OutboxMessage.objects.filter(order=order).values_list("kind", flat=True)) == ["order_accepted"]
