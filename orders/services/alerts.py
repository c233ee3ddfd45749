from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from orders import selectors
from orders.models import Alert, EscalationLevel, NotificationChannel, Order, StatusNode
from orders.services.owners import owner_for
from orders.services.timeline import alert_raised_event, alert_resolved_event

# Open: nobody acknowledged it and its cause is still there (as the constraint alert_one_open_per_key counts).
OPEN = {"acknowledged_at__isnull": True, "resolved_at__isnull": True}


def alert_raise(
    *,
    kind: str,
    message: str,
    severity: str | None = None,
    order: Order | None = None,
    owner_group: Group | None = None,
    owner_user: AbstractBaseUser | None = None,
    node: StatusNode | None = None,
    escalation: EscalationLevel | None = None,
    rule_group: str = "",
    dedupe_key: str = "",
    restate: bool = False,
    notify_channel: NotificationChannel | None = None,
) -> Alert:
    """Record that a person is needed. With a dedupe_key, an open alert with that key is returned instead
    (`restate`: with its message replaced by this one, the latest cause, e.g. a carrier's newest refusal).

    Without an explicit owner, `owner_for` decides from what the alert is about (an escalation level, the group
    a rule names, a status node) and else the kind's route (AlertRoute, edited in the admin); a route naming
    nobody leaves the alert unowned. Without a severity the alert takes its route's. `notify_channel`: a channel
    (a robot) the alert goes to besides its owners (orders.services.notify plans the messages)."""
    if dedupe_key:
        existing = Alert.objects.filter(dedupe_key=dedupe_key, **OPEN).first()
        if existing:
            if restate and existing.message != message[:500]:
                existing.message = message[:500]
                existing.save(update_fields=["message"])
            return existing
    unowned = owner_group is None and owner_user is None
    if unowned or severity is None:
        route = selectors.alert_route_for(kind=kind)  # one indexed read
        if unowned:
            owner_group, owner_user = owner_for(
                kind=kind, node=node, escalation=escalation, rule_group=rule_group, route=route
            )
        severity = severity or (route.severity if route else Alert.Severity.WARNING)
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind,
                message=message[:500],
                severity=severity,
                order=order,
                owner_group=owner_group,
                owner_user=owner_user,
                dedupe_key=dedupe_key,
                notify_channel=notify_channel,
            )
            if order is not None:
                alert_raised_event(alert=alert)
    except IntegrityError:
        # Another process raised the same open alert a moment ago.
        return Alert.objects.get(dedupe_key=dedupe_key, **OPEN)
    return alert


def alert_acknowledge(*, alert: Alert, actor: AbstractBaseUser) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.acknowledged_at is None:
            alert.acknowledged_at = timezone.now()
            alert.acknowledged_by = actor
            alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


def alert_resolve(*, alerts: QuerySet[Alert], resolution: str) -> int:
    """Close, as resolved by the system (已由系统解决), the alerts of `alerts` not yet resolved, because their
    cause is gone; acknowledged ones too, since the person working on them is done. Each alert with an order
    gets a line on that order's timeline. Returns how many were resolved; running it twice resolves nothing."""
    now = timezone.now()
    resolved = 0
    with transaction.atomic():
        pending = alerts.filter(resolved_at__isnull=True).select_related("order")
        for alert in pending.select_for_update(of=("self",)).order_by("pk"):
            alert.resolved_at = now
            alert.resolution = resolution[:255]
            alert.save(update_fields=["resolved_at", "resolution"])
            if alert.order_id is not None:
                alert_resolved_event(alert=alert)
            resolved += 1
    return resolved
