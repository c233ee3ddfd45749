"""Admin widgets that let a person build a rule's condition and action by picking from lists.

Each widget renders the JSON in a plain textarea (still usable with JavaScript off) plus an empty builder
that rules/static/rules/builder.js fills in. Everything the builder offers — facts, operators, choices,
action parameters, button texts — comes from Python as JSON (json_script), so the script hard-codes no
vocabulary. The server still checks every value when the form is saved (rules.services.rule_check).
"""

import json

from django import forms
from django.utils.html import format_html, format_html_join, json_script
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from rules import actions, engine

# Labels of the values of choice facts, (zh, en) by value.
CHOICE_LABELS: dict[str, dict[str, tuple[str, str]]] = {"member_level": engine.MEMBER_LEVELS}
SUGGESTION_LIMIT = 2000  # longest list offered as typing suggestions (HTML datalist)

# The parameters of each action kind, as inputs. rules.actions.validate_action is the authority on what is
# valid (ranges included); these only shape the inputs and their defaults.
ACTION_PARAMS: dict[str, list[dict]] = {
    actions.GIFT: [
        {"name": "sku", "input": "sku", "zh": "赠品 SKU 编码", "en": "SKU code"},
        {"name": "quantity", "input": "int", "zh": "数量", "en": "quantity", "min": 1, "max": 99, "default": 1},
        {"name": "note", "input": "text", "zh": "拣货单备注", "en": "note on the pick list", "max_length": 200},
    ],
    actions.PRIORITY: [{"name": "level", "input": "level", "zh": "优先级", "en": "level"}],
    actions.APPROVAL: [
        {"name": "group", "input": "group", "zh": "审批组", "en": "approver group"},
        {
            "name": "timeout_minutes",
            "input": "int",
            "zh": "超时分钟数",
            "en": "timeout minutes",
            "min": 1,
            "max": 10080,
            "default": 120,
        },
    ],
    actions.TAG: [{"name": "tag", "input": "text", "zh": "标签", "en": "tag", "max_length": 32}],
    actions.ROUTE: [
        {
            "name": "ranking",
            "input": "choice",
            "zh": "选仓方式",
            "en": "how to pick",
            "default": "fixed",
            "choices": [{"value": k, "zh": zh, "en": en} for k, (zh, en) in actions.ROUTE_RANKINGS.items()],
        },
        {"name": "warehouse", "input": "warehouse", "zh": "仓库编码（指定仓库时）", "en": "warehouse code (if named)"},
    ],
    actions.MERGE: [
        {
            "name": "window_hours",
            "input": "int",
            "zh": "时间窗（小时）",
            "en": "window hours",
            "min": 1,
            "max": 168,
            "default": 24,
        },
        {"name": "min_orders", "input": "int", "zh": "最少单数", "en": "min orders", "min": 2, "max": 50, "default": 3},
        {"name": "waive_shipping", "input": "bool", "zh": "免运费", "en": "waive shipping", "default": True},
    ],
    # One rung of a ladder: several escalation rules with the same condition and different minutes.
    actions.ESCALATION: [
        {
            "name": "level",
            "input": "int",
            "zh": "级别（L1–L9，可不填）",
            "en": "level (L1–L9, optional)",
            "min": 1,
            "max": 9,
        },
        {"name": "after_minutes", "input": "int", "zh": "超时分钟数", "en": "after minutes", "min": 1, "max": 10080},
        {"name": "group", "input": "group", "zh": "通知组", "en": "notify group"},
        {"name": "user", "input": "user", "zh": "通知用户", "en": "notify user"},
        {
            "name": "channel",
            "input": "channel",
            "zh": "通知渠道（企微/钉钉机器人等）",
            "en": "notify channel (robot …)",
        },
        {
            "name": "repeat_minutes",
            "input": "int",
            "zh": "重复间隔分钟（0 = 不重复）",
            "en": "repeat every minutes (0 = once)",
            "min": 0,
            "max": 10080,
            "default": 0,
        },
    ],
}


def _lang() -> str:
    """Which language previews use: English only when the person chose English."""
    return "en" if (get_language() or "").startswith("en") else "zh"


def condition_vocabulary(suggestions: dict[str, list[str]] | None = None) -> dict:
    """Facts, operators and texts the condition builder offers (see rules.engine)."""

    def choices(fact: engine.Fact) -> list[dict]:
        labels = CHOICE_LABELS.get(fact.name, {})
        return [{"value": c, "zh": labels.get(c, (c, c))[0], "en": labels.get(c, (c, c))[1]} for c in fact.choices]

    return {
        "lang": _lang(),
        "facts": [
            {"name": f.name, "type": f.type, "zh": f.zh, "en": f.en, "choices": choices(f)}
            for f in engine.FACTS.values()
        ],
        "operators": [
            {"name": o.name, "zh": o.zh, "en": o.en, "types": list(o.types), "value": o.value}
            for o in engine.OPERATORS.values()
        ],
        # How a typed value is written into the JSON: amounts stay exact decimal text, whole numbers are numbers.
        "numeric_types": {"int": "int", "money": "decimal", "number": "decimal"},
        "suggestions": {k: v[:SUGGESTION_LIMIT] for k, v in (suggestions or {}).items()},
        "text": {
            "all": _("全部满足 all"),
            "any": _("任一满足 any"),
            "match": _("满足以下 match"),
            "conditions": _("条件 of these conditions"),
            "add_condition": _("+ 条件 add condition"),
            "add_group": _("+ 条件组 add group"),
            "remove": _("删除 remove"),
            "remove_group": _("删除条件组 remove group"),
            "choose_fact": _("— 选择字段 choose a fact —"),
            "choose": _("— 请选择 choose —"),
            "and": _("且"),
            "or": _("或"),
            "low": _("从 from"),
            "high": _("到 to"),
            "many_hint": _("多个用逗号分隔 separate with commas"),
            "kept": _("保持原样（此界面不能编辑）kept as is (not editable here)"),
            "preview": _("预览 preview"),
            "show_json": _("显示 JSON show JSON"),
            "hide_json": _("隐藏 JSON hide JSON"),
            "bad_json": _("JSON 格式有误，请在文本框中修改 The JSON cannot be read; fix it in the text box"),
            "empty": _("还没有条件 no condition yet"),
            "row_error": _("这一行有误 this row is wrong"),
            "placeholder": {
                "money": _("金额，如 299 amount"),
                "number": _("数字 number"),
                "int": _("整数 whole number"),
                "str": _("文字 text"),
                "list": _("文字 text"),
            },
        },
    }


