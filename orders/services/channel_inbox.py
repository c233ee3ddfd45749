"""The channel inbox: raw deliveries (webhook POSTs, pull pages) stored and committed before the sender hears yes,
then turned into orders by a job, one IntakeRecord per reported order (the intake log).

Processing holds the delivery's row lock for the whole run, in one transaction: a killed worker or a dropped
connection rolls the run back whole (its orders too) and the next run (the job's retry, the sweep) starts
clean. Orders are idempotent anyway (channel_order_take), records are keyed per delivery + run + index.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from config.queue import job_enqueue_on_commit
from orders.channels import signing
from orders.channels.mapping import MappingRefusal, channel_reports_from_payload, default_mapping
from orders.models import Alert, Channel, InboxDelivery, IntakeRecord, Source, Via, WebhookRefusal
from orders.services.alerts import alert_raise
from orders.services.channel_intake import channel_order_take

PROCESS_JOB = "orders.jobs.process_inbox_delivery"
PROCESS_QUEUE = "channels"
SWEEP_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 500
MAX_ATTEMPTS = 10
MAX_BODY_BYTES = 2 * 1024 * 1024
# Headers kept with a delivery (never the signature: it is of no use once verified).
KEPT_HEADERS = ("webhook-id", "webhook-timestamp", "content-type", "user-agent", "content-length")

SOURCE_OF_VIA = {Via.WEBHOOK: Source.WEBHOOK, Via.PULL: Source.PULL, Via.BACKFILL: Source.PULL}


@dataclass
class DeliverySummary:
    delivery_id: int
    orders: int = 0
    outcomes: Counter = field(default_factory=Counter)
    refusals: list[tuple[int, str, str]] = field(default_factory=list)  # (index, channel order no, reason)
    processed: bool = True  # False: another run holds the delivery right now (it will finish it)
    already: bool = False  # True: processed before, nothing was done now

    @property
    def rejected(self) -> int:
        return self.outcomes[IntakeRecord.Outcome.REJECTED]

    @property
    def taken(self) -> int:
        return self.orders - self.rejected


def channel_mapping(channel: Channel) -> dict:
    """The channel's field mapping, or its kind's default when none was saved yet."""
    return channel.field_mapping or default_mapping(channel.kind)


def inbox_delivery_store(
    *, channel: Channel, via: str, delivery_id: str, body: bytes, headers: dict
) -> tuple[InboxDelivery, bool]:
    """Store one raw delivery and commit it, then enqueue its processing. (delivery, False) when this delivery
    id of this channel was stored before: nothing new is written. One INSERT … ON CONFLICT DO NOTHING."""
    table = connection.ops.quote_name(InboxDelivery._meta.db_table)
    received_at = timezone.now()
    text = body.decode("utf-8", errors="replace")
    kept = {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (channel_id, via, delivery_id, body, headers, state, received_at, attempts,"  # noqa: S608
                " replays, orders_count, taken_count, rejected_count, error)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 0, 0, '')"
                " ON CONFLICT (channel_id, delivery_id) DO NOTHING RETURNING id",
                [channel.pk, via, delivery_id, text, json.dumps(kept), InboxDelivery.State.RECEIVED, received_at],
            )
            row = cursor.fetchone()
        if row is None:
            return InboxDelivery.objects.get(channel=channel, delivery_id=delivery_id), False
        job_enqueue_on_commit(job=PROCESS_JOB, queue=PROCESS_QUEUE, delivery_id=row[0])
    delivery = InboxDelivery(
        id=row[0],
        channel=channel,
        via=via,
        delivery_id=delivery_id,
        body=text,
        headers=kept,
        state=InboxDelivery.State.RECEIVED,
        received_at=received_at,
    )
    return delivery, True


def inbox_delivery_process(*, delivery: InboxDelivery) -> DeliverySummary:
    """Turn a stored delivery into orders: map it, take each order, write one IntakeRecord per order, mark it
    processed. A processed delivery is left as it is (its summary is read from its records)."""
    InboxDelivery.objects.filter(pk=delivery.pk, state=InboxDelivery.State.RECEIVED).update(attempts=F("attempts") + 1)
    with transaction.atomic():
        locked = (
            InboxDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel")
            .filter(pk=delivery.pk)
            .first()
        )
        if locked is None:
            return DeliverySummary(delivery_id=delivery.pk, processed=False)
        if locked.state != InboxDelivery.State.RECEIVED:
            return _summary_from_records(locked)
        summary = _run(locked, run=0, via=locked.via, indexes=None)
        _mark(locked, summary=summary)
    return summary


def inbox_delivery_replay(*, delivery: InboxDelivery, indexes: list[int] | None = None) -> DeliverySummary:
    """Process a delivery again with the channel's current mapping (and SKU aliases): the orders given by
    `indexes`, else each not taken yet (its last record a rejection, or none: the whole delivery was refused).
    Records via=replay; orders are never duplicated."""
    with transaction.atomic():
        locked = InboxDelivery.objects.select_for_update().select_related("channel").get(pk=delivery.pk)
        if locked.state != InboxDelivery.State.PROCESSED:  # never processed (or given up on): the whole of it
            summary = _run(locked, run=0, via=Via.REPLAY, indexes=None)
            _mark(locked, summary=summary)
            return summary
        locked.replays += 1
        if indexes is None:  # every order not taken yet: rejected, or never read (a whole delivery refused)
            taken = {index for index, outcome in _last_outcomes(locked).items() if outcome != "rejected"}
            summary = _run(locked, run=locked.replays, via=Via.REPLAY, indexes=None, skip=taken)
        else:
            summary = _run(locked, run=locked.replays, via=Via.REPLAY, indexes=set(indexes))
        last = _last_outcomes(locked)
        locked.rejected_count = sum(1 for outcome in last.values() if outcome == IntakeRecord.Outcome.REJECTED)
        locked.taken_count = len(last) - locked.rejected_count
        locked.state = InboxDelivery.State.PROCESSED
        locked.processed_at = timezone.now()
        locked.error = ""
        locked.save(update_fields=["replays", "rejected_count", "taken_count", "state", "processed_at", "error"])
    return summary


def inbox_deliveries_sweep(*, older_than: timedelta = SWEEP_AFTER, batch: int = SWEEP_BATCH) -> int:
    """Enqueue processing again for deliveries received over a minute ago and still not processed (an enqueue
    lost while Redis was down, a worker killed mid-run). Processing is idempotent: a second job is harmless."""
    ids = list(
        InboxDelivery.objects.filter(
            state=InboxDelivery.State.RECEIVED,
            received_at__lt=timezone.now() - older_than,
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("received_at")
        .values_list("id", flat=True)[:batch]
    )
    for delivery_id in ids:
        job_enqueue_on_commit(job=PROCESS_JOB, queue=PROCESS_QUEUE, delivery_id=delivery_id)
    _give_up()
    return len(ids)


def _give_up() -> None:
    """A delivery that failed MAX_ATTEMPTS runs (a bug, not bad input: bad input is a rejected record) is set
    aside as failed, with an alert to the log's readers; a replay from the admin runs it again."""
    stuck = InboxDelivery.objects.filter(state=InboxDelivery.State.RECEIVED, attempts__gte=MAX_ATTEMPTS)
    for delivery in stuck.select_related("channel")[:SWEEP_BATCH]:
        updated = InboxDelivery.objects.filter(pk=delivery.pk, state=InboxDelivery.State.RECEIVED).update(
            state=InboxDelivery.State.FAILED, error=_("Processing failed %(n)s times.") % {"n": delivery.attempts}
        )
        if updated:
            alert_raise(
                kind=Alert.Kind.OTHER,
                message=_("Channel %(channel)s: delivery %(delivery)s could not be processed; replay it from the log.")
                % {"channel": delivery.channel.name, "delivery": delivery.delivery_id},
                dedupe_key=f"inbox-delivery:{delivery.pk}",
            )


