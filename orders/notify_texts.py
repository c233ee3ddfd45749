"""Message templates: which placeholders a text may use and must use, and rendering. Pure: no ORM.

A template's key says what it is for: "alert:<kind>" (or "alert:*", any alert), "status:<status>" (the
customer notice on entering a status node), "notice:<kind>" (the other customer notices)."""

import string

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

PLACEHOLDERS = ("order_number", "status", "message", "deadline", "customer_label")


def required_placeholders(key: str) -> set[str]:
    """An alert's text must carry the alert's message; a customer notice must name the order."""
    return {"message"} if key.startswith("alert:") else {"order_number"}


def placeholders_used(text: str) -> set[str]:
    """The placeholder names in `text`; ValueError when its braces are broken (e.g. "{order" unclosed)."""
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def template_check(*, key: str, body: str) -> None:
    """ValidationError naming each unknown or missing placeholder (Chinese first, English second)."""
    try:
        used = placeholders_used(body)
    except ValueError as exc:
        raise ValidationError(
            _("模板的花括号不成对。 The template's braces do not pair up: %(error)s") % {"error": exc}
        ) from exc
    errors = []
    unknown = sorted(used - set(PLACEHOLDERS))
    if unknown:
        errors.append(
            _("未知占位符 %(names)s。 Unknown placeholder(s) %(names)s; allowed: %(allowed)s.")
            % {"names": ", ".join(f"{{{n}}}" for n in unknown), "allowed": ", ".join(f"{{{n}}}" for n in PLACEHOLDERS)}
        )
    missing = sorted(required_placeholders(key) - used)
    if missing:
        errors.append(
            _("缺少必需的占位符 %(names)s。 Required placeholder(s) missing: %(names)s.")
            % {"names": ", ".join(f"{{{n}}}" for n in missing)}
        )
    if errors:
        raise ValidationError(errors)


def render(body: str, values: dict[str, str]) -> str:
    """The text with its placeholders filled (a value not given is left empty)."""
    return body.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


# Used when no template of the key (or "alert:*") is stored.
DEFAULT_BODIES = {
    "alert:*": "{message}",
    "status:*": "您的订单 {order_number} 状态更新：{customer_label}",
    "notice:allocation_slow": "您的订单 {order_number} 正在智能分仓中，请耐心等待，我们会尽快为您发货。",
    "notice:parcel_stalled": "您的订单 {order_number} 物流信息暂未更新，我们正在跟进，请您放心。",
}


def default_body(key: str) -> str:
    if key.startswith("alert:"):
        return DEFAULT_BODIES["alert:*"]
    if key.startswith("status:"):
        return DEFAULT_BODIES["status:*"]
    return DEFAULT_BODIES.get(key, "{order_number}")
