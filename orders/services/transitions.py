"""The order lifecycle: one way through the status machine, and the one table of what each move sets off.

`order_transition` validates the request, locks the order row once, lets the core check, change and record
the move (orders/services/core.py), then runs the effects declared below on that same locked row. An effect
that moves the order again (a rule's hold, admission to the allocation queue, a shortfall hold) calls the
core on the row already locked; the moves it makes get their own effects from this table, in order. The
lifecycle never calls itself, and nothing below it imports it.

Read the table top to bottom: BEFORE_CHECK and BEFORE_CHANGE prepare one transition (they may set what its
guard needs, or divert the order instead), ON_REQUEST is what the fields the request set do (parcel
registration), ON_TRANSITION is what a transition does, ON_ENTERING is what
entering a status does, whichever transition got there."""

from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from orders.exceptions import Conflict, Forbidden, InvalidInput, OrderErrorCode
from orders.models import Order, Source, Status
from orders.services import admission, notify, outbox, parcels, rules
from orders.services.core import (
    REASON_MAX_LENGTH,
    Move,
    Run,
    order_lock,
    run_save,
    status_deadline,
    transition_apply,
    transition_check,
    transition_fields_set,
    transition_reason_clean,
    transition_spec,
)
from orders.services.timeline import events_deferred
from orders.transitions import TRANSITIONS, TransitionSpec

__all__ = ["REASON_MAX_LENGTH", "order_transition", "order_transition_locked", "status_deadline"]

Effect = Callable[..., None]  # effect(*, run: Run, move: Move) -> None


# --- hook slots: where the next capabilities plug in (no-ops today) ----------------------------------------
def channel_push(*, run: Run, move: Move) -> None:
    """Issue 12: tell the order's channel it shipped (carrier, tracking number) on entering printed or picked_up,
    as the channel's ship confirmation settings say (an outbox row in this transaction)."""
    outbox.channel_push(run=run, move=move)


def erp_push(*, run: Run, move: Move) -> None:
    """Issue 12: push the order to the ERP on the statuses it subscribes to (an outbox row in this transaction)."""
    outbox.erp_push(run=run, move=move)


def customer_notice(*, run: Run, move: Move) -> None:
    """Issue 13: notify the customer when the entered node says so (StatusNode.notify_customer): a notice row
    in this transaction, sent by SMS after commit (orders.services.notify)."""
    notify.status_notice(order=run.order, status=move.to_status)


# --- an effect of the lifecycle itself: it makes a transition with its preparations (_step, below) ------
def allocate_now_or_enqueue(*, run: Run, move: Move) -> None:
    """Effect of entering 'allocating': allocate within this run when admission said so (the same steps as the
    allocation job, on the row already locked: route, lock stock or hold for the shortfall), else ask a worker.
    A shortfall hold here is the outcome, not a refusal of the payment that admitted the order."""
    if not run.allocate_now:
        admission.allocation_enqueue(run=run, move=move)
        return
    run.allocate_now = False
    refusal = run.refusal
    try:
        _step(
            run=run,
            spec=TRANSITIONS["allocate"],
            actor=None,
            source=Source.SYSTEM,
            reason="",
            actor_label=admission.auto_label(),
        )
    except Conflict:  # e.g. no active warehouse to route to: a worker tries later, as without the setting
        admission.allocation_enqueue(run=run, move=move)
    finally:
        run.refusal = refusal