def delivery_outcome(delivery: InboxDelivery) -> dict:
    """What became of a delivery, for its sender: the state, and once processed the counts and each order still
    rejected with its reason (the latest run of each order)."""
    outcome = {"delivery": delivery.pk, "webhook_id": delivery.delivery_id, "state": delivery.state}
    if delivery.state != InboxDelivery.State.RECEIVED:
        latest: dict[int, IntakeRecord] = {}
        for record in delivery.records.order_by("run", "id"):
            latest[record.index] = record
        rejected = [record for record in latest.values() if record.outcome == IntakeRecord.Outcome.REJECTED]
        outcome.update(
            orders=len(latest),
            taken=len(latest) - len(rejected),
            rejected=[
                {"index": r.index, "channel_order_no": r.channel_order_no, "reason": r.reason, "code": r.code}
                for r in sorted(rejected, key=lambda r: r.index)
            ],
        )
        if delivery.error:
            outcome["error"] = delivery.error
    return outcome


def _run(
    delivery: InboxDelivery, *, run: int, via: str, indexes: set[int] | None, skip: set[int] = frozenset()
) -> DeliverySummary:
    channel = delivery.channel
    source = SOURCE_OF_VIA.get(delivery.via, Source.WEBHOOK)
    summary = DeliverySummary(delivery_id=delivery.pk)
    try:
        payload = json.loads(delivery.body)
    except ValueError as error:
        reports = [MappingRefusal(index=0, channel_order_no="", field="", message=_("Malformed JSON: %s") % error)]
    else:
        reports = channel_reports_from_payload(
            mapping=channel_mapping(channel), payload=payload, channel_code=channel.code
        )
    records = []
    for index, report in enumerate(reports):
        if (indexes is not None and index not in indexes) or index in skip:
            continue
        record = IntakeRecord(
            channel=channel,
            delivery=delivery,
            index=index,
            run=run,
            via=via,
            received_at=delivery.received_at,
        )
        if isinstance(report, MappingRefusal):
            record.channel_order_no = report.channel_order_no[:64]
            record.outcome = IntakeRecord.Outcome.REJECTED
            record.reason = report.message[:500]
            record.code = "mapping"
            record.field = report.field[:64]
        else:
            take = channel_order_take(channel=channel, report=report, source=source)
            record.channel_order_no = report.draft.channel_order_no[:64]
            record.outcome = str(take.outcome)
            record.reason = str(take.reason)[:500]
            record.code = str(take.code)[:64]
            record.field = str((take.extra or {}).get("field", ""))[:64]
            record.order = take.order
        record.processed_at = timezone.now()
        record.latency_ms = max(0, int((record.processed_at - delivery.received_at).total_seconds() * 1000))
        records.append(record)
        summary.outcomes[record.outcome] += 1
        if record.outcome == IntakeRecord.Outcome.REJECTED:
            summary.refusals.append((record.index, record.channel_order_no, record.reason))
    summary.orders = len(records)
    IntakeRecord.objects.bulk_create(records)
    return summary


