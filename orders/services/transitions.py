from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.models import Carrier
from orders.exceptions import Conflict, Forbidden, InvalidInput, OrderErrorCode
from orders.models import Order, OrderEvent, Source, Status, StatusNode
from orders.services.timeline import event_record, history_attribute
from orders.transitions import TRANSITIONS, TransitionSpec, failed_guards
from warehouse.models import Warehouse

# The order keeps the reason of its current state in status_reason (varchar 255).
REASON_MAX_LENGTH = 255
# Fields a transition request may set on the order before its guard is checked.
SETTABLE_ON_TRANSITION = ("warehouse", "carrier", "tracking_number")


def status_deadline(*, status: str, entered_at) -> timezone.datetime | None:
    node = StatusNode.objects.filter(status=status).only("timeout_minutes").first()
    if node is None or not node.timeout_minutes:
        return None
    return entered_at + timedelta(minutes=node.timeout_minutes)


def _spec_or_error(name: str) -> TransitionSpec:
    spec = TRANSITIONS.get(name)
    if spec is None:
        raise InvalidInput(
            _("Unknown transition '%(name)s'.") % {"name": name},
            code=OrderErrorCode.UNKNOWN_TRANSITION,
            extra={"field": "transition", "allowed": sorted(TRANSITIONS)},
        )
    return spec


def _apply_changes(order: Order, changes: dict) -> dict:
    applied = {}
    for field, value in changes.items():
        if field not in SETTABLE_ON_TRANSITION:
            raise InvalidInput(
                _("Field '%(f)s' cannot be set here.") % {"f": field}, code="invalid_field", extra={"field": field}
            )
        if value in (None, ""):
            continue
        if field == "warehouse":
            warehouse = Warehouse.objects.filter(code=value, is_active=True).first()
            if warehouse is None:
                raise InvalidInput(
                    _("Unknown warehouse '%(v)s'.") % {"v": value},
                    code="unknown_warehouse",
                    extra={"field": "warehouse"},
                )
            order.warehouse = warehouse
        elif field == "carrier":
            carrier = Carrier.objects.filter(code=value, is_active=True).first()
            if carrier is None:
                raise InvalidInput(
                    _("Unknown carrier '%(v)s'.") % {"v": value}, code="unknown_carrier", extra={"field": "carrier"}
                )
            order.carrier = carrier
        else:
            value = str(value).strip()
            if len(value) > 32:
                raise InvalidInput(
                    _("Tracking number is longer than 32 characters."),
                    code="invalid_field",
                    extra={"field": "tracking_number"},
                )
            order.tracking_number = value
        applied[field] = str(value)
    return applied


def check_transition(*, order: Order, spec: TransitionSpec, actor: AbstractBaseUser | None, source: str) -> None:
    """Raise the error that explains why this transition cannot happen now; return if it can."""
    if order.is_legacy:
        raise Conflict(str(failed_guards(order, spec)[0]), code=OrderErrorCode.LEGACY_READ_ONLY)
    if actor is not None and not actor.has_perm(spec.permission):
        raise Forbidden(
            _("You do not have permission to '%(label)s'.") % {"label": spec.label},
            code=OrderErrorCode.TRANSITION_FORBIDDEN,
        )
    if order.status not in spec.from_states:
        raise Conflict(
            _("Cannot '%(label)s' an order that is '%(status)s'.")
            % {"label": spec.label, "status": order.get_status_display()},
            code=OrderErrorCode.TRANSITION_NOT_ALLOWED,
            extra={"status": order.status, "allowed_from": sorted(spec.from_states)},
        )
    if not spec.allows_source(source):
        raise Conflict(
            _("'%(label)s' can only come from: %(sources)s.")
            % {"label": spec.label, "sources": ", ".join(spec.sources)},
            code=OrderErrorCode.TRANSITION_NOT_ALLOWED,
            extra={"source": source, "allowed_sources": list(spec.sources)},
        )
    failures = failed_guards(order, spec)
    if failures:
        raise Conflict(" ".join(failures), code=OrderErrorCode.TRANSITION_NOT_ALLOWED, extra={"status": order.status})


