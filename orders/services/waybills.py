"""Waybills (电子面单): the hub gets an order's tracking number from its carrier and prints the label.

`order_waybill_obtain` is the one way an order's waybill is born: under the order's row lock it returns the
waybill the order has (a re-print never asks for a second one), or reserves the registry row by its idempotency
key "<order number>-1", asks the carrier's adapter and records the answer in the parcel registry (logistics), with
one timeline line. Two packers at once get one waybill: the row lock serializes them and the second finds the
first's. A carrier that refuses, times out or answers garbage writes nothing (the transaction rolls back, the order
stays 仓单已生成): an alert for the warehouse is raised after the rollback, so it stays, and the refusal names the
order and the carrier's reason. A retry after a timeout sends the same key, so the carrier gives the same number.

`orders_waybills_obtain` does a selection or a pick wave (one failing order never stops the others);
`order_labels_pdf` prints the labels of waybills the orders have, and marks them printed.

An entry service: imports the lifecycle core (lock), effect providers (alerts), the timeline and logistics."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from logistics import services as registry
from logistics.carriers import adapter_for
from logistics.carriers.base import CarrierUnavailable, WaybillParty, WaybillRefused, WaybillRequest
from logistics.labels import LabelData, labels_pdf
from logistics.models import Carrier, Shipment
from logistics.selectors import mask_name, mask_phone, primary_parcels_of
from orders.exceptions import Conflict, Forbidden, OrderErrorCode
from orders.models import Alert, Order, OrderLine, Status
from orders.phones import is_masked_phone
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.core import order_lock
from orders.services.timeline import waybill_ordered_event

FULFIL_PERMISSION = "orders.fulfil_order"
# After the label: the order has its waybill; asking again gives that one (a re-print), never a new one.
REPRINT_STATES = {Status.PRINTED, Status.PICKED_UP, Status.IN_TRANSIT, Status.DELIVERED}
CARGO_MAX = 100
SUMMARY_SEPARATOR = "；"


@dataclass
class WaybillBatch:
    ok: list[Shipment] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (order number, reason)


class _CarrierSaidNo(Exception):
    """Inside the transaction: the carrier (or its adapter) gave no waybill; the reason, for after the rollback."""

    def __init__(self, carrier: Carrier, reason: str):
        super().__init__(reason)
        self.carrier, self.reason = carrier, reason


# --- reading the order ------------------------------------------------------------------------------------
def _active_waybill(order: Order) -> Shipment | None:
    """The order's numbered parcel 1 that counts (a waybill, or a number typed in before)."""
    active = Shipment.objects.filter(order=order, is_active=True, parcel_index=1).exclude(tracking_number="")
    return active.select_related("carrier").order_by("-created_at", "-id").first()


def _summary(lines: Iterable[OrderLine], *, gifts: bool) -> str:
    return SUMMARY_SEPARATOR.join(f"{line.sku.name}×{line.quantity}" for line in lines if bool(line.is_gift) == gifts)


def _platform_masked(order: Order) -> bool:
    return bool(order.receiver_platform_id) or order.receiver_encrypted or is_masked_phone(order.receiver_phone)


def _masked_phone(phone: str) -> str:
    return phone if is_masked_phone(phone) else mask_phone(phone)


def _receiver_address(order: Order) -> str:
    return "".join(part for part in (order.province, order.city, order.district, order.address_detail) if part)


def _receiver(order: Order) -> WaybillParty:
    """The receiver as the carrier gets it: a platform-masked receiver stays masked (its platform id goes too); an
    encrypted one goes as the platform's ciphertext, which the platform's e-waybill service decrypts."""
    if order.receiver_encrypted:
        return WaybillParty(name=order.receiver_name, phone=order.receiver_phone, address=_receiver_address(order))
    if _platform_masked(order):
        phone = _masked_phone(order.receiver_phone)
        return WaybillParty(name=mask_name(order.receiver_name), phone=phone, address=_receiver_address(order))
    return WaybillParty(name=order.receiver_name, phone=order.receiver_phone, address=_receiver_address(order))


