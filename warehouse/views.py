"""Warehouse pages for packers: the scan station and printable pick lists.

Thin: the scan is orders.services.scan.order_scan, the pick list orders.selectors.orders_for_picklist, waybills and
labels orders.services.waybills.
Both pages need a staff login (the admin login page) and the permission to move orders through warehouse steps.
"""

import json
from urllib.parse import urlencode

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.exceptions import ApplicationError
from orders.models import Source, Status
from orders.selectors import orders_by_numbers, orders_for_picklist
from orders.services.scan import SCAN_STEPS, order_scan
from orders.services.waybills import order_labels_pdf, orders_waybills_obtain
from warehouse.picklist import PICKLIST_MAX_ORDERS, picklist_group, warehouse_choices

FULFIL_PERMISSION = "orders.fulfil_order"
# Chinese first, English second, on the station's two big buttons.
STEP_LABELS = {"print": ("打单确认", "Printed"), "handover": ("交接快递", "Handover")}
RECENT_SCANS_KEPT = 10
LABELS_MAX_ORDERS = PICKLIST_MAX_ORDERS  # one wave's labels in one PDF


def labels_url(numbers: list[str]) -> str:
    """The label PDF of these orders' waybills (/warehouse/labels/?orders=NUM1,NUM2)."""
    return f"{reverse('warehouse:labels')}?{urlencode({'orders': ','.join(numbers)}, safe=',')}"


def _numbers(value: str) -> list[str]:
    return [n.strip().upper() for n in (value or "").split(",") if n.strip()]


def warehouse_page(view):
    """Anonymous or non-staff → admin login; staff without the warehouse permission → 403."""
    return staff_member_required(permission_required(FULFIL_PERMISSION, raise_exception=True)(view))


@warehouse_page
@require_http_methods(["GET", "POST"])
def scan_station(request: HttpRequest) -> HttpResponse:
    """GET: the station. POST as JSON (the page's script) answers JSON; a plain form POST (no script)
    renders the page with the result, so the station still works on a browser without JavaScript."""
    if request.method == "GET":
        return _scan_page(request, step=request.GET.get("step", ""), outcome=None)
    wants_json = request.content_type == "application/json"
    if wants_json:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return JsonResponse(
                {"ok": False, "message": _("Send a JSON object with code and step."), "code": "invalid_json"},
                status=400,
            )
    else:
        data = request.POST
    code, step = str(data.get("code") or ""), str(data.get("step") or "")
    outcome, status = _scan(request, code=code, step=step)
    if wants_json:
        return JsonResponse(outcome, status=status)
    return _scan_page(request, step=step, outcome=outcome, status=status)


def _scan(request: HttpRequest, *, code: str, step: str) -> tuple[dict, int]:
    try:
        result = order_scan(code=code, step=step, actor=request.user)
    except ApplicationError as exc:
        status = exc.extra.get("status", "")
        outcome = {
            "ok": False,
            "code": str(exc.code),
            "message": exc.message,
            "order": exc.extra.get("order"),
            "status": status,
            "status_label": str(Status(status).label) if status in Status.values else "",
            "gifts": exc.extra.get("gifts", []),  # a refused print scan of an order being packed still lists them
            # printed already: its label can be printed again (same waybill, same number)
            "label_url": labels_url([exc.extra["order"]])
            if step == "print" and status == Status.PRINTED and exc.extra.get("order")
            else "",
        }
        http_status = exc.http_status
    else:
        outcome = {
            "ok": True,
            "code": "ok",
            "message": result.message,
            "order": result.order.number,
            "status": result.order.status,
            "status_label": result.order.get_status_display(),
            "gifts": [gift._asdict() for gift in result.gifts],
            "label_url": labels_url([result.order.number]) if step == "print" else "",
        }
        http_status = 200
    if code.strip():  # an empty Enter is not a scan
        _remember_scan(request, code=code, step=step, outcome=outcome)
    return outcome, http_status


def _remember_scan(request: HttpRequest, *, code: str, step: str, outcome: dict) -> None:
    """The last scans of this login, so a reload (or a browser without script) still shows them."""
    entry = {
        "time": timezone.localtime().strftime("%H:%M:%S"),
        "code": code.strip()[:40],
        "step": step if step in SCAN_STEPS else "",
        "ok": outcome["ok"],
        "message": outcome["message"],
    }
    request.session["warehouse_recent_scans"] = [entry, *request.session.get("warehouse_recent_scans", [])][
        :RECENT_SCANS_KEPT
    ]


