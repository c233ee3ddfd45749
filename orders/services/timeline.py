"""The order's timeline: `event_record` writes one line (at once, or deferred into one INSERT), and below it
one typed constructor per kind of line, each with fixed data keys (EVENT_DATA_KEYS), so reports can read
them. Call sites use the constructors; only this module calls `event_record`."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

from config.history import history_reason
from logistics.models import Shipment
from orders.drafts import Address
from orders.models import AddressChange, Alert, Order, OrderEvent, Source
from rules.services import Decision
from warehouse.models import Warehouse

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


_history_models: dict[type, type] = {}


def _history_model(model: type[models.Model]) -> type[models.Model]:
    history_model = _history_models.get(model)
    if history_model is None:  # the manager simple-history builds on every access, once per model here
        history_model = getattr(model, model._meta.simple_history_manager_attribute).model
        _history_models[model] = history_model
    return history_model


def _history_row(history_model, instance: models.Model, default_user: AbstractBaseUser | None):
    """The '+' row simple-history writes for a new instance: every tracked field; who: the actor history_attribute
    named, else default_user, else the signed-in user of the request; why; when."""
    if hasattr(instance, "_history_user"):
        user = instance._history_user
    elif default_user is not None:
        user = default_user
    else:
        request = getattr(HistoricalRecords.context, "request", None)
        user = getattr(request, "user", None)
        user = user if user is not None and user.is_authenticated else None
    return history_model(
        history_date=instance._history_date if hasattr(instance, "_history_date") else timezone.now(),
        history_type="+",
        history_user=user,
        history_change_reason=getattr(instance, "_change_reason", None),
        **{f.attname: getattr(instance, f.attname) for f in history_model.tracked_fields},
    )


def history_insert(instance: models.Model) -> None:
    """INSERT a new row and its '+' audit row, the row simple-history's post_save writes, built directly:
    its post_save builds a history manager class for every row it writes (~0.25 ms each, measured)."""
    instance.skip_history_when_saving = True
    try:
        instance.save(force_insert=True)
    finally:
        del instance.skip_history_when_saving
    if getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        _history_row(_history_model(type(instance)), instance, None).save(force_insert=True)


def history_bulk_insert(
    instances: list[models.Model], *, default_user: AbstractBaseUser | None = None
) -> list[models.Model]:
    """simple-history's bulk_create_with_history (one INSERT for the rows, one for their '+' rows, same rows)
    without building its history manager per call; where the database returns no ids from a bulk INSERT, its
    own helper (which reads them back)."""
    if not instances:
        return []
    model = type(instances[0])
    if not connection.features.can_return_rows_from_bulk_insert:
        return bulk_create_with_history(instances, model, default_user=default_user)
    with transaction.atomic(savepoint=False):
        created = model._default_manager.bulk_create(instances)
        if getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
            history_model = _history_model(model)
            history_model._default_manager.bulk_create([_history_row(history_model, i, default_user) for i in created])
    return created


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
# The data keys each constructor writes, by constructor name (tests pin them; reports may read them).
# `order_edited_event` writes one key per changed field, all from EDITABLE_FIELDS.
EDITABLE_FIELDS = ("priority", "tags", "invoice_title", "promised_ship_by")
EVENT_DATA_KEYS: dict[str, tuple[str, ...]] = {
    "order_created_event": ("channel", "channel_order_no"),
    "order_imported_event": (
        "channel",
        "channel_order_no",
        "import_job",
        "file_name",
        "legacy_code",
        "tracking_number",
        "carrier",
        "note",
    ),
    "transition_event": ("set",),
    "rule_fired_event": ("rule_id", "version", "kind", "action"),
    "order_routed_event": ("warehouse", "routed_by", "ranking"),
    "address_changed_event": ("old_address", "new_address"),
    "intercept_resolved_event": ("address_change", "intercepted"),
    "payment_recorded_event": ("payment",),  # payment: paid_amount, paid_at, payment_reference, expected, before
    "payment_time_event": ("payment",),  # payment: paid_at
    "channel_update_event": ("replay_update",),
    "channel_review_event": ("replay_digest", "differences"),
    "duplicate_noted_event": ("duplicate_of",),
    "order_edited_event": EDITABLE_FIELDS,
    "stock_lock_expired_event": ("hours",),
    "alert_raised_event": ("alert_id", "alert_kind", "severity", "resolved"),
    "alert_resolved_event": ("alert_id", "alert_kind", "severity", "resolved"),
    "waybill_ordered_event": ("shipment_id", "carrier", "tracking_number", "waybill_key", "subscribed"),
}
PAYMENT_RECORDED_KEYS = ("paid_amount", "paid_at", "payment_reference", "expected", "before")


def _local(when: datetime) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M")


def order_created_event(*, order: Order, source: str, actor: AbstractBaseUser | None) -> OrderEvent:
    """The first line of every order. data: channel (code), channel_order_no."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.CREATED,
        source=source,
        actor=actor,
        to_status=order.status,
        data={"channel": order.channel.code, "channel_order_no": order.channel_order_no},
    )