def order_transition(
    *,
    order: Order,
    transition: str,
    actor: AbstractBaseUser | None,
    source: str,
    reason: str = "",
    actor_label: str = "",
    changes: dict | None = None,
) -> Order:
    """Move an order through one status node: lock, check, change, record. Refusals raise and change nothing."""
    spec = _spec_or_error(transition)
    reason = (reason or "").strip()
    if spec.reason_required and not reason:
        raise InvalidInput(
            _("A reason is required to '%(label)s'.") % {"label": spec.label},
            code=OrderErrorCode.REASON_REQUIRED,
            extra={"field": "reason"},
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput(
            _("The reason is longer than %(n)d characters.") % {"n": REASON_MAX_LENGTH},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "reason"},
        )
    shortfall = None
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        applied = _apply_changes(locked, changes or {}) if not locked.is_legacy else {}
        if transition == "allocate" and locked.status == Status.ALLOCATING and not locked.is_legacy:
            from orders.services.allocation import order_route  # it moves orders via this module

            locked = order_route(order=locked)
        check_transition(order=locked, spec=spec, actor=actor, source=source)
        if transition == "allocate":
            from orders.services.allocation import order_lock_stock_or_hold

            shortfall = order_lock_stock_or_hold(order=locked, actor=actor)
        if shortfall is None:
            locked = _transition_locked(
                order=locked,
                transition=transition,
                actor=actor,
                source=source,
                reason=reason,
                actor_label=actor_label,
                applied=applied,
            )
    if shortfall is not None:
        raise shortfall  # the order was held for stock in the transaction above, which is committed
    return locked


def _transition_locked(
    *, order: Order, transition: str, actor, source: str, reason: str, actor_label: str, applied: dict
) -> Order:
    """Change the row-locked order, record it, and make the effects this step has on stock and rules."""
    from orders.services import allocation
    from warehouse import services as stock

    from_status = order.status
    getattr(order, transition)()
    now = timezone.now()
    order.state_entered_at = now
    order.state_deadline = status_deadline(status=order.status, entered_at=now)
    if order.status in (Status.ON_HOLD, Status.CANCELLED, Status.RETURNED, Status.EXCEPTION):
        order.status_reason = reason
    elif from_status in (Status.ON_HOLD, Status.EXCEPTION):
        order.status_reason = ""
        order.resume_status = ""
    history_attribute(order, actor=actor, reason=f"{transition}: {reason}" if reason else transition)
    order.save()
    event_record(
        order=order,
        kind=OrderEvent.Kind.TRANSITION,
        source=source,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        transition=transition,
        from_status=from_status,
        to_status=order.status,
        data={"set": applied} if applied else None,
    )
    # Why stock moved, on each ledger row (the ledger caps it at 255 characters).
    stock_note = f"{order.number} {transition}"
    stock_reason = f"{stock_note}: {reason}"
    if transition == "pay":
        from orders.services.rules import order_apply_rules_on_paid

        order = order_apply_rules_on_paid(order=order)
    elif transition == "print_label":
        from orders.services.rules import order_merge_by_rules

        order_merge_by_rules(order=order)
        order.refresh_from_db(fields=["tags"])  # the rule may have tagged this row through another copy
        from orders.services.parcels import order_register_parcel

        order_register_parcel(order=order, source="manual" if source == Source.ADMIN else "warehouse")
    elif transition == "pick_up":
        stock.stock_deduct(order_id=order.pk, actor=actor, reason=stock_note)
    elif transition == "cancel":
        stock.stock_release(order_id=order.pk, actor=actor, reason=stock_reason)
    elif transition == "mark_returned":
        # Shipped units come back on hand; units still locked (returned before pickup, via an exception) are freed.
        stock.stock_restock(order_id=order.pk, actor=actor, reason=stock_reason)
        stock.stock_release(order_id=order.pk, actor=actor, reason=stock_reason)
    if order.status == Status.PAID and transition in ("pay", "release"):
        order = allocation.order_admit(order=order)
    elif order.status == Status.ALLOCATING:  # entered the queue: by hand, on admission, or released into it
        allocation.allocation_enqueue(order_id=order.pk)
    return order


def transitions_available(*, order: Order, actor: AbstractBaseUser | None, source: str) -> list[TransitionSpec]:
    """The transitions this caller may make on this order right now (drives buttons and the API list)."""
    available = []
    for spec in TRANSITIONS.values():
        try:
            check_transition(order=order, spec=spec, actor=actor, source=source)
        except (Conflict, Forbidden):
            continue
        available.append(spec)
    return available
