from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

admin.site.site_header = "OrderHub 订单协同中枢"
admin.site.site_title = "OrderHub"
admin.site.index_title = "订单协同中枢 · Order hub"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-rq/", include("django_rq.urls")),
    path("api/v1/", include("orders.urls")),
    path("api/v1/", include("rules.urls")),
    path("api/v1/", include("warehouse.api_urls")),
    # The API's shape is public (open-source product); every endpoint in it still needs a login or token.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "api/docs/", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]), name="api-docs"
    ),
    path(
        "api/redoc/", SpectacularRedocView.as_view(url_name="schema", permission_classes=[AllowAny]), name="api-redoc"
    ),
    path("warehouse/", include("warehouse.urls")),
    path("track/", include("logistics.urls")),
    path("", include("orders.site_urls")),
]
