"""Notifications, planning side: which messages alerts and customer notices need, as rows of the delivery log.

- Alerts → deliveries (`alert_notifications_plan`, the minute sweep): the alerts after the high-water mark
  (plus the last LOOKBACK, for alerts whose transaction committed after a later one's) are read in one query,
  and the rows they need are inserted with one bulk INSERT … ON CONFLICT DO NOTHING per kind of target (the
  alert's own notify_channel; its owner group's robots; its owner and, where the group's route says so, the
  group's members by their own channels). The dedupe key is unique, so a message is planned once, and a killed
  sweep (its mark not advanced) is simply run again.
- Quiet hours: a non-critical message to a person in their quiet hours is due at their end.
- Customer notices (`customer_notice_plan`): one row per order and kind (unique), an SMS to the receiver phone;
  a masked phone (138****5678) gets a skipped row with the reason, never an SMS.

Delivery is orders.services.notify_delivery (jobs `orders.jobs.deliver_notifications`)."""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from config.queue import job_enqueue_on_commit
from orders.models import (
    Alert,
    MessageTemplate,
    NoticeKind,
    Notification,
    NotificationChannel,
    NotificationGroupRoute,
    NotificationSettings,
    NotificationSweep,
    Order,
    StatusNode,
)
from orders.notify_texts import default_body, render
from orders.phones import MASKED_RE
from orders.services.timeline import history_attribute

DELIVER_JOB = "orders.jobs.deliver_notifications"
QUEUE = "notifications"
LOOKBACK = timedelta(minutes=10)
PLAN_BATCH = 5000
SEVERITY_FLAGS = {
    Alert.Severity.INFO: "notify_info",
    Alert.Severity.WARNING: "notify_warning",
    Alert.Severity.CRITICAL: "notify_critical",
}


@dataclass
class Texts:
    """The stored templates, read once per sweep."""

    by_key: dict[str, MessageTemplate]

    @classmethod
    def load(cls, *keys: str) -> "Texts":
        """All templates, or only those of `keys` (one notice reads one template)."""
        templates = MessageTemplate.objects.filter(key__in=keys) if keys else MessageTemplate.objects.all()
        return cls({t.key: t for t in templates})

    def template(self, key: str) -> MessageTemplate | None:
        found = self.by_key.get(key)
        if found is None and key.startswith("alert:"):
            found = self.by_key.get("alert:*")
        return found

    def render(self, key: str, values: dict[str, str]) -> tuple[str, str]:
        """(title, body) of the key's template, or of the built-in default text."""
        template = self.template(key)
        body = template.body if template else default_body(key)
        title = template.title if template and template.title else _("OrderHub 提醒")
        return render(title, values), render(body, values)


def _local(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def order_values(order: Order | None, *, message: str = "", node: StatusNode | None = None) -> dict[str, str]:
    """The placeholders' values for an order (and an alert's message)."""
    if order is None:
        return {"message": message}
    return {
        "order_number": order.number,
        "status": order.get_status_display(),
        "message": message,
        "deadline": _local(order.state_deadline),
        "customer_label": node.customer_label if node else "",
    }


def quiet_until(prefs: NotificationSettings | None, *, now: datetime) -> datetime | None:
    """When the person's quiet hours end, if `now` is inside them (hours may span midnight: 22:00–08:00)."""
    if prefs is None or prefs.quiet_from is None or prefs.quiet_until is None or prefs.quiet_from == prefs.quiet_until:
        return None
    local = timezone.localtime(now)
    at = local.time()
    start, end = prefs.quiet_from, prefs.quiet_until
    inside = (start <= at < end) if start < end else (at >= start or at < end)
    if not inside:
        return None
    day = local.date() if at < end else local.date() + timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, end), timezone.get_current_timezone())


# A person whose settings name a channel but not their address on it: logged, never sent.
NO_ADDRESS = {
    "state": Notification.State.SKIPPED,
    "errmsg": "没有该渠道的地址（邮箱或手机号）。 No address (email or mobile) for this channel in the settings.",
}


