import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin
from config.admin_export import XlsxExportMixin
from orders.models import Order
from orders.selectors import order_facts_recent
from rules.models import RULE_DEFINITION_FIELDS, Rule
from rules.selectors import rule_dry_run, rule_sentence
from rules.services import known_codes, rule_check, rule_save
from rules.widgets import (
    SUGGESTION_LIMIT,
    ActionBuilderWidget,
    ConditionBuilderWidget,
    action_readable,
    condition_readable,
)
from warehouse.models import Sku

TRY_DEFAULT, TRY_MAX = 50, 500
ORDER_NUMBER_MAX_LENGTH = Order._meta.get_field("number").max_length


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = RULE_DEFINITION_FIELDS
        widgets = {"condition": ConditionBuilderWidget(), "action": ActionBuilderWidget(kind_field="kind")}
        help_texts = {
            "condition": _("用下面的列表搭建条件，无需手写 JSON。 Build the condition by picking from the lists."),
            "action": _("先选类型，再填写它的参数。 Choose the kind, then fill in its parameters."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "condition" not in self.fields:  # view-only: the admin built the form without editable fields
            return
        # What exists, offered as choices and typing suggestions; the save still checks every code.
        known = known_codes()
        categories = (
            Sku.objects.filter(is_active=True)
            .exclude(category="")
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()
        )
        self.fields["condition"].widget.suggestions = {
            "sku_codes": sorted(known.skus),
            "sku_categories": list(categories[:SUGGESTION_LIMIT]),
        }
        self.fields["action"].widget.known = known

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["action"] = rule_check(
                kind=data["kind"],
                condition=data["condition"],
                action=data["action"],
                valid_from=data.get("valid_from"),
                valid_to=data.get("valid_to"),
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                self.add_error(field, problems)
        return data


class RuleTryForm(forms.Form):
    """Which orders to try a rule on: listed order numbers, else the newest N."""

    numbers = forms.CharField(
        label=_("订单号 Order numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40, "class": "vLargeTextField"}),
        help_text=_(
            "每行一个或用逗号分隔；填写后只试这些订单。 "
            "One per line or comma-separated; when given, only these are tried."
        ),
    )
    last = forms.IntegerField(
        label=_("最近 N 单 Last N orders"),
        required=False,
        min_value=1,
        max_value=TRY_MAX,
        initial=TRY_DEFAULT,
        help_text=_(
            "未填订单号时，试最近的 N 单（最多 500）。 Without order numbers, the newest N orders (at most 500)."
        ),
    )

    def clean_numbers(self) -> list[str]:
        numbers = []
        for token in re.split(r"[\s,，、;；]+", self.cleaned_data["numbers"]):
            number = token.strip().upper()
            if not number or number in numbers:
                continue
            if len(number) > ORDER_NUMBER_MAX_LENGTH or "\x00" in number:
                raise ValidationError(_("不是订单号 Not an order number: %(n)s"), params={"n": number[:30]})
            numbers.append(number)
        if len(numbers) > TRY_MAX:
            raise ValidationError(_("最多 %(max)d 个订单号 At most %(max)d order numbers"), params={"max": TRY_MAX})
        return numbers


@admin.register(Rule)
class RuleAdmin(XlsxExportMixin, HistoryAdmin):
    form = RuleForm
    list_display = (
        "name",
        "kind",
        "sentence_zh",
        "enabled",
        "position",
        "stop_after_match",
        "valid_from",
        "valid_to",
        "hit_count",
        "last_hit_at",
        "last_error",
    )
    list_editable = ("enabled",)
    list_filter = ("kind", "enabled", "stop_after_match", "last_error_at")
    search_fields = ("name", "description")
    readonly_fields = ("sentence_zh", "sentence_en")
    # Versions are counted by rule_save; hits and errors are written by the engine.
    service_owned_fields = ("version", "hit_count", "last_hit_at", "last_error", "last_error_at")
    actions = ["switch_on", "switch_off"]

    @admin.display(description=_("rule (中文)"))
    def sentence_zh(self, rule: Rule) -> str:
        return rule_sentence(rule=rule, lang="zh") if rule.pk else "—"

    @admin.display(description=_("rule (English)"))
    def sentence_en(self, rule: Rule) -> str:
        return rule_sentence(rule=rule, lang="en") if rule.pk else "—"

    @admin.display(description=_("condition"))
    def condition_text(self, rule: Rule) -> str:
        return condition_readable(rule.condition)

    @admin.display(description=_("action"))
    def action_text(self, rule: Rule) -> str:
        return action_readable(rule.kind, rule.action)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # Those who may only look read the condition and action in words, not as JSON.
            readable = {"condition": "condition_text", "action": "action_text"}
            fields = [readable.get(name, name) for name in fields]
        return fields

    def get_urls(self):
        custom = [path("<path:object_id>/try/", self.admin_site.admin_view(self.try_view), name="rules_rule_try")]
        return custom + super().get_urls()

    def try_view(self, request, object_id: str):
        """Sandbox: which orders this rule would match and what they would get. Changes nothing, counts no hits."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rule = self.get_object(request, unquote(object_id))
        if rule is None:
            raise Http404(_("规则不存在 No such rule"))
        submitted = "last" in request.GET or "numbers" in request.GET
        form = RuleTryForm(request.GET if submitted else None)
        rows = summary = None
        if submitted and form.is_valid():
            rows, summary = self._try(rule, form.cleaned_data["numbers"], form.cleaned_data["last"] or TRY_DEFAULT)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("试运行 Try it: %(name)s") % {"name": rule.name},
            "rule": rule,
            "sentence": rule_sentence(rule=rule, lang=self._lang()),
            "form": form,
            "rows": rows,
            "summary": summary,
        }
        return TemplateResponse(request, "admin/rules/rule/try.html", context)

    def _try(self, rule: Rule, numbers: list[str], last: int) -> tuple[list[dict], str]:
        facts = order_facts_recent(last=last, numbers=numbers or None)
        results = rule_dry_run(rule=rule, facts_by_label=facts, lang=self._lang())
        pks = dict(Order.objects.filter(number__in=list(facts)).values_list("number", "pk"))
        rows = [
            {
                "number": r.label,
                "url": reverse("admin:orders_order_change", args=[pks[r.label]]) if r.label in pks else "",
                "matched": r.matched,
                "outcome": r.outcome,
                "error": r.error,
            }
            for r in results
        ]
        if numbers:  # keep the order they were listed in; say which do not exist
            by_number = {row["number"]: row for row in rows}
            missing = {"url": "", "matched": False, "outcome": "", "error": _("未找到此订单 No such order")}
            rows = [by_number.get(n) or {**missing, "number": n} for n in numbers]
        matched = sum(r.matched for r in results)
        summary = ngettext(
            "%(tried)d 单中有 %(matched)d 单会命中 — %(matched)d of %(tried)d order would match",
            "%(tried)d 单中有 %(matched)d 单会命中 — %(matched)d of %(tried)d orders would match",
            len(results),
        ) % {"matched": matched, "tried": len(results)}
        return rows, summary

    @staticmethod
    def _lang() -> str:
        return "en" if (get_language() or "").startswith("en") else "zh"

    def save_model(self, request, obj, form, change):
        rule_save(rule=obj, actor=request.user, reason=_("edited in admin"))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # switch a rule off instead: its history and hits stay readable

    @admin.action(description=_("Switch selected rules on"), permissions=["change"])
    def switch_on(self, request, queryset):
        self._switch(request, queryset, True)

    @admin.action(description=_("Switch selected rules off (manual takeover)"), permissions=["change"])
    def switch_off(self, request, queryset):
        self._switch(request, queryset, False)

    def _switch(self, request, queryset, on: bool) -> None:
        for rule in queryset:
            rule.enabled = on
            rule_save(rule=rule, actor=request.user, reason="switched on" if on else "switched off")
        messages.success(request, _("%(n)d rules updated.") % {"n": queryset.count()})
