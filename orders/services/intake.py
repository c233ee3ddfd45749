"""Taking orders in: one path for the API, webhooks, pulls and the admin. Idempotent on the fingerprint."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from orders.exceptions import Conflict, InvalidInput, OrderErrorCode
from orders.models import Channel, Customer, Order, OrderEvent, OrderLine, Source, Status
from orders.services.timeline import event_record, history_attribute
from orders.services.transitions import order_transition, status_deadline
from warehouse.models import Sku
from warehouse.selectors import skus_resolve

NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone


@dataclass(frozen=True)
class IntakeResult:
    order: Order
    created: bool


def order_fingerprint(
    *, channel_code: str, channel_order_no: str, buyer_id: str, ordered_at: datetime, sku_codes: list[str]
) -> str:
    ordered_utc = ordered_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = "|".join([channel_code, channel_order_no, buyer_id, ordered_utc, ",".join(sorted(sku_codes))])
    return hashlib.sha256(key.encode()).hexdigest()


def order_number_generate(*, at: datetime | None = None) -> str:
    """Date prefix + 8 random characters: sortable by day, not guessable in sequence."""
    local = timezone.localtime(at or timezone.now())
    random_part = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"OH{local:%y%m%d}{random_part}"


def _resolve_channel(code: str) -> Channel:
    channel = Channel.objects.filter(code=code).first()
    if channel is None:
        raise InvalidInput(
            _("Unknown channel '%(code)s'.") % {"code": code},
            code=OrderErrorCode.UNKNOWN_CHANNEL,
            extra={"field": "channel"},
        )
    if not channel.is_active:
        raise InvalidInput(
            _("Channel '%(code)s' is switched off.") % {"code": code},
            code=OrderErrorCode.INACTIVE_CHANNEL,
            extra={"field": "channel"},
        )
    return channel


def _resolve_skus(lines: list[dict]) -> dict[str, Sku]:
    """SKUs by code or alias (see warehouse.SkuAlias), keyed by what the payload sent."""
    codes = {line["sku"] for line in lines}
    found = skus_resolve(codes)
    missing = sorted(codes - found.keys())
    if missing:
        raise InvalidInput(
            _("Unknown SKU: %(codes)s.") % {"codes": ", ".join(missing)},
            code=OrderErrorCode.UNKNOWN_SKU,
            extra={"field": "lines", "unknown_skus": missing},
        )
    return found


def _customer_for(data: dict) -> Customer:
    info = data["customer"]
    customer, created = Customer.objects.get_or_create(
        phone=info["phone"], defaults={"name": info["name"], "member_level": info.get("member_level") or "normal"}
    )
    level = info.get("member_level")
    if not created and level and level != customer.member_level:
        customer.member_level = level  # the channel knows the current level best
        history_attribute(customer, actor=None, reason="member level from channel order")
        customer.save(update_fields=["member_level"])
    return customer


def _validate_presale(data: dict) -> None:
    if not data.get("is_presale"):
        return
    deposit = data.get("deposit_amount")
    if deposit is None or deposit <= 0:
        raise InvalidInput(
            _("A presale order needs a deposit_amount above zero."),
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "deposit_amount"},
        )


def _insert(
    *, data: dict, channel: Channel, skus: dict[str, Sku], fingerprint: str, source: str, actor: AbstractBaseUser | None
) -> Order:
    address = data["shipping_address"]
    subtotal = sum((Decimal(line["unit_price"]) * line["quantity"] for line in data["lines"]), Decimal("0"))
    now = timezone.now()
    order = Order(
        number=order_number_generate(at=now),
        channel=channel,
        channel_order_no=data["channel_order_no"],
        buyer_id=data.get("buyer_id", ""),
        customer=_customer_for(data),
        ordered_at=data["ordered_at"],
        receiver_name=address["receiver"],
        receiver_phone=address["phone"],
        province=address["province"],
        city=address["city"],
        district=address.get("district", ""),
        address_detail=address["detail"],
        subtotal=subtotal,
        paid_amount=data.get("paid_amount") or Decimal("0"),
        is_presale=bool(data.get("is_presale")),
        deposit_amount=data.get("deposit_amount"),
        promo_code=data.get("promo_code", ""),
        invoice_title=data.get("invoice_title", ""),
        tags=list(data.get("tags") or []),
        priority=data.get("priority") or Order.Priority.NORMAL,
        promised_ship_by=data.get("promised_ship_by"),
        fingerprint=fingerprint,
        source=source,
        state_entered_at=now,
        state_deadline=status_deadline(status=Status.PLACED, entered_at=now),
    )
    history_attribute(order, actor=actor, reason=f"created via {source}")
    order.save()
    lines = bulk_create_with_history(
        [
            OrderLine(order=order, sku=skus[line["sku"]], quantity=line["quantity"], unit_price=line["unit_price"])
            for line in data["lines"]
        ],
        OrderLine,
        default_user=actor if actor is not None and actor.is_authenticated else None,
    )
    order._prefetched_objects_cache = {"lines": lines}  # the caller renders them without a re-read
    event_record(
        order=order,
        kind=OrderEvent.Kind.CREATED,
        source=source,
        actor=actor,
        to_status=order.status,
        data={"channel": channel.code, "channel_order_no": order.channel_order_no},
    )
    return order


def _existing_or_conflict(*, fingerprint: str, channel: Channel, channel_order_no: str) -> Order | None:
    # One indexed query answers both: a replay (same fingerprint) or a clash (same channel order no.).
    candidates = list(
        Order.objects.filter(
            Q(fingerprint=fingerprint) | Q(channel=channel, channel_order_no=channel_order_no, is_legacy=False)
        ).order_by()[:2]
    )
    existing = next((o for o in candidates if o.fingerprint == fingerprint), None)
    if existing is not None:
        return existing
    clash = candidates[0] if candidates else None
    if clash is not None:
        raise Conflict(
            _("Channel order %(no)s already exists as order %(number)s with different buyer, time or items.")
            % {"no": channel_order_no, "number": clash.number},
            code=OrderErrorCode.CHANNEL_ORDER_CONFLICT,
            extra={"field": "channel_order_no", "order": clash.number},
        )
    return None


def order_create(*, data: dict, actor: AbstractBaseUser | None, source: str = Source.API) -> IntakeResult:
    """Create an order from validated payload data, or return the one already taken in for it.

    A replay (same fingerprint) never creates a second order; a presale replay carrying the balance
    records the new paid amount. The order row is committed before the caller says yes.
    """
    channel = _resolve_channel(data["channel"])
    skus = _resolve_skus(data["lines"])
    _validate_presale(data)
    fingerprint = order_fingerprint(
        channel_code=channel.code,
        channel_order_no=data["channel_order_no"],
        buyer_id=data.get("buyer_id", ""),
        ordered_at=data["ordered_at"],
        sku_codes=[skus[line["sku"]].code for line in data["lines"]],
    )
    existing = _existing_or_conflict(
        fingerprint=fingerprint, channel=channel, channel_order_no=data["channel_order_no"]
    )
    if existing is None:
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    order = _insert(
                        data=data, channel=channel, skus=skus, fingerprint=fingerprint, source=source, actor=actor
                    )
                    if data.get("paid_at") and order.is_payment_complete():
                        order.paid_at = data["paid_at"]
                        order.save(update_fields=["paid_at"])
                        paid = order_transition(
                            order=order,
                            transition="pay",
                            actor=None,
                            source=source,
                            actor_label=channel.code,
                            reason=_("Channel reports payment"),
                        )
                        order = paid  # rules may have added lines: the caller reads it afresh
                return IntakeResult(order=order, created=True)
            except IntegrityError:
                # A concurrent replay won the race (or, rarely, the random number collided): look again.
                existing = _existing_or_conflict(
                    fingerprint=fingerprint, channel=channel, channel_order_no=data["channel_order_no"]
                )
                if existing is not None:
                    break
        else:
            raise Conflict(_("Could not store the order, please retry."), code="retry")
    return IntakeResult(order=_replay(existing=existing, data=data, actor=actor, source=source), created=False)


def _replay(*, existing: Order, data: dict, actor: AbstractBaseUser | None, source: str) -> Order:
    paid = data.get("paid_amount")
    if existing.is_presale and paid is not None and paid > existing.paid_amount:
        return order_record_payment(order=existing, paid_amount=paid, actor=actor, source=source)
    return existing


def order_record_payment(*, order: Order, paid_amount: Decimal, actor: AbstractBaseUser | None, source: str) -> Order:
    """Record a larger paid amount (a presale balance). Never lowers what was paid."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.is_legacy:
            raise Conflict(_("Legacy (imported) orders are read-only."), code=OrderErrorCode.LEGACY_READ_ONLY)
        if paid_amount <= locked.paid_amount:
            return locked
        before = locked.paid_amount
        locked.paid_amount = paid_amount
        history_attribute(locked, actor=actor, reason="payment recorded")
        locked.save(update_fields=["paid_amount", "updated_at"])
        event_record(
            order=locked,
            kind=OrderEvent.Kind.NOTE,
            source=source,
            actor=actor,
            reason=_("Paid amount %(before)s → %(after)s") % {"before": before, "after": paid_amount},
            data={"paid_amount": str(paid_amount)},
        )
    return locked
