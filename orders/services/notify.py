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

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
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
    )


def _insert(rows: list[Notification]) -> int:
    """One INSERT … ON CONFLICT DO NOTHING (the dedupe key): rows planned before are left as they are."""
    if rows:
        Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
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
                    rows.append(
                        Notification(
                            channel=channel,
                            recipient=_recipient(channel, prefs),
                            user_id=user_id,
                            alert=alert,
                            order=alert.order,
                            severity=alert.severity,
                            title=title,
                            body=body,
                            next_attempt_at=due,
                            dedupe_key=key,
                        )
                    )
        offered += _insert(rows)
        mark.last_alert_id = max(mark.last_alert_id, alerts[-1].pk)
        mark.swept_at = now
        mark.save(update_fields=["last_alert_id", "swept_at"])
        job_enqueue_on_commit(job=DELIVER_JOB)
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


def customer_notice_plan(*, order: Order, kind: str, key: str, node: StatusNode | None = None) -> bool:
    """One customer notice of `kind` for the order, in the caller's transaction; at most once per order and
    kind (a second call does nothing). Returns whether a row was written."""
    now = timezone.now()
    channel = sms_channel()
    (row,) = customer_notice_rows(
        orders=[order], kind=kind, key=key, channel=channel, texts=Texts.load(key), now=now, node=node
    )
    created = Notification.objects.bulk_create([row], ignore_conflicts=True)
    written = bool(created and created[0].pk)  # PostgreSQL returns no pk for a row it did not insert
    if row.state == Notification.State.QUEUED:
        job_enqueue_on_commit(job=DELIVER_JOB)
    return written


def status_notice(*, order: Order, status: str) -> None:
    """The lifecycle's customer_notice hook: entering a node whose notify_customer is on."""
    node = StatusNode.objects.filter(status=status, notify_customer=True).first()
    if node is not None:
        customer_notice_plan(order=order, kind=f"status:{status}", key=f"status:{status}", node=node)


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
        job_enqueue_on_commit(job=DELIVER_JOB)
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
