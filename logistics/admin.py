"""Carriers with their adapter, keys and state mapping; the parcel registry with each parcel's carrier events."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin, ServiceOwnedFieldsMixin
from logistics.carriers import adapter_for
from logistics.models import Carrier, CarrierStateMapping, Shipment, TrackingEvent
from logistics.services import carrier_callback_secret_new, carrier_save

SECRET_FIELDS = ("api_key", "callback_secret")


class CarrierForm(forms.ModelForm):
    """Keys are typed in and never shown back; left empty, the stored key stays. A push adapter without a
    callback secret gets a generated one, shown once to the person saving (CarrierAdmin.save_model)."""

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated_secret = ""
        if "callback_secret" not in self.fields:  # a view-only form
            return
        if self.instance.callback_secret:
            help_text = _("A secret is set (never shown). Leave empty to keep it; type a new one to replace it.")
        else:
            help_text = _("Leave empty to have one generated for a push adapter; it is shown once after saving.")
        self.fields["callback_secret"].help_text = help_text

    def clean_api_key(self):
        return self.cleaned_data["api_key"] or self.instance.api_key

    def clean_callback_secret(self):
        return self.cleaned_data["callback_secret"] or self.instance.callback_secret

    def clean(self):
        cleaned = super().clean()
        if adapter_for(cleaned.get("adapter") or "").pushes and not cleaned.get("callback_secret"):
            # Never a push callback without a secret: make one now, the admin shows it once.
            self.generated_secret = cleaned["callback_secret"] = carrier_callback_secret_new()
        return cleaned


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

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not self.has_change_permission(request, obj):
            # A view-only page shows every field as text: never the keys, only whether they are set.
            fields = [field for field in fields if field not in SECRET_FIELDS] + ["keys_set"]
        return fields

    @admin.display(description=_("API key and callback secret"))
    def keys_set(self, obj: Carrier) -> str:
        return " / ".join(str(_("set (hidden)") if getattr(obj, field) else _("not set")) for field in SECRET_FIELDS)

    def save_model(self, request, obj, form, change):
        carrier_save(carrier=obj, actor=request.user)
        if form.generated_secret:
            callback = settings.ORDERHUB_PUBLIC_URL.rstrip("/") + reverse(
                "api-carrier-callback", kwargs={"carrier": obj.code}
            )
            messages.warning(
                request,
                gettext(
                    "Callback secret of %(carrier)s generated: %(secret)s — copy it now, it is not shown again. "
                    "Kuaidi100 receives it with each new subscription; a generic sender signs its pushes to "
                    "%(url)s with it."
                )
                % {"carrier": obj.name, "secret": form.generated_secret, "url": callback},
            )


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
        "parcel_index",
        "is_active",
        "waybill_state",
        "channel",
        "source",
        "carrier_state",
        "last_event_at",
        "stalled_since",
        "is_finished",
    )
    list_filter = (
        "carrier",
        "is_active",
        "waybill_state",
        "is_finished",
        ("stalled_since", admin.EmptyFieldListFilter),
        "source",
    )
    search_fields = ("=tracking_number", "=order__number", "=waybill_key")
    list_select_related = ("carrier", "order", "channel")
    raw_id_fields = ("order",)
    service_owned_fields = tuple(f.name for f in Shipment._meta.fields)  # the parcel registry and carrier events
    inlines = [TrackingEventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
