"""Payments: the one door for every report that a buyer paid, whoever brings it (a channel creating or
replaying an order, 财务 in the admin, the API). It records amount, time and reference with history and a
timeline line, then moves the order on through the status machine, or holds it when the amount is wrong."""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.exceptions import Conflict, Forbidden, InvalidInput, OrderErrorCode
from orders.models import Order, Status
from orders.services.core import order_lock
from orders.services.timeline import (
    events_deferred,
    history_attribute,
    payment_recorded_event,
    payment_time_event,
)
from orders.services.transitions import order_transition_locked

PAY_PERMISSION = "orders.pay_order"
REFERENCE_MAX_LENGTH = 64
MAX_AMOUNT = Decimal("9999999999.99")  # the column holds 12 digits, 2 after the point
# Clocks of platforms and banks drift a little; a payment further in the future than this is a typo.
FUTURE_TOLERANCE = timedelta(minutes=10)


def _clean_amount(value) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        amount = None
    if (
        amount is None
        or not amount.is_finite()
        or amount <= 0
        or amount > MAX_AMOUNT
        or -amount.as_tuple().exponent > 2
    ):
        raise InvalidInput(
            _("paid_amount must be an amount above zero with at most 2 decimals, e.g. 198.00."),
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "paid_amount"},
        )
    return amount


def _clean_time(value) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(
            _("paid_at must be a date and time, e.g. 2026-11-22T10:00:00+08:00."),
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "paid_at"},
        )
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > timezone.now() + FUTURE_TOLERANCE:
        raise InvalidInput(
            _("paid_at lies in the future."), code=OrderErrorCode.INVALID_FIELD, extra={"field": "paid_at"}
        )
    return value


def _clean_reference(value) -> str:
    reference = str(value or "").strip()
    if not reference or len(reference) > REFERENCE_MAX_LENGTH:
        raise InvalidInput(
            _("payment_reference is required, at most %(n)d characters (the platform's trade number or the bank slip).")
            % {"n": REFERENCE_MAX_LENGTH},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "payment_reference"},
        )
    return reference


def payment_expected(*, order: Order) -> list[Decimal]:
    """The totals the buyer may have paid by now: the subtotal, or for a presale without its deposit yet
    also the deposit alone. `paid_amount` always means the order's total paid so far, as channels report it."""
    if order.is_presale and order.payment_status == Order.PaymentStatus.UNPAID and order.deposit_amount:
        return [order.deposit_amount, order.subtotal]
    return [order.subtotal]


def payment_can_confirm(*, order: Order) -> bool:
    """Whether a payment can be recorded on this order now (drives the 确认收款 button)."""
    return order.status == Status.PLACED and not order.is_legacy and order.payment_status != Order.PaymentStatus.PAID


def payment_mismatch_reason(*, expected: list[Decimal], paid: Decimal) -> str:
    if len(expected) == 2:
        wanted = _("deposit ¥%(deposit)s or in full ¥%(total)s") % {"deposit": expected[0], "total": expected[1]}
    else:
        wanted = f"¥{expected[0]}"
    return _("金额不符 Amount mismatch: expected %(expected)s, paid ¥%(paid)s") % {"expected": wanted, "paid": paid}


def order_confirm_payment(
    *,
    order: Order,
    paid_amount: Decimal,
    paid_at: datetime,
    payment_reference: str,
    actor: AbstractBaseUser | None,
    source: str,
    actor_label: str = "",
    savepoint: bool = True,
) -> Order:
    """Record that the buyer has paid `paid_amount` in total, and move the order on.

    The amount matches → a presale records its deposit and, once the balance is in, the order is paid
    (rules and admission to the warehouse queue follow from the `pay` transition). The amount does not
    match → the figures are recorded and the order is held with "金额不符"; whoever releases the hold after
    checking verifies the payment with the 'pay' transition. Bad input or a refusal raises and changes nothing.
    `savepoint=False`: the caller's transaction is the boundary, and an error here rolls all of it back (intake,
    in the transaction that has just inserted the order: a savepoint of its own would cost two statements).
    """
    amount = _clean_amount(paid_amount)
    when = _clean_time(paid_at)
    reference = _clean_reference(payment_reference)
    if actor is not None and not actor.has_perm(PAY_PERMISSION):
        raise Forbidden(_("You do not have permission to confirm payments."), code=OrderErrorCode.TRANSITION_FORBIDDEN)
    with transaction.atomic(savepoint=savepoint), events_deferred():  # its lines and the transition's: one INSERT
        locked = order_lock(order=order)  # the one row lock: the transitions below work on this row
        if locked.is_legacy:
            raise Conflict(_("Legacy (imported) orders are read-only."), code=OrderErrorCode.LEGACY_READ_ONLY)
        if not payment_can_confirm(order=locked):
            raise Conflict(
                _("Cannot record a payment for an order that is '%(status)s' (%(payment)s).")
                % {"status": locked.get_status_display(), "payment": locked.get_payment_status_display()},
                code=OrderErrorCode.TRANSITION_NOT_ALLOWED,
                extra={"status": locked.status, "payment_status": locked.payment_status},
            )
        expected = payment_expected(order=locked)
        before = {
            "paid_amount": str(locked.paid_amount),
            "paid_at": locked.paid_at,
            "reference": locked.payment_reference,
        }
        locked.paid_amount, locked.paid_at, locked.payment_reference = amount, when, reference
        # Saved with the transition below, in its one UPDATE and history row.
        recorded = f"payment recorded: {reference}"
        payment_recorded_event(
            order=locked,
            amount=amount,
            paid_at=when,
            reference=reference,
            expected=expected,
            before=before,
            source=source,
            actor=actor,
            actor_label=actor_label,
        )
        if amount not in expected:
            # Not paid: a person checks the figures (待人工复核). A system hold, so 财务 needs no hold permission.
            return order_transition_locked(
                order=locked,
                transition="hold",
                actor=None,
                source=source,
                actor_label=_("payment check"),
                reason=payment_mismatch_reason(expected=expected, paid=amount),
                history_note=recorded,
            )
        if locked.is_presale and locked.payment_status == Order.PaymentStatus.UNPAID:
            locked = order_transition_locked(
                order=locked,
                transition="record_deposit",
                actor=actor,
                source=source,
                actor_label=actor_label,
                history_note=recorded,
            )
            recorded = ""
            if amount == locked.deposit_amount:
                # The balance comes later, through this door again; a 'placed' node set to "presale_balance" has
                # stopped its clock with the deposit (deadlines.deadline_pause, in this locked run's one save).
                return locked
        return order_transition_locked(
            order=locked,
            transition="pay",
            actor=actor,
            source=source,
            actor_label=actor_label,
            reason=_("Payment %(ref)s") % {"ref": reference},
            history_note=recorded,
        )


def order_payment_time_record(
    *, order: Order, paid_at: datetime, actor: AbstractBaseUser | None, source: str, actor_label: str = ""
) -> Order:
    """Keep the payment time a channel reports for an order already verified without one. Changes nothing else."""
    when = _clean_time(paid_at)
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.paid_at is not None or locked.payment_status != Order.PaymentStatus.PAID or locked.is_legacy:
            return locked
        locked.paid_at = when
        history_attribute(locked, actor=actor, reason="payment time from channel")
        locked.save(update_fields=["paid_at", "updated_at"])
        payment_time_event(order=locked, paid_at=when, source=source, actor=actor, actor_label=actor_label)
    return locked