# --- the table ---------------------------------------------------------------------------------------------
# On the locked row, before the guard is checked: may set what the guard needs.
BEFORE_CHECK: dict[str, tuple[Callable[..., None], ...]] = {
    "allocate": (admission.order_route,),  # choose the warehouse (rule, else stock/capacity/distance)
}
# After the guard passed, before the change: may divert the order instead (run.refusal says why).
BEFORE_CHANGE: dict[str, tuple[Callable[..., None], ...]] = {
    "allocate": (admission.order_lock_stock_or_hold,),  # lock stock, or hold it for the shortfall
}
# What the request itself set, on the asked move, before that transition's effects: a changed route retires the
# order's parcels (an unused waybill among them is cancelled at its carrier by the registry's job), a given tracking
# number is registered in the parcel registry (whatever the transition).
ON_REQUEST: tuple[Effect, ...] = (parcels.parcels_follow_request,)
# What each transition does, in order.
ON_TRANSITION: dict[str, tuple[Effect, ...]] = {
    "pay": (rules.order_apply_rules_on_paid, admission.order_admit),  # gifts/tags/priority/approval, then queue
    "release": (admission.order_admit,),  # released back to 'paid': into the queue again
    "print_label": (rules.order_merge_by_rules,),
    "pick_up": (admission.stock_deduct,),
    "cancel": (admission.stock_release, parcels.parcels_retire_on_cancel),  # unused waybills: cancel at carrier
    "mark_returned": (admission.stock_restock, admission.stock_release),  # shipped units back, locked ones freed
}
# What entering a status does, whichever transition got there (after the transition's own effects).
ON_ENTERING: dict[str, tuple[Effect, ...]] = {
    # By hand, on admission, or released into the queue: a worker allocates it, or this run (allocate_now).
    Status.ALLOCATING: (allocate_now_or_enqueue,),
}
# Entering any status.
ON_ENTERING_ANY: tuple[Effect, ...] = (channel_push, erp_push, customer_notice)


def _effects(move: Move) -> tuple[Effect, ...]:
    return ON_TRANSITION.get(move.transition, ()) + ON_ENTERING.get(move.to_status, ()) + ON_ENTERING_ANY


def _run(
    *,
    order: Order,
    spec: TransitionSpec,
    actor: AbstractBaseUser | None,
    source: str,
    reason: str,
    actor_label: str,
    changes: dict | None,
    history_note: str = "",
    also_set: dict | None = None,
) -> Run:
    with events_deferred():  # the run's timeline lines: one INSERT
        return _run_deferred(
            order=order,
            spec=spec,
            actor=actor,
            source=source,
            reason=reason,
            actor_label=actor_label,
            changes=changes,
            history_note=history_note,
            also_set=also_set,
        )


def _run_deferred(
    *,
    order: Order,
    spec: TransitionSpec,
    actor: AbstractBaseUser | None,
    source: str,
    reason: str,
    actor_label: str,
    changes: dict | None,
    history_note: str,
    also_set: dict | None = None,
) -> Run:
    run = Run(order=order)
    if history_note:  # the caller changed the locked row too (e.g. payment figures): saved with this run
        run.note(history_note, actor=actor)
    _step(
        run=run,
        spec=spec,
        actor=actor,
        source=source,
        reason=reason,
        actor_label=actor_label,
        changes=changes,
        also_set=also_set,
    )
    done = 0
    while done < len(run.moves):  # effects may append moves (holds, admission): each gets its own effects
        move = run.moves[done]
        done += 1
        for effect in (ON_REQUEST if done == 1 and run.refusal is None else ()) + _effects(move):
            effect(run=run, move=move)
    run_save(run=run)
    return run


def _step(
    *,
    run: Run,
    spec: TransitionSpec,
    actor: AbstractBaseUser | None,
    source: str,
    reason: str,
    actor_label: str,
    changes: dict | None = None,
    also_set: dict | None = None,
) -> None:
    """Prepare, check and make one transition on the run's locked order (its effects follow in the run).
    `also_set`: fields the asker sets with the change (e.g. the kind of a hold), see core.transition_apply."""
    order = run.order
    asked_before = {name: getattr(order, name) for name in ("warehouse_id", "carrier_id")}
    number_before = order.__dict__.get("tracking_number")  # loaded from the registry, or not (None)
    applied = transition_fields_set(order=order, changes=changes or {}) if not order.is_legacy else {}
    if not run.moves:  # the request's own step, not one an effect adds (allocating at once)
        run.asked = applied
        run.rerouted = any(
            before is not None and before != getattr(order, attname) for attname, before in asked_before.items()
        )
    for prepare in BEFORE_CHECK.get(spec.name, ()):
        prepare(run=run)
    transition_check(order=order, spec=spec, actor=actor, source=source)
    for prepare in BEFORE_CHANGE.get(spec.name, ()):
        prepare(run=run, actor=actor)
    if run.refusal is not None:  # diverted: the order keeps nothing this request set or prepared
        for attname, value in asked_before.items():
            setattr(order, attname, value)
        if number_before is None:
            order.__dict__.pop("tracking_number", None)
        else:
            order.tracking_number = number_before
    else:
        transition_apply(
            run=run,
            spec=spec,
            actor=actor,
            source=source,
            reason=reason,
            actor_label=actor_label,
            applied=applied,
            also_set=also_set,
        )


