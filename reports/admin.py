"""The reports app's admin: the report settings row; its pages, one module per concern, imported at the end."""

from django import forms
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from config.admin import HistoryAdmin
from reports.models import ReportSettings
from reports.services.settings import report_settings, report_settings_save


class ReportSettingsForm(forms.ModelForm):
    class Meta:
        model = ReportSettings
        fields = (
            "pickup_within_hours",
            "breakpoint_grace_minutes",
            "rarely_hit_below",
            "consistency_recipients",
            "yearly_report_customers",
        )


@admin.register(ReportSettings)
class ReportSettingsAdmin(HistoryAdmin):
    """One row (like the promise light settings): the list page opens it directly."""

    form = ReportSettingsForm
    list_display = ("__str__", "pickup_within_hours", "breakpoint_grace_minutes")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        settings = report_settings()
        return HttpResponseRedirect(reverse("admin:reports_reportsettings_change", args=[settings.pk]))

    def save_model(self, request, obj, form, change):
        report_settings_save(settings=obj)


from reports import admin_confhealth, admin_consistency, admin_dashboard, admin_impact, admin_yearly  # noqa: E402, F401
