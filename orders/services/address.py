"""Address changes asked for by customer service: applied before the label is printed, an intercept request
to the carrier (and an exception until resolved) after it."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.selectors import tracking_number_of
from orders.drafts import Address
from orders.exceptions import Conflict, InvalidInput, OrderErrorCode
from orders.models import AddressChange, Alert, Order, Source, Status
from orders.phones import PLATFORM_PHONE_MAX, cn_mobile_validator, platform_phone_validator
from orders.services.alerts import alert_raise
from orders.services.core import order_lock
from orders.services.timeline import address_changed_event, history_attribute, intercept_resolved_event
from orders.services.transitions import order_transition_locked

ADDRESS_FIELDS = {  # order field: (max length, required)
    "receiver_name": (255, True),
    "receiver_phone": (PLATFORM_PHONE_MAX, True),
    "province": (32, True),
    "city": (32, True),
    "district": (32, False),
    "address_detail": (512, True),
    # Only from the platform (intake); a person typing a new address clears it: it named the old address.
    "receiver_platform_id": (128, False),
}
BEFORE_LABEL = {Status.PLACED, Status.PAID, Status.ON_HOLD, Status.ALLOCATING, Status.ALLOCATED}
WITH_CARRIER = {Status.PRINTED, Status.PICKED_UP, Status.IN_TRANSIT}


def _check(address: Address, phone_validator=cn_mobile_validator) -> None:
    """Errors name the order's field (the admin form's field). A person types a real number; a channel may send
    the receiver's phone masked or encrypted (platform_phone_validator)."""
    for field, value in address.order_fields().items():
        max_length, required = ADDRESS_FIELDS[field]
        if (required and not value) or len(value) > max_length:
            raise InvalidInput(
                _("%(field)s is required, at most %(n)d characters.") % {"field": field, "n": max_length},
                code=OrderErrorCode.INVALID_FIELD,
                extra={"field": field},
            )
    try:
        phone_validator(address.phone)
    except ValidationError as exc:
        raise InvalidInput(
            str(exc.messages[0]), code=OrderErrorCode.INVALID_FIELD, extra={"field": "receiver_phone"}
        ) from exc


def _address_apply(*, order: Order, address: Address, actor, reason: str) -> None:
    """Write the new address on the locked order; simple-history keeps the old one with who and why."""
    for field, value in address.order_fields().items():
        setattr(order, field, value)
    history_attribute(order, actor=actor, reason=reason)
    order.save()


def order_change_address(
    *, order: Order, address: Address, reason: str, actor: AbstractBaseUser | None
) -> AddressChange:
    """`address` is cleaned by Address (phone in any usual spelling); AddressChange rows keep the Order spelling."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 255:
        raise InvalidInput(
            _("A reason of at most 255 characters is required."), code="reason_required", extra={"field": "reason"}
        )
    _check(address)
    new = address
    with transaction.atomic():
        order = order_lock(order=order)
        old = Address.of(order)
        if new == old:
            raise InvalidInput(_("The new address is the same as the current one."), code="unchanged", extra={})
        if order.is_legacy or order.status not in BEFORE_LABEL | WITH_CARRIER:
            raise Conflict(
                _("The address of an order that is '%(status)s' cannot be changed.")
                % {"status": order.get_status_display()},
                code=OrderErrorCode.TRANSITION_NOT_ALLOWED,
                extra={"status": order.status},
            )
        applied_now = order.status in BEFORE_LABEL
        change = AddressChange.objects.create(
            order=order,
            state=AddressChange.State.APPLIED if applied_now else AddressChange.State.INTERCEPT,
            old_address=old.order_fields(),
            new_address=new.order_fields(),
            reason=reason,
            requested_by=actor if actor and actor.is_authenticated else None,
            resolved_at=timezone.now() if applied_now else None,
        )
        if applied_now:
            _address_apply(order=order, address=new, actor=actor, reason=f"address change: {reason}")
            address_changed_event(order=order, old=old, new=new, actor=actor, reason=reason)
            return change
        _intercept(order=order, change=change, source=Source.ADMIN, actor_label=_("address change"))
        return change


def _intercept(*, order: Order, change: AddressChange, source: str, actor_label: str) -> Order:
    """After the label: the order waits in 'exception' and customer service asks the carrier to intercept."""
    new = Address.from_order_fields(change.new_address)
    why = _("拦截改址 Intercept for address change to %(new)s: %(why)s") % {"new": new.one_line(), "why": change.reason}
    order = order_transition_locked(  # on the row the caller locked
        order=order, transition="flag_exception", actor=None, source=source, actor_label=actor_label, reason=why[:255]
    )
    alert_raise(
        kind=Alert.Kind.OTHER,
        order=order,
        message=_("Ask %(carrier)s to intercept parcel %(number)s and deliver to: %(new)s")
        % {
            "carrier": order.carrier.name if order.carrier else "-",
            "number": tracking_number_of(order),
            "new": new.one_line(),
        },
        dedupe_key=f"intercept:{change.pk}",
    )
    return order


def order_address_from_channel(
    *, order: Order, address: Address, reason: str, source: str, actor_label: str
) -> tuple[Order, str]:
    """A channel reports a new address for the order the caller holds locked: the rules of a person's change.
    Before the label: an applied AddressChange and the new fields set on `order` (the caller saves them with its
    one timeline event) → "applied". With the carrier: the intercept, as for a person → "intercept". Otherwise
    (delivered, cancelled …) nothing changes → "refused". Bad values raise InvalidInput."""
    _check(address, phone_validator=platform_phone_validator)
    old = Address.of(order)
    asked = address.order_fields()
    if AddressChange.objects.filter(order=order, state=AddressChange.State.INTERCEPT, new_address=asked).exists():
        return order, "intercept"  # the channel repeats a change the carrier is already asked for
    if order.is_legacy or order.status not in BEFORE_LABEL | WITH_CARRIER:
        return order, "refused"
    applied_now = order.status in BEFORE_LABEL
    change = AddressChange.objects.create(
        order=order,
        state=AddressChange.State.APPLIED if applied_now else AddressChange.State.INTERCEPT,
        old_address=old.order_fields(),
        new_address=asked,
        reason=reason[:255],
        resolved_at=timezone.now() if applied_now else None,
    )
    if applied_now:
        for field, value in address.order_fields().items():
            setattr(order, field, value)
        return order, "applied"
    return _intercept(order=order, change=change, source=source, actor_label=actor_label), "intercept"


def address_change_resolve(
    *, change: AddressChange, intercepted: bool, actor: AbstractBaseUser | None
) -> AddressChange:
    """Record the carrier's answer to an intercept: apply the new address, or keep the old one."""
    with transaction.atomic():
        change = AddressChange.objects.select_for_update().get(pk=change.pk)
        if change.state != AddressChange.State.INTERCEPT:
            raise Conflict(_("This address change is already resolved."), code="already_resolved", extra={})
        order = Order.objects.select_for_update().get(pk=change.order_id)
        if intercepted:
            _address_apply(
                order=order,
                address=Address.from_order_fields(change.new_address),
                actor=actor,
                reason=f"address change intercepted: {change.reason}",
            )
        change.state = AddressChange.State.INTERCEPTED if intercepted else AddressChange.State.FAILED
        change.resolved_at = timezone.now()
        change.save()
        intercept_resolved_event(order=order, change=change, intercepted=intercepted, actor=actor)
    return change
