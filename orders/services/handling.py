"""Handling details staff set by hand: priority, tags, invoice title and the promised ship-by time.

Each write locks the order, checks, changes, and records one history row (who, why) and one timeline event
listing old → new. The order form shows these fields read-only or calls the services here.
"""

import re
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.exceptions import Conflict, Forbidden, InvalidInput, OrderErrorCode
from orders.models import FINAL_STATES, Order, Source, Status
from orders.services.core import order_lock, reason_clean
from orders.services.timeline import history_attribute, order_edited_event

PERMISSION = "orders.change_order"
TAG_MAX_LENGTH, TAGS_MAX = 32, 20  # as the API accepts them at intake
# Once the carrier has the parcel, a promise about when it ships is history.
SHIPPED_OR_CLOSED = {Status.PICKED_UP, Status.IN_TRANSIT, *FINAL_STATES}
DETAIL_FIELDS = ("invoice_title", "promised_ship_by")


def tags_parse(text: str) -> list[str]:
    """Tags typed in one box: separated by commas (also Chinese ones), 、, semicolons or new lines."""
    return [t.strip() for t in re.split(r"[,，、;；\n]+", text or "") if t.strip()]


def details_editable(*, order: Order) -> tuple[str, ...]:
    """Which of DETAIL_FIELDS may still be changed on this order (the admin form shows the rest read-only)."""
    if order.is_legacy:
        return ()
    if order.status in SHIPPED_OR_CLOSED:
        return ("invoice_title",)
    return DETAIL_FIELDS


def _check_actor(actor: AbstractBaseUser | None) -> None:
    if actor is not None and not actor.has_perm(PERMISSION):
        raise Forbidden(_("You do not have permission to change orders."), code=OrderErrorCode.TRANSITION_FORBIDDEN)


def _locked_for_change(order: Order, *, refuse_final: bool) -> Order:
    locked = order_lock(order=order)
    if locked.is_legacy:
        raise Conflict(_("Legacy (imported) orders are read-only."), code=OrderErrorCode.LEGACY_READ_ONLY)
    if refuse_final and locked.status in FINAL_STATES:
        raise Conflict(
            _("This cannot be changed on an order that is '%(status)s'.") % {"status": locked.get_status_display()},
            code=OrderErrorCode.TRANSITION_NOT_ALLOWED,
            extra={"status": locked.status},
        )
    return locked


def _save_and_record(
    *, order: Order, fields: list[str], actor, source: str, summary: str, reason: str, data: dict
) -> None:
    """One history row (who, why) and one timeline event for one hand change of the locked order."""
    history_attribute(order, actor=actor, reason=f"{summary} ({reason})" if reason else summary)
    order.save(update_fields=[*fields, "updated_at"])
    order_edited_event(
        order=order, changes=data, text=f"{summary}（{reason}）" if reason else summary, source=source, actor=actor
    )


def order_set_priority(
    *, order: Order, priority: int, actor: AbstractBaseUser | None, reason: str, source: str = Source.ADMIN
) -> Order:
    """Raise or lower an order's place in the allocation queue and on pick lists. A reason is required."""
    _check_actor(actor)
    reason = reason_clean(reason, required_message=_("A reason is required."))
    try:
        priority = Order.Priority(int(priority))
    except (TypeError, ValueError):
        raise InvalidInput(
            _("Unknown priority '%(v)s'.") % {"v": priority},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "priority"},
        ) from None
    with transaction.atomic():
        locked = _locked_for_change(order, refuse_final=True)
        old = Order.Priority(locked.priority)
        if old == priority:
            raise InvalidInput(
                _("The priority is already '%(p)s'.") % {"p": priority.label},
                code="unchanged",
                extra={"field": "priority"},
            )
        locked.priority = priority
        _save_and_record(
            order=locked,
            fields=["priority"],
            actor=actor,
            source=source,
            summary=_("Priority: %(old)s → %(new)s") % {"old": old.label, "new": priority.label},
            reason=reason,
            data={"priority": {"old": int(old), "new": int(priority)}},
        )
    return locked


