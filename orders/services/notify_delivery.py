"""Notifications, sending side: claim a channel's due rows, stay under its rate, send, record what it said.

- One sender per channel at a time: the channel row is locked `FOR UPDATE SKIP LOCKED` (another worker on the
  same channel skips it), and its due rows are claimed `FOR UPDATE SKIP LOCKED` as in outbox_delivery.
- The rate (rate_per_minute, 18 for robots) is a sliding-window token bucket in the database: the messages the
  channel carried in the last minute are counted, and only the rest of its allowance is sent.
- A burst on a robot (more rows due than its allowance) folds into ONE markdown digest listing them (several
  when the list outgrows a robot message, DIGEST_MAX_BYTES each, at most the allowance; the rest wait); each
  folded row is marked sent, with the digest row's id.
- HTTP 200 with errcode ≠ 0 is a failure; 130101 / 45009 (too many) block the robot for ROBOT_BLOCK; other
  failures retry with doubling backoff; after the channel's max attempts (or a refusal) the row is dead.
- Email goes through Django mail (settings EMAIL_*).
- SMS: a masked number is never sent to; past the channel's daily limits per number (40) and per number and
  template (50), counted over the Asia/Shanghai day in one indexed query per batch, a row is skipped with the reason.
- A row that dies (max attempts, a refusal) raises one `notification_dead` alert per channel and hour, naming the
  channel, recipient and errcode; it resolves itself when the channel delivers again.

Jobs: `orders.jobs.deliver_notifications` (asked on commit by the planner) and `orders.jobs.sweep_notifications`
(every minute: plan, the allocation notices, then whatever is due)."""

import logging
import random
import smtplib
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from config.queue import job_enqueue_on_commit
from orders.erp.base import HttpClient, Unavailable
from orders.models import Alert, Notification, NotificationChannel
from orders.notify_adapters import (
    Outcome,
    digest_text,
    dingtalk_request,
    robot_read,
    sms_read,
    sms_request,
    wecom_request,
)
from orders.phones import MASKED_RE
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.notify import DELIVER_JOB, QUEUE, deliveries_ask

logger = logging.getLogger(__name__)

ROBOT_BLOCK = timedelta(minutes=10)
WINDOW = timedelta(minutes=1)
DUE = (Notification.State.QUEUED, Notification.State.FAILED)
CLAIM_LIMIT = 500
DEAD_KEY_PREFIX = "notification_dead:%d:"  # + the hour: one notification_dead alert per channel and hour
DIGEST_MAX_BYTES = 3500  # a digest's text, below WeCom's 4096 bytes of markdown with its title


@dataclass
class Sent:
    sent: int = 0
    folded: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0


def backoff(*, attempts: int) -> timedelta:
    base = settings.NOTIFY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    seconds = min(base, settings.NOTIFY_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.75, 1.25))  # jitter, not a secret


def _send(channel: NotificationChannel, row: Notification, client: HttpClient, *, now: datetime) -> Outcome:
    """One message over the channel; Unavailable when the peer cannot be reached or timed out."""
    kind = channel.kind
    if kind == NotificationChannel.Kind.EMAIL:
        try:
            connection = get_connection(timeout=channel.timeout_seconds)
            EmailMessage(subject=row.title, body=row.body, to=[row.recipient], connection=connection).send()
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            return Outcome(ok=False, errcode="SMTP", errmsg=str(exc)[:500], refused=True)
        except (smtplib.SMTPException, OSError) as exc:
            raise Unavailable(f"SMTP: {exc}") from exc
        return Outcome(ok=True, errcode="", errmsg="")
    if kind == NotificationChannel.Kind.SMS:
        request = sms_request(
            adapter=channel.sms_adapter,
            url=channel.url,
            access_key_id=channel.access_key_id,
            access_key_secret=channel.access_key_secret,
            sign_name=channel.sms_sign_name,
            template_code=row.params.get("template_code", ""),
            phone=row.recipient,
            params={k: v for k, v in row.params.items() if k != "template_code"},
            text=row.body,
            now=now,
        )
        reader = sms_read
    elif kind == NotificationChannel.Kind.DINGTALK:
        request = dingtalk_request(url=channel.url, secret=channel.secret, title=row.title, text=row.body, now=now)
        reader = robot_read
    else:
        request = wecom_request(url=channel.url, title=row.title, text=row.body)
        reader = robot_read
    status, text = client.post(request, timeout=channel.timeout_seconds)
    return reader(status, text)


