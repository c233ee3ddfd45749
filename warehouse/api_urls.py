from django.urls import path

from warehouse import api

urlpatterns = [
    path("stock/", api.StockListApi.as_view(), name="api-stock"),
    path("stock/adjustments/", api.StockAdjustmentApi.as_view(), name="api-stock-adjust"),
    path("stock/movements/", api.StockMovementListApi.as_view(), name="api-stock-movements"),
]
