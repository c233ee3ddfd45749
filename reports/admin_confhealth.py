"""报表 → 配置健康度报告: the list of built reports, one report's findings grouped by kind (each linking to the admin
page that fixes it), and 立即生成 for those with reports.build_confighealthreport."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.admin import ReadOnlyAdmin
from reports.models import ConfigHealthReport
from reports.selectors.confhealth import DUTY_CONFLICTS, HIT_DAYS, IDLE_DAYS, config_health_groups
from reports.services.confhealth import config_health_report_build
from reports.services.settings import report_settings

BUILD_PERMISSION = "reports.build_confighealthreport"


@admin.register(ConfigHealthReport)
class ConfigHealthReportAdmin(ReadOnlyAdmin):
    service_owned_fields = ()  # built by reports.services.confhealth only
    list_display = ("month_label", "generated_at", "generated_by", "findings_count")
    list_display_links = ("month_label",)
    list_filter = ("month",)
    date_hierarchy = "generated_at"
    list_select_related = ("generated_by",)
    change_list_template = "admin/reports/confighealthreport/change_list.html"

    @admin.display(description=gettext_lazy("month"), ordering="month")
    def month_label(self, obj: ConfigHealthReport) -> str:
        return f"{obj.month:%Y-%m}"

    def get_urls(self):
        # The change page is the read-only report page; "build/" makes a new one.
        change = "reports_confighealthreport_change"
        return [
            path("build/", self.admin_site.admin_view(self.build_view), name="reports_confighealthreport_build"),
            path("<path:object_id>/change/", self.admin_site.admin_view(self.detail_view), name=change),
            *(url for url in super().get_urls() if getattr(url, "name", None) != change),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {
            "can_build": request.user.has_perm(BUILD_PERMISSION),
            "build_url": reverse("admin:reports_confighealthreport_build"),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def build_view(self, request):
        if not request.user.has_perm(BUILD_PERMISSION):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        report = config_health_report_build(actor=request.user)
        self.message_user(
            request,
            _("The configuration health report for %(month)s is built: %(n)s findings.")
            % {"month": f"{report.month:%Y-%m}", "n": report.findings_count},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:reports_confighealthreport_change", args=[report.pk]))

    def detail_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not str(object_id).isdigit():
            raise Http404(_("No such report: %(id)s") % {"id": object_id})
        report = get_object_or_404(ConfigHealthReport.objects.select_related("generated_by"), pk=object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Configuration health report %(month)s") % {"month": f"{report.month:%Y-%m}"},
            "opts": self.opts,
            "report": report,
            "groups": groups_with_openable_links(config_health_groups(report=report), user=request.user),
            "can_build": request.user.has_perm(BUILD_PERMISSION),
            "build_url": reverse("admin:reports_confighealthreport_build"),
            "hit_days": HIT_DAYS,
            "idle_days": IDLE_DAYS,
            "rarely_below": report_settings().rarely_hit_below,
            "duty_conflicts": DUTY_CONFLICTS,
        }
        return TemplateResponse(request, "admin/reports/confighealthreport/detail.html", context)


def groups_with_openable_links(groups: list[dict], *, user) -> list[dict]:
    """Marks each finding whose fix link this user may open: a finding about people links to the user admin, which
    运营主管 may not open (shown as text instead of a link answering 403)."""
    closed = [] if user.has_perm("auth.view_user") else [reverse("admin:auth_user_changelist")]
    for group in groups:
        for finding in group["findings"]:
            finding.openable = not any(finding.fix_url.startswith(prefix) for prefix in closed)
    return groups
