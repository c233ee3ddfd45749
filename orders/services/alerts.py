from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Alert, Order, OrderEvent, Source
from orders.services.timeline import event_record

# Open: nobody acknowledged it and its cause is still there (as the constraint alert_one_open_per_key counts).
OPEN = {"acknowledged_at__isnull": True, "resolved_at__isnull": True}


def alert_raise(
    *,
    kind: str,
    message: str,
    severity: str = Alert.Severity.WARNING,
    order: Order | None = None,
    owner_group: Group | None = None,
    owner_user: AbstractBaseUser | None = None,
    dedupe_key: str = "",
) -> Alert:
    """Record that a person is needed. With a dedupe_key, an open alert with that key is returned instead."""
    if dedupe_key:
        existing = Alert.objects.filter(dedupe_key=dedupe_key, **OPEN).first()
        if existing:
            return existing
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
            )
            if order is not None:
                event_record(
                    order=order,
                    kind=OrderEvent.Kind.ALERT,
                    source=Source.SYSTEM,
                    reason=message,
                    data={"alert_id": alert.pk, "alert_kind": kind, "severity": severity},
                )
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
                event_record(
                    order=alert.order,
                    kind=OrderEvent.Kind.ALERT,
                    source=Source.SYSTEM,
                    reason=_("Alert resolved by the system: %(why)s") % {"why": resolution},
                    data={"alert_id": alert.pk, "alert_kind": alert.kind, "resolved": True},
                )
            resolved += 1
    return resolved
