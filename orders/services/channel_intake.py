"""Taking in one order a channel reported (webhook delivery, pull page, replay from the admin): create it, or
update the order the hub already has for it through the lifecycle. Every channel door calls
`channel_order_take`, one order at a time, so a batch keeps its good orders and rejects the bad ones one by one.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction

from orders.drafts import ChannelOrder
from orders.exceptions import Conflict, InvalidInput
from orders.models import Channel, Order
from orders.services.intake import order_create


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
    try:
        with transaction.atomic():
            result = order_create(draft=report.draft, actor=None, source=source)
    except (InvalidInput, Conflict) as error:
        return ChannelTake(
            outcome=Outcome.REJECTED, reason=str(error.message), code=str(error.code), extra=error.extra or None
        )
    if result.created:
        return ChannelTake(outcome=Outcome.CREATED, order=result.order)
    if result.differences:
        return ChannelTake(outcome=Outcome.UPDATED, order=result.order)
    return ChannelTake(outcome=Outcome.UNCHANGED, order=result.order)