def order_imported_event(
    *,
    order: Order,
    import_job: int,
    file_name: str,
    legacy_code: str,
    legacy_label: str,
    tracking_number: str = "",
    carrier: str = "",
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> OrderEvent:
    """The first line of a legacy order, naming the import and its file. data: channel (code), channel_order_no,
    import_job (id), file_name, legacy_code (the old system's status code), tracking_number, carrier, note (as the
    file said them)."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.CREATED,
        source=Source.IMPORT,
        actor=actor,
        actor_label=_("Import #%(job)s") % {"job": import_job},
        reason=_("Imported from %(file)s (import #%(job)s), legacy status %(code)s %(label)s")
        % {"file": file_name, "job": import_job, "code": legacy_code, "label": legacy_label},
        to_status=order.status,
        data={
            "channel": order.channel.code,
            "channel_order_no": order.channel_order_no,
            "import_job": import_job,
            "file_name": file_name,
            "legacy_code": legacy_code,
            "tracking_number": tracking_number,
            "carrier": carrier,
            "note": note,
        },
    )


def transition_event(
    *,
    order: Order,
    transition: str,
    from_status: str,
    source: str,
    actor: AbstractBaseUser | None,
    actor_label: str = "",
    reason: str = "",
    applied: dict[str, Any] | None = None,
) -> OrderEvent:
    """One status change, recorded after the order's status moved (to_status is its status now).
    data: set (the fields the transition's guard set on the order, {} when none)."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.TRANSITION,
        source=source,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        transition=transition,
        from_status=from_status,
        to_status=order.status,
        data={"set": dict(applied or {})},
    )


def rule_fired_event(*, order: Order, decision: Decision, text: str) -> OrderEvent:
    """A business rule acted on the order; `text` says what it did. data: rule_id, version, kind, action."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.RULE,
        source=Source.RULE,
        actor_label=decision.rule_name,
        reason=f"{decision.rule_name} v{decision.version}: {text}",
        data={
            "rule_id": decision.rule_id,
            "version": decision.version,
            "kind": decision.kind,
            "action": decision.action,
        },
    )


def order_routed_event(
    *, order: Order, warehouse: Warehouse, why: Iterable[str], ranking: str, actor_label: str
) -> OrderEvent:
    """The system chose the order's warehouse by stock (a rule's route is a rule_fired_event of kind 'route').
    data: warehouse (code), routed_by ('stock'), ranking (the ranking setting, 'nearest' by default)."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=Source.SYSTEM,
        actor_label=actor_label,
        reason=_("Routed to %(warehouse)s: %(why)s")
        % {"warehouse": warehouse.name, "why": _(", ").join(str(w) for w in why)},
        data={"warehouse": warehouse.code, "routed_by": "stock", "ranking": ranking or "nearest"},
    )


def address_changed_event(
    *, order: Order, old: Address, new: Address, actor: AbstractBaseUser | None, reason: str
) -> OrderEvent:
    """The delivery address was changed before the label. data: old_address, new_address (order fields)."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=Source.ADMIN,
        actor=actor,
        reason=_("Address changed: %(old)s → %(new)s (%(why)s)")
        % {"old": old.one_line(), "new": new.one_line(), "why": reason},
        data={"old_address": old.order_fields(), "new_address": new.order_fields()},
    )


def intercept_resolved_event(
    *, order: Order, change: AddressChange, intercepted: bool, actor: AbstractBaseUser | None
) -> OrderEvent:
    """The carrier's answer to an address-change intercept. data: address_change (its id), intercepted."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=Source.ADMIN,
        actor=actor,
        reason=_("Intercept succeeded: new address applied.")
        if intercepted
        else _("Intercept failed: address unchanged."),
        data={"address_change": change.pk, "intercepted": intercepted},
    )


