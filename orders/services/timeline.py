from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext as _

from config.history import history_reason
from orders.models import Alert, Order, OrderEvent, Source

# Timeline lines waiting for the one INSERT at the end of a lifecycle run (None: write each at once).
_deferred: ContextVar[list[OrderEvent] | None] = ContextVar("orderhub_deferred_events", default=None)


def actor_display(actor: AbstractBaseUser | None, fallback: str) -> str:
    if actor is None:
        return fallback
    full_name = actor.get_full_name() if hasattr(actor, "get_full_name") else ""
    return full_name or actor.get_username()


def history_attribute(instance, *, actor: AbstractBaseUser | None, reason: str) -> None:
    """Name who and why on the audit row the next save() writes.

    The history middleware only knows session users; API tokens authenticate later, inside the view.
    """
    if actor is not None and actor.is_authenticated:
        instance._history_user = actor
    instance._change_reason = history_reason(reason)


def event_record(
    *,
    order: Order,
    kind: str,
    source: str,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    reason: str = "",
    transition: str = "",
    from_status: str = "",
    to_status: str = "",
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    """Append one line to the order's timeline. Call inside the transaction that made the change."""
    event = OrderEvent(
        order=order,
        kind=kind,
        source=source,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_display(actor, actor_label or source),
        reason=reason[:500],
        transition=transition,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
    )
    pending = _deferred.get()
    if pending is None:
        event.save()
    else:
        pending.append(event)
    return event


@contextmanager
def events_deferred() -> Iterator[None]:
    """Write the timeline lines recorded inside this block in one INSERT when it ends, in the order recorded
    (a lifecycle run records three to six). Use inside the transaction; an error leaving the block writes none.
    A savepoint rolled back and caught inside the block does not take back lines recorded in it: inside, record
    a line only after the change it describes is made."""
    if _deferred.get() is not None:  # an outer block writes them
        yield
        return
    token = _deferred.set([])
    try:
        yield
        pending = _deferred.get()
    finally:
        _deferred.reset(token)
    if pending:
        OrderEvent.objects.bulk_create(pending)


# Typed constructors: one per kind of timeline line, with fixed data keys, so reports can read them.
def alert_raised_event(*, alert: Alert) -> OrderEvent:
    """The line an alert about an order leaves on its timeline. data: alert_id, alert_kind, severity, resolved."""
    return event_record(
        order=alert.order,
        kind=OrderEvent.Kind.ALERT,
        source=Source.SYSTEM,
        reason=alert.message,
        data={"alert_id": alert.pk, "alert_kind": alert.kind, "severity": alert.severity, "resolved": False},
    )


def alert_resolved_event(*, alert: Alert) -> OrderEvent:
    """The line the system leaves when it closes an alert whose cause is gone (same keys as alert_raised_event)."""
    return event_record(
        order=alert.order,
        kind=OrderEvent.Kind.ALERT,
        source=Source.SYSTEM,
        reason=_("Alert resolved by the system: %(why)s") % {"why": alert.resolution},
        data={"alert_id": alert.pk, "alert_kind": alert.kind, "severity": alert.severity, "resolved": True},
    )