def _record(row: Notification, outcome: Outcome, channel: NotificationChannel, *, now: datetime, result: Sent) -> None:
    row.errcode, row.errmsg = outcome.errcode[:32], outcome.errmsg[:500]
    if outcome.ok:
        row.attempts += 1
        row.state, row.sent_at = Notification.State.SENT, now
        result.sent += 1
        return
    if outcome.rate_limited:  # the robot's own limit: not the message's fault, it waits for the robot
        row.state, row.next_attempt_at = Notification.State.FAILED, channel.blocked_until
        result.failed += 1
        return
    row.attempts += 1
    if outcome.refused or row.attempts >= channel.max_attempts:
        row.state = Notification.State.DEAD
        result.dead += 1
        return
    row.state, row.next_attempt_at = Notification.State.FAILED, now + backoff(attempts=row.attempts)
    result.failed += 1


FIELDS = ["state", "errcode", "errmsg", "attempts", "next_attempt_at", "sent_at", "digest"]


def _day_start(now: datetime) -> datetime:
    """Midnight of `now`'s day in the project's time zone (Asia/Shanghai): the SMS limits' day."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def _skip(row: Notification, errcode: str, errmsg: str, result: Sent) -> None:
    row.state, row.errcode, row.errmsg = Notification.State.SKIPPED, errcode, errmsg[:500]
    result.skipped += 1


def sms_sent_today(channel: NotificationChannel, recipients: set[str], *, now: datetime) -> QuerySet:
    """(recipient, template key, how many) sent on the channel today to `recipients`: one grouped query on the
    index notification_sms_day_idx."""
    return (
        Notification.objects.filter(
            channel=channel, state=Notification.State.SENT, sent_at__gte=_day_start(now), recipient__in=recipients
        )
        .values("recipient", "template_key")
        .annotate(n=Count("pk"))
        .values_list("recipient", "template_key", "n")
        .order_by()
    )


def _sms_within_limits(
    channel: NotificationChannel, rows: list[Notification], *, allowance: int, now: datetime, result: Sent
) -> tuple[list[Notification], list[Notification]]:
    """(to send, skipped) among `rows`, in order, at most `allowance` to send: a masked number is skipped, and
    so is a number past the channel's daily limits (what each number was sent today: one grouped query)."""
    per_number: Counter[str] = Counter()
    per_template: Counter[tuple[str, str]] = Counter()
    for recipient, template, n in sms_sent_today(channel, {row.recipient for row in rows}, now=now):
        per_number[recipient] += n
        per_template[(recipient, template)] += n
    send: list[Notification] = []
    skipped: list[Notification] = []
    for row in rows:
        if len(send) >= allowance:
            break
        number, template = row.recipient, (row.recipient, row.template_key)
        if MASKED_RE.match(number or ""):
            _skip(row, "masked", _("手机号已脱敏，不发送短信。 The phone number is masked: no SMS is sent."), result)
        elif per_number[number] >= channel.sms_daily_per_number:
            _skip(
                row,
                "day_limit",
                _("超过该号码每日短信上限（%(n)d 条），今日不再发送。 Over this number's daily SMS limit (%(n)d).")
                % {"n": channel.sms_daily_per_number},
                result,
            )
        elif per_template[template] >= channel.sms_daily_per_template:
            _skip(
                row,
                "day_limit",
                _(
                    "超过该号码同一模板每日短信上限（%(n)d 条），今日不再发送。 "
                    "Over this number's daily SMS limit for this template (%(n)d)."
                )
                % {"n": channel.sms_daily_per_template},
                result,
            )
        else:
            per_number[number] += 1
            per_template[template] += 1
            send.append(row)
            continue
        skipped.append(row)
    return send, skipped