def payment_recorded_event(
    *,
    order: Order,
    amount: Decimal,
    paid_at: datetime,
    reference: str,
    expected: Iterable[Decimal],
    before: dict[str, Any],
    source: str,
    actor: AbstractBaseUser | None,
    actor_label: str = "",
) -> OrderEvent:
    """A payment was recorded (matching or not). data: payment = {paid_amount, paid_at, payment_reference,
    expected (the amounts that would count as paid), before (paid_amount, paid_at, reference before it)}."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=source,
        actor=actor,
        actor_label=actor_label,
        reason=_("收款 Payment recorded: ¥%(amount)s at %(at)s, reference %(ref)s")
        % {"amount": amount, "at": _local(paid_at), "ref": reference},
        data={
            "payment": {
                "paid_amount": str(amount),
                "paid_at": paid_at.isoformat(),
                "payment_reference": reference,
                "expected": [str(e) for e in expected],
                "before": {**before, "paid_at": before["paid_at"].isoformat() if before["paid_at"] else None},
            }
        },
    )


def payment_time_event(
    *, order: Order, paid_at: datetime, source: str, actor: AbstractBaseUser | None, actor_label: str = ""
) -> OrderEvent:
    """The channel reported the payment time of an order verified without one. data: payment = {paid_at}."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=source,
        actor=actor,
        actor_label=actor_label,
        reason=_("Payment time from the channel: %(at)s") % {"at": _local(paid_at)},
        data={"payment": {"paid_at": paid_at.isoformat()}},
    )


def channel_update_event(
    *,
    order: Order,
    differences: list[dict],
    described: str,
    source: str,
    actor: AbstractBaseUser | None,
    actor_label: str = "",
) -> OrderEvent:
    """A channel replay's new content was applied; `described` is the differences in words.
    data: replay_update (the differences, each with 'field')."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=source,
        actor=actor,
        actor_label=actor_label,
        reason=_("渠道重推更新 Channel replay updated the order: %(changes)s") % {"changes": described},
        data={"replay_update": differences},
    )


def channel_review_event(
    *, order: Order, differences: list[dict], digest: str, reason: str, source: str, actor_label: str = ""
) -> OrderEvent:
    """A channel replay differs in ways the hub cannot apply: a person reviews it.
    data: replay_digest (dedupes the same report), differences."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=source,
        actor_label=actor_label,
        reason=reason,
        data={"replay_digest": digest, "differences": differences},
    )


def duplicate_noted_event(*, order: Order, twin: Order, reason: str, source: str) -> OrderEvent:
    """A new order already on hold looks like `twin` on another channel (疑似重复): the link, no second hold.
    data: duplicate_of (the twin's order number)."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=source,
        actor_label=_("duplicate check"),
        reason=reason,
        data={"duplicate_of": twin.number},
    )


def order_edited_event(
    *, order: Order, changes: dict[str, dict[str, Any]], text: str, source: str, actor: AbstractBaseUser | None
) -> OrderEvent:
    """A person changed priority, tags or details. data: one key per changed field (from EDITABLE_FIELDS), each
    {old, new} (tags also added, removed)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:  # a new editable field gets its key here first, so reports learn of it
        raise ValueError(f"order_edited_event: unknown fields {sorted(unknown)}")
    return event_record(order=order, kind=OrderEvent.Kind.NOTE, source=source, actor=actor, reason=text, data=changes)


def stock_lock_expired_event(*, order: Order, hours: int, reason: str) -> OrderEvent:
    """A held order's stock lock expired and its stock was released. data: hours (the lock's lifetime)."""
    return event_record(
        order=order, kind=OrderEvent.Kind.NOTE, source=Source.SYSTEM, reason=reason, data={"hours": hours}
    )


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


def waybill_ordered_event(
    *, order: Order, shipment: Shipment, source: str, actor: AbstractBaseUser | None
) -> OrderEvent:
    """The carrier issued the order's waybill (电子面单) and the number is in the parcel registry.
    data: shipment_id, carrier (code), tracking_number, waybill_key, subscribed (tracking pushes asked for)."""
    return event_record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        source=source,
        actor=actor,
        reason=_("Waybill %(number)s ordered from %(carrier)s")
        % {"number": shipment.tracking_number, "carrier": shipment.carrier.name},
        data={
            "shipment_id": shipment.pk,
            "carrier": shipment.carrier.code,
            "tracking_number": shipment.tracking_number,
            "waybill_key": shipment.waybill_key,
            "subscribed": shipment.subscribed_at is not None,
        },
    )