def order_set_tags(
    *, order: Order, tags: list[str], actor: AbstractBaseUser | None, reason: str = "", source: str = Source.ADMIN
) -> Order:
    """Replace the order's tags with `tags` (each at most 32 characters, at most 20, duplicates dropped)."""
    _check_actor(actor)
    reason = reason_clean(reason)
    wanted: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if len(tag) > TAG_MAX_LENGTH:
            raise InvalidInput(
                _("Tag '%(tag)s…' is longer than %(n)d characters.")
                % {"tag": tag[:TAG_MAX_LENGTH], "n": TAG_MAX_LENGTH},
                code=OrderErrorCode.INVALID_FIELD,
                extra={"field": "tags"},
            )
        if tag and tag not in wanted:
            wanted.append(tag)
    if len(wanted) > TAGS_MAX:
        raise InvalidInput(
            _("An order carries at most %(n)d tags.") % {"n": TAGS_MAX},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "tags"},
        )
    with transaction.atomic():
        locked = _locked_for_change(order, refuse_final=False)
        old = list(locked.tags or [])
        if old == wanted:
            raise InvalidInput(_("The tags are unchanged."), code="unchanged", extra={"field": "tags"})
        locked.tags = wanted
        added = [t for t in wanted if t not in old]
        removed = [t for t in old if t not in wanted]
        _save_and_record(
            order=locked,
            fields=["tags"],
            actor=actor,
            source=source,
            summary=_("Tags: %(old)s → %(new)s") % {"old": "、".join(old) or "—", "new": "、".join(wanted) or "—"},
            reason=reason,
            data={"tags": {"old": old, "new": wanted, "added": added, "removed": removed}},
        )
    return locked


def order_set_details(
    *,
    order: Order,
    invoice_title: str,
    promised_ship_by: datetime | None,
    actor: AbstractBaseUser | None,
    reason: str = "",
    source: str = Source.ADMIN,
) -> Order:
    """Change the invoice title and the seller's promised ship-by time (the latter only until pickup)."""
    _check_actor(actor)
    reason = reason_clean(reason)
    invoice_title = (invoice_title or "").strip()
    max_length = Order._meta.get_field("invoice_title").max_length
    if len(invoice_title) > max_length:
        raise InvalidInput(
            _("The invoice title is longer than %(n)d characters.") % {"n": max_length},
            code=OrderErrorCode.INVALID_FIELD,
            extra={"field": "invoice_title"},
        )
    with transaction.atomic():
        locked = _locked_for_change(order, refuse_final=False)
        wanted = {"invoice_title": invoice_title, "promised_ship_by": promised_ship_by}
        changed = [f for f in DETAIL_FIELDS if getattr(locked, f) != wanted[f]]
        if not changed:
            return locked
        editable = details_editable(order=locked)
        for field in changed:
            if field not in editable:
                raise Conflict(
                    _("'%(field)s' cannot be changed on an order that is '%(status)s'.")
                    % {"field": Order._meta.get_field(field).verbose_name, "status": locked.get_status_display()},
                    code=OrderErrorCode.TRANSITION_NOT_ALLOWED,
                    extra={"field": field, "status": locked.status},
                )
        old = {f: getattr(locked, f) for f in changed}
        for field in changed:
            setattr(locked, field, wanted[field])
        parts = [f"{Order._meta.get_field(f).verbose_name}: {_shown(old[f])} → {_shown(wanted[f])}" for f in changed]
        _save_and_record(
            order=locked,
            fields=changed,
            actor=actor,
            source=source,
            summary="；".join(parts),
            reason=reason,
            data={f: {"old": _stored(old[f]), "new": _stored(wanted[f])} for f in changed},
        )
    return locked


def _shown(value) -> str:
    if isinstance(value, datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"
    return str(value) if value not in (None, "") else "—"


def _stored(value):
    return value.isoformat() if isinstance(value, datetime) else value
