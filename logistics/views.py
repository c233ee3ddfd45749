"""The customer's public tracking page: look an order up by number + last 4 phone digits, or open a signed link."""

import hashlib
import time

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from config.security import client_ip
from logistics.certificate import certificate_pdf
from logistics.models import TrackingLookupCount
from logistics.selectors import tracking_order_find, tracking_order_from_token, tracking_view
from logistics.services import tracking_lookup_count
from orders.models import Status

NOT_FOUND = "未找到匹配的订单，请检查单号和手机尾号 / No matching order: check the number and the last 4 digits"
BAD_INPUT = (
    "请输入订单号或运单号，以及收件人手机号后 4 位数字 / Enter the order or tracking number and the last 4 digits"
)
TOO_MANY = "查询次数过多，请 10 分钟后再试 / Too many attempts: please try again in 10 minutes"


class TrackForm(forms.Form):
    number = forms.CharField(max_length=64, strip=True)
    last4 = forms.RegexField(regex=r"^\d{4}$", strip=True)


def _hit(scope: str, value: str) -> int:
    """Count one attempt in the current fixed window of `scope`/`value`; returns the count including this one."""
    window = settings.ORDERHUB_TRACK_WINDOW_SECONDS
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    key = f"track:rl:{scope}:{digest}:{int(time.time()) // window}"
    cache.add(key, 0, timeout=window + 60)
    try:
        return cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.add(key, 1, timeout=window + 60)
        return 1


def _rate_limited(request: HttpRequest) -> bool:
    """Counts this POST against the client IP and the looked-up number (failed and successful alike)."""
    number = "".join(request.POST.get("number", "").split()).upper()[:64]
    over = _hit("ip", client_ip(request)) > settings.ORDERHUB_TRACK_ATTEMPTS
    if number:
        over = _hit("number", number) > settings.ORDERHUB_TRACK_ATTEMPTS or over
    return over


def _form_page(request: HttpRequest, *, message: str = "", status: int = 200, form=None) -> HttpResponse:
    # The typed values are not echoed back: a wrong number and a wrong phone give byte-identical pages.
    return render(
        request,
        "tracking/track.html",
        {"form": form or TrackForm(), "message": message, "support_contact": settings.ORDERHUB_SUPPORT_CONTACT},
        status=status,
    )


def _order_page(request: HttpRequest, order) -> HttpResponse:
    view = tracking_view(order)
    return render(request, "tracking/order.html", {"view": view, "support_contact": view.support_contact})


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def track(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _form_page(request)
    # Every lookup is counted once, by how it ended (客户自助查单成功率 in reports); opening the empty form is not.
    page, outcome = TrackingLookupCount.Door.PAGE, TrackingLookupCount.Outcome
    if _rate_limited(request):
        tracking_lookup_count(door=page, outcome=outcome.RATE_LIMITED)
        return _form_page(request, message=TOO_MANY, status=429)
    form = TrackForm(request.POST)
    if not form.is_valid():
        tracking_lookup_count(door=page, outcome=outcome.INVALID)
        return _form_page(request, message=BAD_INPUT, status=400)
    order = tracking_order_find(number=form.cleaned_data["number"], last4=form.cleaned_data["last4"])
    if order is None:
        tracking_lookup_count(door=page, outcome=outcome.NOT_FOUND)
        return _form_page(request, message=NOT_FOUND, status=404)
    tracking_lookup_count(door=page, outcome=outcome.FOUND)
    return _order_page(request, order)


@never_cache
@require_http_methods(["GET"])
def track_link(request: HttpRequest, token: str) -> HttpResponse:
    order = tracking_order_from_token(token=token)
    outcome = TrackingLookupCount.Outcome.NOT_FOUND if order is None else TrackingLookupCount.Outcome.FOUND
    tracking_lookup_count(door=TrackingLookupCount.Door.LINK, outcome=outcome)
    if order is None:
        return _form_page(request, message=NOT_FOUND, status=404)
    return _order_page(request, order)


@never_cache
@require_http_methods(["GET"])
def track_certificate(request: HttpRequest, token: str) -> HttpResponse:
    """The fulfilment certificate PDF of a delivered order, behind the same signed token as the SMS link."""
    order = tracking_order_from_token(token=token)
    if order is None or order.status != Status.DELIVERED:
        raise Http404("No delivered order for this link")
    response = HttpResponse(certificate_pdf(order=order), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="certificate-{order.number}.pdf"'
    return response