def _mark(delivery: InboxDelivery, *, summary: DeliverySummary) -> None:
    delivery.state = InboxDelivery.State.PROCESSED
    delivery.processed_at = timezone.now()
    delivery.orders_count = summary.orders
    delivery.taken_count = summary.taken
    delivery.rejected_count = summary.rejected
    delivery.error = summary.refusals[0][2] if summary.orders == summary.rejected and summary.refusals else ""
    delivery.save(update_fields=["state", "processed_at", "orders_count", "taken_count", "rejected_count", "error"])


def _last_outcomes(delivery: InboxDelivery) -> dict[int, str]:
    """index: outcome of its latest run."""
    last: dict[int, str] = {}
    for index, outcome in delivery.records.order_by("run", "id").values_list("index", "outcome"):
        last[index] = outcome
    return last


def _summary_from_records(delivery: InboxDelivery) -> DeliverySummary:
    summary = DeliverySummary(delivery_id=delivery.pk, already=True)
    for record in delivery.records.filter(run=0).order_by("index"):
        summary.orders += 1
        summary.outcomes[record.outcome] += 1
        if record.outcome == IntakeRecord.Outcome.REJECTED:
            summary.refusals.append((record.index, record.channel_order_no, record.reason))
    return summary


# --- the webhook door -------------------------------------------------------------------------------------------


