"""报表 → 年度履约报告: the stored yearly reports, each downloadable; "生成年度报告" for one customer (posted from the
customer's page, templates/admin/orders/customer/change_form.html, or from this list).

Who: view_yearlyreport downloads (客服 sends the report to the customer, 运营主管, 管理员); generate_yearlyreport
makes or remakes one (运营主管, 管理员). Everyone else gets 403 and sees no link.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models.fields.json import KeyTextTransform
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.admin import ReadOnlyAdmin
from config.exceptions import ApplicationError
from logistics.selectors import mask_phone
from orders.models import Customer
from reports.models import YearlyReport
from reports.services.yearly import report_file_name, report_year_check, yearly_report_generate

VIEW_PERM = "reports.view_yearlyreport"
GENERATE_PERM = "reports.generate_yearlyreport"


def _customer_pk(value: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ApplicationError(
            _("Customer: %(value)s is not a customer number.") % {"value": value or "—"}, code="invalid_field"
        ) from None


@admin.register(YearlyReport)
class YearlyReportAdmin(ReadOnlyAdmin):
    service_owned_fields = ()  # nothing is edited here: reports.services.yearly writes the rows
    list_display = (
        "customer_name",
        "customer_phone",
        "year",
        "orders",
        "gmv",
        "on_time_rate",
        "generated_at",
        "generated_by",
        "download",
    )
    list_display_links = None
    list_filter = ("year",)
    search_fields = ("customer__name", "=customer__phone")
    list_select_related = ("customer", "generated_by")
    date_hierarchy = "generated_at"

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(VIEW_PERM)

    def get_queryset(self, request):
        # The PDFs and the figures stay in the database: the list reads the on-time rate out of the JSON.
        return (
            super()
            .get_queryset(request)
            .defer("pdf", "figures")
            .annotate(on_time_rate_text=KeyTextTransform("on_time_rate", "figures"))
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("generate/", view(self.generate_view), name="reports_yearlyreport_generate"),
            path("<int:pk>/download/", view(self.download_view), name="reports_yearlyreport_download"),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("customer"), ordering="customer__name")
    def customer_name(self, obj: YearlyReport) -> str:
        url = reverse("admin:orders_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer.name)

    @admin.display(description=gettext_lazy("mobile phone"))
    def customer_phone(self, obj: YearlyReport) -> str:
        return mask_phone(obj.customer.phone or "")

    @admin.display(description=gettext_lazy("on-time ship rate"))
    def on_time_rate(self, obj: YearlyReport) -> str:
        return f"{obj.on_time_rate_text}%" if obj.on_time_rate_text else "—"

    @admin.display(description=gettext_lazy("PDF"))
    def download(self, obj: YearlyReport) -> str:
        url = reverse("admin:reports_yearlyreport_download", args=[obj.pk])
        return format_html('<a href="{}" class="oh-yearly-download">{}</a>', url, _("Download"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A report has no form: its page is the PDF.
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not str(object_id).isascii() or not str(object_id).isdigit():
            raise Http404(_("No such yearly report."))
        return HttpResponseRedirect(reverse("admin:reports_yearlyreport_download", args=[int(object_id)]))

    def download_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = YearlyReport.objects.filter(pk=pk).only("pk", "customer_id", "year", "pdf").first()
        if report is None:
            raise Http404(_("No such yearly report."))
        response = HttpResponse(bytes(report.pdf), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(True, report_file_name(report))
        return response

    def generate_view(self, request):
        if not request.user.has_perm(GENERATE_PERM):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
            back = ""
        try:
            pk = _customer_pk(request.POST.get("customer", ""))
            customer = Customer.objects.filter(pk=pk).first()
            if customer is None:
                raise ApplicationError(_("Customer: there is no customer %(pk)s.") % {"pk": pk}, code="not_found")
            year = report_year_check(request.POST.get("year", ""))
            report = yearly_report_generate(customer=customer, year=year, actor=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(back or reverse("admin:reports_yearlyreport_changelist"))
        url = reverse("admin:reports_yearlyreport_download", args=[report.pk])
        messages.success(
            request,
            format_html(
                '{} <a href="{}" id="oh-yearly-generated">{}</a>',
                _("The %(year)s yearly fulfilment report of %(customer)s is ready.")
                % {"year": year, "customer": customer.name},
                url,
                _("Download"),
            ),
        )
        return HttpResponseRedirect(back or reverse("admin:reports_yearlyreport_changelist"))
