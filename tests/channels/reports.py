"""Channel reports (orders.drafts.ChannelOrder) as a channel's field mapping hands them to channel_order_take."""

import itertools
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from orders.drafts import Address, ChannelEvent, ChannelOrder, CustomerDraft, LineDraft, OrderDraft
from orders.services.channel_intake import ChannelTake, channel_order_take
from tests.factories import ChannelFactory

_numbers = itertools.count(1)
# Whole seconds, an hour ago: the platforms' times, in the past.
T0 = (timezone.now() - timedelta(hours=1)).replace(microsecond=0)


def channel_no() -> str:
    return f"P{900000 + next(_numbers)}"


def report(
    no: str,
    *,
    channel: str = "tmall",
    event: ChannelEvent = ChannelEvent.PLACED,
    modified: datetime | None = None,
    lines=(("MASK-001", 2, "99.00"),),
    buyer_phone: str = "13812345678",
    buyer_id: str = "buyer-1",
    receiver_phone: str = "13812345678",
    city: str = "杭州",
    detail: str = "文三路 100 号",
    ordered_at: datetime = T0,
    paid: str | None = None,
    paid_at: datetime | None = None,
    presale_deposit: str | None = None,
    reason: str = "",
    platform_ship_by: datetime | None = None,
) -> ChannelOrder:
    draft = OrderDraft(
        channel=channel,
        channel_order_no=no,
        ordered_at=ordered_at,
        # As a mapping might hand them over: channel_order_take cleans the phones itself.
        customer=CustomerDraft(name="张三", phone=buyer_phone),
        address=Address(
            receiver="张三", phone=receiver_phone, province="浙江", city=city, district="西湖区", detail=detail
        ),
        lines=tuple(LineDraft(sku=sku, quantity=q, unit_price=Decimal(p)) for sku, q, p in lines),
        buyer_id=buyer_id,
        paid_amount=Decimal(paid or "0"),
        paid_at=paid_at or (T0 + timedelta(minutes=1) if paid else None),
        payment_reference=f"trade-{no}" if paid else "",
        is_presale=presale_deposit is not None,
        deposit_amount=Decimal(presale_deposit) if presale_deposit else None,
        platform_ship_by=platform_ship_by,
    )
    return ChannelOrder(
        draft=draft,
        event=event,
        modified_at=modified or T0,
        reason=reason,
        platform_status=event.value.upper(),
    )


def take(r: ChannelOrder, *, source: str = "webhook", name: str | None = None) -> ChannelTake:
    channel = ChannelFactory(code=r.draft.channel, **({"name": name} if name else {}))
    return channel_order_take(channel=channel, report=r, source=source)


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)
