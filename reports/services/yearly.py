"""Yearly fulfilment reports (我的年度履约报告): compute a customer's figures of a year, render the PDF and keep both
(reports.models.YearlyReport), for one customer on demand or for the year's top customers by the job."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.exceptions import Conflict, InvalidInput
from logistics.selectors import mask_name, mask_phone
from orders.models import Customer
from reports.models import YearlyReport
from reports.selectors.yearly import YearlyFigures, customers_year_figures, top_customers
from reports.yearly_pdf import yearly_report_pdf

FIRST_YEAR = 2000
BATCH_SIZE = 20  # customers per transaction of the job: a killed worker loses at most one batch


def report_year_check(year: object) -> int:
    """The year as an int, refused with a clear error unless it is a finished or the current year."""
    try:
        value = int(str(year).strip())
    except (TypeError, ValueError):
        raise InvalidInput(
            _("Year: %(value)s is not a year (e.g. 2025).") % {"value": year}, code="invalid_field"
        ) from None
    current = timezone.localdate().year
    if not FIRST_YEAR <= value <= current:
        raise InvalidInput(
            _("Year: %(value)s is outside %(first)s–%(last)s.")
            % {"value": value, "first": FIRST_YEAR, "last": current},
            code="invalid_field",
        )
    return value


def _customer_phone(customer: Customer) -> str:
    """As the report shows it: masked (a platform-masked phone stays masked, ciphertext shows nothing)."""
    return mask_phone(customer.phone or "")


def _customer_name(customer: Customer) -> str:
    name = customer.name or ""
    return name if mask_name(name) else ""  # ciphertext names (PDD, Douyin) show nothing


def _report(*, customer: Customer, figures: YearlyFigures, now: datetime, actor) -> YearlyReport:
    pdf = yearly_report_pdf(
        figures=figures,
        customer_name=_customer_name(customer),
        customer_phone=_customer_phone(customer),
        generated_at=now,
    )
    return YearlyReport(
        customer=customer,
        year=figures.year,
        orders=figures.orders,
        gmv=figures.gmv,
        figures=figures.as_json(),
        pdf=pdf,
        generated_at=now,
        generated_by=actor,
    )


def yearly_report_generate(*, customer: Customer, year: int, actor: AbstractBaseUser | None) -> YearlyReport:
    """Generate (or remake) one customer's report of the year. A customer without orders that year gets none:
    refused with Conflict, nothing stored."""
    year = report_year_check(year)
    figures = customers_year_figures(customer_ids=[customer.pk], year=year).get(customer.pk)
    if figures is None:
        raise Conflict(
            _("%(customer)s has no orders in %(year)s: no yearly report was made.")
            % {"customer": _customer_name(customer) or customer.pk, "year": year},
            code="no_orders_in_year",
            extra={"customer": customer.pk, "year": year},
        )
    report = _report(customer=customer, figures=figures, now=timezone.now(), actor=actor)
    with transaction.atomic(durable=True):
        stored, _created = YearlyReport.objects.update_or_create(
            customer=customer,
            year=year,
            defaults={
                field: getattr(report, field)
                for field in ("orders", "gmv", "figures", "pdf", "generated_at", "generated_by")
            },
        )
    return stored


def yearly_reports_generate_missing(
    *, year: int, limit: int, by: str = "orders", batch_size: int = BATCH_SIZE
) -> dict[str, int]:
    """Reports of the year's top `limit` customers that do not exist yet, made in batches (one transaction
    each). Idempotent: a report made after the year ended (by an earlier or a concurrent run, or by hand) is kept;
    one made by hand while the year ran covers part of it and is replaced."""
    top = top_customers(year=year, limit=limit, by=by)
    year_end = datetime(year + 1, 1, 1, tzinfo=timezone.get_current_timezone())
    existing = set(
        YearlyReport.objects.filter(year=year, customer_id__in=top, generated_at__gte=year_end).values_list(
            "customer_id", flat=True
        )
    )
    missing = [pk for pk in top if pk not in existing]
    generated = 0
    for start in range(0, len(missing), batch_size):
        batch = missing[start : start + batch_size]
        figures = customers_year_figures(customer_ids=batch, year=year)
        customers = Customer.objects.in_bulk(batch)
        now = timezone.now()
        rows = [_report(customer=customers[pk], figures=figures[pk], now=now, actor=None) for pk in batch]
        with transaction.atomic(durable=True):
            YearlyReport.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["customer", "year"],
                update_fields=["orders", "gmv", "figures", "pdf", "generated_at", "generated_by"],
            )
        # Those this run stored (a concurrent run's rows were kept, not counted).
        generated += YearlyReport.objects.filter(year=year, customer_id__in=batch, generated_at=now).count()
    return {"year": year, "top": len(top), "already": len(existing), "generated": generated}


def report_file_name(report: YearlyReport) -> str:
    return f"年度履约报告_{report.year}_{report.customer_id}.pdf"


def past_year() -> int:
    """The last finished year, Asia/Shanghai."""
    return timezone.localdate().year - 1