def order_transition_locked(
    *,
    order: Order,
    transition: str,
    actor: AbstractBaseUser | None,
    source: str,
    reason: str = "",
    actor_label: str = "",
    changes: dict | None = None,
    history_note: str = "",
    also_set: dict | None = None,
) -> Order:
    """`order_transition` for an entry service that already holds the row lock (core.order_lock) in its own
    transaction, e.g. payment: the same checks and effects, no second lock. `history_note`: why the caller
    changed the row itself before (saved in the run's one save). `also_set`: fields set with the change, e.g. the
    kind of a hold (refund review, suspected duplicate). A diversion's refusal is raised, and the caller's
    transaction decides what is kept."""
    spec = transition_spec(transition)
    reason = transition_reason_clean(spec=spec, reason=reason)
    run = _run(
        order=order,
        spec=spec,
        actor=actor,
        source=source,
        reason=reason,
        actor_label=actor_label,
        changes=changes,
        history_note=history_note,
        also_set=also_set,
    )
    if run.refusal is not None:
        raise run.refusal
    return run.order


def order_transition(
    *,
    order: Order,
    transition: str,
    actor: AbstractBaseUser | None,
    source: str,
    reason: str = "",
    actor_label: str = "",
    changes: dict | None = None,
    hold_kind: str = "",
) -> Order:
    """Move an order through one status node: validate, lock once, check, change, record, run its effects.
    Refusals raise and change nothing — except a diversion: when allocating finds a shortfall, the hold is
    kept and the shortfall is raised to tell the caller the order was held instead of allocated.
    `hold_kind`: for 'hold', the kind a person chooses (PERSON_HOLD_KINDS: other, or waiting for the customer)."""
    spec = transition_spec(transition)
    reason = transition_reason_clean(spec=spec, reason=reason)
    kind = hold_kind_clean(transition=spec.name, hold_kind=hold_kind)
    with transaction.atomic():
        run = _run(
            order=order_lock(order=order),
            spec=spec,
            actor=actor,
            source=source,
            reason=reason,
            actor_label=actor_label,
            changes=changes,
            also_set={"hold_kind": kind} if kind else None,
        )
    if run.refusal is not None:
        raise run.refusal
    return run.order


# The kinds of hold a person may choose; the others are the system's (stock, refund review, duplicate, approval).
PERSON_HOLD_KINDS = (Order.HoldKind.OTHER, Order.HoldKind.CUSTOMER)
EMPTY_CHOICE = '""'  # how the empty kind (an ordinary hold) is named in the refusal


def hold_kind_clean(*, transition: str, hold_kind: str) -> str:
    """The hold kind asked with a transition: only 'hold' takes one, and only one a person may choose."""
    kind = (hold_kind or "").strip()
    if not kind:
        return ""
    if transition != "hold":
        raise InvalidInput(
            _("A hold kind goes only with 'hold', not with '%(t)s'.") % {"t": transition},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "hold_kind"},
        )
    if kind not in PERSON_HOLD_KINDS:
        raise InvalidInput(
            _("Unknown hold kind '%(kind)s': choose one of %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(f"{k.value or EMPTY_CHOICE} ({k.label})" for k in PERSON_HOLD_KINDS)},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "hold_kind"},
        )
    return kind


def transitions_available(*, order: Order, actor: AbstractBaseUser | None, source: str) -> list[TransitionSpec]:
    """The transitions this caller may make on this order right now (drives buttons and the API list)."""
    available = []
    for spec in TRANSITIONS.values():
        if order.status not in spec.from_states:
            continue  # transition_check refuses these too; skip building a refusal message nobody reads
        try:
            transition_check(order=order, spec=spec, actor=actor, source=source)
        except (Conflict, Forbidden):
            continue
        available.append(spec)
    return available