def action_vocabulary(known: actions.Known | None = None) -> dict:
    """Parameters per action kind, the priority levels and the codes that exist (SKUs, groups, warehouses,
    usernames, notification channels)."""
    known = known or actions.Known()
    return {
        "kinds": ACTION_PARAMS,
        "levels": [{"value": v, "zh": zh, "en": en} for v, (zh, en) in actions.PRIORITY_LEVELS.items()],
        "known": {
            "sku": sorted(known.skus)[:SUGGESTION_LIMIT],
            "group": sorted(known.groups),
            "warehouse": sorted(known.warehouses),
            "user": sorted(known.users)[:SUGGESTION_LIMIT],
            "channel": sorted(known.channels),
        },
        "text": {
            "choose": _("— 请选择 choose —"),
            "choose_kind": _("请先在上面选择类型 choose the kind above first"),
            "show_json": _("显示 JSON show JSON"),
            "hide_json": _("隐藏 JSON hide JSON"),
            "bad_json": _("JSON 格式有误，请在文本框中修改 The JSON cannot be read; fix it in the text box"),
        },
    }


class _BuilderWidget(forms.Textarea):
    """A textarea holding the JSON, wrapped with the data the builder script needs."""

    builder = ""

    class Media:
        css = {"all": ["rules/builder.css"]}
        js = ["rules/builder.js"]

    def vocabulary(self) -> dict:
        raise NotImplementedError

    def render(self, name, value, attrs=None, renderer=None):
        attrs = {**(attrs or {}), "class": "vLargeTextField rb-json", "rows": 6}
        textarea = super().render(name, value, attrs, renderer)
        vocabulary_id = f"{attrs.get('id') or name}_vocabulary"
        return format_html(
            '<div class="rb rb-{}" data-rule-builder="{}" data-vocabulary="{}">{}{}'
            '<div class="rb-ui" hidden></div></div>',
            self.builder,
            self.builder,
            vocabulary_id,
            json_script(self.vocabulary(), vocabulary_id),
            textarea,
        )


class ConditionBuilderWidget(_BuilderWidget):
    """The condition as groups (all / any) of comparisons picked from rules.engine's facts and operators."""

    builder = "condition"

    def __init__(self, attrs=None, suggestions: dict[str, list[str]] | None = None):
        super().__init__(attrs)
        self.suggestions = suggestions or {}

    def vocabulary(self) -> dict:
        return condition_vocabulary(self.suggestions)


class ActionBuilderWidget(_BuilderWidget):
    """The parameters of the selected kind's action; follows the form's `kind` select."""

    builder = "action"

    def __init__(self, attrs=None, kind_field: str = "kind", known: actions.Known | None = None):
        super().__init__(attrs)
        self.kind_field = kind_field
        self.known = known

    def vocabulary(self) -> dict:
        return {**action_vocabulary(self.known), "kind_field": self.kind_field}


# --- read-only rendering: what those who may only look see instead of the builders ------------------


def _raw_json(value) -> str:
    return format_html('<pre class="rb-raw">{}</pre>', json.dumps(value, ensure_ascii=False, indent=2))


def _condition_items(group: dict, lang: str) -> str:
    key, items = next(iter(group.items()))
    lines = format_html_join(
        "",
        "<li>{}</li>",
        (
            (_condition_items(item, lang) if "all" in item or "any" in item else engine.render({"all": [item]}, lang),)
            for item in items
        ),
    )
    heading = _("全部满足 all") if key == "all" else _("任一满足 any")
    return format_html("{}<ul>{}</ul>", heading, lines)


def condition_readable(condition) -> str:
    """The condition as a list of comparisons in words, groups nested; JSON only when it cannot be read."""
    try:
        checked = engine.validate(condition)
    except engine.ConditionError:
        return _raw_json(condition)
    return format_html('<div class="rb-readable">{}</div>', _condition_items(checked, _lang()))


def action_readable(kind: str, params) -> str:
    """The action in words. Stored actions were cleaned when saved; an older or hand-made row shows as JSON."""
    try:
        return actions.render_action(kind, params, _lang())
    except (KeyError, TypeError, ValueError, AttributeError):
        return _raw_json(params)
