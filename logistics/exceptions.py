"""Error codes of the logistics app; the classes come from config.exceptions."""

from enum import StrEnum

from config.exceptions import Conflict, Forbidden, InvalidInput, NotFound  # noqa: F401


class LogisticsErrorCode(StrEnum):
    UNKNOWN_CARRIER = "unknown_carrier"
    UNKNOWN_TRACKING_NUMBER = "unknown_tracking_number"
    TRACKING_NUMBER_TAKEN = "tracking_number_taken"
    BAD_SIGNATURE = "bad_signature"
    BAD_PAYLOAD = "bad_payload"
    CARRIER_UNAVAILABLE = "carrier_unavailable"
    WAYBILL_CANCELLED = "waybill_cancelled"
    WAYBILL_OF_ANOTHER_CARRIER = "waybill_of_another_carrier"
    INVALID_NUMBER_RANGE = "invalid_number_range"
    CALLBACK_SECRET_REQUIRED = "callback_secret_required"  # noqa: S105 - an error code, not a secret
