"""Error codes of the orders app; the classes come from config.exceptions."""

from enum import StrEnum

from config.exceptions import Conflict, Forbidden, InvalidInput, NotFound  # noqa: F401


class OrderErrorCode(StrEnum):
    UNKNOWN_CHANNEL = "unknown_channel"
    INACTIVE_CHANNEL = "inactive_channel"
    UNKNOWN_SKU = "unknown_sku"
    INVALID_FIELD = "invalid_field"
    CHANNEL_ORDER_CONFLICT = "channel_order_conflict"
    ORDER_NOT_FOUND = "order_not_found"
    UNKNOWN_TRANSITION = "unknown_transition"
    TRANSITION_NOT_ALLOWED = "transition_not_allowed"
    TRANSITION_FORBIDDEN = "transition_forbidden"
    REASON_REQUIRED = "reason_required"
    LEGACY_READ_ONLY = "legacy_read_only"
    WAYBILL_FAILED = "waybill_failed"
    NO_WAYBILL = "no_waybill"
