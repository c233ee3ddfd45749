"""Taking orders in: one path for the API, webhooks, pulls and the admin. Idempotent on the fingerprint."""

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics.models import Carrier
from logistics.services import shipments_register_imported
from orders.drafts import Address, LegacyDraft, LineDraft, OrderDraft
from orders.exceptions import Conflict, InvalidInput, OrderErrorCode
from orders.models import Alert, Channel, Customer, Order, OrderEvent, OrderLine, Source, Status
from orders.phones import is_cn_mobile
from orders.services.address import order_address_from_channel
from orders.services.alerts import alert_raise
from orders.services.deadlines import deadline_fields, ladder_marks_save
from orders.services.duplicates import duplicate_twin_find, order_hold_as_duplicate
from orders.services.outbox import order_accepted_push, order_accepting
from orders.services.payment import (
    order_confirm_payment,
    order_payment_time_record,
    payment_can_confirm,
    payment_mismatch_reason,
)
from orders.services.timeline import (
    channel_review_event,
    channel_update_event,
    events_deferred,
    history_attribute,
    history_bulk_insert,
    history_insert,
    order_created_event,
    order_imported_event,
)
from orders.services.transitions import order_transition
from warehouse.models import Sku, StockLock
from warehouse.selectors import skus_resolve

NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone


# A replay whose content differs updates the order while nothing is locked in a warehouse yet.
UPDATABLE = {Status.PLACED, Status.PAID}
# From allocation on the goods are being picked: a person decides (待人工复核).
HOLD_FOR_REVIEW = {Status.ALLOCATING, Status.ALLOCATED}
# Draft fields a replay may update when it says them (None says nothing).
PLAIN_FIELDS = ("promo_code", "invoice_title", "promised_ship_by", "platform_ship_by")


@dataclass(frozen=True)
class IntakeResult:
    order: Order
    created: bool
    # What a replay found and did (see _replay): every difference, the fields updated, held, flagged.
    differences: list[dict] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    held: bool = False
    flagged: bool = False
    payment_recorded: bool = False
    duplicate_of: Order | None = None  # a new order held as 疑似重复: its twin on another channel


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


def _resolve_skus(lines: tuple[LineDraft, ...]) -> dict[str, Sku]:
    """SKUs by code or alias (see warehouse.SkuAlias), keyed by what the draft says."""
    codes = {line.sku for line in lines}
    found = skus_resolve(codes)
    missing = sorted(codes - found.keys())
    if missing:
        raise InvalidInput(
            _("Unknown SKU: %(codes)s.") % {"codes": ", ".join(missing)},
            code=OrderErrorCode.UNKNOWN_SKU,
            extra={"field": "lines", "unknown_skus": missing},
        )
    return found


def sku_set_digest(codes) -> str:
    """The set of SKU codes an order's channel lines name, as one comparable value (Order.sku_set)."""
    return hashlib.sha256(",".join(sorted(set(codes))).encode()).hexdigest()


def customer_identity(draft: OrderDraft) -> tuple[str, str]:
    """(phone, platform_buyer) that name the draft's buyer. A real mobile number is the customer, whatever the
    channel. A masked or missing one is no identity (many buyers share 138****5678): the platform's buyer id on
    that channel is, or, without one, the channel order itself (one customer row per order, never a merge)."""
    phone = draft.customer.phone
    if is_cn_mobile(phone):
        return phone, ""
    who = draft.buyer_id or f"order:{draft.channel_order_no}"
    return phone, f"{draft.channel}:{who}"


def _customer_for(draft: OrderDraft) -> Customer:
    info = draft.customer
    phone, platform_buyer = customer_identity(draft)
    if platform_buyer:
        customer = Customer.objects.filter(platform_buyer=platform_buyer).first()
    else:
        customer = Customer.objects.filter(phone=phone, platform_buyer="").first()
    if customer is None:
        # No get_or_create savepoint: the caller's atomic block retries on IntegrityError (a concurrent insert).
        customer = Customer(
            phone=phone, platform_buyer=platform_buyer, name=info.name, member_level=info.member_level or "normal"
        )
        history_attribute(customer, actor=None, reason="customer from channel order")
        history_insert(customer)
        return customer
    level = info.member_level
    if level and level != customer.member_level:
        customer.member_level = level  # the channel knows the current level best
        history_attribute(customer, actor=None, reason="member level from channel order")
        customer.save(update_fields=["member_level"])
    return customer


def _validate_presale(draft: OrderDraft) -> None:
    if not draft.is_presale:
        return
    deposit = draft.deposit_amount
    if deposit is None or deposit <= 0:
        raise InvalidInput(
            _("A presale order needs a deposit_amount above zero."),
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "deposit_amount"},
        )


def _insert(
    *,
    draft: OrderDraft,
    channel: Channel,
    skus: dict[str, Sku],
    fingerprint: str,
    source: str,
    actor: AbstractBaseUser | None,
    channel_modified_at: datetime | None = None,
) -> Order:
    now = timezone.now()
    order = Order(
        number=order_number_generate(at=now),
        channel=channel,
        channel_order_no=draft.channel_order_no,
        buyer_id=draft.buyer_id,
        customer=_customer_for(draft),
        ordered_at=draft.ordered_at,
        **draft.address.order_fields(),
        subtotal=draft.subtotal,
        paid_amount=draft.paid_amount,
        is_presale=draft.is_presale,
        deposit_amount=draft.deposit_amount,
        promo_code=draft.promo_code or "",
        invoice_title=draft.invoice_title or "",
        tags=list(draft.tags),
        priority=draft.priority or Order.Priority.NORMAL,
        promised_ship_by=draft.promised_ship_by,
        platform_ship_by=draft.platform_ship_by,
        fingerprint=fingerprint,
        channel_modified_at=channel_modified_at,
        sku_set=sku_set_digest(skus[line.sku].code for line in draft.lines),
        source=source,
        state_entered_at=now,
        **deadline_fields(status=Status.PLACED, now=now),
    )
    history_attribute(order, actor=actor, reason=f"created via {source}")
    history_insert(order)
    ladder_marks_save(order)  # the placed node's levels at % of the allowed time, if it has any
    lines = history_bulk_insert(
        [
            OrderLine(order=order, sku=skus[line.sku], quantity=line.quantity, unit_price=line.unit_price)
            for line in draft.lines
        ],
        default_user=actor if actor is not None and actor.is_authenticated else None,
    )
    order._prefetched_objects_cache = {"lines": lines}  # the caller renders them without a re-read
    order_created_event(order=order, source=source, actor=actor)
    return order


def _existing_or_conflict(*, fingerprint: str, channel: Channel, channel_order_no: str) -> Order | None:
    # One indexed query answers both: a replay (same fingerprint) or a clash (same channel order no.). It reads
    # three columns, not the ~60 of an order (~0.3 ms of ORM work on every new order); a replay reads its order.
    candidates = list(
        Order.objects.filter(
            Q(fingerprint=fingerprint) | Q(channel=channel, channel_order_no=channel_order_no, is_legacy=False)
        )
        .order_by()
        .values_list("pk", "fingerprint", "number")[:2]
    )
    existing = next((pk for pk, found, _number in candidates if found == fingerprint), None)
    if existing is not None:
        return Order.objects.get(pk=existing)
    if candidates:
        number = candidates[0][2]
        raise Conflict(
            _("Channel order %(no)s already exists as order %(number)s with different buyer, time or items.")
            % {"no": channel_order_no, "number": number},
            code=OrderErrorCode.CHANNEL_ORDER_CONFLICT,
            extra={"field": "channel_order_no", "order": number},
        )
    return None


def order_create(
    *,
    draft: OrderDraft,
    actor: AbstractBaseUser | None,
    source: str = Source.API,
    channel_modified_at: datetime | None = None,
    replay: bool = True,
) -> IntakeResult:
    """Create an order from a draft (every door builds one), or return the one already taken in for it.

    A replay (same fingerprint) never creates a second order, and is never dropped when it says something
    new: see _replay. Payment reported with the order goes through the payment service. A new order that looks
    like an open order on another channel is held as 疑似重复 next to it (orders.services.duplicates). The order
    row is committed before the caller says yes. `channel_modified_at`: the channel's time of the report.
    `replay=False`: an order already taken in for the draft is returned as it is (created False), for the caller
    to update by its own rules (channel_intake: the report's time decides first).
    """
    channel = _resolve_channel(draft.channel)
    skus = _resolve_skus(draft.lines)
    _validate_presale(draft)
    fingerprint = order_fingerprint(
        channel_code=channel.code,
        channel_order_no=draft.channel_order_no,
        buyer_id=draft.buyer_id,
        ordered_at=draft.ordered_at,
        sku_codes=[skus[line.sku].code for line in draft.lines],
    )
    existing = _existing_or_conflict(fingerprint=fingerprint, channel=channel, channel_order_no=draft.channel_order_no)
    if existing is None:
        for _attempt in range(3):
            try:
                # The created line and those of the payment's run: one INSERT.
                with transaction.atomic(), events_deferred():
                    order = _insert(
                        draft=draft,
                        channel=channel,
                        skus=skus,
                        fingerprint=fingerprint,
                        source=source,
                        actor=actor,
                        channel_modified_at=channel_modified_at,
                    )
                    with order_accepting(order):  # the ERP hears the moves of its creation in the accepted order
                        if draft.paid_at and draft.reports_payment:
                            order = order_confirm_payment(
                                order=order,
                                paid_amount=draft.paid_amount,
                                paid_at=draft.paid_at,
                                payment_reference=_payment_reference(draft),
                                actor=actor,
                                source=source,
                                actor_label=channel.code,
                                savepoint=False,  # an error rolls back the whole intake, the order with it
                            )  # rules may have added lines: the caller reads it afresh
                        twin = duplicate_twin_find(order=order)
                        if twin is not None:
                            order = order_hold_as_duplicate(order=order, twin=twin, source=source)
                    order_accepted_push(order=order)  # the outbox row commits with the order (none: no ERP)
                order.tracking_number = ""  # a new order has no parcel in the registry yet (no need to ask)
                return IntakeResult(order=order, created=True, duplicate_of=twin)
            except IntegrityError:
                # A concurrent replay won the race (or, rarely, the random number collided): look again.
                existing = _existing_or_conflict(
                    fingerprint=fingerprint, channel=channel, channel_order_no=draft.channel_order_no
                )
                if existing is not None:
                    break
        else:
            raise Conflict(_("Could not store the order, please retry."), code="retry")
    if not replay:
        return IntakeResult(order=existing, created=False)
    return _replay(existing=existing, draft=draft, skus=skus, channel=channel, actor=actor, source=source)


def _payment_reference(draft: OrderDraft) -> str:
    # Without a trade number of its own, the channel's order number identifies the platform payment.
    return draft.payment_reference or draft.channel_order_no


def _diff(name: str, old, new) -> dict:
    def text(value) -> str:
        if isinstance(value, datetime):
            return timezone.localtime(value).isoformat()
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return "" if value is None else str(value)

    return {"field": name, "old": text(old), "new": text(new)}


@dataclass
class _Content:
    """How a replay's content differs from the order: the differences, and what applying them writes."""

    differences: list[dict] = field(default_factory=list)
    lines: list[tuple[OrderLine, int, Decimal]] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    # A channel's update may change the items (an API replay has the same SKUs: same fingerprint).
    added: list[OrderLine] = field(default_factory=list)  # not saved yet
    removed: list[OrderLine] = field(default_factory=list)

    ADDRESS = "shipping_address."

    def address_split(self) -> tuple["_Content", "_Content"]:
        """(the address differences, everything else): a channel's new address follows the address-change rules."""
        names = set(Address.ORDER_FIELDS.values())
        address = _Content(
            differences=[d for d in self.differences if d["field"].startswith(self.ADDRESS)],
            fields={k: v for k, v in self.fields.items() if k in names},
        )
        rest = _Content(
            differences=[d for d in self.differences if not d["field"].startswith(self.ADDRESS)],
            lines=self.lines,
            fields={k: v for k, v in self.fields.items() if k not in names},
            added=self.added,
            removed=self.removed,
        )
        return address, rest

    def merged(self, other: "_Content") -> "_Content":
        return _Content(
            differences=self.differences + other.differences,
            lines=self.lines + other.lines,
            fields={**self.fields, **other.fields},
            added=self.added + other.added,
            removed=self.removed + other.removed,
        )


def _line_text(sku_code: str, quantity: int, price: Decimal) -> str:
    return f"{sku_code} × {quantity} @ {price}"


def _content_differences(*, order: Order, draft: OrderDraft, skus: dict[str, Sku]) -> _Content:
    content = _Content()
    # The same fingerprint means the same SKU codes; pair the channel's lines with ours in order (gift lines
    # come from rules, not the channel).
    ours: dict[int, list[OrderLine]] = {}
    for line in order.lines.filter(is_gift=False).select_related("sku").order_by("id"):
        ours.setdefault(line.sku_id, []).append(line)
    for i, item in enumerate(draft.lines):
        candidates = ours.get(skus[item.sku].pk) or []
        if not candidates:  # an item the order does not have yet (only a channel's update says new items)
            sku = skus[item.sku]
            content.added.append(OrderLine(order=order, sku=sku, quantity=item.quantity, unit_price=item.unit_price))
            content.differences.append(_diff(f"lines[{i}]", "", _line_text(sku.code, item.quantity, item.unit_price)))
            continue
        line = candidates.pop(0)
        quantity, price = item.quantity, item.unit_price
        if line.quantity != quantity:
            content.differences.append(_diff(f"lines[{i}].quantity", line.quantity, quantity))
        if line.unit_price != price:
            content.differences.append(_diff(f"lines[{i}].unit_price", line.unit_price, price))
        if (line.quantity, line.unit_price) != (quantity, price):
            content.lines.append((line, quantity, price))
    for left in ours.values():  # items the channel no longer lists
        for line in left:
            content.removed.append(line)
            content.differences.append(
                _diff(f"lines.{line.sku.code}", _line_text(line.sku.code, line.quantity, line.unit_price), "")
            )
    for name in ("ordered_at", "buyer_id"):  # part of the fingerprint: only a channel's update changes them
        new = getattr(draft, name)
        if getattr(order, name) != new:
            content.differences.append(_diff(name, getattr(order, name), new))
            content.fields[name] = new
    subtotal = draft.subtotal
    if subtotal != order.subtotal:
        content.differences.append(_diff("subtotal", order.subtotal, subtotal))
        content.fields["subtotal"] = subtotal
    for key, old, new in Address.of(order).differences(draft.address):
        content.differences.append(_diff(f"shipping_address.{key}", old, new))
        content.fields[Address.ORDER_FIELDS[key]] = new
    for name in PLAIN_FIELDS:  # only what the replay sends; null says nothing
        new = getattr(draft, name)
        if new is not None and getattr(order, name) != new:
            content.differences.append(_diff(name, getattr(order, name), new))
            content.fields[name] = new
    # Rules add tags and raise priority too: the channel's tags are added, its priority only ever raises.
    added = [tag for tag in draft.tags if tag not in order.tags]
    if added:
        content.differences.append(_diff("tags", order.tags, [*order.tags, *added]))
        content.fields["tags"] = [*order.tags, *added]
    if draft.priority is not None and draft.priority > order.priority:
        content.differences.append(_diff("priority", order.priority, draft.priority))
        content.fields["priority"] = draft.priority
    return content


def _payment_differences(*, order: Order, draft: OrderDraft) -> list[dict]:
    """What the replay says about payment that the hub does not know yet (nothing when it reports none)."""
    amount, paid_at = draft.paid_amount, draft.paid_at
    if amount <= 0:
        return []
    differences = []
    if amount != order.paid_amount:
        differences.append(_diff("paid_amount", order.paid_amount, amount))
    if paid_at is not None and paid_at != order.paid_at:
        differences.append(_diff("paid_at", order.paid_at, paid_at))
    return differences


def _describe(differences: list[dict]) -> str:
    return "; ".join(f"{d['field']}: {d['old'] or '—'} → {d['new'] or '—'}" for d in differences)