def _sender(order: Order) -> WaybillParty:
    warehouse = order.warehouse
    if warehouse is None:
        raise Conflict(
            _("Order %(number)s has no warehouse yet: allocate it first.") % {"number": order.number},
            code=OrderErrorCode.TRANSITION_NOT_ALLOWED,
            extra={"order": order.number, "status": order.status},
        )
    if not (warehouse.sender_name and warehouse.sender_phone and warehouse.sender_address):
        raise Conflict(
            _("Warehouse %(warehouse)s has no sender: fill in its sender name, phone and address.")
            % {"warehouse": warehouse.name},
            code=OrderErrorCode.WAYBILL_FAILED,
            extra={"order": order.number, "status": order.status, "field": "sender_name"},
        )
    return WaybillParty(
        name=warehouse.sender_name,
        phone=warehouse.sender_phone,
        address=warehouse.sender_address,
        company=warehouse.sender_company,
    )


def carrier_cannot_issue(carrier: Carrier | None) -> str:
    """Why this carrier cannot give a waybill now ("" when it can): no carrier, an adapter without waybills, or
    a waybill account not filled in / no number range left."""
    if carrier is None:
        return _("the order has no carrier yet")
    adapter = adapter_for(carrier)
    if not adapter.issues_waybills:
        return _("%(carrier)s does not issue waybills through the hub") % {"carrier": carrier.name}
    if not adapter.waybill_ready(carrier=carrier):
        return _("%(carrier)s has no waybill account filled in or no number range left") % {"carrier": carrier.name}
    return ""


# --- the one way a waybill is born ------------------------------------------------------------------------
def order_waybill_obtain(*, order: Order, actor: AbstractBaseUser | None, source: str) -> Shipment:
    """The order's waybill (parcel 1): the one it has, or a new one from its carrier (仓单已生成 only).
    Raises Conflict naming the order and the carrier's reason when the carrier gives none (nothing written, the
    order stays allocated, an alert for the warehouse), Forbidden without the warehouse permission."""
    if actor is not None and not actor.has_perm(FULFIL_PERMISSION):
        raise Forbidden(_("You do not have permission to get waybills."), code=OrderErrorCode.TRANSITION_FORBIDDEN)
    try:
        with transaction.atomic():
            locked = order_lock(order=order)
            existing = _active_waybill(locked)
            if existing is not None:
                return existing
            _check_status(locked)
            carrier = locked.carrier
            why_not = carrier_cannot_issue(carrier)
            if carrier is None:
                raise Conflict(
                    _("Order %(number)s has no carrier yet: choose its carrier first.") % {"number": locked.number},
                    code=OrderErrorCode.WAYBILL_FAILED,
                    extra={"order": locked.number, "status": locked.status, "field": "carrier"},
                )
            if why_not:
                raise _CarrierSaidNo(carrier, why_not)
            shipment = _order_from_carrier(order=locked, carrier=carrier, actor=actor, source=source)
    except _CarrierSaidNo as failure:
        raise _failed(order=order, carrier=failure.carrier, reason=failure.reason) from None
    return shipment


def _check_status(order: Order) -> None:
    if order.status == Status.ALLOCATED:
        return
    facts = {"number": order.number, "status": order.get_status_display()}
    if order.status in REPRINT_STATES:
        message = _("Order %(number)s is '%(status)s' but has no waybill in the parcel registry.") % facts
    else:
        message = _("Order %(number)s is '%(status)s': a waybill is ordered once it is allocated.") % facts
    extra = {"order": order.number, "status": order.status}
    raise Conflict(message, code=OrderErrorCode.TRANSITION_NOT_ALLOWED, extra=extra)


def _order_from_carrier(*, order: Order, carrier: Carrier, actor, source: str) -> Shipment:
    """Reserve, ask, record: inside the caller's transaction, under the order's lock."""
    lines = list(order.lines.select_related("sku").order_by("is_gift", "id"))
    sender = _sender(order)
    adapter = adapter_for(carrier)
    reserved = registry.waybill_reserve(order=order, carrier=carrier)
    request = WaybillRequest(
        key=reserved.waybill_key,
        receiver=_receiver(order),
        sender=sender,
        cargo=_summary(lines, gifts=False)[:CARGO_MAX],
        count=1,
        platform_receiver_id=getattr(order, "receiver_platform_id", "") or "",
        # An encrypted receiver is decrypted by the platform for this order number (PDD, Douyin e-waybills).
        platform_order_id=order.channel_order_no if order.receiver_platform_id or order.receiver_encrypted else "",
        callback_url=registry.carrier_callback_url(carrier) if adapter.subscribes else "",
    )
    try:
        waybill = adapter.waybill_order(carrier=carrier, request=request)
    except (WaybillRefused, CarrierUnavailable) as exc:
        raise _CarrierSaidNo(carrier, str(exc) or exc.__class__.__name__) from exc
    try:
        shipment = registry.waybill_record(shipment=reserved, waybill=waybill)
    except ApplicationError as exc:  # e.g. the carrier gave a number another order holds
        raise _CarrierSaidNo(carrier, exc.message) from exc
    waybill_ordered_event(order=order, shipment=shipment, source=source, actor=actor)
    alert_resolve(
        alerts=Alert.objects.filter(order=order, kind=Alert.Kind.WAYBILL_FAILED),
        resolution=_("waybill %(number)s obtained") % {"number": shipment.tracking_number},
    )
    return shipment


