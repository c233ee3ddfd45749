"""What a matched rule does, per kind: parameters are checked here and rendered as words. No ORM here:
the caller passes which SKU, group and warehouse codes exist."""

from dataclasses import dataclass, field
from typing import Any

GIFT, PRIORITY, APPROVAL, TAG, ROUTE, MERGE, ESCALATION = (
    "gift",
    "priority",
    "approval",
    "tag",
    "route",
    "merge",
    "escalation",
)
ESCALATION_PARAMS = frozenset({"after_minutes", "group", "user", "channel", "level", "repeat_minutes"})
KINDS = (GIFT, PRIORITY, APPROVAL, TAG, ROUTE, MERGE, ESCALATION)
PRIORITY_LEVELS = {0: ("普通", "normal"), 1: ("高", "high"), 2: ("紧急", "urgent")}
# How a routing rule picks the warehouse: the one it names, or a ranking of the warehouses that have the stock.
ROUTE_RANKINGS = {
    "fixed": ("指定仓库", "the named warehouse"),
    "nearest": ("有货的最近仓库", "the nearest warehouse with stock"),
    "capacity": ("有货且今日剩余产能最多的仓库", "the warehouse with stock and most capacity left today"),
}


@dataclass(frozen=True)
class Known:
    """Codes that exist, so actions can be checked without this module touching the database."""

    skus: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    warehouses: frozenset[str] = field(default_factory=frozenset)
    users: frozenset[str] = field(default_factory=frozenset)  # usernames of active staff
    channels: frozenset[str] = field(default_factory=frozenset)  # notification channel names (robots, SMS, mail)


