"""A channel's field mapping: their payload -> our ChannelOrder reports. Pure: no ORM, no queries.

The mapping is JSON data stored on the channel and edited in the admin by non-IT staff:

    {
      "orders_path": "data.orders",     # where the list of orders is; "" = the payload is one order (or a list)
      "fields": {"channel_order_no": "tid", "receiver": "address.name", "lines": "items", "line_sku": "sku", …},
      "amounts": "yuan" | "fen",
      "time_format": "text" | "unix" | "unix_ms",
      "time_zone": "Asia/Shanghai",      # for text times without an offset
      "status_map": {"WAIT_SELLER_SEND": "paid", "TRADE_CLOSED": "cancelled", …},
      "refund_map": {"2": "refund_requested", …},   # codes of a separate after-sale status (fields.refund_status)
    }

A platform that reports the after-sale state in a field of its own (PDD's refund_status) maps those codes in
"refund_map": a code found there is the report's event, whatever the order status says (a paid order with a refund
under way is a refund request); a code not in it (PDD's 1, no after-sale or closed) leaves the status map's event.

Each value of "fields" is THEIR dotted path (`a.b.0.c`; a number picks a list item); the line_* paths are read
inside each element of the "lines" list. A field left empty is not read.
"""

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from orders.drafts import Address, ChannelEvent, ChannelOrder, CustomerDraft, LineDraft, OrderDraft
from orders.phones import normalize_phone

AMOUNTS = ("yuan", "fen")
TIME_FORMATS = ("text", "unix", "unix_ms")

# Our field: (label for the admin form, required). The order of the admin form.
ORDER_FIELDS: dict[str, tuple] = {
    "channel_order_no": (gettext_lazy("channel order no."), True),
    "ordered_at": (gettext_lazy("ordered at"), True),
    "buyer_id": (gettext_lazy("buyer id"), False),
    "customer_name": (gettext_lazy("customer name"), False),
    "customer_phone": (gettext_lazy("customer phone"), False),
    "member_level": (gettext_lazy("member level"), False),
    "receiver": (gettext_lazy("receiver"), True),
    "receiver_phone": (gettext_lazy("receiver phone"), True),
    "province": (gettext_lazy("province"), True),
    "city": (gettext_lazy("city"), True),
    "district": (gettext_lazy("district"), False),
    "detail": (gettext_lazy("address detail"), False),
    "platform_receiver_id": (gettext_lazy("platform receiver id"), False),
    "lines": (gettext_lazy("lines list"), True),
    "line_sku": (gettext_lazy("line: SKU"), True),
    "line_quantity": (gettext_lazy("line: quantity"), True),
    "line_unit_price": (gettext_lazy("line: unit price"), True),
    "paid_amount": (gettext_lazy("paid amount"), False),
    "paid_at": (gettext_lazy("paid at"), False),
    "payment_reference": (gettext_lazy("payment reference"), False),
    "status": (gettext_lazy("status code"), False),
    "refund_status": (gettext_lazy("refund status code"), False),
    "modified_at": (gettext_lazy("modified at"), False),
    "cancel_reason": (gettext_lazy("cancel reason"), False),
    "platform_ship_by": (gettext_lazy("platform ship-by"), False),
    "promised_ship_by": (gettext_lazy("promised ship-by"), False),
    "promo_code": (gettext_lazy("promo code"), False),
}

# The generic default: the hub's own spelling (the REST API's order shape), batches under "orders".
GENERIC_MAPPING: dict = {
    "orders_path": "orders",
    "fields": {
        "channel_order_no": "channel_order_no",
        "ordered_at": "ordered_at",
        "buyer_id": "buyer_id",
        "customer_name": "customer.name",
        "customer_phone": "customer.phone",
        "member_level": "customer.member_level",
        "receiver": "shipping_address.receiver",
        "receiver_phone": "shipping_address.phone",
        "province": "shipping_address.province",
        "city": "shipping_address.city",
        "district": "shipping_address.district",
        "detail": "shipping_address.detail",
        "platform_receiver_id": "shipping_address.platform_receiver_id",
        "lines": "lines",
        "line_sku": "sku",
        "line_quantity": "quantity",
        "line_unit_price": "unit_price",
        "paid_amount": "paid_amount",
        "paid_at": "paid_at",
        "payment_reference": "payment_reference",
        "status": "status",
        "modified_at": "modified_at",
        "cancel_reason": "cancel_reason",
        "platform_ship_by": "platform_ship_by",
        "promised_ship_by": "promised_ship_by",
        "promo_code": "promo_code",
    },
    "amounts": "yuan",
    "time_format": "text",
    "time_zone": "Asia/Shanghai",
    "status_map": {event.value: event.value for event in ChannelEvent},
}