class WebhookRefused(Exception):
    def __init__(self, *, status: int, code: str, message: str, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    def reply(self) -> dict:
        return {"message": self.message, "code": self.code, "extra": self.extra}


@dataclass(frozen=True)
class WebhookAccepted:
    delivery: InboxDelivery
    duplicate: bool

    def reply(self) -> dict:
        if self.duplicate:  # a re-send: tell the sender what became of the first one
            return {**delivery_outcome(self.delivery), "duplicate": True}
        return {
            "delivery": self.delivery.pk,
            "webhook_id": self.delivery.delivery_id,
            "duplicate": False,
            "state": self.delivery.state,
        }


def webhook_receive(*, channel_code: str, body: bytes | None, headers, remote_addr: str = "") -> WebhookAccepted:
    """Verify a Standard Webhooks delivery over its raw bytes, then store it (inbox_delivery_store). Raises
    WebhookRefused (counted as a WebhookRefusal row, its body not kept) for anything that cannot be trusted.
    `body` None: too large to read at all."""
    channel = _verified(channel_code=channel_code, body=body, headers=headers, remote_addr=remote_addr, parse=True)
    delivery, created = inbox_delivery_store(
        channel=channel, via=Via.WEBHOOK, delivery_id=headers.get("webhook-id"), body=body, headers=dict(headers)
    )
    return WebhookAccepted(delivery=delivery, duplicate=not created)


def webhook_outcome(*, channel_code: str, webhook_id: str, headers, remote_addr: str = "") -> dict:
    """What became of the delivery `webhook_id`, for its sender: a GET signed like a delivery (its own
    webhook-id, an empty body). Raises WebhookRefused for a bad signature or a delivery we never stored."""
    channel = _verified(channel_code=channel_code, body=b"", headers=headers, remote_addr=remote_addr, parse=False)
    if headers.get("webhook-id") != webhook_id:
        raise WebhookRefused(
            status=400,
            code="webhook_id_mismatch",
            message="请求头 webhook-id 与地址不符 / the webhook-id header is not the one in the URL",
        )
    delivery = InboxDelivery.objects.filter(channel=channel, delivery_id=webhook_id).first()
    if delivery is None:
        raise WebhookRefused(
            status=404,
            code="unknown_delivery",
            message="没有收到过这次推送 / no delivery with this webhook-id was stored",
            extra={"webhook_id": webhook_id},
        )
    return delivery_outcome(delivery)


def _verified(*, channel_code: str, body: bytes | None, headers, remote_addr: str, parse: bool) -> Channel:
    msg_id = headers.get("webhook-id") or ""
    channel = (
        Channel.objects.only("id", "code", "kind", "is_active", "arrival", "webhook_secret", "webhook_secret_previous")
        .filter(code=channel_code)
        .first()
    )
    try:
        _check(channel=channel, channel_code=channel_code, msg_id=msg_id, body=body, headers=headers, parse=parse)
    except WebhookRefused as refusal:
        WebhookRefusal.objects.create(
            channel=channel,
            channel_code=channel_code[:64],
            delivery_id=msg_id[:128],
            code=refusal.code,
            message=refusal.message[:500],
            remote_addr=remote_addr[:64],
            body_size=len(body) if body is not None else int(headers.get("content-length") or 0),
        )
        raise
    return channel


def _check(
    *, channel: Channel | None, channel_code: str, msg_id: str, body: bytes | None, headers, parse: bool
) -> None:
    if channel is None or not channel.is_active:
        raise WebhookRefused(
            status=404,
            code="unknown_channel",
            message="渠道不存在或已停用 / unknown or inactive channel",
            extra={"channel": channel_code},
        )
    if not channel.takes_webhooks or not channel.webhook_secrets:
        raise WebhookRefused(
            status=403,
            code="webhook_disabled",
            message="该渠道未启用推送 / webhooks are not enabled for this channel",
        )
    if body is None or len(body) > MAX_BODY_BYTES:
        raise WebhookRefused(
            status=413,
            code="body_too_large",
            message="请求体过大 / body too large",
            extra={"max_bytes": MAX_BODY_BYTES},
        )
    timestamp = headers.get("webhook-timestamp") or ""
    signature = headers.get("webhook-signature") or ""
    given = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise WebhookRefused(
            status=400,
            code="missing_headers",
            message="缺少请求头 / missing headers: " + ", ".join(missing),
            extra={"headers": missing},
        )
    if len(msg_id) > 128:
        raise WebhookRefused(
            status=400, code="bad_webhook_id", message="消息 ID 过长 / webhook-id is longer than 128 characters"
        )
    try:
        signing.verify(
            secrets=channel.webhook_secrets,
            msg_id=msg_id,
            timestamp=timestamp,
            signature=signature,
            body=body,
            now=time.time(),
        )
    except signing.SignatureError as error:
        raise WebhookRefused(status=401, code=error.code, message=error.message) from None
    if parse:
        try:
            json.loads(body)
        except ValueError as error:
            raise WebhookRefused(
                status=400, code="malformed_json", message=f"请求体不是合法的 JSON / malformed JSON: {error}"[:300]
            ) from None
