"""报表 → 经营看板: a custom admin page (no table of its own) for those with reports.view_dashboard."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin, ReadOnlyAdmin
from reports.models import Dashboard, ReportSettings
from reports.selectors.dashboard import channel_daily_figures, orders_per_hour, status_distribution
from reports.services.settings import report_settings, report_settings_save

DASHBOARD_DAYS = 14


@admin.register(Dashboard)
class DashboardAdmin(ReadOnlyAdmin):
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("reports.view_dashboard")

    def get_urls(self):
        # The index links to the "changelist": that is the dashboard.
        return [path("", self.admin_site.admin_view(self.dashboard_view), name="reports_dashboard_changelist")]

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        orders_url = reverse("admin:orders_order_changelist")

        def day_query(day) -> dict:
            return {"ordered_at__year": day.year, "ordered_at__month": day.month, "ordered_at__day": day.day}

        hours = orders_per_hour(today)
        statuses = [
            {"status": value, "label": label, "count": n, "url": f"{orders_url}?{urlencode({'status__exact': value})}"}
            for value, label, n in status_distribution()
        ]
        days, series = channel_daily_figures(today, DASHBOARD_DAYS)
        channels = [
            {
                "code": s.code,
                "name": s.name,
                "url": f"{orders_url}?{urlencode({'channel__id__exact': s.channel_id})}",
                "total_orders": s.total_orders,
                "total_gmv": s.total_gmv,
                "cells": [
                    {
                        "orders": n,
                        "gmv": gmv,
                        "url": f"{orders_url}?{urlencode({'channel__id__exact': s.channel_id, **day_query(d)})}",
                    }
                    for d, n, gmv in zip(days, s.orders, s.gmv, strict=True)
                ],
            }
            for s in series
        ]
        chart_data = {
            "hours": {"labels": [f"{h:02d}:00" for h in range(24)], "counts": hours, "name": str(_("Orders"))},
            "statuses": {
                "labels": [s["label"] for s in statuses],
                "counts": [s["count"] for s in statuses],
                "urls": [s["url"] for s in statuses],
            },
            "channels": {
                "days": [d.strftime("%m-%d") for d in days],
                "ordersName": str(_("Orders")),
                "gmvName": str(_("GMV")),
                "series": [
                    {
                        "name": c["name"],
                        "orders": s.orders,
                        "gmv": [str(g) for g in s.gmv],
                        "urls": [cell["url"] for cell in c["cells"]],
                    }
                    for s, c in zip(series, channels, strict=True)
                ],
            },
        }
        context = {
            **self.admin_site.each_context(request),
            "title": _("Business dashboard"),
            "opts": self.model._meta,
            "today": today,
            "today_url": f"{orders_url}?{urlencode(day_query(today))}",
            "hours": [{"label": f"{h:02d}:00", "count": n} for h, n in enumerate(hours)],
            "hours_total": sum(hours),
            "statuses": statuses,
            "days": days,
            "channels": channels,
            "chart_data": chart_data,
        }
        return TemplateResponse(request, "admin/reports/dashboard.html", context)


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


from reports import admin_confhealth, admin_consistency, admin_impact, admin_yearly  # noqa: E402, F401