def _dead_alert(channel: NotificationChannel, dead: list[Notification], *, now: datetime) -> None:
    """One open alert per channel and hour (its message: the latest dead row), not one per row."""
    last = dead[-1]
    alert_raise(
        kind=Alert.Kind.NOTIFICATION_DEAD,
        message=_(
            "Notifications on channel %(channel)s failed: %(n)d message(s) dead, the last to %(recipient)s, "
            "errcode %(errcode)s %(errmsg)s. Fix the channel, then send them again from the notification log."
        )
        % {
            "channel": channel.name,
            "n": len(dead),
            "recipient": last.recipient or "—",
            "errcode": last.errcode or "—",
            "errmsg": last.errmsg[:200],
        },
        dedupe_key=f"{DEAD_KEY_PREFIX % channel.pk}{timezone.localtime(now):%Y%m%d%H}",
        restate=True,
    )


def _dead_alerts_resolve(channel: NotificationChannel) -> int:
    return alert_resolve(
        alerts=Alert.objects.filter(
            kind=Alert.Kind.NOTIFICATION_DEAD, dedupe_key__startswith=DEAD_KEY_PREFIX % channel.pk
        ),
        resolution=_("The channel delivered again."),
    )


def _line(row: Notification) -> str:
    return f"{row.title}：{row.body}" if row.title else row.body


def _digest_groups(rows: list[Notification]) -> list[list[Notification]]:
    """The rows in digests of at most DIGEST_MAX_BYTES of text each (WeCom takes 4096 bytes of markdown)."""
    groups: list[list[Notification]] = [[]]
    size = 0
    for row in rows:
        length = len(_line(row).encode()) + 3
        if groups[-1] and size + length > DIGEST_MAX_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(row)
        size += length
    return groups


