from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from logistics.models import Carrier


@admin.register(Carrier)
class CarrierAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")