def _recipient(channel: NotificationChannel, prefs: NotificationSettings) -> str:
    if channel.kind == NotificationChannel.Kind.EMAIL:
        return prefs.email or prefs.user.email
    if channel.kind == NotificationChannel.Kind.SMS:
        return prefs.mobile
    return channel.name


def _robot_row(alert: Alert, channel: NotificationChannel, texts: Texts, now: datetime) -> Notification:
    title, body = texts.render(f"alert:{alert.kind}", order_values(alert.order, message=alert.message))
    return Notification(
        channel=channel,
        recipient=channel.name,
        alert=alert,
        order=alert.order,
        severity=alert.severity,
        title=title,
        body=body,
        next_attempt_at=now,
        dedupe_key=f"alert:{alert.pk}:channel:{channel.pk}",
        template_key=f"alert:{alert.kind}",
    )


def deliveries_ask(channel_ids: set[int]) -> None:
    """A sender job per channel, once this transaction commits."""
    for pk in sorted(channel_ids):
        job_enqueue_on_commit(job=DELIVER_JOB, queue=QUEUE, channel_id=pk)


def _insert(rows: list[Notification]) -> int:
    """One INSERT … ON CONFLICT DO NOTHING (the dedupe key): rows planned before are left as they are. Asks
    the sender of each channel with rows to send."""
    if rows:
        Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        deliveries_ask({row.channel_id for row in rows if row.channel_id and row.state == Notification.State.QUEUED})
    return len(rows)


def alert_notifications_plan(*, now: datetime | None = None, limit: int = PLAN_BATCH) -> int:
    """Plan the delivery rows of the alerts raised since the last sweep. Returns how many rows it offered
    (rows planned before are not inserted twice). Asks the sender for every channel that got rows."""
    now = now or timezone.now()
    with transaction.atomic():
        mark, _made = NotificationSweep.objects.select_for_update().get_or_create(pk=1)
        alerts = list(
            Alert.objects.filter(Q(pk__gt=mark.last_alert_id) | Q(created_at__gte=now - LOOKBACK))
            .filter(acknowledged_at__isnull=True, resolved_at__isnull=True)
            .select_related("order", "notify_channel")
            .order_by("pk")[:limit]
        )
        if not alerts:
            return 0
        texts = Texts.load()
        offered = 0
        # 1. the channel an alert names (an escalation level's robot, say)
        offered += _insert(
            [
                _robot_row(alert, alert.notify_channel, texts, now)
                for alert in alerts
                if alert.notify_channel is not None and alert.notify_channel.is_active
            ]
        )
        # 2. the robots of the owner group
        groups = {alert.owner_group_id for alert in alerts if alert.owner_group_id}
        routes = list(NotificationGroupRoute.objects.filter(group_id__in=groups).select_related("channel"))
        robots: dict[int, list[NotificationChannel]] = {}
        member_groups: set[int] = set()
        for route in routes:
            if route.channel is not None and route.channel.is_active:
                robots.setdefault(route.group_id, []).append(route.channel)
            if route.notify_members:
                member_groups.add(route.group_id)
        offered += _insert(
            [
                _robot_row(alert, channel, texts, now)
                for alert in alerts
                for channel in robots.get(alert.owner_group_id, [])
            ]
        )
        # 3. people: the owner user, and the members of groups whose route says so, each by their own channels
        members: dict[int, set[int]] = {}
        for user_id, group_id in (
            get_user_model()
            .groups.through.objects.filter(group_id__in=member_groups, user__is_active=True)
            .values_list("user_id", "group_id")
        ):
            members.setdefault(group_id, set()).add(user_id)
        wanted = {alert.owner_user_id for alert in alerts if alert.owner_user_id}
        wanted.update(*members.values())
        prefs_of = {
            prefs.user_id: prefs
            for prefs in NotificationSettings.objects.filter(user_id__in=wanted, is_active=True)
            .select_related("user")
            .prefetch_related("channels")
        }
        rows = []
        for alert in alerts:
            people = set(members.get(alert.owner_group_id, ()))
            if alert.owner_user_id:
                people.add(alert.owner_user_id)
            for user_id in sorted(people):
                prefs = prefs_of.get(user_id)
                if prefs is None or not getattr(prefs, SEVERITY_FLAGS.get(alert.severity, "notify_warning")):
                    continue
                due = now
                if alert.severity != Alert.Severity.CRITICAL:
                    due = quiet_until(prefs, now=now) or now
                title, body = texts.render(f"alert:{alert.kind}", order_values(alert.order, message=alert.message))
                for channel in prefs.channels.all():
                    if not channel.is_active:
                        continue
                    key = (
                        f"alert:{alert.pk}:channel:{channel.pk}"
                        if channel.is_robot
                        else f"alert:{alert.pk}:user:{user_id}:channel:{channel.pk}"
                    )
                    recipient = _recipient(channel, prefs)
                    rows.append(
                        Notification(
                            channel=channel,
                            recipient=recipient,
                            user_id=user_id,
                            alert=alert,
                            order=alert.order,
                            severity=alert.severity,
                            title=title,
                            body=body,
                            next_attempt_at=due,
                            dedupe_key=key,
                            template_key=f"alert:{alert.kind}",
                            **({} if recipient else NO_ADDRESS),
                        )
                    )
        offered += _insert(rows)
        mark.last_alert_id = max(mark.last_alert_id, alerts[-1].pk)
        mark.swept_at = now
        mark.save(update_fields=["last_alert_id", "swept_at"])
    return offered


