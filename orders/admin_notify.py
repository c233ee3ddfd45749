"""Notifications in the admin: channels (运营主管 configures them; secrets typed in, never shown back, as the
carriers' keys), each person's settings, group routes, message templates with a preview against a real order,
and the delivery log (read-only; 客服 and 运营主管 read it) with 重新发送 for dead rows."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin
from orders.admin_outbox import DeliveryLogAdmin, SecretsHiddenWhenViewOnly, SecretsKeptForm
from orders.models import (
    NOTIFICATION_SECRET_FIELDS,
    MessageTemplate,
    Notification,
    NotificationChannel,
    NotificationGroupRoute,
    NotificationSettings,
    Order,
)
from orders.notify_texts import PLACEHOLDERS, required_placeholders, template_check
from orders.services.notify import message_template_preview, notify_config_save
from orders.services.notify_delivery import notifications_retry


class NotificationChannelForm(SecretsKeptForm):
    secret_fields = NOTIFICATION_SECRET_FIELDS
    url = forms.URLField(
        label=_("webhook / gateway URL"),
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text=_("e.g. https://oapi.dingtalk.com/robot/send?access_token=… or the SMS gateway's URL"),
    )

    class Meta:
        model = NotificationChannel
        fields = (
            "name",
            "kind",
            "url",
            "secret",
            "access_key_id",
            "access_key_secret",
            "sms_adapter",
            "sms_sign_name",
            "rate_per_minute",
            "max_attempts",
            "timeout_seconds",
            "sms_daily_per_number",
            "sms_daily_per_template",
            "is_active",
        )


@admin.register(NotificationChannel)
class NotificationChannelAdmin(SecretsHiddenWhenViewOnly, HistoryAdmin):
    form = NotificationChannelForm
    secret_fields = NOTIFICATION_SECRET_FIELDS
    list_display = ("name", "kind", "url", "rate_per_minute", "max_attempts", "blocked_until", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "url")
    readonly_fields = ("blocked_until",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its log keeps it (switch it off instead)

    def save_model(self, request, obj, form, change):
        notify_config_save(obj=obj, actor=request.user)


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(HistoryAdmin):
    list_display = ("user", "email", "mobile", "quiet_from", "quiet_until", "notify_critical", "is_active")
    list_filter = ("is_active", "notify_info", "notify_warning", "notify_critical", "channels")
    search_fields = ("user__username", "email", "mobile")
    filter_horizontal = ("channels",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":  # a plain list of active staff: the user admin is not the ops manager's
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        notify_config_save(obj=obj, actor=request.user)


@admin.register(NotificationGroupRoute)
class NotificationGroupRouteAdmin(HistoryAdmin):
    list_display = ("group", "channel", "notify_members")
    list_filter = ("group", "channel", "notify_members")
    search_fields = ("group__name", "channel__name")

    def save_model(self, request, obj, form, change):
        notify_config_save(obj=obj, actor=request.user)


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ("key", "title", "body", "sms_template_code")
        help_texts = {
            "body": _("Placeholders: %(names)s. An alert's text must use {message}; a customer notice {order_number}.")
            % {"names": " ".join(f"{{{n}}}" for n in PLACEHOLDERS)}
        }

    def clean(self):
        cleaned = super().clean()
        key, body = cleaned.get("key"), cleaned.get("body")
        if key and body is not None:
            try:
                template_check(key=key, body=body)
            except ValidationError as exc:
                self.add_error("body", exc)
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(HistoryAdmin):
    form = MessageTemplateForm
    list_display = ("key", "title", "body", "sms_template_code")
    search_fields = ("key", "title", "body")
    readonly_fields = ("required", "preview")

    @admin.display(description=_("required placeholders"))
    def required(self, obj: MessageTemplate) -> str:
        return " ".join(f"{{{n}}}" for n in sorted(required_placeholders(obj.key)))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:  # the order the preview uses: ?order=<number>, else the newest
            obj.preview_number = request.GET.get("order", "").strip()
        return obj

    @admin.display(description=_("preview"))
    def preview(self, obj: MessageTemplate) -> str:
        if not obj.pk:
            return gettext("保存后可预览。 Saved templates are previewed against a real order.")
        number = getattr(obj, "preview_number", "")
        order = Order.objects.filter(number=number).first() if number else Order.objects.order_by("-created_at").first()
        if order is None:
            return gettext("没有订单可预览。 No order to preview with (add ?order=<number> to the address).")
        text = message_template_preview(key=obj.key, body=obj.body, title=obj.title, order=order)
        return gettext(
            "订单 %(number)s：%(text)s （换一个订单：在地址后加 ?order=<订单号> / another order: ?order=<number>）"
        ) % {
            "number": order.number,
            "text": text,
        }

    def save_model(self, request, obj, form, change):
        notify_config_save(obj=obj, actor=request.user)


@admin.register(Notification)
class NotificationAdmin(DeliveryLogAdmin):
    """The delivery log: every message, whether it went, and what the channel answered. Only the notification
    services write it; a dead row is put back by 重新发送."""

    list_display = (
        "created_at",
        "channel",
        "recipient",
        "state",
        "errcode",
        "errmsg",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "digest",
        "alert",
        "order",
        "notice_kind",
    )
    list_filter = ("state", "channel", "channel__kind", "notice_kind", "is_digest", "severity")
    list_select_related = ("channel", "order", "alert", "digest")
    search_fields = ("=dedupe_key", "recipient", "=order__number", "errcode", "body")
    raw_id_fields = ("order", "alert", "digest")
    date_hierarchy = "created_at"
    # The channel as text (its page is for those who configure channels, 客服 may not open it); who, as the
    # recipient's address (the user's own page is for those who manage users).
    fields = (
        "channel_name",
        "recipient",
        "state",
        "errcode",
        "errmsg",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "is_digest",
        "digest",
        "alert",
        "order",
        "notice_kind",
        "template_key",
        "severity",
        "title",
        "body",
        "params",
        "dedupe_key",
        "created_at",
    )
    readonly_fields = ("created_at", "channel_name")
    service_owned_fields = tuple(f.name for f in Notification._meta.fields)
    actions = ["retry"]

    @admin.display(description=_("channel"))
    def channel_name(self, obj: Notification) -> str:
        return str(obj.channel or "—")

    retry_permission = "orders.retry_notification"

    @admin.action(description=_("Send again"), permissions=["retry"])
    def retry(self, request, queryset):
        self.dead_rows_retry(
            request,
            queryset,
            service=lambda rows, actor: notifications_retry(notifications=rows, actor=actor),
            retried=gettext("%(n)d notification(s) put back: they are sent again now."),
            skipped=gettext("%(n)d skipped: only dead notifications are sent again."),
        )
