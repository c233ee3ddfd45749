"""A hand-built day for the consistency report with known answers: three channels (one with nothing), orders,
intake lines, refused webhooks, deliveries and pull alerts either side of the Asia/Shanghai midnights, and ERP
pushes waiting, dead, delivered and too late for the day."""

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orders.models import (
    Alert,
    ErpEndpoint,
    InboxDelivery,
    IntakeRecord,
    Order,
    OrderEvent,
    OutboxMessage,
    Via,
    WebhookRefusal,
)
from tests.factories import ChannelFactory, make_order

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 20)
BEFORE, AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)
_seq = itertools.count(1)


def at(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SH)


# Built at 10:00 the next morning.
BUILT_AT = at(AFTER, 10)

EXPECTED = {
    # channel code: (deliveries, received, created, duplicates, rejected, timeouts, net)
    "jd": (1, 1, 2, 1, 0, 2, 1),
    "pdd": (0, 0, 0, 0, 0, 0, 0),
    "tmall": (2, 4, 2, 0, 2, 1, 2),
}


def placed(channel: str, when: datetime) -> Order:
    phone = f"137{next(_seq):08d}"
    customer = {"name": "王五", "phone": phone, "member_level": "normal"}
    order = make_order(channel=channel, ordered_at=when.isoformat(), paid_amount="10.00", customer=customer)
    Order.objects.filter(pk=order.pk).update(created_at=when)
    OrderEvent.objects.filter(order=order).update(created_at=when)
    return Order.objects.get(pk=order.pk)


def delivery(channel, when: datetime, state: str) -> InboxDelivery:
    return InboxDelivery.objects.create(
        channel=channel, delivery_id=f"d-{next(_seq)}", body="{}", state=state, received_at=when
    )


def record(channel, when: datetime, outcome: str, run: int = 0) -> IntakeRecord:
    return IntakeRecord.objects.create(
        channel=channel, via=Via.WEBHOOK, outcome=outcome, run=run, received_at=when, processed_at=when
    )


def pull_alert(channel, created: datetime, resolved: datetime | None) -> Alert:
    alert = Alert.objects.create(
        kind=Alert.Kind.CHANNEL_PULL_FAILING, message="拉单失败", dedupe_key=f"channel_pull_failing:{channel.pk}"
    )
    Alert.objects.filter(pk=alert.pk).update(created_at=created, resolved_at=resolved)
    return alert


def push(order: Order, endpoint: ErpEndpoint, created: datetime, state: str, sequence: int, **fields):
    message = OutboxMessage.objects.create(
        target=f"erp:{endpoint.pk}",
        endpoint=endpoint,
        kind=OutboxMessage.Kind.ORDER_ACCEPTED if sequence == 1 else OutboxMessage.Kind.STATUS_CHANGED,
        order=order,
        sequence=sequence,
        idempotency_key=f"{order.number}:{sequence}",
        payload={},
        state=state,
        next_attempt_at=created,
        **fields,
    )
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=created)
    return message


@pytest.fixture(name="consistency_day")
def consistency_day_fixture(db):
    tmall = ChannelFactory()
    jd = ChannelFactory(code="jd", name="京东自营", kind="other")
    ChannelFactory(code="pdd", name="拼多多店", kind="other")  # nothing at all: a row of zeros
    # Orders: tmall two in the day (09:00 and 23:59:59), one at the next midnight (the next day's); jd two, one of
    # them held as a suspected duplicate.
    first = placed("tmall", at(DAY, 9))
    placed("tmall", at(DAY, 23, 59, 59))
    late = placed("tmall", at(AFTER, 0, 0, 0))
    original = placed("jd", at(DAY, 15))
    duplicate = placed("jd", at(DAY, 16))
    Order.objects.filter(pk=duplicate.pk).update(duplicate_of=original)
    # The intake log: tmall three first-processing lines in the day (one rejected), a replay (not counted), one
    # line at the next midnight (not the day's); jd one line at 23:59:59.
    record(tmall, at(DAY, 9), IntakeRecord.Outcome.CREATED)
    record(tmall, at(DAY, 10), IntakeRecord.Outcome.UPDATED)
    record(tmall, at(DAY, 11), IntakeRecord.Outcome.REJECTED)
    record(tmall, at(DAY, 12), IntakeRecord.Outcome.UNCHANGED, run=1)
    record(tmall, at(AFTER, 0), IntakeRecord.Outcome.CREATED)
    record(jd, at(DAY, 23, 59, 59), IntakeRecord.Outcome.CREATED)
    # A webhook of tmall refused at the door in the day (reported and rejected), one of no channel.
    refused = WebhookRefusal.objects.create(channel=tmall, channel_code="tmall", code="bad_signature", message="x")
    stray = WebhookRefusal.objects.create(channel=None, channel_code="nope", code="unknown_channel", message="x")
    WebhookRefusal.objects.filter(pk__in=[refused.pk, stray.pk]).update(created_at=at(DAY, 12))
    # Deliveries: tmall one processed and one failed in the day, one failed just before it; jd one never processed.
    delivery(tmall, at(DAY, 0, 0, 0), InboxDelivery.State.PROCESSED)
    delivery(tmall, at(DAY, 13), InboxDelivery.State.FAILED)
    delivery(tmall, at(BEFORE, 23, 59, 59), InboxDelivery.State.FAILED)
    delivery(jd, at(DAY, 20), InboxDelivery.State.RECEIVED)
    # Pull failing: jd's episode from the evening before until 01:00 of the day counts; jd's next one starts the
    # day after; tmall's ended before the day began.
    pull_alert(jd, at(BEFORE, 22), at(DAY, 1))
    pull_alert(jd, at(AFTER, 0, 30), None)
    pull_alert(tmall, at(BEFORE, 20), at(BEFORE, 23))
    # ERP: the first order waits since 09:00:05 (two messages, one dead); the original's push was delivered; the
    # next day's order waits too but is not the day's. A ship confirmation to a channel is not an ERP push.
    erp = ErpEndpoint.objects.create(name="聚水潭", kind=ErpEndpoint.Kind.JUSHUITAN, url="http://127.0.0.1:9/erp")
    push(first, erp, at(DAY, 9, 0, 5), OutboxMessage.State.PENDING, 1, attempts=3, last_error="HTTP 502")
    push(first, erp, at(DAY, 10), OutboxMessage.State.DEAD, 2, attempts=8, last_error="timed out")
    push(original, erp, at(DAY, 15, 0, 1), OutboxMessage.State.DELIVERED, 1, delivered_at=at(DAY, 15, 0, 2))
    push(late, erp, at(AFTER, 0, 0, 1), OutboxMessage.State.PENDING, 1)
    OutboxMessage.objects.create(
        target=f"ship:{tmall.pk}",
        channel=tmall,
        kind=OutboxMessage.Kind.SHIP_CONFIRM,
        order=first,
        sequence=1,
        idempotency_key=f"{first.number}:ship",
        payload={},
        next_attempt_at=at(DAY, 9),
    )
    return {"tmall": tmall, "jd": jd, "first": first, "erp": erp}
