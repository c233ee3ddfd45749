from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import Alert, Order, OrderEvent, Source
from orders.services.timeline import event_record


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
        existing = Alert.objects.filter(dedupe_key=dedupe_key, acknowledged_at__isnull=True).first()
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
        return Alert.objects.get(dedupe_key=dedupe_key, acknowledged_at__isnull=True)
    return alert


def alert_acknowledge(*, alert: Alert, actor: AbstractBaseUser) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.acknowledged_at is None:
            alert.acknowledged_at = timezone.now()
            alert.acknowledged_by = actor
            alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert
