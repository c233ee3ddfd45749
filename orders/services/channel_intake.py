"""Taking in one order a channel reported (webhook delivery, pull page, replay from the admin): create it, or
update the order the hub already has for it through the lifecycle. Every channel door calls
`channel_order_take`, one order at a time, so a batch keeps its good orders and rejects the bad ones one by one.

A report is matched to the hub's order by (channel, channel order number), not by the API's fingerprint: changed
items, buyer or time are an update of that order, never a second one. The channel's modification time orders the
reports: one older than the last applied changes nothing (webhooks retry and arrive out of order; pulls overlap).
What the report says happened goes through the lifecycle: paid → the payment service (presale: deposit, then the
balance), refund requested → hold for refund review (退款审核), cancelled → the cancel transition with the
platform's reason; where the order is too far along for that, an alert tells customer service what to do.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import DataError, transaction
from django.utils.translation import gettext as _

from logistics.selectors import tracking_number_of
from orders.drafts import ChannelEvent, ChannelOrder, OrderDraft
from orders.exceptions import Conflict, InvalidInput, OrderErrorCode
from orders.models import CANCELLABLE, HOLDABLE, Alert, Channel, Order, Status
from orders.phones import normalize_phone, platform_phone_validator
from orders.services.alerts import alert_raise
from orders.services.core import order_lock
from orders.services.intake import order_create, order_update_from_channel
from orders.services.timeline import history_attribute
from orders.services.transitions import order_transition_locked


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # the report changed the order (content, payment, hold, cancel)
    UNCHANGED = "unchanged"  # an exact replay
    STALE = "stale"  # older than the last report applied: nothing changed
    DUPLICATE = "duplicate"  # created, and held as 疑似重复 next to its twin on another channel
    REJECTED = "rejected"


@dataclass(frozen=True)
class ChannelTake:
    outcome: Outcome
    order: Order | None = None
    reason: str = ""  # why it was rejected (or what was done), in words the sender and the log can show
    code: str = ""  # the error code of a rejection (orders.exceptions.OrderErrorCode …)
    extra: dict | None = None


def channel_order_take(*, channel: Channel, report: ChannelOrder, source: str) -> ChannelTake:
    """Take one reported order in its own transaction: either all of it is written, or nothing and a rejection
    that names the problem. Never raises for bad input."""
    report = replace(report, draft=_draft_normalized(report.draft, channel=channel))
    try:
        _draft_check(report.draft)
        with transaction.atomic():
            return _take(channel=channel, report=report, source=source)
    except (InvalidInput, Conflict) as error:
        return ChannelTake(
            outcome=Outcome.REJECTED, reason=str(error.message), code=str(error.code), extra=error.extra or None
        )
    except DataError as error:  # a value the columns cannot hold, that no check above named
        return ChannelTake(
            outcome=Outcome.REJECTED,
            reason=_("值无法保存 A value cannot be stored: %(error)s") % {"error": str(error).strip()[:200]},
            code=OrderErrorCode.INVALID_FIELD,
        )


def _draft_normalized(draft: OrderDraft, *, channel: Channel) -> OrderDraft:
    """The channel that delivered it is the order's channel; phones as orders.phones spells them (full-width digits,
    +86, dashes), whatever the mapping did. Masked phones stay as given."""
    customer_phone, receiver_phone = normalize_phone(draft.customer.phone), normalize_phone(draft.address.phone)
    if (draft.channel, draft.customer.phone, draft.address.phone) == (channel.code, customer_phone, receiver_phone):
        return draft
    return replace(
        draft,
        channel=channel.code,
        customer=replace(draft.customer, phone=customer_phone),
        address=replace(draft.address, phone=receiver_phone),
    )


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, code=OrderErrorCode.INVALID_FIELD, extra={"field": field})


def _draft_check(draft: OrderDraft) -> None:
    """What the API's serializer checks and a channel's mapping may not have: the phones (masked and encrypted
    ones are valid phones of their own kind, kept as the platform gave them), the order number, the lines."""
    if not draft.channel_order_no or len(draft.channel_order_no) > 64:
        raise _invalid("channel_order_no", _("channel_order_no is required, at most 64 characters."))
    if len(draft.buyer_id) > 64:
        raise _invalid("buyer_id", _("buyer_id is at most 64 characters."))
    phone = draft.customer.phone
    try:
        if phone:
            platform_phone_validator(phone)
    except ValidationError as error:
        raise _invalid(
            "customer.phone",
            _(
                "买家电话无效 Buyer phone '%(phone)s' is neither a mobile number nor one the platform masked "
                "(138****5678) or encrypted."
            )
            % {"phone": phone},
        ) from error
    try:
        platform_phone_validator(draft.address.phone)
    except ValidationError as error:
        raise _invalid("shipping_address.phone", str(error.messages[0])) from error
    if not draft.lines:
        raise _invalid("lines", _("An order needs at least one line."))
    for i, line in enumerate(draft.lines):
        if line.quantity < 1 or line.unit_price < 0:
            raise _invalid(f"lines[{i}]", _("Line %(n)d: quantity at least 1, price not negative.") % {"n": i + 1})


def _take(*, channel: Channel, report: ChannelOrder, source: str) -> ChannelTake:
    draft = report.draft
    existing = (
        Order.objects.select_for_update()
        .filter(channel=channel, channel_order_no=draft.channel_order_no, is_legacy=False)
        .first()
    )
    if existing is None:
        try:
            result = order_create(
                draft=draft, actor=None, source=source, channel_modified_at=report.modified_at, replay=False
            )
        except Conflict as error:
            if error.code != OrderErrorCode.CHANNEL_ORDER_CONFLICT:
                raise
            # A concurrent take created it with other content a moment ago: this report updates that order.
            existing = Order.objects.select_for_update().get(
                channel=channel, channel_order_no=draft.channel_order_no, is_legacy=False
            )
            return _update(existing=existing, report=report, channel=channel, source=source)
        if result.created:
            order, done = _event_apply(order=result.order, report=report, channel=channel, source=source)
            if result.duplicate_of is not None:
                twin = result.duplicate_of
                return ChannelTake(
                    outcome=Outcome.DUPLICATE,
                    order=order,
                    reason=_("疑似重复 Suspected duplicate of order %(number)s on %(channel)s")
                    % {"number": twin.number, "channel": twin.channel.name},
                    extra={"duplicate_of": twin.number},
                )
            return ChannelTake(outcome=Outcome.CREATED, order=order, reason=done)
        existing = Order.objects.select_for_update().get(pk=result.order.pk)  # a concurrent take created it
    return _update(existing=existing, report=report, channel=channel, source=source)


def _update(*, existing: Order, report: ChannelOrder, channel: Channel, source: str) -> ChannelTake:
    """The hub has the order (row-locked): apply the report unless it is older than the last one applied."""
    draft = report.draft
    last = existing.channel_modified_at
    if report.modified_at is not None and last is not None and report.modified_at < last:
        return ChannelTake(
            outcome=Outcome.STALE,
            order=existing,
            reason=_("过期 Older than the last report applied (%(last)s): nothing changed.")
            % {"last": last.isoformat()},
        )
    result = order_update_from_channel(order=existing, draft=draft, source=source)
    order, done = _event_apply(order=result.order, report=report, channel=channel, source=source)
    order = _modified_at_keep(order=order, modified_at=report.modified_at)
    said = [done] if done else []
    if result.updated:
        said.insert(0, _("updated %(fields)s") % {"fields": ", ".join(result.updated)})
    if result.held:
        said.append(_("held for review"))
    elif result.flagged:
        said.append(_("customer service alerted"))
    if result.payment_recorded:
        said.append(_("payment recorded"))
    if result.differences or done:
        return ChannelTake(outcome=Outcome.UPDATED, order=order, reason="; ".join(said))
    return ChannelTake(outcome=Outcome.UNCHANGED, order=order)


def _modified_at_keep(*, order: Order, modified_at: datetime | None) -> Order:
    """Remember the newest report time applied (on the row this transaction has locked)."""
    if modified_at is None or (order.channel_modified_at is not None and order.channel_modified_at >= modified_at):
        return order
    order = order_lock(order=order)
    order.channel_modified_at = modified_at
    history_attribute(order, actor=None, reason="channel report time")
    order.save(update_fields=["channel_modified_at", "updated_at"])
    return order


def _event_apply(*, order: Order, report: ChannelOrder, channel: Channel, source: str) -> tuple[Order, str]:
    """What the report says happened, beyond its content and payment (applied by intake): refund requested or
    cancelled. Returns the order and what was done ("" when nothing)."""
    if report.event not in (ChannelEvent.REFUND_REQUESTED, ChannelEvent.CANCELLED):
        return order, ""
    order = order_lock(order=order)  # held since _take locked it: a fresh copy, no wait
    why = report.reason or report.platform_status or "-"
    if order.is_legacy or order.status in (Status.CANCELLED, Status.RETURNED):
        return order, ""  # nothing left to do: the order is closed
    if report.event == ChannelEvent.CANCELLED:
        return _cancel(order=order, channel=channel, why=why, source=source)
    return _refund_review(order=order, channel=channel, why=why, source=source)


def _cancel(*, order: Order, channel: Channel, why: str, source: str) -> tuple[Order, str]:
    if order.status in CANCELLABLE:
        # The lifecycle's effects release the stock and cancel unused waybills at the carrier.
        reason = _("渠道取消 Cancelled on %(channel)s: %(why)s") % {"channel": channel.name, "why": why}
        order = order_transition_locked(
            order=order, transition="cancel", actor=None, source=source, actor_label=channel.code, reason=reason
        )
        return order, _("cancelled")
    _alert(
        order=order,
        key="cancel",
        message=_(
            "渠道已取消 %(channel)s cancelled order %(number)s (%(why)s), but it is '%(status)s' and can no longer "
            "be cancelled: ask %(carrier)s to intercept parcel %(parcel)s, or handle it as a return."
        )
        % _facts(order=order, channel=channel, why=why),
    )
    return order, _("customer service alerted: too late to cancel")


def _refund_review(*, order: Order, channel: Channel, why: str, source: str) -> tuple[Order, str]:
    if order.status == Status.ON_HOLD and order.hold_kind == Order.HoldKind.REFUND:
        return order, ""  # already held for this
    if order.status in HOLDABLE:
        reason = _("退款审核 Refund requested on %(channel)s: %(why)s") % {"channel": channel.name, "why": why}
        order = order_transition_locked(
            order=order,
            transition="hold",
            actor=None,
            source=source,
            actor_label=channel.code,
            reason=reason,
            also_set={"hold_kind": Order.HoldKind.REFUND},
        )
        return order, _("held for refund review")
    if order.status == Status.ON_HOLD:
        message = _(
            "退款申请 %(channel)s: the buyer asked for a refund of order %(number)s (%(why)s) while it is on hold "
            "(%(hold)s): decide the refund before releasing it."
        )
    elif order.status == Status.DELIVERED:
        message = _(
            "退款申请 %(channel)s: the buyer asked for a refund of delivered order %(number)s (%(why)s): handle it "
            "as a return with the platform."
        )
    else:
        message = _(
            "退款申请 %(channel)s: the buyer asked for a refund of order %(number)s (%(why)s), already '%(status)s': "
            "ask %(carrier)s to intercept parcel %(parcel)s, then agree the refund with the platform."
        )
    _alert(order=order, key="refund", message=message % _facts(order=order, channel=channel, why=why))
    return order, _("customer service alerted: refund requested")


def _facts(*, order: Order, channel: Channel, why: str) -> dict:
    return {
        "channel": channel.name,
        "number": order.number,
        "why": why,
        "status": order.get_status_display(),
        "hold": order.status_reason or "-",
        "carrier": order.carrier.name if order.carrier_id else _("the carrier"),
        "parcel": tracking_number_of(order) or "-",
    }


def _alert(*, order: Order, key: str, message: str) -> None:
    # Routed as 'other' (客服 by default); one open alert per order and kind of report.
    alert_raise(kind=Alert.Kind.OTHER, order=order, message=message, dedupe_key=f"channel-{key}:{order.pk}")
