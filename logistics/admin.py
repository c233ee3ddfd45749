"""Carriers with their adapter, keys and state mapping; the parcel registry with each parcel's carrier events."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin, ServiceOwnedFieldsMixin
from logistics.models import Carrier, CarrierStateMapping, Shipment, TrackingEvent


class CarrierForm(forms.ModelForm):
    """Keys are typed in and never shown back; left empty, the stored key stays."""

    api_base_url = forms.URLField(
        label=_("API base URL"), required=False, assume_scheme="https", help_text=_("e.g. https://poll.kuaidi100.com")
    )

    class Meta:
        model = Carrier
        fields = (
            "code",
            "name",
            "adapter",
            "provider_code",
            "api_base_url",
            "api_customer",
            "api_key",
            "callback_secret",
            "stall_hours",
            "poll_minutes",
            "is_active",
        )
        widgets = {"api_key": forms.PasswordInput(), "callback_secret": forms.PasswordInput()}

    def clean_api_key(self):
        return self.cleaned_data["api_key"] or self.instance.api_key

    def clean_callback_secret(self):
        return self.cleaned_data["callback_secret"] or self.instance.callback_secret


class StateMappingInline(admin.TabularInline):
    model = CarrierStateMapping
    extra = 0
    verbose_name_plural = _("state mapping of this carrier (overrides the defaults)")


@admin.register(Carrier)
class CarrierAdmin(HistoryAdmin):
    form = CarrierForm
    list_display = ("code", "name", "adapter", "provider_code", "stall_hours", "poll_minutes", "is_active")
    list_filter = ("adapter", "is_active")
    search_fields = ("code", "name")
    inlines = [StateMappingInline]


@admin.register(CarrierStateMapping)
class CarrierStateMappingAdmin(HistoryAdmin):
    list_display = ("carrier_state", "label", "effect", "carrier")
    list_filter = ("effect", "carrier")
    search_fields = ("carrier_state", "label")


class TrackingEventInline(admin.TabularInline):
    model = TrackingEvent
    fields = ("occurred_at", "carrier_state", "description", "location", "received_via", "received_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Shipment)
class ShipmentAdmin(ServiceOwnedFieldsMixin, admin.ModelAdmin):
    list_display = (
        "tracking_number",
        "carrier",
        "order",
        "channel",
        "source",
        "carrier_state",
        "last_event_at",
        "stalled_since",
        "is_finished",
    )
    list_filter = ("carrier", "is_finished", ("stalled_since", admin.EmptyFieldListFilter), "source")
    search_fields = ("=tracking_number", "=order__number")
    list_select_related = ("carrier", "order", "channel")
    raw_id_fields = ("order",)
    service_owned_fields = tuple(f.name for f in Shipment._meta.fields)  # the parcel registry and carrier events
    inlines = [TrackingEventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
