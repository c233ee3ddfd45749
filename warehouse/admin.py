from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from warehouse.models import Sku, Warehouse


@admin.register(Sku)
class SkuAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "spec", "unit", "category", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("code", "name")


@admin.register(Warehouse)
class WarehouseAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "province", "city", "daily_capacity", "is_active")
    list_filter = ("province", "is_active")
    search_fields = ("code", "name")
