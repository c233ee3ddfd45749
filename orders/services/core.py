"""The lifecycle core: lock an order row once, check a transition, change the row, record it (one history row
and one timeline event). It runs no effects and never calls itself: orders/services/transitions.py (the
lifecycle) runs the effects declared for each move, and effect providers that move the order again call
`transition_apply` on the row already locked, inside the same run.

Nothing here imports a service above it: only models, the status machine's read-only view, the timeline, the
deadlines (orders.services.deadlines, below it) and the parcel registry's selector (the tracking-number guard
asks the registry)."""

import copy
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from logistics.models import Carrier
from logistics.selectors import tracking_number_of
from orders.exceptions import Conflict, Forbidden, InvalidInput, OrderErrorCode
from orders.models import Order, OrderLine, Status
from orders.services.deadlines import deadline_enter
from orders.services.deadlines import status_deadline as status_deadline  # callers import it from here
from orders.services.deadlines import status_timeouts_known as status_timeouts_known
from orders.services.timeline import history_attribute, transition_event
from orders.transitions import TRANSITIONS, TransitionSpec, failed_guards
from warehouse.models import Warehouse

# The order keeps the reason of its current state in status_reason (varchar 255).
REASON_MAX_LENGTH = 255
# Fields a transition request may set on the order before its guard is checked.
SETTABLE_ON_TRANSITION = ("warehouse", "carrier", "tracking_number")


@dataclass
class Move:
    """One transition the core applied: what the lifecycle looks up in its table of effects."""

    transition: str
    from_status: str
    to_status: str
    actor: AbstractBaseUser | None
    source: str
    reason: str


@dataclass
class Run:
    """One pass through the lifecycle on one locked order row: the moves made so far (the asked-for one and
    those its effects made), and the refusal to report when a preparation diverted the order instead."""

    order: Order
    moves: list[Move] = field(default_factory=list)
    refusal: ApplicationError | None = None
    # Why the row changed, for its one history row: the row is saved once, when the run ends (run_save).
    notes: list[str] = field(default_factory=list)
    history_actor: AbstractBaseUser | None = None
    # What the request itself set (transition_fields_set) and whether it changed a route the order had.
    asked: dict = field(default_factory=dict)
    rerouted: bool = False
    # Set by admission when the order is to be allocated within this run (AllocationSettings.allocate_on_payment).
    allocate_now: bool = False

    def note(self, reason: str, *, actor: AbstractBaseUser | None = None) -> None:
        """An effect changed the locked order in memory; the run's one save writes it, with this reason."""
        self.notes.append(reason)
        if self.history_actor is None:
            self.history_actor = actor


def run_save(*, run: Run) -> None:
    """Write what the run changed on the order row in one UPDATE and one history row (actor: who asked).

    The UPDATE sets only the columns that differ from the row as locked (order_lock keeps a copy of its values);
    an order locked some other way is saved whole. The history row is the whole row, as always."""
    if not run.notes:
        return
    order = run.order
    history_attribute(order, actor=run.history_actor, reason="; ".join(run.notes))
    locked = getattr(order, _LOCKED_VALUES_ATTR, None)
    order.skip_history_when_saving = True  # the history row is written below, by simple-history's bulk helper
    try:
        if locked is None:
            order.save()
        else:
            changed = [
                f.name
                for f in _ORDER_FIELDS
                if f.attname != "updated_at" and getattr(order, f.attname) != locked[f.attname]
            ]
            order.save(update_fields=[*changed, "updated_at"])
    finally:
        del order.skip_history_when_saving
    # The same row simple-history's post_save would write (user, reason, every tracked field), without the new
    # manager class its per-instance descriptor builds on every save.
    _ORDER_HISTORY.bulk_history_create([order], update=True)
    order_values_keep(order)
    run.notes.clear()


# --- the row as locked: what a run's one save compares with ----------------------------------------------
_LOCKED_VALUES_ATTR = "_orderhub_locked_values"
_ORDER_FIELDS = tuple(f for f in Order._meta.concrete_fields if not f.primary_key)
_ORDER_HISTORY = Order.history  # the model's history manager, made once


def order_values_keep(order: Order) -> Order:
    """Remember the order's column values as they are in the row now (just read under its lock, or just saved)."""
    values = {}
    for f in _ORDER_FIELDS:
        value = getattr(order, f.attname)
        values[f.attname] = copy.deepcopy(value) if isinstance(value, list | dict) else value  # tags may be mutated
    setattr(order, _LOCKED_VALUES_ATTR, values)
    return order


# --- input -------------------------------------------------------------------------------------------------
def transition_spec(name: str) -> TransitionSpec:
    spec = TRANSITIONS.get(name)
    if spec is None:
        raise InvalidInput(
            _("Unknown transition '%(name)s'.") % {"name": name},
            code=OrderErrorCode.UNKNOWN_TRANSITION,
            extra={"field": "transition", "allowed": sorted(TRANSITIONS)},
        )
    return spec


def transition_reason_clean(*, spec: TransitionSpec, reason: str) -> str:
    required = _("A reason is required to '%(label)s'.") % {"label": spec.label} if spec.reason_required else ""
    return reason_clean(reason, required_message=required)


