"""Pulling orders from the platforms: "modified since" windows walked from each channel's cursor, every page
stored as an inbox delivery and processed (one path for every door), the cursor committed only after a window's
orders are; a failing platform backs off and alerts, never blocking the other channels (one job per channel).
Backfills walk a past date range the same way with their own progress."""

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import django_rq
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import LockError, RedisError

from config.queue import job_enqueue_on_commit
from orders.channels.base import PullAdapter, PullConfig, PullUnavailable
from orders.channels.pulls import pull_adapter_for
from orders.exceptions import InvalidInput, OrderErrorCode
from orders.models import (
    CHANNEL_PULL_SETTINGS_FIELDS,
    CHANNEL_PULL_STATE_FIELDS,
    Alert,
    Channel,
    ChannelBackfill,
    ChannelPull,
    InboxDelivery,
    Via,
)
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.channel_inbox import inbox_delivery_process, inbox_delivery_store

logger = logging.getLogger(__name__)

PULL_JOB = "orders.jobs.pull_channel"
BACKFILL_JOB = "orders.jobs.run_backfill"
QUEUE = "channels"
STAMP = "%Y%m%dT%H%M%S"
PULL_ARRIVALS = (Channel.Arrival.PULL, Channel.Arrival.BOTH)  # how orders arrive on a channel that is pulled


class PullBusy(Exception):
    """Another run of the same pull holds its lock."""


@dataclass
class WalkResult:
    windows: int = 0
    pages: int = 0
    orders: int = 0
    outcomes: Counter = field(default_factory=Counter)
    error: str = ""


def pull_settings_of(channel: Channel) -> ChannelPull:
    """The channel's pull settings (unsaved, pull off, when it has none yet)."""
    return ChannelPull.objects.filter(channel=channel).first() or ChannelPull(channel=channel)


def channel_pull_save(*, pull: ChannelPull, actor: AbstractBaseUser | None) -> ChannelPull:
    """Save what a person set (ChannelPull's settings fields only: the pull's own state is never overwritten by a
    form opened before the last run). The pull is due at once, so new keys or limits are tried on the next minute
    instead of after a backoff."""
    pull._history_user = actor
    pull.next_attempt_at = None
    with transaction.atomic():
        if pull.pk is None:
            pull.save()
        else:
            pull.save(update_fields=[*CHANNEL_PULL_SETTINGS_FIELDS, "next_attempt_at"])
    return pull


def pull_config(*, pull: ChannelPull, adapter: PullAdapter) -> PullConfig:
    return PullConfig(
        base_url=pull.base_url or adapter.default_base_url,
        app_key=pull.app_key,
        app_secret=pull.app_secret,
        access_token=pull.access_token,
        page_size=adapter.page_size(pull.page_size),
        timeout_seconds=settings.CHANNEL_PULL_HTTP_TIMEOUT_SECONDS,
    )


def pull_limits(*, pull: ChannelPull, adapter: PullAdapter) -> tuple[timedelta, timedelta]:
    """(window size, clock margin) of a channel: its overrides, within its platform's limits."""
    window = adapter.window_size(timedelta(minutes=pull.window_minutes) if pull.window_minutes else None)
    margin = adapter.clock_margin(
        None if pull.clock_margin_seconds is None else timedelta(seconds=pull.clock_margin_seconds)
    )
    return window, margin