class ActionError(ValueError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


def _int(params: dict, key: str, low: int, high: int, errors: list, default: int | None = None) -> int | None:
    raw = params.get(key, default)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or not low <= raw <= high:
        errors.append((key, f"{key} must be a whole number from {low} to {high}"))
        return None
    return raw


def _text(params: dict, key: str, errors: list, required: bool = True, max_length: int = 100) -> str:
    raw = params.get(key, "")
    if not isinstance(raw, str) or (required and not raw.strip()) or len(raw) > max_length:
        errors.append(
            (
                key,
                f"{key} is required (text, at most {max_length} characters)"
                if required
                else f"{key} must be text of at most {max_length} characters",
            )
        )
        return ""
    return raw.strip()


def _code(params: dict, key: str, known: frozenset[str], what: str, errors: list) -> str:
    value = _text(params, key, errors)
    if value and value not in known:
        errors.append((key, f"{what} '{value}' does not exist"))
    return value


def _escalation(params: dict, known: Known, errors: list) -> dict:
    """One rung of a rule's ladder: N minutes after the deadline notify a group, a person and/or a channel,
    optionally again every M minutes until the order leaves its status. Rules saved with only group and
    after_minutes stay valid; optional parameters are stored only when given."""
    cleaned = {"after_minutes": _int(params, "after_minutes", 1, 10080, errors)}
    targets = 0
    for key, names, what in (
        ("group", known.groups, "group"),
        ("user", known.users, "user"),
        ("channel", known.channels, "channel"),
    ):
        if params.get(key) not in (None, ""):
            cleaned[key] = _code(params, key, names, what, errors)
            targets += 1
    if not targets:
        errors.append(("group", "name a group, a user or a channel to notify"))
    if params.get("level") not in (None, ""):
        cleaned["level"] = _int(params, "level", 1, 9, errors)
    if params.get("repeat_minutes") not in (None, "", 0, "0"):
        cleaned["repeat_minutes"] = _int(params, "repeat_minutes", 1, 10080, errors)
    elif "repeat_minutes" in params:
        cleaned["repeat_minutes"] = 0
    return cleaned


def _escalation_words(params: dict, zh: bool) -> str:
    targets = []
    for key, zh_word, en_word in (("group", "", ""), ("user", "用户 ", "user "), ("channel", "渠道 ", "channel ")):
        if params.get(key):
            targets.append(f"{zh_word if zh else en_word}{params[key]}")
    level = f"L{params['level']} " if params.get("level") else ""
    repeat = params.get("repeat_minutes") or 0
    if zh:
        text = f"{level}超时 {params['after_minutes']} 分钟通知 {'、'.join(targets)}"
        return f"{text}，每 {repeat} 分钟重复直至订单离开该状态" if repeat else text
    text = f"{level}notify {', '.join(targets)} after {params['after_minutes']} min"
    return f"{text}, again every {repeat} min until the order moves" if repeat else text


def validate_action(kind: str, params: Any, known: Known) -> dict:
    """Check one action's parameters; return them cleaned or raise ActionError listing every problem."""
    if kind not in KINDS:
        raise ActionError([("kind", f"unknown kind {kind!r}")])
    if not isinstance(params, dict):
        raise ActionError([("action", "the action is an object of parameters")])
    errors: list[tuple[str, str]] = []
    if kind == GIFT:
        cleaned = {
            "sku": _code(params, "sku", known.skus, "SKU", errors),
            "quantity": _int(params, "quantity", 1, 99, errors),
            "note": _text(params, "note", errors, required=False, max_length=200),
        }
    elif kind == PRIORITY:
        cleaned = {"level": _int(params, "level", 0, 2, errors)}
    elif kind == APPROVAL:
        cleaned = {
            "group": _code(params, "group", known.groups, "group", errors),
            "timeout_minutes": _int(params, "timeout_minutes", 1, 10080, errors, default=120),
        }
    elif kind == TAG:
        cleaned = {"tag": _text(params, "tag", errors, max_length=32)}
    elif kind == ROUTE:
        ranking = params.get("ranking") or "fixed"
        if ranking not in ROUTE_RANKINGS:
            errors.append(("ranking", f"ranking must be one of {', '.join(ROUTE_RANKINGS)}"))
        if ranking == "fixed":
            cleaned = {
                "ranking": ranking,
                "warehouse": _code(params, "warehouse", known.warehouses, "warehouse", errors),
            }
        else:
            if params.get("warehouse"):
                errors.append(("warehouse", "leave the warehouse empty when ranking warehouses"))
            cleaned = {"ranking": ranking}
    elif kind == MERGE:
        cleaned = {
            "window_hours": _int(params, "window_hours", 1, 168, errors, default=24),
            "min_orders": _int(params, "min_orders", 2, 50, errors, default=3),
            "waive_shipping": bool(params.get("waive_shipping", True)),
        }
    else:
        cleaned = _escalation(params, known, errors)
    allowed = ESCALATION_PARAMS if kind == ESCALATION else set(cleaned)  # its optional ones may come empty
    extra = set(params) - allowed
    if extra:
        errors.append(("action", f"unexpected parameters for {kind}: {', '.join(sorted(extra))}"))
    if errors:
        raise ActionError(errors)
    return cleaned


def render_action(kind: str, params: dict, lang: str = "zh") -> str:
    zh = lang == "zh"
    if kind == GIFT:
        text = f"赠 {params['sku']} × {params['quantity']}" if zh else f"gift {params['sku']} × {params['quantity']}"
        return (
            f"{text}（{params['note']}）"
            if zh and params.get("note")
            else (f"{text} ({params['note']})" if params.get("note") else text)
        )
    if kind == PRIORITY:
        label = PRIORITY_LEVELS[params["level"]][0 if zh else 1]
        return f"优先级设为{label}" if zh else f"priority {label}"
    if kind == APPROVAL:
        return (
            f"挂起待 {params['group']} 审批，{params['timeout_minutes']} 分钟未批则升级"
            if zh
            else f"hold for approval by {params['group']}, escalate after {params['timeout_minutes']} min"
        )
    if kind == TAG:
        return f"打标签 {params['tag']}" if zh else f"tag {params['tag']}"
    if kind == ROUTE:
        ranking = params.get("ranking") or "fixed"
        if ranking != "fixed":
            return f"发往{ROUTE_RANKINGS[ranking][0]}" if zh else f"ship from {ROUTE_RANKINGS[ranking][1]}"
        return f"发往仓库 {params['warehouse']}" if zh else f"ship from warehouse {params['warehouse']}"
    if kind == MERGE:
        waive = ("，免运费" if zh else ", waive shipping") if params.get("waive_shipping") else ""
        return (
            f"{params['window_hours']} 小时内同地址满 {params['min_orders']} 单合并发货{waive}"
            if zh
            else f"merge shipments of ≥{params['min_orders']} same-address orders in {params['window_hours']} h{waive}"
        )
    return _escalation_words(params, zh)