def _digest(channel: NotificationChannel, rows: list[Notification], client: HttpClient, *, now: datetime) -> tuple:
    """Send the burst as one digest; on success the digest row is written and the rows point to it."""
    lines = [_line(row)[: DIGEST_MAX_BYTES // 3] for row in rows]
    digest = Notification(
        channel=channel,
        recipient=channel.name,
        is_digest=True,
        title=_("%(n)d 条通知汇总") % {"n": len(rows)},
        body=digest_text(lines),
        next_attempt_at=now,
        dedupe_key=f"digest:{channel.pk}:{uuid.uuid4().hex}",
    )
    try:
        outcome = _send(channel, digest, client, now=now)
    except Unavailable as exc:
        outcome = Outcome(ok=False, errcode="unreachable", errmsg=str(exc)[:500])
    return digest, outcome


def channel_deliver(*, channel_id: int, client: HttpClient | None = None, now: datetime | None = None) -> Sent:
    """Send what is due on one channel, within its rate. Another worker already on it: nothing happens."""
    result = Sent()
    own = client is None
    client = client or HttpClient()
    try:
        with transaction.atomic():
            now = now or timezone.now()
            channel = NotificationChannel.objects.select_for_update(skip_locked=True).filter(pk=channel_id).first()
            if channel is None or not channel.is_active:
                return result
            if channel.blocked_until and channel.blocked_until > now:
                job_enqueue_on_commit(
                    job=DELIVER_JOB, queue=QUEUE, delay=channel.blocked_until - now, channel_id=channel.pk
                )
                return result
            carried = Notification.objects.filter(
                channel=channel, sent_at__gt=now - WINDOW, digest__isnull=True, state=Notification.State.SENT
            ).count()
            allowance = channel.rate_per_minute - carried
            due = (
                Notification.objects.filter(channel=channel, state__in=DUE, next_attempt_at__lte=now)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("next_attempt_at", "pk")
            )
            if allowance <= 0:
                if due.exists():
                    job_enqueue_on_commit(job=DELIVER_JOB, queue=QUEUE, delay=WINDOW, channel_id=channel.pk)
                return result
            claimed = list(due[:CLAIM_LIMIT])
            if not claimed:
                return result
            rows, touched = claimed, []
            if channel.kind == NotificationChannel.Kind.SMS:
                rows, touched = _sms_within_limits(channel, claimed, allowance=allowance, now=now, result=result)
            if channel.is_robot and len(rows) > allowance:
                for group in _digest_groups(rows)[:allowance]:
                    digest, outcome = _digest(channel, group, client, now=now)
                    if outcome.rate_limited:
                        channel.blocked_until = now + ROBOT_BLOCK
                        channel.save(update_fields=["blocked_until"])
                    if outcome.ok:
                        digest.state, digest.sent_at, digest.attempts = Notification.State.SENT, now, 1
                        digest.errcode, digest.errmsg = outcome.errcode, outcome.errmsg
                        digest.save()
                    for row in group:
                        if outcome.ok:
                            row.state, row.sent_at, row.digest = Notification.State.SENT, now, digest
                            row.errcode, row.errmsg = outcome.errcode, _("已合并到汇总消息 Sent in a digest")
                            result.folded += 1
                        else:
                            _record(row, outcome, channel, now=now, result=result)
                    touched.extend(group)
                    if not outcome.ok:
                        break
            else:
                for row in rows[:allowance]:
                    try:
                        outcome = _send(channel, row, client, now=timezone.now())
                    except Unavailable as exc:
                        outcome = Outcome(ok=False, errcode="unreachable", errmsg=str(exc)[:500])
                        _record(row, outcome, channel, now=now, result=result)
                        touched.append(row)
                        break  # the peer is down: the other rows wait for the next run
                    if outcome.rate_limited:
                        channel.blocked_until = now + ROBOT_BLOCK
                        channel.save(update_fields=["blocked_until"])
                    _record(row, outcome, channel, now=timezone.now(), result=result)
                    touched.append(row)
                    if outcome.rate_limited:
                        break
            if touched:
                Notification.objects.bulk_update(touched, FIELDS)
            dead = [row for row in touched if row.state == Notification.State.DEAD]
            if dead:
                _dead_alert(channel, dead, now=now)
            elif result.sent or result.folded:
                _dead_alerts_resolve(channel)
            retries = [row.next_attempt_at for row in touched if row.state == Notification.State.FAILED]
            if retries or len(claimed) > len(touched):
                first = min(retries) if retries else now + WINDOW
                job_enqueue_on_commit(
                    job=DELIVER_JOB, queue=QUEUE, delay=max(first - now, timedelta(seconds=1)), channel_id=channel.pk
                )
    finally:
        if own:
            client.close()
    return result


def notifications_deliver_due(*, channel_id: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Every channel with due rows (or the one named), one after the other. `now`: the clock (tests move it)."""
    now = now or timezone.now()
    channels = Notification.objects.filter(state__in=DUE, next_attempt_at__lte=now, channel__is_active=True)
    if channel_id is not None:
        channels = channels.filter(channel_id=channel_id)
    totals = {"sent": 0, "folded": 0, "failed": 0, "dead": 0, "skipped": 0}
    client = HttpClient()
    try:
        for pk in sorted(set(channels.values_list("channel_id", flat=True))):
            result = channel_deliver(channel_id=pk, client=client, now=now)
            for name in totals:
                totals[name] += getattr(result, name)
    finally:
        client.close()
    return totals


def notifications_retry(*, notifications: QuerySet[Notification], actor: AbstractBaseUser | None) -> int:
    """重新发送: put the dead rows among `notifications` back (attempts from zero, due now) and ask a sender.
    Rows not dead are left as they are. Returns how many were put back."""
    with transaction.atomic():
        dead = list(notifications.filter(state=Notification.State.DEAD).select_for_update(of=("self",)).order_by("pk"))
        now = timezone.now()
        for row in dead:
            row.state, row.attempts, row.next_attempt_at = Notification.State.QUEUED, 0, now
            row.errmsg = (_("由 %(who)s 重新发送 Retried by %(who)s") % {"who": actor or "system"})[:500]
        if dead:
            Notification.objects.bulk_update(dead, ["state", "attempts", "next_attempt_at", "errmsg"])
            deliveries_ask({row.channel_id for row in dead if row.channel_id})
    return len(dead)
