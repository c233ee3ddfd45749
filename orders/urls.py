from django.urls import path

from orders import api, api_channels, api_tracking

urlpatterns = [
    path("orders/", api.OrderListCreateApi.as_view(), name="api-orders"),
    path("orders/lookup/", api.OrderLookupApi.as_view(), name="api-order-lookup"),
    path("orders/<str:number>/", api.OrderDetailApi.as_view(), name="api-order-detail"),
    path("orders/<str:number>/trace/", api.OrderTraceApi.as_view(), name="api-order-trace"),
    path("orders/<str:number>/transitions/", api.OrderTransitionApi.as_view(), name="api-order-transition"),
    path("orders/<str:number>/payment/", api.OrderPaymentApi.as_view(), name="api-order-payment"),
    # Carriers push here; the URL keeps its place under logistics/ (carriers are subscribed to it).
    path("logistics/callback/<slug:carrier>/", api_tracking.CarrierCallbackApi.as_view(), name="api-carrier-callback"),
    path("channels/<slug:code>/webhook/", api_channels.channel_webhook, name="api-channel-webhook"),
    path(
        "channels/<slug:code>/webhook/<str:webhook_id>/",
        api_channels.channel_webhook_outcome,
        name="api-channel-webhook-outcome",
    ),
]
