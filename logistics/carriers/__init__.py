"""Carrier adapters, one module each. An adapter turns a provider's answers into CarrierEvents."""

from dataclasses import dataclass, field

from logistics.services import CarrierEvent


class CarrierUnavailable(Exception):
    """The carrier timed out, failed, or answered something we cannot read. Retried later."""


class BadSignature(Exception):
    """A push that is not signed by the carrier's secret."""


@dataclass
class TrackingAnswer:
    tracking_number: str
    carrier_state: str = ""
    finished: bool = False
    gave_up: bool = False  # the provider stopped tracking without a result (a stall signal)
    events: list[CarrierEvent] = field(default_factory=list)
