"""The one typed intake input: an order draft that every door (API, channel adapters, Excel import, demo) builds
and orders.services.intake.order_create takes. Also the one address value. Pure: no ORM, no queries.

Spellings: the API and the drafts say receiver / phone / detail; the Order row says receiver_name /
receiver_phone / address_detail. Address.ORDER_FIELDS is the only place that maps one onto the other.
"""

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from orders.phones import normalize_phone


@dataclass(frozen=True)
class Address:
    receiver: str
    phone: str
    province: str
    city: str
    district: str = ""
    detail: str = ""
    # The platform's id of an encrypted receiver (Taobao OAID, Douyin encrypted receiver id): the waybill is ordered
    # by it, since the name, phone and address above are only as masked as the platform gave them.
    platform_receiver_id: str = ""

    # Address attribute: Order field.
    ORDER_FIELDS = {
        "receiver": "receiver_name",
        "phone": "receiver_phone",
        "province": "province",
        "city": "city",
        "district": "district",
        "detail": "address_detail",
        "platform_receiver_id": "receiver_platform_id",
    }

    @classmethod
    def from_payload(cls, data: dict) -> "Address":
        """From the API / channel spelling ({receiver, phone, province, city, district, detail})."""
        return cls(
            receiver=str(data.get("receiver") or "").strip(),
            phone=normalize_phone(data.get("phone") or ""),
            province=str(data.get("province") or "").strip(),
            city=str(data.get("city") or "").strip(),
            district=str(data.get("district") or "").strip(),
            detail=str(data.get("detail") or "").strip(),
            platform_receiver_id=str(data.get("platform_receiver_id") or "").strip(),
        )

    @classmethod
    def from_order_fields(cls, data: dict) -> "Address":
        """From the Order spelling ({receiver_name, receiver_phone, …}): admin forms, AddressChange rows."""
        return cls.from_payload({key: data.get(name) for key, name in cls.ORDER_FIELDS.items()})

    @classmethod
    def of(cls, order) -> "Address":
        """The address an order (or anything with the Order field names) ships to."""
        return cls(**{key: getattr(order, name) for key, name in cls.ORDER_FIELDS.items()})

    def order_fields(self) -> dict[str, str]:
        return {name: getattr(self, key) for key, name in self.ORDER_FIELDS.items()}

    def payload(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in self.ORDER_FIELDS}

    def one_line(self) -> str:
        return f"{self.receiver} {self.phone} {self.province}{self.city}{self.district}{self.detail}"

    def differences(self, new: "Address") -> list[tuple[str, str, str]]:
        """(attribute, old, new) for each part that differs, in the address's own order."""
        return [
            (f.name, getattr(self, f.name), getattr(new, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(new, f.name)
        ]


@dataclass(frozen=True)
class CustomerDraft:
    name: str
    phone: str
    member_level: str | None = None  # None: the channel did not say (keep what the hub knows)


@dataclass(frozen=True)
class LineDraft:
    sku: str  # SKU code or alias, as the channel spells it
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class OrderDraft:
    """An order as a channel reports it. None on an optional field means "not said" (a replay that leaves a
    field out says nothing about it); intake stores the blank value for a new order."""

    channel: str  # channel code
    channel_order_no: str
    ordered_at: datetime
    customer: CustomerDraft
    address: Address
    lines: tuple[LineDraft, ...]
    buyer_id: str = ""
    paid_amount: Decimal = Decimal("0")
    paid_at: datetime | None = None
    payment_reference: str = ""
    is_presale: bool = False
    deposit_amount: Decimal | None = None
    promo_code: str | None = None
    invoice_title: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    priority: int | None = None
    promised_ship_by: datetime | None = None  # the seller's promise
    platform_ship_by: datetime | None = None  # the platform's deadline

    @property
    def subtotal(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0"))

    @property
    def sku_texts(self) -> set[str]:
        return {line.sku for line in self.lines}

    @property
    def reports_payment(self) -> bool:
        return self.paid_amount > 0

    @classmethod
    def from_api(cls, data: dict) -> "OrderDraft":
        """From the API payload's validated data (orders.api.OrderIn), or a dict of the same shape."""
        customer = data["customer"]
        return cls(
            channel=data["channel"],
            channel_order_no=data["channel_order_no"],
            buyer_id=data.get("buyer_id") or "",
            ordered_at=data["ordered_at"],
            customer=CustomerDraft(
                name=customer["name"],
                phone=normalize_phone(customer["phone"]),
                member_level=customer.get("member_level") or None,
            ),
            address=Address.from_payload(data["shipping_address"]),
            lines=tuple(
                LineDraft(sku=line["sku"], quantity=int(line["quantity"]), unit_price=_money(line["unit_price"]))
                for line in data["lines"]
            ),
            paid_amount=_money(data.get("paid_amount") or 0),
            paid_at=data.get("paid_at"),
            payment_reference=data.get("payment_reference") or "",
            is_presale=bool(data.get("is_presale")),
            deposit_amount=None if data.get("deposit_amount") is None else _money(data["deposit_amount"]),
            promo_code=data.get("promo_code"),
            invoice_title=data.get("invoice_title"),
            tags=tuple(data.get("tags") or ()),
            priority=data.get("priority"),
            promised_ship_by=data.get("promised_ship_by"),
            platform_ship_by=data.get("platform_ship_by"),
        )


@dataclass(frozen=True)
class LegacyDraft:
    """An order from an old system's export (the Excel import): the order draft, and what the old system said of
    its state. Taken in by orders.services.intake.legacy_orders_create as a read-only legacy order."""

    draft: OrderDraft
    status: str  # one of orders.models.Status, from the legacy status mapping
    legacy_code: str
    legacy_label: str = ""
    tracking_number: str = ""
    carrier: str = ""
    note: str = ""


def _money(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class ChannelEvent(StrEnum):
    """What a channel's report says happened to its order, in our words. A channel's own status codes map onto
    these (the channel's field mapping, edited in the admin); content changes (address, lines) are found by
    comparing, not by a code."""

    PLACED = "placed"  # new, not paid yet (or presale deposit only)
    PAID = "paid"
    REFUND_REQUESTED = "refund_requested"  # buyer asked for a refund: a person reviews (hold)
    CANCELLED = "cancelled"  # closed by the platform / buyer: cancel with the platform's reason
    IGNORED = "ignored"  # a status the hub takes no action on (e.g. the platform's own "shipped")


@dataclass(frozen=True)
class ChannelOrder:
    """One order as a channel reported it (a webhook delivery or a pull page), after the channel's field mapping:
    the draft, and what the report says happened. Built by orders.channels.mapping; taken in by
    orders.services.channel_intake.channel_order_take, whichever door it came through."""

    draft: OrderDraft
    event: ChannelEvent = ChannelEvent.PLACED
    # The channel's modification time of this report: a report older than the last one applied changes nothing.
    modified_at: datetime | None = None
    reason: str = ""  # the platform's reason, e.g. why it was cancelled
    platform_status: str = ""  # the channel's own status code, as given (shown in the timeline and the log)