def order_update_from_replay(
    *, order: Order, content: _Content, actor: AbstractBaseUser | None, source: str, actor_label: str
) -> Order:
    """Apply a channel replay's new content to a row-locked order that no warehouse has touched yet:
    lines, subtotal, address and the other payload fields, with history rows and ONE timeline event."""
    reason = f"channel replay: {', '.join(d['field'] for d in content.differences)}"
    for line, quantity, price in content.lines:
        line.quantity, line.unit_price = quantity, price
        history_attribute(line, actor=actor, reason=reason)
        line.save(update_fields=["quantity", "unit_price"])
    for line in content.removed:
        history_attribute(line, actor=actor, reason=reason)
        line.delete()  # its history keeps it
    if content.added:
        history_bulk_insert(content.added, default_user=actor if actor is not None and actor.is_authenticated else None)
    for name, value in content.fields.items():
        setattr(order, name, value)
    if content.added or content.removed or {"ordered_at", "buyer_id"} & content.fields.keys():
        codes = list(order.lines.filter(is_gift=False).values_list("sku__code", flat=True))
        order.sku_set = sku_set_digest(codes)
        order.fingerprint = order_fingerprint(
            channel_code=order.channel.code,
            channel_order_no=order.channel_order_no,
            buyer_id=order.buyer_id,
            ordered_at=order.ordered_at,
            sku_codes=codes,
        )
    history_attribute(order, actor=actor, reason=reason)
    order.save()
    channel_update_event(
        order=order,
        differences=content.differences,
        described=_describe(content.differences),
        source=source,
        actor=actor,
        actor_label=actor_label,
    )
    return order


def _replay_review(
    *, order: Order, differences: list[dict], headline: str, source: str, actor_label: str
) -> tuple[Order, bool]:
    """Put differences the hub cannot apply in front of a person: hold the order for review where it can be
    held, else alert customer service (e.g. the parcel is already with the carrier). Returns (order, held).
    The same differences reported again are not recorded twice."""
    digest = hashlib.sha256(json.dumps(differences, sort_keys=True).encode()).hexdigest()[:16]
    dedupe_key = f"replay:{order.pk}:{digest}"
    if (
        OrderEvent.objects.filter(order=order, data__replay_digest=digest).exists()
        or Alert.objects.filter(dedupe_key=dedupe_key).exists()
    ):
        return order, order.status == Status.ON_HOLD
    text = f"{headline}: {_describe(differences)}"
    if not order.is_legacy and order.status in HOLD_FOR_REVIEW | {Status.PAID}:
        channel_review_event(
            order=order, differences=differences, digest=digest, reason=text, source=source, actor_label=actor_label
        )
        held = order_transition(
            order=order, transition="hold", actor=None, source=source, actor_label=actor_label, reason=text[:255]
        )
        return held, True
    alert_raise(
        kind=Alert.Kind.OTHER,
        order=order,
        message=_("%(text)s. The order is '%(status)s' and was left as it is: check with the channel.")
        % {"text": text, "status": order.get_status_display()},
        dedupe_key=dedupe_key,
    )
    return order, False


