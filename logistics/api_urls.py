from django.urls import path

from logistics import api

urlpatterns = [
    path("logistics/callback/<slug:carrier>/", api.CarrierCallbackApi.as_view(), name="api-carrier-callback"),
]