def _scan_page(request: HttpRequest, *, step: str, outcome: dict | None, status: int = 200) -> HttpResponse:
    recent = [
        {**scan, "step_label": " ".join(STEP_LABELS.get(scan["step"], ("", "")))}
        for scan in request.session.get("warehouse_recent_scans", [])
    ]
    context = {
        "steps": [(value, *labels) for value, labels in STEP_LABELS.items()],
        "step": step if step in SCAN_STEPS else "print",
        "outcome": outcome,
        "recent": recent,
    }
    return render(request, "warehouse/scan.html", context, status=status)


@warehouse_page
@require_GET
def picklist(request: HttpRequest) -> HttpResponse:
    """Allocated orders to pick, by warehouse then region; ?warehouse=, ?province=, ?orders=NUM1,NUM2."""
    warehouse = request.GET.get("warehouse", "").strip()
    province = request.GET.get("province", "").strip()
    numbers_param = request.GET.get("orders", "").strip()
    numbers = [n.strip().upper() for n in numbers_param.split(",") if n.strip()] if numbers_param else None
    orders = orders_for_picklist(warehouse=warehouse, province=province, numbers=numbers, limit=PICKLIST_MAX_ORDERS + 1)
    truncated = len(orders) > PICKLIST_MAX_ORDERS
    orders = orders[:PICKLIST_MAX_ORDERS]
    listed = {order.number for order in orders}
    context = {
        "groups": picklist_group(orders),
        "order_count": len(orders),
        "truncated": truncated,
        "max_orders": PICKLIST_MAX_ORDERS,
        # Selected orders not listed: not (or no longer) waiting to be picked, or mistyped.
        "not_listed": [number for number in numbers or [] if number not in listed],
        "selected": numbers or [],
        "warehouse": warehouse,
        "province": province,
        "warehouses": warehouse_choices(),
        "printed_at": timezone.localtime(),
    }
    return render(request, "warehouse/picklist.html", context)


@warehouse_page
@require_GET
def labels(request: HttpRequest) -> HttpResponse:
    """?orders=NUM1,NUM2 → one PDF (inline) with the label of each order's waybill; re-printing gives the same
    numbers. Unknown orders or orders without a waybill are named in a plain-text 4xx answer."""
    numbers = _numbers(request.GET.get("orders", ""))
    if not numbers or len(numbers) > LABELS_MAX_ORDERS:
        message = _("Name 1 to %(n)d orders: ?orders=NUM1,NUM2") % {"n": LABELS_MAX_ORDERS}
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    orders, unknown = orders_by_numbers(numbers=numbers)
    if unknown:
        message = _("No order %(numbers)s.") % {"numbers": ", ".join(unknown)}
        return HttpResponse(message, status=404, content_type="text/plain; charset=utf-8")
    try:
        pdf = order_labels_pdf(orders=orders)
    except ApplicationError as refusal:
        return HttpResponse(refusal.message, status=refusal.http_status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"labels-{numbers[0]}{'-' + str(len(numbers)) if len(numbers) > 1 else ''}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response


@warehouse_page
@require_POST
def picklist_waybills(request: HttpRequest) -> HttpResponse:
    """拣货单 → 获取面单: waybills for the wave's orders (POST orders=NUM1,NUM2), then counts, failures with the
    carriers' reasons, and one PDF link with every label the wave has."""
    numbers = _numbers(request.POST.get("orders", ""))[:LABELS_MAX_ORDERS]
    orders, unknown = orders_by_numbers(numbers=numbers)
    batch = orders_waybills_obtain(orders=orders, actor=request.user, source=Source.ADMIN)
    failed_numbers = {number for number, _reason in batch.failed}
    with_waybill = [order.number for order in orders if order.number not in failed_numbers]
    context = {
        "ok_count": len(batch.ok),
        "failed": batch.failed,
        "unknown": unknown,
        "labels_url": labels_url(with_waybill) if with_waybill else "",
        "picklist_url": f"{reverse('warehouse:picklist')}?{urlencode({'orders': ','.join(numbers)}, safe=',')}",
    }
    return render(request, "warehouse/waybills.html", context)
