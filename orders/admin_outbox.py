"""The outbox in the admin: ERP endpoints (运营主管 configures them), each channel's ship confirmation (an inline
on the channel's page), and the outbox messages with 重新推送 for dead letters (客服 sees them).

Secrets are typed in and never shown back, as the carriers' keys (logistics/admin.py): a password input, left
empty the stored one stays, and a view-only page shows only whether each is set."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin, ServiceOwnedFieldsMixin
from config.exceptions import ApplicationError
from orders.models import (
    ERP_SECRET_FIELDS,
    SHIP_CONFIRM_SECRET_FIELDS,
    ErpEndpoint,
    OutboxMessage,
    ShipConfirmSettings,
    Status,
)
from orders.services.outbox import erp_endpoint_problems, erp_endpoint_save
from orders.services.outbox_delivery import outbox_messages_retry


class SecretsKeptForm(forms.ModelForm):
    """Secret fields as password inputs, never filled in; left empty, the stored secret stays."""

    secret_fields: tuple[str, ...] = ()
    required_secrets: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name not in self.fields:  # a view-only form
                continue
            self.fields[name].widget = forms.PasswordInput()
            if getattr(self.instance, name):
                self.fields[name].help_text = _(
                    "Set (never shown). Leave empty to keep it; type a new one to replace it."
                )

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:  # left empty: the stored secret stays (it is never sent to the page)
            if name in self.fields and not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name)
                setattr(self.instance, name, cleaned[name])
        for name in self.required_secrets:
            if name in self.fields and not cleaned.get(name) and not self.has_error(name):
                self.add_error(name, _("A secret is required: the receiver checks the signature with it."))
        return cleaned


class SecretsHiddenWhenViewOnly:
    """A view-only page shows every field as text: never the secrets (`secret_fields`), only whether they are set."""

    secret_fields: tuple[str, ...] = ()

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not self.has_change_permission(request, obj):
            fields = [field for field in fields if field not in self.secret_fields] + ["secrets_display"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "secrets_display"] if not self.has_change_permission(request, obj) else readonly

    @admin.display(description=_("secrets"))
    def secrets_display(self, obj) -> str:
        return " / ".join(
            f"{obj._meta.get_field(name).verbose_name}: "
            + str(_("set (hidden)") if getattr(obj, name) else _("not set"))
            for name in self.secret_fields
        )


class ErpEndpointForm(SecretsKeptForm):
    secret_fields = ERP_SECRET_FIELDS
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("e.g. https://qimen.api.taobao.com/router/qimen/service or the Jushuitan upload URL"),
    )
    subscribed_statuses = forms.MultipleChoiceField(
        label=_("status changes pushed"),
        choices=Status.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Every accepted order is pushed; tick the statuses whose entry is pushed too."),
    )

    class Meta:
        model = ErpEndpoint
        fields = (
            "name",
            "kind",
            "url",
            "app_key",
            "secret",
            "qimen_customer_id",
            "qimen_warehouse_code",
            "qimen_owner_code",
            "jst_access_token",
            "jst_shop_id",
            "subscribed_statuses",
            "max_attempts",
            "timeout_seconds",
            "is_active",
        )

    def _post_clean(self):
        super()._post_clean()
        for name, message in erp_endpoint_problems(self.instance).items():
            if name in self.fields and not self.has_error(name):
                self.add_error(name, message)


@admin.register(ErpEndpoint)
class ErpEndpointAdmin(SecretsHiddenWhenViewOnly, HistoryAdmin):
    form = ErpEndpointForm
    secret_fields = ERP_SECRET_FIELDS
    list_display = ("name", "kind", "url", "subscribed_display", "max_attempts", "timeout_seconds", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "url", "app_key")

    @admin.display(description=_("status changes pushed"))
    def subscribed_display(self, obj: ErpEndpoint) -> str:
        labels = dict(Status.choices)
        return ", ".join(str(labels.get(s, s)) for s in obj.subscribed_statuses or []) or "—"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its messages keep it (switch it off instead)

    def save_model(self, request, obj, form, change):
        erp_endpoint_save(endpoint=obj, actor=request.user)


class ShipConfirmSettingsForm(SecretsKeptForm):
    secret_fields = SHIP_CONFIRM_SECRET_FIELDS
    required_secrets = SHIP_CONFIRM_SECRET_FIELDS
    url = forms.URLField(label=_("connector URL"), max_length=500, assume_scheme="https")

    class Meta:
        model = ShipConfirmSettings
        fields = ("url", "secret", "confirm_at", "max_attempts", "timeout_seconds", "is_active")


class ShipConfirmSettingsInline(SecretsHiddenWhenViewOnly, admin.StackedInline):
    """On the channel's page: where and when the channel is told its orders shipped (发货回传)."""

    model = ShipConfirmSettings
    form = ShipConfirmSettingsForm
    secret_fields = SHIP_CONFIRM_SECRET_FIELDS
    extra = 0
    max_num = 1
    verbose_name_plural = _("ship confirmation to this channel (发货回传)")


class DeliveryLogAdmin(ServiceOwnedFieldsMixin, admin.ModelAdmin):
    """A log only a delivery service writes (outbox messages, notifications): read-only, and its dead rows put back
    by a retry action that calls the service. Subclasses name `retry_permission` and call `dead_rows_retry` from
    their own action (its label is theirs)."""

    retry_permission = ""  # "app_label.codename"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # nothing on the row is edited by hand

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(self.retry_permission)

    def dead_rows_retry(self, request, queryset, *, service, retried: str, skipped: str) -> None:
        """`service(rows, actor)` puts back the dead rows among those selected and returns how many."""
        try:
            count = service(queryset, request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        left = queryset.count() - count
        if count:
            self.message_user(request, retried % {"n": count}, messages.SUCCESS)
        if left:
            self.message_user(request, skipped % {"n": left}, messages.INFO)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(DeliveryLogAdmin):
    """What the hub told (or still owes) the ERP and the channels. Only the delivery service writes these rows;
    a dead letter is put back by 重新推送."""

    list_display = (
        "created_at",
        "idempotency_key",
        "kind",
        "receiver",
        "order",
        "sequence",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    )
    list_filter = ("state", "kind", "endpoint", "channel")
    list_select_related = ("endpoint", "channel", "order")
    search_fields = ("=idempotency_key", "=order__number", "=order__channel_order_no")
    raw_id_fields = ("order",)
    date_hierarchy = "created_at"
    # The receiver as text: the endpoint's own page is for those who configure endpoints (客服 may not open it).
    fields = (
        "idempotency_key",
        "kind",
        "receiver",
        "order",
        "sequence",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "last_answer",
        "payload",
        "created_at",
    )
    readonly_fields = ("created_at", "receiver")
    service_owned_fields = tuple(f.name for f in OutboxMessage._meta.fields)
    actions = ["retry"]

    @admin.display(description=_("receiver"))
    def receiver(self, obj: OutboxMessage) -> str:
        return str(obj.endpoint or obj.channel or "—")

    retry_permission = "orders.retry_outboxmessage"

    @admin.action(description=_("Push again"), permissions=["retry"])
    def retry(self, request, queryset):
        """Put the selected dead letters back in the queue (the service leaves the others as they are)."""
        self.dead_rows_retry(
            request,
            queryset,
            service=lambda rows, actor: outbox_messages_retry(messages=rows, actor=actor),
            retried=gettext("%(n)d message(s) put back: they are pushed again now."),
            skipped=gettext("%(n)d skipped: only dead letters are pushed again."),
        )