def reason_clean(reason: str, *, required_message: str = "") -> str:
    """The reason as stored on the order: stripped, at most REASON_MAX_LENGTH characters, and refused with
    `required_message` when that is given and the reason is empty."""
    reason = (reason or "").strip()
    if required_message and not reason:
        raise InvalidInput(required_message, code=OrderErrorCode.REASON_REQUIRED, extra={"field": "reason"})
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput(
            _("The reason is longer than %(n)d characters.") % {"n": REASON_MAX_LENGTH},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "reason"},
        )
    return reason


def transition_fields_set(*, order: Order, changes: dict) -> dict:
    """Set what a transition request may set (warehouse, carrier, tracking number) on the locked order."""
    applied = {}
    for name, value in changes.items():
        if name not in SETTABLE_ON_TRANSITION:
            raise InvalidInput(
                _("Field '%(f)s' cannot be set here.") % {"f": name}, code="invalid_field", extra={"field": name}
            )
        if value in (None, ""):
            continue
        if name == "warehouse":
            warehouse = Warehouse.objects.filter(code=value, is_active=True).first()
            if warehouse is None:
                raise InvalidInput(
                    _("Unknown warehouse '%(v)s'.") % {"v": value},
                    code="unknown_warehouse",
                    extra={"field": "warehouse"},
                )
            order.warehouse = warehouse
        elif name == "carrier":
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
            order.tracking_number = value  # in memory for the guard: the lifecycle registers it (parcels)
        applied[name] = str(value)
    return applied


def parcel_known(*, order: Order, spec: TransitionSpec) -> None:
    """Load the registry's answer onto the order before a guard that asks for a tracking number (once per loaded
    order; no other transition reads the registry)."""
    if "tracking_number" not in order.__dict__ and any(
        condition.__name__ == "has_tracking_number" for condition in spec.conditions
    ):
        tracking_number_of(order)


# --- lock, check, change, record ---------------------------------------------------------------------------
def order_lock(*, order: Order) -> Order:
    """The one row lock of a lifecycle run. Call inside the transaction that changes the order.

    When the caller's copy is still the row (same updated_at: every write of an order row goes through save(),
    and line changes save their order), the relations and lines it has loaded are kept on the locked copy,
    so nothing reads them twice (intake hands over the order it has just inserted)."""
    locked = order_values_keep(Order.objects.select_for_update().get(pk=order.pk))
    if order.updated_at is not None and locked.updated_at == order.updated_at:
        locked._state.fields_cache = dict(order._state.fields_cache)
        lines = getattr(order, "_prefetched_objects_cache", {}).get("lines")
        if lines is not None:
            order_lines_attach(locked, lines=list(lines))
    return locked


def order_lines_attach(order: Order, *, lines: list[OrderLine]) -> Order:
    """Keep these lines on the order as Django's prefetch keeps them (a queryset whose results are loaded), so
    `order.lines.all()` reads them without a query."""
    for line in lines:
        line._state.fields_cache["order"] = order  # line.order is this copy, as prefetch sets it
    loaded = OrderLine.objects.filter(order=order)
    loaded._result_cache, loaded._prefetch_done = lines, True
    order._prefetched_objects_cache = {"lines": loaded}
    return order


def transition_check(*, order: Order, spec: TransitionSpec, actor: AbstractBaseUser | None, source: str) -> None:
    """Raise the error that explains why this transition cannot happen now; return if it can."""
    parcel_known(order=order, spec=spec)
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


def transition_apply(
    *,
    run: Run,
    spec: TransitionSpec,
    actor: AbstractBaseUser | None,
    source: str,
    reason: str = "",
    actor_label: str = "",
    applied: dict | None = None,
    also_set: dict | None = None,
) -> Move:
    """Check and make one transition on the run's locked order, write its one timeline event, and note the move
    on the run (the lifecycle runs its effects, then saves the row once with one history row naming every move
    of the run). Refusals raise and change nothing.
    `also_set`: fields the mover sets with the change, in the same save (e.g. the kind of a stock hold)."""
    order = run.order
    transition_check(order=order, spec=spec, actor=actor, source=source)
    reason = reason[:REASON_MAX_LENGTH]
    from_status = order.status
    getattr(order, spec.name)()
    for name, value in (also_set or {}).items():  # before the deadline: a hold's kind may pause the node's clock
        setattr(order, name, value)
    now = timezone.now()
    order.state_entered_at = now
    deadline_enter(order=order, from_status=from_status, now=now)  # state_deadline and what it was computed from
    if order.status in (Status.ON_HOLD, Status.CANCELLED, Status.RETURNED, Status.EXCEPTION):
        order.status_reason = reason
    elif from_status in (Status.ON_HOLD, Status.EXCEPTION):
        order.status_reason = ""
        order.resume_status = ""
    run.note(f"{spec.name}: {reason}" if reason else spec.name, actor=actor)  # saved once, by run_save
    transition_event(
        order=order,
        transition=spec.name,
        from_status=from_status,
        source=source,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        applied=applied,
    )
    move = Move(
        transition=spec.name, from_status=from_status, to_status=order.status, actor=actor, source=source, reason=reason
    )
    run.moves.append(move)
    return move
