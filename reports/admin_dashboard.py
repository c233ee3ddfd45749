"""报表 → 经营看板: a custom admin page (no table of its own) for those with reports.view_dashboard.

The filter bar (date range, channel, warehouse) is validated once into `figures_range`; every figure reads the
reports app's own rows for that range (reports.selectors.dashboard), each a set-based query, so the page costs the
same statements whatever the number of orders, days or channels. Every number links to the order list filtered to
the orders behind it (channel, warehouse, local days or hours, status)."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import ReadOnlyAdmin
from orders.models import Channel
from reports.models import Dashboard
from reports.selectors.dashboard import (
    MAX_RANGE_DAYS,
    ZERO,
    node_duration_summary,
    order_day_series,
    orders_by_warehouse,
    orders_per_hour,
    status_distribution,
)
from reports.selectors.health import exceptions_by_cause, health_figures
from warehouse.models import Warehouse

DASHBOARD_DAYS = 14  # the default range: the last two weeks, today included
ANY = object()  # an order-list link without a warehouse filter (None: the orders not allocated yet)


class DashboardFilterForm(forms.Form):
    """The filter bar (GET). Channels and warehouses come from the lists the page shows, so checking a choice costs
    no statement."""

    start = forms.DateField(
        label=_("From"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("The start date is not a date like 2026-03-01.")},
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("The end date is not a date like 2026-03-14.")},
    )
    channel = forms.TypedChoiceField(
        label=_("Channel"),
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": _("Unknown channel: %(value)s.")},
    )
    warehouse = forms.TypedChoiceField(
        label=_("Warehouse"),
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": _("Unknown warehouse: %(value)s.")},
    )

    def __init__(self, *args, channels, warehouses, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["channel"].choices = [("", _("All channels"))] + [(c.pk, c.name) for c in channels]
        self.fields["warehouse"].choices = [("", _("All warehouses"))] + [(w.pk, w.name) for w in warehouses]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        end = data.get("end") or self.today
        start = data.get("start") or end - timedelta(days=DASHBOARD_DAYS - 1)
        if end > self.today:  # no figures yet, and near the year 9999 the day after would not exist
            raise forms.ValidationError(
                _("The end date %(end)s is after today (%(today)s).") % {"end": end, "today": self.today}
            )
        if end < start:
            raise forms.ValidationError(
                _("The end date %(end)s is before the start date %(start)s.") % {"end": end, "start": start}
            )
        days = (end - start).days + 1
        if days > MAX_RANGE_DAYS:
            raise forms.ValidationError(
                _("The range has %(days)s days; at most %(max)s.") % {"days": days, "max": MAX_RANGE_DAYS}
            )
        data["start"], data["end"] = start, end
        return data


def figures_range_of(form: DashboardFilterForm) -> dict:
    """The validated range every figure reads: start, end (dates, both included), channel_id, warehouse_id (None: all).
    An invalid filter falls back to the default range (the errors show above the figures)."""
    if form.is_valid():
        data = form.cleaned_data
        return {
            "start": data["start"],
            "end": data["end"],
            "channel_id": data["channel"],
            "warehouse_id": data["warehouse"],
        }
    return {
        "start": form.today - timedelta(days=DASHBOARD_DAYS - 1),
        "end": form.today,
        "channel_id": None,
        "warehouse_id": None,
    }


class OrderLinks:
    """Links to the admin order list filtered to the orders behind a figure."""

    def __init__(self, *, channel_id: int | None, warehouse_id: int | None):
        self.base = reverse("admin:orders_order_changelist")
        self.channel_id, self.warehouse_id = channel_id, warehouse_id

    def url(self, *, channel_id=None, warehouse=ANY, status=None, start=None, before=None) -> str:
        query = {}
        channel_id = channel_id if channel_id is not None else self.channel_id
        if channel_id is not None:
            query["channel__id__exact"] = channel_id
        if warehouse is ANY:
            warehouse = self.warehouse_id if self.warehouse_id is not None else ANY
        if warehouse is None:
            query["warehouse__isnull"] = "True"
        elif warehouse is not ANY:
            query["warehouse__id__exact"] = warehouse
        if status is not None:
            query["status__exact"] = status
        if start is not None:
            query["ordered_from"] = start
        if before is not None:
            query["ordered_before"] = before
        return f"{self.base}?{urlencode(query)}" if query else self.base

    def days(self, first: date, last: date, **kwargs) -> str:
        """The orders placed on the local days first..last (both included)."""
        return self.url(start=first.isoformat(), before=(last + timedelta(days=1)).isoformat(), **kwargs)

    def hour(self, day: date, hour: int) -> str:
        at = datetime.combine(day, time(hour))
        return self.url(
            start=at.strftime("%Y-%m-%dT%H:%M"), before=(at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        )


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
        channels = list(Channel.objects.order_by("code").only("pk", "code", "name"))
        warehouses = list(Warehouse.objects.order_by("code").only("pk", "code", "name"))
        form = DashboardFilterForm(request.GET or None, channels=channels, warehouses=warehouses, today=today)
        figures_range = figures_range_of(form)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Business dashboard"),
            "opts": self.model._meta,
            "form": form,
            "figures_range": figures_range,
            **dashboard_figures(figures_range, today=today, channels=channels, warehouses=warehouses),
            # The sellers' health figures over the same range, each with its definition.
            "health_figures": health_figures(**figures_range),
            "exception_causes": exceptions_by_cause(**figures_range),
        }
        status = 400 if form.is_bound and not form.is_valid() else 200
        return TemplateResponse(request, "admin/reports/dashboard.html", context, status=status)


def dashboard_figures(figures_range: dict, *, today: date, channels: list, warehouses: list) -> dict:
    """The page's figures and their drill-down links: five statements over the reports app's rows."""
    start, end = figures_range["start"], figures_range["end"]
    channel_id, warehouse_id = figures_range["channel_id"], figures_range["warehouse_id"]
    links = OrderLinks(channel_id=channel_id, warehouse_id=warehouse_id)
    filters = {"channel_id": channel_id, "warehouse_id": warehouse_id}
    channel_by_id = {c.pk: c for c in channels}
    warehouse_by_id = {w.pk: w for w in warehouses}

    days, series = order_day_series(start=start, end=end, **filters)
    series.sort(key=lambda s: channel_by_id[s.channel_id].code if s.channel_id in channel_by_id else "")
    channel_rows = [
        {
            "code": channel_by_id[s.channel_id].code,
            "name": channel_by_id[s.channel_id].name,
            "url": links.days(start, end, channel_id=s.channel_id),
            "total_orders": s.total_orders,
            "total_gmv": s.total_gmv,
            "cells": [
                {"orders": n, "gmv": gmv, "url": links.days(d, d, channel_id=s.channel_id)}
                for d, n, gmv in zip(days, s.orders, s.gmv, strict=True)
            ],
        }
        for s in series
        if s.channel_id in channel_by_id
    ]
    day_totals = [
        {
            "orders": sum(s.orders[i] for s in series),
            "gmv": sum((s.gmv[i] for s in series), start=ZERO),
            "url": links.days(d, d),
        }
        for i, d in enumerate(days)
    ]
    total_orders = sum(cell["orders"] for cell in day_totals)
    total_gmv = sum((cell["gmv"] for cell in day_totals), start=ZERO)

    by_warehouse = [
        {
            "id": w.warehouse_id,
            "name": warehouse_by_id[w.warehouse_id].name
            if w.warehouse_id in warehouse_by_id
            else gettext("Not allocated"),
            "orders": w.orders,
            "gmv": w.gmv,
            "url": links.days(start, end, warehouse=w.warehouse_id),
        }
        for w in orders_by_warehouse(start=start, end=end, **filters)
    ]

    hours = orders_per_hour(day=today, **filters)
    hour_rows = [
        {"hour": h, "label": f"{h:02d}:00", "count": n, "url": links.hour(today, h)} for h, n in enumerate(hours)
    ]

    snapshot = status_distribution(**filters)
    statuses = [
        {"status": value, "label": label, "count": n, "url": links.url(status=value)}
        for value, label, n in snapshot.rows
    ]

    nodes = [
        {
            "status": node.status,
            "label": node.label,
            "entered": node.entered,
            "left": node.left,
            "p50": node.p50_minutes,
            "p90": node.p90_minutes,
            "over_timeout": node.over_timeout,
            "url": links.url(status=node.status, channel_id=None, warehouse=ANY),
        }
        for node in node_duration_summary(start=start, end=end)
    ]
    orders_name = gettext("Orders")
    chart_data = {
        "hours": {
            "labels": [row["label"] for row in hour_rows],
            "counts": hours,
            "urls": [row["url"] for row in hour_rows],
            "name": orders_name,
        },
        "statuses": {
            "labels": [s["label"] for s in statuses],
            "counts": [s["count"] for s in statuses],
            "urls": [s["url"] for s in statuses],
            "name": orders_name,
        },
        "channels": {
            "days": [d.strftime("%m-%d") for d in days],
            "ordersName": orders_name,
            "gmvName": gettext("GMV"),
            "series": [
                {
                    "name": row["name"],
                    "orders": [cell["orders"] for cell in row["cells"]],
                    "gmv": [str(cell["gmv"]) for cell in row["cells"]],
                    "urls": [cell["url"] for cell in row["cells"]],
                }
                for row in channel_rows
            ],
        },
        "warehouses": {
            "labels": [w["name"] for w in by_warehouse],
            "counts": [w["orders"] for w in by_warehouse],
            "urls": [w["url"] for w in by_warehouse],
            "name": orders_name,
        },
        "nodes": {
            "labels": [n["label"] for n in nodes],
            "p50": [float(n["p50"]) if n["p50"] is not None else None for n in nodes],
            "p90": [float(n["p90"]) if n["p90"] is not None else None for n in nodes],
            "urls": [n["url"] for n in nodes],
            "p50Name": gettext("p50 minutes"),
            "p90Name": gettext("p90 minutes"),
        },
    }
    return {
        "today": today,
        "days": days,
        "channels": channel_rows,
        "day_totals": day_totals,
        "total_orders": total_orders,
        "total_gmv": total_gmv,
        "total_url": links.days(start, end),
        "warehouses": by_warehouse,
        "hours": hour_rows,
        "hours_total": sum(hours),
        "today_url": links.days(today, today),
        "statuses": statuses,
        "statuses_total": snapshot.total,
        "statuses_taken_at": snapshot.taken_at,
        "nodes": nodes,
        "chart_data": chart_data,
        "channel_choices": channels,
        "warehouse_choices": warehouses,
    }
