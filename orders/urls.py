from django.urls import path

from orders import api

urlpatterns = [
    path("orders/", api.OrderListCreateApi.as_view(), name="api-orders"),
    path("orders/lookup/", api.OrderLookupApi.as_view(), name="api-order-lookup"),
    path("orders/<str:number>/", api.OrderDetailApi.as_view(), name="api-order-detail"),
    path("orders/<str:number>/trace/", api.OrderTraceApi.as_view(), name="api-order-trace"),
    path("orders/<str:number>/transitions/", api.OrderTransitionApi.as_view(), name="api-order-transition"),
    path("orders/<str:number>/payment/", api.OrderPaymentApi.as_view(), name="api-order-payment"),
]