def sms_channel() -> NotificationChannel | None:
    """The SMS channel customer notices go by: the first one switched on."""
    return NotificationChannel.objects.filter(kind=NotificationChannel.Kind.SMS, is_active=True).order_by("pk").first()


def customer_notice_rows(
    *,
    orders: list[Order],
    kind: str,
    key: str,
    channel: NotificationChannel | None,
    texts: Texts,
    now: datetime,
    node: StatusNode | None = None,
) -> list[Notification]:
    """The notice rows of `orders` (not saved): an SMS to each receiver phone, skipped when masked or no SMS
    channel is on."""
    rows = []
    for order in orders:
        title, body = texts.render(key, order_values(order, node=node))
        template = texts.template(key)
        row = Notification(
            channel=channel,
            recipient=order.receiver_phone,
            order=order,
            notice_kind=kind,
            title=title,
            body=body,
            params={**order_values(order, node=node), "template_code": template.sms_template_code if template else ""},
            next_attempt_at=now,
            dedupe_key=f"notice:{order.pk}:{kind}",
            template_key=key,
        )
        if channel is None:
            row.state, row.errmsg = Notification.State.SKIPPED, _("没有开启的短信通道。 No SMS channel is switched on.")
        elif MASKED_RE.match(order.receiver_phone or ""):
            row.state, row.errmsg = (
                Notification.State.SKIPPED,
                _("手机号已脱敏，不发送短信。 The phone number is masked: no SMS is sent."),
            )
        rows.append(row)
    return rows


def customer_notice_plan(
    *,
    order: Order,
    kind: str,
    key: str,
    node: StatusNode | None = None,
    channel: NotificationChannel | None = None,
) -> bool:
    """One customer notice of `kind` for the order, in the caller's transaction; at most once per order and
    kind (a second call does nothing). Returns whether a row was written."""
    now = timezone.now()
    channel = channel or sms_channel()
    (row,) = customer_notice_rows(
        orders=[order], kind=kind, key=key, channel=channel, texts=Texts.load(key), now=now, node=node
    )
    created = Notification.objects.bulk_create([row], ignore_conflicts=True)
    written = bool(created and created[0].pk)  # PostgreSQL returns no pk for a row it did not insert
    if written and row.state == Notification.State.QUEUED:
        deliveries_ask({row.channel_id})
    return written


@dataclass(frozen=True)
class NoticeConfig:
    """What the lifecycle's hook needs on every transition: the nodes that notify the customer on entry, and
    the SMS channel they go by (none: no notice is written)."""

    nodes: dict[str, StatusNode]
    channel: NotificationChannel | None


