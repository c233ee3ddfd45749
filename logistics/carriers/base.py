"""What every carrier adapter speaks: the parsed event, the parsed answer, its failures, the waybill request and
answer, and the adapter interface. The base adapter can do nothing; each adapter module overrides what it can."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from logistics.models import Carrier


class CarrierUnavailable(Exception):
    """The carrier timed out, failed, or answered something we cannot read. Retried later."""


class BadSignature(Exception):
    """A push that is not signed by the carrier's secret."""


class WaybillRefused(Exception):
    """The carrier said no to a waybill (bad address, out of numbers, wrong key). Not retried: a person must act.
    The message is the carrier's own reason."""


@dataclass(frozen=True)
class CarrierEvent:
    """One event as an adapter parsed it."""

    occurred_at: datetime
    description: str
    carrier_state: str = ""
    location: str = ""
    raw: dict | None = None

    def fingerprint(self) -> str:
        # Not the state: Kuaidi100 states the parcel, so the same event comes with and without one.
        key = f"{self.occurred_at.astimezone(UTC).isoformat()}|{self.description}|{self.location}"
        return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class TrackingAnswer:
    tracking_number: str
    carrier_state: str = ""
    finished: bool = False
    gave_up: bool = False  # the provider stopped tracking without a result (a stall signal)
    events: list[CarrierEvent] = field(default_factory=list)


@dataclass(frozen=True)
class PushRequest:
    """What a carrier's push brought: the raw body (signatures cover its bytes), form fields, headers."""

    body: bytes
    form: dict
    headers: Mapping[str, str]  # request.headers: case-insensitive


@dataclass(frozen=True)
class WaybillParty:
    """Receiver or sender as printed. A platform-masked receiver comes masked (its platform id goes separately)."""

    name: str
    phone: str
    address: str
    company: str = ""


@dataclass(frozen=True)
class WaybillRequest:
    key: str  # our idempotency key "<order number>-<parcel index>": the same key never yields a second number
    receiver: WaybillParty
    sender: WaybillParty
    cargo: str
    count: int = 1
    weight_kg: Decimal | None = None
    remark: str = ""
    platform_receiver_id: str = ""  # Taobao OAID / Douyin encrypted id: sent INSTEAD of the plain address
    platform_order_id: str = ""
    callback_url: str = ""  # when set, the new number is subscribed for tracking pushes in the same call


@dataclass
class Waybill:
    tracking_number: str
    routing_text: str = ""  # 大头笔 (Kuaidi100 bulkpen)
    sorting_code: str = ""
    task_id: str = ""
    label_url: str = ""
    subscribed: bool = False  # subscribed for tracking pushes in the same call
    raw: dict = field(default_factory=dict)


class Adapter:
    polls = False  # we ask it for a parcel's track (the poll job)
    subscribes = False  # we ask it to push a parcel's events to our callback
    pushes = False  # it pushes to our callback; every push must be signed with the carrier's secret
    issues_waybills = False  # it gives out tracking numbers (waybill_order)

    def waybill_ready(self, *, carrier: Carrier) -> bool:
        """Whether this carrier row can get a waybill now (its account is filled in / it has numbers left)."""
        return self.issues_waybills

    def waybill_order(self, *, carrier: Carrier, request: WaybillRequest) -> Waybill:
        """Order one waybill. Raises WaybillRefused (the carrier said no) or CarrierUnavailable (retry: the same
        request.key gives the same number)."""
        raise CarrierUnavailable(f"{carrier.get_adapter_display()} does not issue waybills")

    def waybill_cancel(self, *, carrier: Carrier, tracking_number: str, key: str, reason: str) -> None:
        """Cancel an unused waybill. Raises WaybillRefused or CarrierUnavailable (retry)."""
        raise CarrierUnavailable(f"{carrier.get_adapter_display()} cannot cancel waybills")

    def query(self, *, carrier: Carrier, tracking_number: str, phone: str = "") -> TrackingAnswer:
        raise CarrierUnavailable(f"{carrier.get_adapter_display()} cannot be queried")

    def subscribe(self, *, carrier: Carrier, tracking_number: str, callback_url: str, phone: str = "") -> None:
        raise CarrierUnavailable(f"{carrier.get_adapter_display()} cannot be subscribed to")

    def parse_push(self, *, carrier: Carrier, push: PushRequest) -> TrackingAnswer:
        """Read and verify one push. Raises BadSignature or CarrierUnavailable (unreadable)."""
        raise CarrierUnavailable(f"{carrier.get_adapter_display()} does not push")

    def push_reply(self, *, ok: bool, code: str, message: str, status: int, extra: dict) -> dict:
        """The body we answer a push with, in the sender's convention; the hub's {message, code, extra}."""
        return {"message": message, "code": code, "extra": extra}