def default_mapping(kind: str) -> dict:
    """The mapping a new channel of `kind` starts from: `DEFAULT_MAPPING` of orders.channels.<kind> when that
    module has one, else the generic one. A fresh copy each time."""
    try:
        module = importlib.import_module(f"orders.channels.{kind}")
    except ImportError:
        module = None
    mapping = getattr(module, "DEFAULT_MAPPING", None) or GENERIC_MAPPING
    return {
        **mapping,
        "fields": dict(mapping.get("fields") or {}),
        "status_map": dict(mapping.get("status_map") or {}),
        **({"refund_map": dict(mapping["refund_map"])} if mapping.get("refund_map") else {}),
    }


@dataclass(frozen=True)
class MappingRefusal:
    """A reported order (or the whole delivery, index -1) the mapping could not read, and why."""

    index: int
    channel_order_no: str
    field: str
    message: str


class _Bad(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


_MISSING = object()


def path_get(data, path: str, default=_MISSING):
    """The value at a dotted path (`a.b.0.c`), or `default` when any step is absent."""
    value = data
    for step in path.split("."):
        if isinstance(value, dict):
            if step not in value:
                return default
            value = value[step]
        elif isinstance(value, list) and step.lstrip("-").isdigit():
            position = int(step)
            if not -len(value) <= position < len(value):
                return default
            value = value[position]
        else:
            return default
    return value


def mapping_check(mapping: dict) -> list[str]:
    """What is wrong with the mapping itself (for the admin form); [] when it can be used."""
    return [message for _key, message in mapping_problems(mapping)]


def mapping_problems(mapping: dict) -> list[tuple[str, str]]:
    """mapping_check's errors, each with what it is about: one of our field names (ORDER_FIELDS), or
    "orders_path", "amounts", "time_format", "time_zone", "status_map", "refund_map", "" (the mapping as a
    whole)."""
    if not isinstance(mapping, dict):
        return [("", _("The mapping must be a JSON object."))]
    problems: list[tuple[str, str]] = []
    fields = mapping.get("fields")
    if not isinstance(fields, dict):
        return [("", _("The mapping needs a 'fields' object (our field: their path)."))]
    unknown = sorted(set(fields) - ORDER_FIELDS.keys())
    if unknown:
        problems.append(("", _("Unknown fields: %(names)s.") % {"names": ", ".join(unknown)}))
    for name, (label, required) in ORDER_FIELDS.items():
        path = fields.get(name) or ""
        if not isinstance(path, str):
            problems.append((name, _("%(field)s: the path must be text.") % {"field": label}))
        elif required and not path.strip():
            problems.append((name, _("%(field)s: a path is required.") % {"field": label}))
        elif path and not _path_ok(path):
            message = _("%(field)s: '%(path)s' is not a dotted path (a.b.0.c).") % {"field": label, "path": path}
            problems.append((name, message))
    orders_path = mapping.get("orders_path") or ""
    if not isinstance(orders_path, str) or (orders_path and not _path_ok(orders_path)):
        message = _("Orders list path: '%(path)s' is not a dotted path (a.b.0.c).") % {"path": orders_path}
        problems.append(("orders_path", message))
    if mapping.get("amounts", "yuan") not in AMOUNTS:
        problems.append(("amounts", _("Amounts must be in 'fen' or 'yuan'.")))
    if mapping.get("time_format", "text") not in TIME_FORMATS:
        problems.append(("time_format", _("Time format must be 'text', 'unix' or 'unix_ms'.")))
    try:
        ZoneInfo(str(mapping.get("time_zone") or "Asia/Shanghai"))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(("time_zone", _("Unknown time zone '%(zone)s'.") % {"zone": mapping.get("time_zone")}))
    for key, path_field in (("status_map", "status"), ("refund_map", "refund_status")):
        problems += _code_map_problems(mapping.get(key) or {}, key=key, path_set=bool(fields.get(path_field)))
    return problems


def _code_map_problems(codes, *, key: str, path_set: bool) -> list[tuple[str, str]]:
    """A status map (or refund status map): their code → one of our events; needed when its path is set."""
    if not isinstance(codes, dict):
        return [(key, _("The status map must map their code to our event."))]
    events = {event.value for event in ChannelEvent}
    problems = [
        (
            key,
            _("Status code '%(code)s': '%(event)s' is not one of %(events)s.")
            % {"code": code, "event": event, "events": ", ".join(sorted(events))},
        )
        for code, event in codes.items()
        if event not in events
    ]
    if path_set and not codes:
        problems.append((key, _("A status code path is set: map its codes to our events.")))
    return problems


def _path_ok(path: str) -> bool:
    return all(step and not step.isspace() and " " not in step for step in path.split("."))


def channel_reports_from_payload(*, mapping: dict, payload, channel_code: str) -> list[ChannelOrder | MappingRefusal]:
    """Each order of a delivery, mapped: a ChannelOrder, or a MappingRefusal naming the field that is wrong.
    A payload whose order list cannot be found gives one refusal with index -1."""
    orders_path = mapping.get("orders_path") or ""
    if orders_path:
        items = path_get(payload, orders_path, None) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            message = _("No list of orders at '%(path)s'.") % {"path": orders_path}
            return [MappingRefusal(index=-1, channel_order_no="", field="orders_path", message=message)]
    else:
        items = payload if isinstance(payload, list) else [payload]
    reader = _Reader(mapping)
    results: list[ChannelOrder | MappingRefusal] = []
    for index, item in enumerate(items):
        number = ""
        try:
            if not isinstance(item, dict):
                raise _Bad("", _("An order must be a JSON object."))
            number = reader.text(item, "channel_order_no")
            results.append(reader.report(item, channel_code=channel_code, number=number))
        except _Bad as bad:
            results.append(MappingRefusal(index=index, channel_order_no=number, field=bad.field, message=bad.message))
    return results


class _Reader:
    def __init__(self, mapping: dict):
        self.fields = mapping.get("fields") or {}
        self.fen = mapping.get("amounts") == "fen"
        self.time_format = mapping.get("time_format") or "text"
        self.zone = ZoneInfo(str(mapping.get("time_zone") or "Asia/Shanghai"))
        self.status_map = mapping.get("status_map") or {}
        self.refund_map = mapping.get("refund_map") or {}

    def raw(self, data: dict, name: str, *, required: bool = False):
        path = self.fields.get(name) or ""
        value = path_get(data, path, None) if path else None
        if value == "":
            value = None
        if value is None and required:
            raise _Bad(name, _("Missing field '%(field)s' (their path '%(path)s').") % {"field": name, "path": path})
        return value

    def text(self, data: dict, name: str, *, required: bool = False) -> str:
        value = self.raw(data, name, required=required)
        if value is None:
            return ""
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise _Bad(name, _("Field '%(field)s' must be text, not %(value)s.") % {"field": name, "value": value})
        return str(value).strip()

    def money(self, data: dict, name: str, *, required: bool = False) -> Decimal | None:
        value = self.raw(data, name, required=required)
        if value is None:
            return None
        try:
            if isinstance(value, bool) or isinstance(value, (dict, list)):
                raise InvalidOperation
            amount = Decimal(str(value).strip())
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            message = _("Field '%(field)s' must be an amount, not '%(value)s'.") % {"field": name, "value": value}
            raise _Bad(name, message) from None
        if amount < 0:
            raise _Bad(name, _("Field '%(field)s' must not be negative.") % {"field": name})
        return (amount / 100).quantize(Decimal("0.01")) if self.fen else amount

    def quantity(self, data: dict, name: str) -> int:
        value = self.raw(data, name, required=True)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise _Bad(
                name, _("Field '%(field)s' must be a whole number, not '%(value)s'.") % {"field": name, "value": value}
            )
        if int(value) < 1:
            raise _Bad(name, _("Field '%(field)s' must be at least 1.") % {"field": name})
        return int(value)

    def time(self, data: dict, name: str, *, required: bool = False) -> datetime | None:
        value = self.raw(data, name, required=required)
        if value is None:
            return None
        bad = _Bad(
            name,
            _("Field '%(field)s' is not a time in the format %(format)s: '%(value)s'.")
            % {"field": name, "format": self.time_format, "value": value},
        )
        if self.time_format == "text":
            if not isinstance(value, str):
                raise bad from None
            try:
                moment = parse_datetime(value.strip())
            except ValueError:
                raise bad from None
            if moment is None:
                raise bad from None
            return moment if moment.tzinfo else moment.replace(tzinfo=self.zone)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad from None
        try:
            number = float(value)
        except ValueError:
            raise bad from None
        if number == 0:
            # Platforms say "not yet" with 0 (Douyin's pay_time of an unpaid order), not 1970: no time.
            if required:
                raise _Bad(
                    name,
                    _("Field '%(field)s' is 0: no time (their path '%(path)s').")
                    % {"field": name, "path": self.fields.get(name)},
                )
            return None
        if self.time_format == "unix_ms":
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise bad from None

    def event(self, data: dict, *, paid: bool) -> tuple[ChannelEvent, str]:
        """The status code through the status map; no code said (no path, or none in this order): placed, or
        paid when the order carries its payment. An after-sale code in the refund map comes first."""
        refund = self.text(data, "refund_status")
        if refund in self.refund_map:
            return ChannelEvent(self.refund_map[refund]), f"refund_status={refund}"
        code = self.text(data, "status")
        if not code:
            return (ChannelEvent.PAID if paid else ChannelEvent.PLACED), ""
        if code not in self.status_map:
            raise _Bad(
                "status",
                _("Status code '%(code)s' is not in the channel's status map.") % {"code": code},
            )
        return ChannelEvent(self.status_map[code]), code

    def lines(self, data: dict) -> tuple[LineDraft, ...]:
        items = self.raw(data, "lines", required=True)
        if not isinstance(items, list) or not items:
            raise _Bad("lines", _("Field 'lines' must be a non-empty list."))
        lines = []
        for position, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise _Bad("lines", _("Line %(n)s must be a JSON object.") % {"n": position})
            try:
                sku = self.text(item, "line_sku", required=True)
                lines.append(
                    LineDraft(
                        sku=sku,
                        quantity=self.quantity(item, "line_quantity"),
                        unit_price=self.money(item, "line_unit_price", required=True),
                    )
                )
            except _Bad as bad:
                raise _Bad(bad.field, _("Line %(n)s: %(message)s") % {"n": position, "message": bad.message}) from None
        return tuple(lines)

    def report(self, data: dict, *, channel_code: str, number: str) -> ChannelOrder:
        if not number:
            self.text(data, "channel_order_no", required=True)
        receiver = self.text(data, "receiver", required=True)
        receiver_phone = self.text(data, "receiver_phone", required=True)
        address = Address.from_payload(
            {
                "receiver": receiver,
                "phone": receiver_phone,
                "province": self.text(data, "province", required=True),
                "city": self.text(data, "city", required=True),
                "district": self.text(data, "district"),
                "detail": self.text(data, "detail"),
                "platform_receiver_id": self.text(data, "platform_receiver_id"),
            }
        )
        paid_amount = self.money(data, "paid_amount") or Decimal("0")
        paid_at = self.time(data, "paid_at")
        event, code = self.event(data, paid=bool(paid_amount and paid_at))
        draft = OrderDraft(
            channel=channel_code,
            channel_order_no=number,
            ordered_at=self.time(data, "ordered_at", required=True),
            buyer_id=self.text(data, "buyer_id"),
            customer=CustomerDraft(
                # A channel that names no separate customer: the receiver is the customer.
                name=self.text(data, "customer_name") or receiver,
                phone=normalize_phone(self.text(data, "customer_phone") or receiver_phone),
                member_level=self.text(data, "member_level") or None,
            ),
            address=address,
            lines=self.lines(data),
            paid_amount=paid_amount,
            paid_at=paid_at,
            payment_reference=self.text(data, "payment_reference"),
            promo_code=self.text(data, "promo_code") or None,
            promised_ship_by=self.time(data, "promised_ship_by"),
            platform_ship_by=self.time(data, "platform_ship_by"),
        )
        return ChannelOrder(
            draft=draft,
            event=event,
            modified_at=self.time(data, "modified_at"),
            reason=self.text(data, "cancel_reason"),
            platform_status=code,
        )
