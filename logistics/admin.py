"""Carriers with their adapter, keys and state mapping; the parcel registry with each parcel's carrier events."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin, ServiceOwnedFieldsMixin
from config.exceptions import ApplicationError
from logistics.carriers import adapter_for
from logistics.models import (
    CARRIER_SECRET_FIELDS,
    Carrier,
    CarrierStateMapping,
    Shipment,
    TrackingEvent,
    WaybillNumberIssue,
    WaybillNumberRange,
)
from logistics.services import (
    carrier_callback_secret_new,
    carrier_save,
    waybill_number_range_check,
    waybill_number_range_save,
    waybills_cancel_retry,
)

SECRET_FIELDS = CARRIER_SECRET_FIELDS
WAYBILL_FIELDS = (
    "waybill_api_url",
    "waybill_secret",
    "waybill_partner_id",
    "waybill_partner_key",
    "waybill_partner_secret",
    "waybill_partner_name",
    "waybill_net",
    "waybill_code",
    "waybill_template_id",
    "waybill_pay_type",
    "waybill_express_type",
    "label_paper",
)


class CarrierForm(forms.ModelForm):
    """Keys are typed in and never shown back; left empty, the stored key stays. A push adapter without a
    callback secret gets a generated one, shown once to the person saving (CarrierAdmin.save_model)."""

    api_base_url = forms.URLField(
        label=_("API base URL"), required=False, assume_scheme="https", help_text=_("e.g. https://poll.kuaidi100.com")
    )
    waybill_api_url = forms.URLField(
        label=_("waybill API URL"),
        required=False,
        assume_scheme="https",
        help_text=_("e.g. https://api.kuaidi100.com/label/order"),
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
            *WAYBILL_FIELDS,
            "is_active",
        )
        widgets = {name: forms.PasswordInput() for name in SECRET_FIELDS}

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
        for name in SECRET_FIELDS:
            if name != "callback_secret" and name in self.fields and getattr(self.instance, name):
                self.fields[name].help_text = _(
                    "Set (never shown). Leave empty to keep it; type a new one to replace it."
                )

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:  # left empty: the stored secret stays (it is never sent to the page)
            if name in self.fields and not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name)
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

    @admin.display(description=_("keys and secrets"))
    def keys_set(self, obj: Carrier) -> str:
        return " / ".join(
            f"{Carrier._meta.get_field(field).verbose_name}: "
            + str(_("set (hidden)") if getattr(obj, field) else _("not set"))
            for field in SECRET_FIELDS
        )

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


class WaybillNumberRangeForm(forms.ModelForm):
    class Meta:
        model = WaybillNumberRange
        fields = ("carrier", "prefix", "first_number", "last_number", "width", "is_active")

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            waybill_number_range_check(number_range=self.instance)
        except ApplicationError as refusal:
            field = refusal.extra.get("field")
            self.add_error(field if field in self.fields else None, refusal.message)


@admin.register(WaybillNumberRange)
class WaybillNumberRangeAdmin(HistoryAdmin):
    """A seller's pre-bought numbers (号段). Where it starts and how numbers look is fixed once saved: numbers
    already handed out must never come again."""

    form = WaybillNumberRangeForm
    list_display = ("__str__", "carrier", "next_display", "remaining", "is_active", "created_at")
    list_filter = ("carrier", "is_active")
    search_fields = ("prefix", "carrier__code", "carrier__name")
    list_select_related = ("carrier",)
    readonly_fields = ("next_display", "remaining")
    service_owned_fields = ("next_number",)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += [f for f in ("carrier", "prefix", "first_number", "width") if f not in readonly]
        return readonly

    @admin.display(description=_("next number"))
    def next_display(self, obj: WaybillNumberRange) -> str:
        return obj.number(obj.next_number) if obj.pk and obj.remaining else "—"

    @admin.display(description=_("numbers left"))
    def remaining(self, obj: WaybillNumberRange) -> int:
        return obj.remaining if obj.pk else 0

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its numbers may be on parcels; switch it off instead

    def save_model(self, request, obj, form, change):
        waybill_number_range_save(number_range=obj, actor=request.user)


@admin.register(WaybillNumberIssue)
class WaybillNumberIssueAdmin(ServiceOwnedFieldsMixin, admin.ModelAdmin):
    list_display = ("tracking_number", "key", "carrier", "number_range", "created_at", "cancelled_at")
    list_filter = ("carrier", ("cancelled_at", admin.EmptyFieldListFilter))
    search_fields = ("=tracking_number", "key")
    list_select_related = ("carrier", "number_range")
    date_hierarchy = "created_at"
    service_owned_fields = tuple(f.name for f in WaybillNumberIssue._meta.fields)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
        "last_error",
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
    actions = ["retry_waybill_cancel"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_waybill_cancel_permission(self, request) -> bool:
        return request.user.has_perm("logistics.retry_waybill_cancel")

    @admin.action(description=_("Retry cancelling the waybill"), permissions=["retry_waybill_cancel"])
    def retry_waybill_cancel(self, request, queryset):
        """Ask the carrier again now for the selected waybills whose cancel failed (the service skips others)."""
        outcomes = waybills_cancel_retry(shipments=queryset, actor=request.user)
        reports = (
            ("cancelled", messages.SUCCESS, gettext("%(n)d waybill(s) cancelled at the carrier.")),
            ("refused", messages.ERROR, gettext("%(n)d refused by the carrier again: see each parcel's last error.")),
            ("unavailable", messages.WARNING, gettext("%(n)d could not reach the carrier: try again later.")),
            ("skipped", messages.INFO, gettext("%(n)d skipped: only waybills whose cancel failed are retried.")),
        )
        for outcome, level, text in reports:
            if outcomes.get(outcome):
                self.message_user(request, text % {"n": outcomes[outcome]}, level)