def _replay(
    *,
    existing: Order,
    draft: OrderDraft,
    skus: dict[str, Sku],
    channel: Channel,
    actor: AbstractBaseUser | None,
    source: str,
    address_rules: bool = False,
) -> IntakeResult:
    """A replay (same fingerprint). Identical: nothing changes. Different content: before allocation the order
    is updated; from allocation on it is held for review with the differences (or, when it cannot be held any
    more, an alert says so). Payment it reports goes through the payment service.
    `address_rules` (a channel's update, see order_update_from_channel): a new address follows the rules of an
    address change (orders.services.address): applied before the label, an intercept with the carrier after."""
    label = _("%(channel)s replay") % {"channel": channel.code}
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=existing.pk)
        content = _content_differences(order=order, draft=draft, skus=skus)
        payment = _payment_differences(order=order, draft=draft)
        if not content.differences and not payment:
            return IntakeResult(order=order, created=False)
        differences = content.differences + payment
        address = _Content()
        if address_rules:
            address, content = content.address_split()
            if address.differences:
                reason = _("%(channel)s reported a new address") % {"channel": channel.name}
                order, how = order_address_from_channel(
                    order=order, address=draft.address, reason=reason, source=source, actor_label=label
                )
                if how != "applied":
                    address = _Content()  # intercept asked (exception + alert), or too late: see below
                if how == "refused":
                    content.differences += [d for d in differences if d["field"].startswith(_Content.ADDRESS)]
        before_allocation = order.status in UPDATABLE or (
            order.status == Status.ON_HOLD and order.resume_status in UPDATABLE
        )
        # Stock is locked only at allocation; check anyway, since changed quantities would not match the locks.
        updatable = (
            not order.is_legacy
            and before_allocation
            and not StockLock.objects.filter(order=order, state=StockLock.State.ACTIVE).exists()
        )
        updated, review = [], []
        applied = _Content()
        if content.differences and updatable:
            applied = content
        elif content.differences:
            review += content.differences
        applied = applied.merged(address)  # one timeline event for all the report changed
        if applied.differences:
            order = order_update_from_replay(
                order=order, content=applied, actor=actor, source=source, actor_label=label
            )
            updated = [d["field"] for d in applied.differences]
        payment_recorded = False
        if payment and payment_can_confirm(order=order):
            order = order_confirm_payment(
                order=order,
                paid_amount=draft.paid_amount,
                paid_at=draft.paid_at or timezone.now(),
                payment_reference=_payment_reference(draft),
                actor=actor,
                source=source,
                actor_label=channel.code,
            )
            payment_recorded = True
        elif (
            [d["field"] for d in payment] == ["paid_at"]
            and order.paid_at is None
            and order.payment_status == Order.PaymentStatus.PAID
        ):
            # Verified without a time (e.g. by hand); the channel now says when: keep it, nothing to review.
            order = order_payment_time_record(order=order, paid_at=draft.paid_at, actor=actor, source=source)
            payment_recorded = True
        elif payment:
            review += payment
        # A verified payment is never rewritten here: a paid order whose new total differs goes to review.
        mismatch = (
            "subtotal" in content.fields
            and updatable
            and order.payment_status == Order.PaymentStatus.PAID
            and order.paid_amount != order.subtotal
        )
        held = False
        if review or mismatch:
            headline = (
                payment_mismatch_reason(expected=[order.subtotal], paid=order.paid_amount)
                if mismatch
                else _("渠道重推内容不同 Channel replay differs")
            )
            order, held = _replay_review(
                order=order,
                differences=review or content.differences,
                headline=headline,
                source=source,
                actor_label=label,
            )
        return IntakeResult(
            order=order,
            created=False,
            differences=differences,
            updated=updated,
            held=held,
            flagged=bool(review or mismatch) and not held,
            payment_recorded=payment_recorded,
        )


def order_update_from_channel(*, order: Order, draft: OrderDraft, source: str) -> IntakeResult:
    """A channel reports again an order the hub has (matched by channel and channel order number, not by the
    fingerprint: its items, buyer or time may have changed). The replay rules apply (see _replay), and a new
    address follows the address-change rules. Bad input raises InvalidInput and changes nothing."""
    channel = _resolve_channel(draft.channel)
    skus = _resolve_skus(draft.lines)
    _validate_presale(draft)
    return _replay(
        existing=order, draft=draft, skus=skus, channel=channel, actor=None, source=source, address_rules=True
    )


def _customers_for(drafts: list[OrderDraft], *, reason: str) -> dict[tuple[str, str], Customer]:
    """The customer of each draft by its identity (phone, platform_buyer), found or made as _customer_for does:
    two queries for the ones the hub knows, one bulk INSERT (with history) for the new ones."""
    identities = {customer_identity(draft): draft for draft in drafts}
    phones = [phone for phone, buyer in identities if not buyer]
    buyers = [buyer for _phone, buyer in identities if buyer]
    by_phone = {c.phone: c for c in Customer.objects.filter(phone__in=phones, platform_buyer="")}
    by_buyer = {c.platform_buyer: c for c in Customer.objects.filter(platform_buyer__in=buyers)}
    found: dict[tuple[str, str], Customer] = {}
    new = []
    for (phone, buyer), draft in identities.items():
        customer = by_buyer.get(buyer) if buyer else by_phone.get(phone)
        if customer is None:
            customer = Customer(
                phone=phone,
                platform_buyer=buyer,
                name=draft.customer.name,
                member_level=draft.customer.member_level or "normal",
            )
            history_attribute(customer, actor=None, reason=reason)
            new.append(customer)
        found[(phone, buyer)] = customer
    history_bulk_insert(new)
    return found


def _carrier_named(carriers: list[Carrier], text: str) -> Carrier | None:
    """The carrier an old export names: its code or name, or a name one contains (顺丰 / 顺丰速运)."""
    text = text.strip()
    if not text:
        return None
    for carrier in carriers:
        if text.lower() in (carrier.code.lower(), carrier.name.lower()):
            return carrier
    return next((c for c in carriers if text in c.name or c.name in text), None)