def pull_windows(*, start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into windows of at most `size`, oldest first."""
    windows = []
    while start < end:
        windows.append((start, min(start + size, end)))
        start = windows[-1][1]
    return windows


def pull_delivery_id(*, channel: Channel, start: datetime, end: datetime, page_no: int) -> str:
    """Channel + window + page: a run that stores the same page again stores nothing new."""
    window = f"{start.astimezone(UTC):{STAMP}}-{end.astimezone(UTC):{STAMP}}"
    return f"pull:{channel.code}:{window}:p{page_no}"


class _Lock:
    """One run at a time per pull or backfill: a Redis lock renewed after every page, so a killed run's lock
    lapses within CHANNEL_PULL_LOCK_SECONDS and the next run goes on from the committed progress."""

    def __init__(self, name: str):
        self.lock = django_rq.get_connection(QUEUE).lock(f"orderhub:{name}", timeout=settings.CHANNEL_PULL_LOCK_SECONDS)

    def __enter__(self):
        if not self.lock.acquire(blocking=False):
            raise PullBusy
        return self

    def renew(self) -> None:
        try:
            self.lock.reacquire()
        except (LockError, RedisError) as error:
            raise PullUnavailable(f"the run's lock lapsed (a page took too long?): {error}") from error

    def __exit__(self, *exc):
        try:
            self.lock.release()
        except (LockError, RedisError):
            logger.warning("lock %s lapsed before its run ended", self.lock.name)


def _process(delivery: InboxDelivery):
    """Process a stored page now and wait for its orders to be committed. A worker that picked up the same
    delivery (its enqueued job) holds it: wait for that run to end, then look again."""
    for _attempt in range(3):
        summary = inbox_delivery_process(delivery=delivery)
        if summary.processed:
            return summary
        with transaction.atomic():
            InboxDelivery.objects.select_for_update().filter(pk=delivery.pk).exists()  # waits for the other run
    raise PullUnavailable(f"inbox delivery {delivery.pk} is still being processed by another worker")


def _walk(
    *,
    channel: Channel,
    adapter: PullAdapter,
    config: PullConfig,
    windows: list[tuple[datetime, datetime]],
    via: str,
    window_done,
    lock: _Lock,
) -> WalkResult:
    """Each window in turn: every page stored and processed, then `window_done(end, window_result)` commits the
    progress. Stops at the first failure (result.error), the progress staying at the last finished window."""
    result = WalkResult()
    for start, end in windows:
        done = WalkResult(windows=1)
        try:
            for page_no, page in adapter.pages(config=config, start=start, end=end):
                body = json.dumps(
                    {"orders": page.orders, "window": [start.isoformat(), end.isoformat()], "page": page_no},
                    ensure_ascii=False,
                    sort_keys=True,
                ).encode()
                delivery, _new = inbox_delivery_store(
                    channel=channel,
                    via=via,
                    delivery_id=pull_delivery_id(channel=channel, start=start, end=end, page_no=page_no),
                    body=body,
                    headers={"content-type": "application/json"},
                )
                summary = _process(delivery)
                lock.renew()
                done.pages += 1
                done.orders += summary.orders
                done.outcomes.update(summary.outcomes)
        except PullUnavailable as error:
            result.error = str(error)
        except DatabaseError as error:  # the page could not be stored or processed: try the window again later
            logger.exception("pull of %s: window %s–%s not committed", channel.code, start, end)
            result.error = _("Processing failed: %(error)s") % {"error": error}
        if result.error:
            return result
        window_done(end, done)
        result.windows += 1
        result.pages += done.pages
        result.orders += done.orders
        result.outcomes.update(done.outcomes)
    return result


def _locked(name: str, run) -> str:
    """run(lock) holding the lock `name`; "busy" when another run holds it."""
    try:
        with _Lock(name) as lock:
            return run(lock)
    except PullBusy:
        return "busy"


def backoff_delay(failures: int) -> timedelta:
    """Exponential backoff with jitter: base × 2^(n−1), capped, of which a random half is waited ("equal
    jitter"), so channels that failed together do not retry together."""
    ceiling = min(
        settings.CHANNEL_PULL_BACKOFF_CAP_SECONDS, settings.CHANNEL_PULL_BACKOFF_BASE_SECONDS * 2 ** (failures - 1)
    )
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # jitter, not a secret


def _alert_key(channel: Channel) -> str:
    return f"channel_pull_failing:{channel.pk}"


def channel_pull_run(*, channel_id: int) -> str:
    """Pull one channel from its cursor up to now − its clock margin, window by window. Returns what happened
    (for the job's result): "busy", "off", "ok: …" or "failed: …"."""
    return _locked(f"pull:{channel_id}", lambda lock: _pull(channel_id, lock))


def _pull(channel_id: int, lock: _Lock) -> str:
    pull = ChannelPull.objects.select_related("channel").filter(channel_id=channel_id).first()
    if pull is None or not pull.enabled or not pull.channel.is_active or pull.channel.arrival not in PULL_ARRIVALS:
        return "off"
    channel = pull.channel
    adapter = pull_adapter_for(channel.kind)
    window, margin = pull_limits(pull=pull, adapter=adapter)
    now = timezone.now()
    until = now - margin
    start = pull.cursor or until - window
    if adapter.history_max is not None:
        start = max(start, now - adapter.history_max + timedelta(minutes=5))  # older ones the platform refuses
    windows = pull_windows(start=start, end=until, size=window)
    behind = len(windows) > settings.CHANNEL_PULL_MAX_WINDOWS_PER_RUN
    windows = windows[: settings.CHANNEL_PULL_MAX_WINDOWS_PER_RUN]
    # The run's own bookkeeping (cursor, last run, failures) is not a change anyone made: no history row for
    # it every few minutes; the settings a person saves keep theirs (channel_pull_save).
    pull.skip_history_when_saving = True

    def window_done(end: datetime, _done: WalkResult) -> None:
        pull.cursor = end
        pull.save(update_fields=["cursor"])  # committed: every order of the window is

    result = _walk(
        channel=channel,
        adapter=adapter,
        config=pull_config(pull=pull, adapter=adapter),
        windows=windows,
        via=Via.PULL,
        window_done=window_done,
        lock=lock,
    )
    pull.last_run_at = now
    if result.error:
        pull.consecutive_failures += 1
        pull.last_error = result.error[:500]
        pull.next_attempt_at = timezone.now() + backoff_delay(pull.consecutive_failures)
        pull.save(update_fields=list(CHANNEL_PULL_STATE_FIELDS))
        if pull.consecutive_failures >= settings.CHANNEL_PULL_ALERT_AFTER_FAILURES:
            alert_raise(
                kind=Alert.Kind.CHANNEL_PULL_FAILING,
                message=_(
                    "Channel %(channel)s: pulling orders failed %(count)s times in a row, orders modified since "
                    "%(cursor)s are not in yet. Last error: %(error)s"
                )
                % {
                    "channel": channel.name,
                    "count": pull.consecutive_failures,
                    "cursor": timezone.localtime(pull.cursor).strftime("%Y-%m-%d %H:%M") if pull.cursor else "—",
                    "error": result.error,
                },
                dedupe_key=_alert_key(channel),
                restate=True,
            )
        return f"failed: {result.error}"
    pull.consecutive_failures = 0
    pull.last_error = ""
    pull.last_success_at = now
    pull.next_attempt_at = now if behind else now + timedelta(minutes=pull.interval_minutes)
    pull.save(update_fields=list(CHANNEL_PULL_STATE_FIELDS))
    alert_resolve(
        alerts=Alert.objects.filter(kind=Alert.Kind.CHANNEL_PULL_FAILING, dedupe_key=_alert_key(channel)),
        resolution=_("The channel's pull succeeded again."),
    )
    return f"ok: {result.windows} windows, {result.pages} pages, {result.orders} orders"


def channels_pull_due() -> int:
    """For the cron (every minute): one pull job per channel that is due, so a slow or failing platform never
    holds up the others; and the backfills not finished (a killed one goes on from its progress)."""
    now = timezone.now()
    due = ChannelPull.objects.filter(enabled=True, channel__is_active=True, channel__arrival__in=PULL_ARRIVALS).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    channel_ids = list(due.values_list("channel_id", flat=True))
    for channel_id in channel_ids:
        job_enqueue_on_commit(job=PULL_JOB, queue=QUEUE, channel_id=channel_id)
    backfills = ChannelBackfill.objects.filter(
        Q(state__in=[ChannelBackfill.State.PENDING, ChannelBackfill.State.RUNNING])
        | Q(state=ChannelBackfill.State.FAILED, next_attempt_at__lte=now)
    )
    for backfill_id in backfills.values_list("id", flat=True):
        job_enqueue_on_commit(job=BACKFILL_JOB, queue=QUEUE, backfill_id=backfill_id)
    return len(channel_ids)


def channel_backfill_check(*, channel: Channel, start: datetime, end: datetime) -> None:
    """Refuse (InvalidInput naming the field) a range the platform will not answer for."""
    adapter = pull_adapter_for(channel.kind)
    _window, margin = pull_limits(pull=pull_settings_of(channel), adapter=adapter)
    now = timezone.now()

    def refuse(message: str, field: str) -> None:
        raise InvalidInput(message, code=OrderErrorCode.INVALID_FIELD, extra={"field": field})

    if start >= end:
        refuse(_("The backfill must start before it ends."), "end")
    if end > now - margin:
        refuse(
            _("The backfill must end before %(limit)s (the platform's clock margin); the pull takes what is newer.")
            % {"limit": timezone.localtime(now - margin).strftime("%Y-%m-%d %H:%M")},
            "end",
        )
    if adapter.history_max is not None and start < now - adapter.history_max:
        refuse(
            _("%(platform)s only answers for orders modified in the last %(days)s days: start on %(limit)s or later.")
            % {
                "platform": channel.get_kind_display(),
                "days": adapter.history_max.days,
                "limit": timezone.localtime(now - adapter.history_max + timedelta(days=1)).strftime("%Y-%m-%d"),
            },
            "start",
        )


def channel_backfill_start(
    *, channel: Channel, start: datetime, end: datetime, actor: AbstractBaseUser | None
) -> ChannelBackfill:
    """Start pulling the orders modified in [start, end) again, as its own job. The range is cut into the
    platform's windows as it runs; one the platform refuses is refused here first (channel_backfill_check)."""
    channel_backfill_check(channel=channel, start=start, end=end)
    backfill = ChannelBackfill(channel=channel, start=start, end=end, started_by=actor)
    backfill._history_user = actor
    with transaction.atomic():
        backfill.save()
        job_enqueue_on_commit(job=BACKFILL_JOB, queue=QUEUE, backfill_id=backfill.pk)
    return backfill


def channel_backfill_run(*, backfill_id: int) -> str:
    return _locked(f"backfill:{backfill_id}", lambda lock: _backfill(backfill_id, lock))


def _backfill(backfill_id: int, lock: _Lock) -> str:
    backfill = ChannelBackfill.objects.select_related("channel").filter(pk=backfill_id).first()
    if backfill is None or backfill.state == ChannelBackfill.State.DONE:
        return "done"
    channel = backfill.channel
    pull = pull_settings_of(channel)
    adapter = pull_adapter_for(channel.kind)
    window, _margin = pull_limits(pull=pull, adapter=adapter)
    progress = ["state", "cursor", "windows_done", "pages", "orders_seen", "counts", "last_error"]
    backfill.state = ChannelBackfill.State.RUNNING
    if backfill.started_at is None:
        backfill.started_at = timezone.now()
    backfill.save(update_fields=[*progress, "started_at"])

    def window_done(end: datetime, done: WalkResult) -> None:
        backfill.cursor = end
        backfill.windows_done += 1
        backfill.pages += done.pages
        backfill.orders_seen += done.orders
        backfill.counts = dict(Counter(backfill.counts) + done.outcomes)
        backfill.skip_history_when_saving = True  # each window's progress; its start and end keep history rows
        backfill.save(update_fields=progress)
        del backfill.skip_history_when_saving

    result = _walk(
        channel=channel,
        adapter=adapter,
        config=pull_config(pull=pull, adapter=adapter),
        windows=pull_windows(start=backfill.cursor or backfill.start, end=backfill.end, size=window),
        via=Via.BACKFILL,
        window_done=window_done,
        lock=lock,
    )
    if result.error:
        backfill.failures += 1
        backfill.state = ChannelBackfill.State.FAILED
        backfill.last_error = result.error[:500]
        backfill.next_attempt_at = timezone.now() + backoff_delay(backfill.failures)
        backfill.save(update_fields=[*progress, "failures", "next_attempt_at"])
        return f"failed: {result.error}"
    backfill.state = ChannelBackfill.State.DONE
    backfill.last_error = ""
    backfill.finished_at = timezone.now()
    backfill.save(update_fields=[*progress, "finished_at"])
    return f"done: {backfill.windows_done} windows, {backfill.orders_seen} orders"
