"""What every carrier adapter speaks: the parsed event, the parsed answer, its two failures, and the adapter
interface. The base adapter can do nothing (a manual carrier); each adapter module overrides what it can."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from logistics.models import Carrier


class CarrierUnavailable(Exception):
    """The carrier timed out, failed, or answered something we cannot read. Retried later."""


class BadSignature(Exception):
    """A push that is not signed by the carrier's secret."""


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


class Adapter:
    polls = False  # we ask it for a parcel's track (the poll job)
    subscribes = False  # we ask it to push a parcel's events to our callback
    pushes = False  # it pushes to our callback; every push must be signed with the carrier's secret

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