def legacy_orders_create(
    *, drafts: list[LegacyDraft], job_id: int, file_name: str, actor: AbstractBaseUser | None
) -> int:
    """The import's one door: create legacy orders (is_legacy, source import, read-only, in the state the legacy
    status mapping gives) from LegacyDrafts in bulk: customers reused by phone / platform buyer as order_create
    does, the lines, one timeline event each naming the import and its file, '+' history rows whose reason names
    them. Drafts whose channel order the hub already has (legacy or not) are skipped, so a second run creates
    nothing twice. Call inside the batch's transaction: an error leaves none of the batch. Returns how many."""
    if not drafts:
        return 0
    channel = _resolve_channel(drafts[0].draft.channel)
    # Two imports of one channel take turns batch by batch, so the check below holds until the batch commits
    # (legacy orders have no unique channel order number). NO KEY: the channel's live intake is not blocked.
    Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).first()
    wanted = {legacy.draft.channel_order_no: legacy for legacy in drafts}
    there = set(
        Order.objects.filter(channel=channel, channel_order_no__in=wanted).values_list("channel_order_no", flat=True)
    )
    todo = [legacy for no, legacy in wanted.items() if no not in there]
    if not todo:
        return 0
    skus = _resolve_skus(tuple(line for legacy in todo for line in legacy.draft.lines))
    reason = f"import #{job_id} {file_name}"
    customers = _customers_for([legacy.draft for legacy in todo], reason=reason)
    default_user = actor if actor is not None and actor.is_authenticated else None
    carriers = list(Carrier.objects.all()) if any(legacy.carrier for legacy in todo) else []
    orders, lines = [], []
    for legacy in todo:
        draft = legacy.draft
        codes = [skus[line.sku].code for line in draft.lines]
        paid = draft.paid_amount > 0 or draft.paid_at is not None
        order = Order(
            number=order_number_generate(at=draft.ordered_at),
            channel=channel,
            channel_order_no=draft.channel_order_no,
            buyer_id=draft.buyer_id,
            customer=customers[customer_identity(draft)],
            status=legacy.status,
            status_reason=f"{legacy.legacy_code} {legacy.legacy_label}".strip()[:255],
            state_entered_at=draft.paid_at or draft.ordered_at,
            payment_status=Order.PaymentStatus.PAID if paid else Order.PaymentStatus.UNPAID,
            ordered_at=draft.ordered_at,
            paid_at=draft.paid_at,
            **draft.address.order_fields(),
            subtotal=draft.subtotal,
            paid_amount=draft.paid_amount,
            fingerprint=order_fingerprint(
                channel_code=channel.code,
                channel_order_no=draft.channel_order_no,
                buyer_id=draft.buyer_id,
                ordered_at=draft.ordered_at,
                sku_codes=codes,
            ),
            sku_set=sku_set_digest(codes),
            source=Source.IMPORT,
            is_legacy=True,
            import_job_id=job_id,
            carrier=_carrier_named(carriers, legacy.carrier),
        )
        history_attribute(order, actor=actor, reason=reason)
        orders.append(order)
    history_bulk_insert(orders, default_user=default_user)
    parcels = [
        (order, order.carrier, legacy.tracking_number)
        for order, legacy in zip(orders, todo, strict=True)
        if order.carrier is not None and legacy.tracking_number
    ]
    shipments_register_imported(parcels=parcels)  # found by their tracking number like any order
    with events_deferred():
        for order, legacy in zip(orders, todo, strict=True):
            for line in legacy.draft.lines:
                item = OrderLine(order=order, sku=skus[line.sku], quantity=line.quantity, unit_price=line.unit_price)
                history_attribute(item, actor=actor, reason=reason)
                lines.append(item)
            order_imported_event(
                order=order,
                import_job=job_id,
                file_name=file_name,
                legacy_code=legacy.legacy_code,
                legacy_label=legacy.legacy_label,
                tracking_number=legacy.tracking_number,
                carrier=legacy.carrier,
                note=legacy.note,
                actor=actor,
            )
        history_bulk_insert(lines, default_user=default_user)
    return len(orders)
