from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from rules.models import Rule
from rules.services import rule_check, rule_save, rule_sentence


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = [
            "kind",
            "name",
            "description",
            "condition",
            "action",
            "position",
            "stop_after_match",
            "valid_from",
            "valid_to",
            "enabled",
        ]

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


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin):
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
    list_filter = ("kind", "enabled", "stop_after_match")
    search_fields = ("name", "description")
    readonly_fields = (
        "sentence_zh",
        "sentence_en",
        "version",
        "hit_count",
        "last_hit_at",
        "last_error",
        "last_error_at",
    )
    actions = ["switch_on", "switch_off"]

    @admin.display(description=_("rule (中文)"))
    def sentence_zh(self, rule: Rule) -> str:
        return rule_sentence(rule=rule, lang="zh") if rule.pk else "—"

    @admin.display(description=_("rule (English)"))
    def sentence_en(self, rule: Rule) -> str:
        return rule_sentence(rule=rule, lang="en") if rule.pk else "—"

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
