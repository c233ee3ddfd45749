"""The warehouse scan station: a packer scans an order or tracking barcode to confirm one fulfilment step.

Each step is an ordinary transition (source "scan", the packer as actor), so the timeline, stock deduction at
pickup and every guard are those of order_transition. Before calling it, a scan of the wrong order or at the
wrong step is refused with a sentence the packer can act on (what state the order is in, what to do instead).

打单确认 of an allocated order without a number gets its waybill from the carrier first (orders.services.waybills),
then confirms; a carrier that cannot issue waybills here (no account, no number range) is refused with what to do.

The gifts to add come with every print-step answer about an order that is still being packed — also when the
label cannot be confirmed now (no waybill number yet, the carrier refused, printed already) — because the parcel
is sealed before handover: a gift list shown only at handover comes too late.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext as _

from config.exceptions import Conflict, InvalidInput, NotFound
from logistics.selectors import tracking_number_of
from orders import selectors
from orders.exceptions import OrderErrorCode
from orders.models import Order, Source, Status
from orders.services.transitions import order_transition
from orders.services.waybills import carrier_cannot_issue, order_waybill_obtain
from warehouse.exceptions import WarehouseErrorCode


@dataclass(frozen=True)
class ScanStep:
    transition: str
    from_status: str


SCAN_STEPS = {
    "print": ScanStep(transition="print_label", from_status=Status.ALLOCATED),
    "handover": ScanStep(transition="pick_up", from_status=Status.PRINTED),
}

ALREADY_WITH_CARRIER = {Status.PICKED_UP, Status.IN_TRANSIT, Status.DELIVERED}
# Orders being packed: a refused print-step scan of one still lists its gifts (refusal.extra["gifts"]).
BEING_PACKED = {Status.ALLOCATED, Status.PRINTED}
# Orders in these states must not leave the warehouse; the packer puts them aside.
NOT_TO_SHIP = {
    Status.PLACED,
    Status.PAID,
    Status.ALLOCATING,
    Status.ON_HOLD,
    Status.CANCELLED,
    Status.RETURNED,
    Status.EXCEPTION,
}


class GiftToAdd(NamedTuple):
    sku: str
    name: str
    quantity: int
    note: str


@dataclass
class ScanResult:
    order: Order
    step: str
    message: str
    gifts: list[GiftToAdd] = field(default_factory=list)


def order_scan(*, code: str, step: str, actor: AbstractBaseUser | None) -> ScanResult:
    """Confirm one fulfilment step for the order a barcode names. Refusals raise and change nothing."""
    scan_step = SCAN_STEPS.get(step)
    if scan_step is None:
        raise InvalidInput(
            _("Unknown scan step '%(step)s': choose Printed or Handover.") % {"step": str(step)[:20]},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "step", "allowed": sorted(SCAN_STEPS)},
        )
    code = (code or "").strip()
    if not code:
        raise InvalidInput(
            _("Scan or type an order number or tracking number."),
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "code"},
        )
    order = _order_for_step(code=code, scan_step=scan_step)
    try:
        _refuse_if_wrong_step(order=order, step=step, scan_step=scan_step)
        if step == "print" and not tracking_number_of(order):
            # 打单确认 without a number: the carrier's waybill first (its own transaction: a refusal leaves the
            # order allocated with the carrier's reason), then the label step reads it from the registry.
            order_waybill_obtain(order=order, actor=actor, source=Source.SCAN)
            order.__dict__.pop("tracking_number", None)
        try:
            order = order_transition(order=order, transition=scan_step.transition, actor=actor, source=Source.SCAN)
        except Conflict:
            # Another scan may have moved it since we looked: explain with its state now, as for any wrong step.
            order.refresh_from_db()
            _refuse_if_wrong_step(order=order, step=step, scan_step=scan_step)
            raise
    except Conflict as refusal:
        if step == "print" and order.status in BEING_PACKED:
            refusal.extra["gifts"] = [gift._asdict() for gift in order_gifts(order=order)]
        raise
    return ScanResult(order=order, step=step, message=_success_message(order, step), gifts=order_gifts(order=order))


def order_gifts(*, order: Order) -> list[GiftToAdd]:
    lines = order.lines.filter(is_gift=True).select_related("sku").order_by("id")
    return [GiftToAdd(line.sku.code, line.sku.name, line.quantity, line.note) for line in lines]


def _order_for_step(*, code: str, scan_step: ScanStep) -> Order:
    """The order the code names. A tracking number shared by several orders is only usable when exactly one
    of them can take this step; otherwise the packer scans the order number."""
    candidates = selectors.orders_by_scan_code(code=code)
    if not candidates:
        raise NotFound(
            _("No order or tracking number '%(code)s'.") % {"code": code[:40]},
            code=WarehouseErrorCode.UNKNOWN_CODE,
            extra={"code": code[:40]},
        )
    if len(candidates) == 1:
        return candidates[0]
    ready = [order for order in candidates if order.status == scan_step.from_status]
    if len(ready) == 1:
        return ready[0]
    if not ready:
        return candidates[0]  # the newest: its state explains the refusal
    raise Conflict(
        _("Several orders have tracking number '%(code)s' (%(numbers)s): scan the order number instead.")
        % {"code": code, "numbers": ", ".join(order.number for order in ready)},
        code=WarehouseErrorCode.AMBIGUOUS_CODE,
        extra={"orders": [order.number for order in ready]},
    )


def _refuse_if_wrong_step(*, order: Order, step: str, scan_step: ScanStep) -> None:
    facts = {"number": order.number, "status": order.get_status_display()}
    if order.status == scan_step.from_status:
        if step == "print" and not tracking_number_of(order):  # the registry's answer
            if order.carrier_id is None:
                raise _wrong_step(
                    order, _("Order %(number)s has no tracking number yet: get its waybill number first.") % facts
                )
            why_not = carrier_cannot_issue(order.carrier)
            if why_not:  # a carrier without waybills here: the packer needs a number from somewhere else
                message = _(
                    "Order %(number)s has no tracking number yet and %(why)s: type its tracking number on the "
                    "order page, or ask the manager to add a number range (物流 → 面单号段) or the carrier's "
                    "waybill account."
                ) % {**facts, "why": why_not}
                raise _wrong_step(order, message)
        return
    if order.status in ALREADY_WITH_CARRIER:
        message = _("Order %(number)s is already handed to carrier ('%(status)s').") % facts
    elif order.status in NOT_TO_SHIP:
        message = _("Order %(number)s is '%(status)s': do not ship it. Put it aside and tell customer service.") % facts
        if order.status_reason:
            reason = _("Reason: %(reason)s") % {"reason": order.status_reason}
            message = f"{message} {reason}"
    elif step == "print":  # printed already
        message = _("Order %(number)s is already '%(status)s': scan it in Handover when the carrier collects it.")
        message %= facts
    else:  # handover of an order whose label is not printed yet
        message = _("Order %(number)s is '%(status)s': print its label first.") % facts
    raise _wrong_step(order, message)


def _wrong_step(order: Order, message: str) -> Conflict:
    return Conflict(message, code=WarehouseErrorCode.WRONG_STEP, extra={"order": order.number, "status": order.status})


def _success_message(order: Order, step: str) -> str:
    facts = {"number": order.number, "status": order.get_status_display()}
    if step == "print":
        return _("Label printed: %(number)s is now '%(status)s'.") % facts
    return _("Handed to carrier: %(number)s is now '%(status)s'.") % facts
