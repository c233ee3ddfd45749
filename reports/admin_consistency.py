"""报表 → 一致性日报: the reports' history, a page per report with its tables and its xlsx, and "build now".

Who: reports.view_consistencyreport reads (客服, 运营主管, 财务, 管理员); reports.build_consistencyreport builds a
day now (运营主管, 管理员). Nobody edits or deletes a report: the daily job and the build button write them.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import ReadOnlyAdmin
from config.exceptions import ApplicationError
from reports.models import ConsistencyReport
from reports.selectors.consistency import consistency_tables, consistency_xlsx, consistency_xlsx_filename
from reports.services.consistency import XLSX_TYPE, consistency_report_build

BUILD_PERMISSION = "reports.build_consistencyreport"


class BuildForm(forms.Form):
    day = forms.DateField(
        label=_("Day"),
        error_messages={
            "required": _("Enter the day of the report."),
            "invalid": _("The day is not a date: enter it as YYYY-MM-DD."),
        },
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean_day(self):
        day = self.cleaned_data["day"]
        if day >= timezone.localdate():
            raise forms.ValidationError(
                gettext("The report of %(day)s cannot be built yet: only a day that is over has a report.")
                % {"day": f"{day:%Y-%m-%d}"}
            )
        return day


@admin.register(ConsistencyReport)
class ConsistencyReportAdmin(ReadOnlyAdmin):
    # No form at all: every field is the build's or the sending's (reports.services.consistency).
    service_owned_fields = tuple(f.name for f in ConsistencyReport._meta.concrete_fields if f.name != "id")
    list_display = ("report_day", "built_at", "mail_state", "sent_to", "builds")
    list_filter = ("mail_state",)
    date_hierarchy = "day"
    list_per_page = 50
    change_list_template = "admin/reports/consistencyreport/change_list.html"

    @admin.display(description=_("day"), ordering="day")
    def report_day(self, obj: ConsistencyReport) -> str:
        return f"{obj.day:%Y-%m-%d}"

    @admin.display(description=_("generated at"), ordering="generated_at")
    def built_at(self, obj: ConsistencyReport) -> str:
        return f"{timezone.localtime(obj.generated_at):%Y-%m-%d %H:%M}"

    @admin.display(description=_("sent to"))
    def sent_to(self, obj: ConsistencyReport) -> str:
        return ", ".join(obj.recipients.split()) or "—"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("build/", view(self.build_view), name="reports_consistencyreport_build"),
            path("<int:pk>/xlsx/", view(self.xlsx_view), name="reports_consistencyreport_xlsx"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_build": request.user.has_perm(BUILD_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def _report(self, request, pk) -> ConsistencyReport:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            return ConsistencyReport.objects.select_related("built_by").get(pk=int(pk))
        except (ValueError, ConsistencyReport.DoesNotExist):
            raise Http404(gettext("No such report.")) from None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The report's page: its tables as stored, the download and (for those who may) the rebuild."""
        report = self._report(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Daily consistency report %(day)s") % {"day": f"{report.day:%Y-%m-%d}"},
            "opts": self.model._meta,
            "report": report,
            "tables": consistency_tables(report),
            "can_build": request.user.has_perm(BUILD_PERMISSION),
        }
        return TemplateResponse(request, "admin/reports/consistency_report.html", context)

    def xlsx_view(self, request, pk):
        report = self._report(request, pk)
        response = HttpResponse(consistency_xlsx(report), content_type=XLSX_TYPE)
        response["Content-Disposition"] = content_disposition_header(True, consistency_xlsx_filename(report))
        return response

    def build_view(self, request):
        if not request.user.has_perm(BUILD_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            form = BuildForm(request.POST)
            if form.is_valid():
                try:
                    report = consistency_report_build(day=form.cleaned_data["day"], actor=request.user)
                except ApplicationError as error:
                    form.add_error("day", error.message)
                else:
                    self._built_message(request, report)
                    return HttpResponseRedirect(reverse("admin:reports_consistencyreport_change", args=[report.pk]))
        else:
            form = BuildForm(initial={"day": timezone.localdate() - timedelta(days=1)})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Build a daily consistency report"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/reports/consistency_build.html", context)

    def _built_message(self, request, report: ConsistencyReport) -> None:
        day = f"{report.day:%Y-%m-%d}"
        if report.mail_state == ConsistencyReport.Mail.SENT:
            messages.success(
                request,
                gettext("The report of %(day)s was built and sent to %(to)s.")
                % {"day": day, "to": ", ".join(report.recipients.split())},
            )
        elif report.mail_state == ConsistencyReport.Mail.NO_RECIPIENTS:
            messages.warning(
                request,
                gettext(
                    "The report of %(day)s was built and stored, not sent: no recipients are set in the report "
                    "settings."
                )
                % {"day": day},
            )
        else:
            messages.error(
                request,
                gettext("The report of %(day)s was built, but sending it failed (%(error)s); the next run retries.")
                % {"day": day, "error": report.mail_error},
            )