_notice_config: tuple[float, NoticeConfig] | None = None


def notice_config() -> NoticeConfig:
    """As this process read it at most NOTIFY_CONFIG_CACHE_SECONDS ago (every transition asks; one query when
    stale, a second only when a node notifies and an SMS channel is on). Saving a channel forgets it at once
    in that process (notice_config_forget); a node's setting is seen within that time."""
    global _notice_config
    now = time.monotonic()
    if _notice_config is None or now - _notice_config[0] >= settings.NOTIFY_CONFIG_CACHE_SECONDS:
        sms = NotificationChannel.objects.filter(kind=NotificationChannel.Kind.SMS, is_active=True).order_by("pk")
        nodes = {
            node.status: node
            for node in StatusNode.objects.filter(notify_customer=True).annotate(
                sms_channel_id=Subquery(sms.values("pk")[:1])
            )
        }
        channel_id = next((node.sms_channel_id for node in nodes.values()), None)
        channel = NotificationChannel.objects.get(pk=channel_id) if channel_id else None
        _notice_config = (now, NoticeConfig(nodes=nodes, channel=channel))
    return _notice_config[1]


def notice_config_forget() -> None:
    global _notice_config
    _notice_config = None


def status_notice(*, order: Order, status: str) -> None:
    """The lifecycle's customer_notice hook: entering a node whose notify_customer is on writes the notice row in
    the transition's transaction (nothing when no SMS channel is on)."""
    config = notice_config()
    node = config.nodes.get(status)
    if node is None or config.channel is None:
        return
    customer_notice_plan(
        order=order, kind=f"status:{status}", key=f"status:{status}", node=node, channel=config.channel
    )


def allocation_slow_notices(*, now: datetime | None = None, limit: int = 1000) -> int:
    """'正在智能分仓中' for orders in allocating entered more than ALLOCATION_NOTICE_MINUTES ago without that
    notice: one query finds them, one INSERT writes the notices. Returns how many orders were offered."""
    now = now or timezone.now()
    minutes = settings.ALLOCATION_NOTICE_MINUTES
    kind = NoticeKind.ALLOCATION_SLOW.value
    orders = list(
        Order.objects.filter(status="allocating", state_entered_at__lte=now - timedelta(minutes=minutes))
        .exclude(notifications__notice_kind=kind)
        .order_by("state_entered_at")[:limit]
    )
    if not orders:
        return 0
    with transaction.atomic():
        channel = sms_channel()
        rows = customer_notice_rows(
            orders=orders, kind=kind, key=f"notice:{kind}", channel=channel, texts=Texts.load(f"notice:{kind}"), now=now
        )
        _insert(rows)
    return len(rows)


def parcel_stalled_notice(*, order: Order) -> None:
    """A stalled parcel: tell the customer once."""
    kind = NoticeKind.PARCEL_STALLED.value
    customer_notice_plan(order=order, kind=kind, key=f"notice:{kind}")


NotifyConfig = NotificationChannel | NotificationSettings | NotificationGroupRoute | MessageTemplate


def notify_config_save(*, obj: NotifyConfig, actor: AbstractBaseUser | None) -> NotifyConfig:
    """Save a notification channel, a person's settings, a group route or a message template (a template with
    an unknown or missing placeholder is refused: ValidationError). Secrets are not recorded in history."""
    history_attribute(obj, actor=actor, reason=f"{obj._meta.model_name} saved")
    obj.save()
    transaction.on_commit(notice_config_forget)
    notice_config_forget()
    return obj


def message_template_preview(*, key: str, body: str, title: str = "", order: Order | None) -> str:
    """The text as the template would send it about `order` (the node's label for a status key)."""
    node = None
    if order is not None:
        status = key.split(":", 1)[1] if key.startswith("status:") else order.status
        node = StatusNode.objects.filter(status=status).first()
    values = order_values(order, message=_("（示例提醒内容 sample alert message）"), node=node)
    text = render(body, values)
    return f"{render(title, values)}\n{text}" if title else text
