"""Who is asking: the client address behind our own proxy, and the page a locked-out login gets (django-axes)."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the header ORDERHUB_CLIENT_IP_HEADER names when a proxy we run sets it (e.g. nginx's
    X-Real-IP). Used by the tracking page's rate limit and the admin login lockout alike."""
    header = settings.ORDERHUB_CLIENT_IP_HEADER
    ip = request.META.get(header, "") if header else ""
    return (ip.split(",")[0].strip() or request.META.get("REMOTE_ADDR", ""))[:64]


def login_lockout_response(
    request: HttpRequest, original_response=None, credentials: dict | None = None
) -> HttpResponse:
    """The admin-styled page for a user and address locked out after too many wrong passwords (429)."""
    username = str((credentials or {}).get("username") or request.POST.get("username") or "")[:150]
    context = {
        **admin.site.each_context(request),
        "title": "",
        "username": username,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    return render(request, "admin/lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
