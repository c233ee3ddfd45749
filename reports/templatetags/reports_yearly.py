"""The yearly fulfilment report panel on a customer's admin page (templates/admin/orders/customer/change_form.html):
its stored reports to download, and "生成年度报告" for those who may generate one."""

from django import template
from django.urls import reverse
from django.utils import timezone

from reports.selectors.yearly import customer_yearly_reports

register = template.Library()

YEARS_OFFERED = 5


@register.inclusion_tag("admin/reports/yearly_panel.html", takes_context=True)
def yearly_report_panel(context, customer) -> dict:
    request = context["request"]
    user = request.user
    can_view = user.has_perm("reports.view_yearlyreport")
    can_generate = user.has_perm("reports.generate_yearlyreport")
    if customer is None or not (can_view or can_generate):
        return {"show": False}
    this_year = timezone.localdate().year
    reports = customer_yearly_reports(customer_id=customer.pk) if can_view else []
    return {
        "show": True,
        "customer": customer,
        "can_generate": can_generate,
        "can_view": can_view,
        "reports": [
            {
                "year": r.year,
                "orders": r.orders,
                "generated_at": r.generated_at,
                "url": reverse("admin:reports_yearlyreport_download", args=[r.pk]),
            }
            for r in reports
        ],
        "years": list(range(this_year, this_year - YEARS_OFFERED, -1)),
        "default_year": this_year,  # the year so far: what a customer asks for; the job makes the past ones
        "generate_url": reverse("admin:reports_yearlyreport_generate"),
        "next": request.get_full_path(),
    }
