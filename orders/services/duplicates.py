"""Cross-channel duplicates (疑似重复): a new order whose match fields equal those of an open order on another
channel, placed within the settings' window, is held for a person with a link to its twin. Intake calls this for
every new order, whichever door it came through; an exact replay is not new and never gets here."""

import time
from datetime import timedelta

from django.conf import settings as django_settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from orders.models import FINAL_STATES, HOLDABLE, DuplicateSettings, Order
from orders.phones import is_cn_mobile
from orders.services.timeline import duplicate_noted_event, history_attribute
from orders.services.transitions import order_transition_locked

_settings: tuple[float, DuplicateSettings] | None = None


def duplicate_settings() -> DuplicateSettings:
    """The settings row, as this process read it at most DUPLICATE_SETTINGS_CACHE_SECONDS ago (intake asks for
    every new order; a change saved through duplicate_settings_save is seen at once by the process that saved it,
    by the others within that time). Read it, never change the copy: duplicate_settings_save saves a change."""
    global _settings
    now = time.monotonic()
    if _settings is None or now - _settings[0] >= django_settings.DUPLICATE_SETTINGS_CACHE_SECONDS:
        row, _created = DuplicateSettings.objects.get_or_create(pk=1)
        _settings = (now, row)
    return _settings[1]


def duplicate_settings_forget() -> None:
    global _settings
    _settings = None


def duplicate_settings_save(*, settings: DuplicateSettings, actor: AbstractBaseUser | None) -> DuplicateSettings:
    """Save the settings row (the admin's form checked it); this process reads the new one on its next order."""
    history_attribute(settings, actor=actor, reason="duplicate check settings saved")
    settings.save()
    duplicate_settings_forget()
    transaction.on_commit(duplicate_settings_forget)  # a read meanwhile in this transaction is not kept either
    return settings


def duplicate_twin_find(*, order: Order, settings: DuplicateSettings | None = None) -> Order | None:
    """The open order on another channel that `order` looks like, or None. One indexed query (the customer's or
    the receiver phone's index), after the settings row is read.

    Masked phones: a platform masks the middle digits (138****5678), and many buyers share a mask. A masked (or
    missing) phone is therefore never evidence: when a phone the settings match on is masked on the new order, the
    check finds no twin, whatever else matches. (A masked buyer has a customer row of its own per channel buyer, see
    intake.customer_identity, so the buyer's customer never equals one on another channel anyway.)"""
    settings = settings or duplicate_settings()
    fields = set(settings.match_fields or ())
    if not settings.enabled or not fields & set(DuplicateSettings.PHONES):
        return None
    window = timedelta(hours=settings.window_hours)
    query = Order.objects.filter(
        ordered_at__gte=order.ordered_at - window, ordered_at__lte=order.ordered_at + window, is_legacy=False
    )
    if DuplicateSettings.Match.BUYER_PHONE in fields:
        if order.customer.platform_buyer or not is_cn_mobile(order.customer.phone):
            return None
        query = query.filter(customer_id=order.customer_id)  # one customer row per real phone
    if DuplicateSettings.Match.RECEIVER_PHONE in fields:
        if not is_cn_mobile(order.receiver_phone):
            return None
        query = query.filter(receiver_phone=order.receiver_phone)
    if DuplicateSettings.Match.RECEIVER_ADDRESS in fields:
        query = query.filter(
            province=order.province, city=order.city, district=order.district, address_detail=order.address_detail
        )
    if DuplicateSettings.Match.SKU_SET in fields:
        query = query.filter(sku_set=order.sku_set)
    return (
        query.exclude(channel_id=order.channel_id)
        .exclude(status__in=FINAL_STATES)
        .select_related("channel")
        .order_by("ordered_at", "pk")
        .first()
    )


def order_hold_as_duplicate(*, order: Order, twin: Order, source: str) -> Order:
    """Hold the new (row-locked, just inserted) order as 疑似重复 of `twin`, in the intake's transaction: one
    timeline line naming the twin. An order already held (e.g. for its amount) keeps its hold and gets the link."""
    reason = _("疑似重复 Suspected duplicate of order %(number)s on %(channel)s") % {
        "number": twin.number,
        "channel": twin.channel.name,
    }
    order.duplicate_of = twin
    if order.status in HOLDABLE:
        return order_transition_locked(
            order=order,
            transition="hold",
            actor=None,
            source=source,
            actor_label=_("duplicate check"),
            reason=reason,
            also_set={"hold_kind": Order.HoldKind.DUPLICATE},
            history_note=f"suspected duplicate of {twin.number}",
        )
    # Not holdable now (already on hold, e.g. 金额不符): keep that hold, link the twin.
    history_attribute(order, actor=None, reason=f"suspected duplicate of {twin.number}")
    order.save(update_fields=["duplicate_of", "updated_at"])
    duplicate_noted_event(order=order, twin=twin, reason=reason, source=source)
    return order