def _failed(*, order: Order, carrier: Carrier, reason: str) -> Conflict:
    """After the rollback: the alert for the warehouse (kept), and the refusal to raise."""
    reason = " ".join(reason.split())[:300]
    message = _("Order %(number)s got no waybill from %(carrier)s: %(reason)s") % {
        "number": order.number,
        "carrier": carrier.name,
        "reason": reason,
    }
    alert_raise(
        kind=Alert.Kind.WAYBILL_FAILED,
        message=message,
        order=order,
        dedupe_key=f"waybill_failed:{order.pk}",
        restate=True,  # the order page shows the carrier's latest reason
    )
    return Conflict(
        message,
        code=OrderErrorCode.WAYBILL_FAILED,
        extra={"order": order.number, "status": Status.ALLOCATED, "carrier": carrier.code, "reason": reason},
    )


def orders_waybills_obtain(*, orders: Iterable[Order], actor: AbstractBaseUser | None, source: str) -> WaybillBatch:
    """Waybills for a selection or a pick wave, one order at a time (each in its own transaction): one failing
    order never stops the others. failed: (order number, the reason)."""
    batch = WaybillBatch()
    for order in orders:
        try:
            batch.ok.append(order_waybill_obtain(order=order, actor=actor, source=source))
        except ApplicationError as refusal:
            batch.failed.append((order.number, str(refusal.extra.get("reason") or refusal.message)))
    return batch


# --- labels ------------------------------------------------------------------------------------------------
def order_labels_pdf(*, orders: Iterable[Order]) -> bytes:
    """One PDF with the label of each order's waybill, in the given order, each at its carrier's paper size, and
    the waybills marked printed. Orders without a waybill are refused, all named (nothing printed)."""
    wanted = list(orders)
    lines = OrderLine.objects.select_related("sku").order_by("is_gift", "id")
    loaded = {
        o.pk: o
        for o in Order.objects.filter(pk__in=[o.pk for o in wanted])
        .select_related("warehouse")
        .prefetch_related(Prefetch("lines", queryset=lines))
    }
    parcels = primary_parcels_of(order_ids=list(loaded))
    missing = [o.number for o in wanted if o.pk not in parcels]
    if missing:
        raise Conflict(
            _("No waybill yet for %(numbers)s: get the waybills first.") % {"numbers": ", ".join(missing)},
            code=OrderErrorCode.NO_WAYBILL,
            extra={"orders": missing},
        )
    if not wanted:
        raise Conflict(
            _("Choose the orders to print labels for."), code=OrderErrorCode.NO_WAYBILL, extra={"orders": []}
        )
    labels = [_label(loaded[o.pk], parcels[o.pk]) for o in wanted]
    pdf = labels_pdf(labels, paper=labels[0].paper)
    registry.waybills_mark_printed(shipment_ids=[parcels[o.pk].pk for o in wanted if parcels[o.pk].waybill_state])
    return pdf


def _label(order: Order, parcel: Shipment) -> LabelData:
    """What one label shows: the receiver masked as printed (name and phone; the carrier has the full ones)."""
    warehouse = order.warehouse
    lines = list(order.lines.all())
    return LabelData(
        carrier_name=parcel.carrier.name,
        tracking_number=parcel.tracking_number,
        order_number=order.number,
        receiver_name=mask_name(order.receiver_name),
        receiver_phone=_masked_phone(order.receiver_phone),
        receiver_address=_receiver_address(order),
        sender_name=warehouse.sender_name or warehouse.name if warehouse else "",
        sender_phone=warehouse.sender_phone if warehouse else "",
        sender_address=warehouse.sender_address if warehouse else "",
        routing_text=parcel.routing_text,
        sorting_code=parcel.sorting_code,
        goods_summary=_summary(lines, gifts=False),
        gift_summary=_summary(lines, gifts=True),
        paper=parcel.carrier.label_paper,
    )
