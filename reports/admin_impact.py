"""变更影响 in the admin: the rule and status-node change forms post their unsaved values here ("查看变更影响 /
Preview impact"); the answer is a fragment the form's page shows under the form. Nothing is saved: the form is
built and checked exactly as the admin's own change view does, then only read from."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.forms.formsets import all_valid
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from config.admin import ReadOnlyAdmin
from orders.models import StatusNode
from reports.models import ChangeImpact
from reports.selectors.impact import OPEN_CAP, node_impact, rule_impact
from rules.models import Rule


@admin.register(ChangeImpact)
class ChangeImpactAdmin(ReadOnlyAdmin):
    """Only URLs: no list, no entry on the admin index. Who may preview is who may change the rule or node."""

    service_owned_fields = ()

    def has_module_permission(self, request) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("rule/", view(require_POST(self.rule_view)), name="reports_impact_rule"),
            path("rule/<path:object_id>/", view(require_POST(self.rule_view)), name="reports_impact_rule"),
            path("node/<path:object_id>/", view(require_POST(self.node_view)), name="reports_impact_node"),
        ]

    def _fragment(self, request, context: dict, *, status: int = 200) -> TemplateResponse:
        return TemplateResponse(request, "admin/reports/impact.html", {"cap": OPEN_CAP, **context}, status=status)

    def rule_view(self, request, object_id: str | None = None):
        rules_admin = self.admin_site._registry[Rule]
        old = None
        if object_id is not None:
            old = rules_admin.get_object(request, unquote(object_id))
            if old is None:
                raise Http404(_("规则不存在 No such rule"))
            if not rules_admin.has_change_permission(request, old):
                raise PermissionDenied
        elif not rules_admin.has_add_permission(request):
            raise PermissionDenied
        form_class = rules_admin.get_form(request, old, change=old is not None)
        # The form writes into its instance when checked: give it a copy, keep `old` as saved.
        instance = rules_admin.get_object(request, unquote(object_id)) if old is not None else None
        form = form_class(request.POST, request.FILES, instance=instance)
        if not form.is_valid():
            return self._fragment(request, {"errors": _errors(form, [])}, status=400)
        impact = rule_impact(old=old, new=form.instance)
        return self._fragment(request, {"rule_impact": impact, "rule": form.instance})

    def node_view(self, request, object_id: str):
        nodes_admin = self.admin_site._registry[StatusNode]
        old = nodes_admin.get_object(request, unquote(object_id))
        if old is None:
            raise Http404(_("节点不存在 No such status node"))
        if not nodes_admin.has_change_permission(request, old):
            raise PermissionDenied
        form_class = nodes_admin.get_form(request, old, change=True)
        instance = nodes_admin.get_object(request, unquote(object_id))
        form = form_class(request.POST, request.FILES, instance=instance)
        form_ok = form.is_valid()
        formsets, _inlines = nodes_admin._create_formsets(request, form.instance, change=True)
        if not (all_valid(formsets) and form_ok):
            return self._fragment(request, {"errors": _errors(form, formsets)}, status=400)
        levels = [
            f.cleaned_data
            for formset in formsets
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        impact = node_impact(old=old, new=form.instance, new_levels=levels)
        return self._fragment(request, {"node_impact": impact, "node": old})


def _errors(form, formsets) -> list[str]:
    """The form's own errors, each with the label of its field, in the order of the form."""
    problems = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        problems += [f"{label}：{e}" if label else str(e) for e in errors]
    for formset in formsets:
        problems += [str(e) for e in formset.non_form_errors()]
        for i, errors in enumerate(formset.errors, start=1):
            for name, messages in errors.items():
                label = formset.forms[i - 1].fields[name].label if name in formset.forms[i - 1].fields else ""
                problems += [f"#{i} {label}：{m}" for m in messages]
    return problems
