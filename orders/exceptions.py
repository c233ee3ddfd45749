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


class ImportErrorCode(StrEnum):
    """Why an upload or an import step was refused (ImportRefused.code)."""

    TOO_LARGE = "too_large"
    EMPTY = "empty_file"
    UNKNOWN_TYPE = "unknown_type"
    MACRO_WORKBOOK = "macro_workbook"
    ZIP_BOMB = "zip_bomb"
    XML_ATTACK = "xml_attack"
    BAD_ENCODING = "bad_encoding"
    UNREADABLE = "unreadable"
    NO_SHEET = "no_sheet"
    BAD_MAPPING = "bad_mapping"
    NOT_CHECKED = "not_checked"
    UNMAPPED_STATUS = "unmapped_status"
    BUSY = "busy"
    DONE = "already_done"


class ImportRefused(InvalidInput):
    """An upload or import step refused, with a message for the clerk and a code naming the guard."""

    def __init__(self, message: str, code: str = "invalid", extra: dict | None = None) -> None:
        super().__init__(message, code=code, extra=extra)
