from django.urls import path

from warehouse import views

app_name = "warehouse"

urlpatterns = [
    path("scan/", views.scan_station, name="scan"),
    path("picklist/", views.picklist, name="picklist"),
    path("picklist/waybills/", views.picklist_waybills, name="picklist_waybills"),
    path("labels/", views.labels, name="labels"),
]
