"""Channel setup (arrival, webhook secrets, the field mapping tried on a sample) and the intake log (deliveries,
one record per reported order, refused webhook deliveries, replay)."""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin, ReadOnlyAdmin
from config.exceptions import ApplicationError
from orders import selectors
from orders.admin_outbox import ShipConfirmSettingsInline
from orders.admin_pulls import ChannelBackfillInline, ChannelPullInline
from orders.channels import signing
from orders.channels.mapping import ORDER_FIELDS, default_mapping, mapping_problems
from orders.drafts import ChannelEvent
from orders.models import CHANNEL_SECRET_FIELDS, Channel, InboxDelivery, IntakeRecord, WebhookRefusal
from orders.services.channel_inbox import KEPT_HEADERS, inbox_delivery_replay
from orders.services.channel_setup import channel_mapping_try, channel_save

MAP_PREFIX = "map_"
SETTING_FIELDS = ("orders_path", "amounts", "time_format", "time_zone", "status_map", "refund_map")


def status_map_text(status_map: dict) -> str:
    return "\n".join(f"{code} = {event}" for code, event in status_map.items())


def status_map_parse(text: str) -> dict:
    """`their code = our event`, one a line; raises ValidationError naming the bad line."""
    result = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        code, sep, event = line.partition("=")
        if not sep or not code.strip() or not event.strip():
            raise ValidationError(
                _("Line %(n)s: write 'their code = our event', e.g. WAIT_SELLER_SEND_GOODS = paid."),
                params={"n": number},
            )
        result[code.strip()] = event.strip()
    return result


def _path_inputs() -> dict:
    """One labelled input per our field, holding THEIR dotted path (declared, so the admin knows them)."""
    return {
        MAP_PREFIX + name: forms.CharField(
            label=label, required=False, help_text=_("required") if required else "", max_length=200
        )
        for name, (label, required) in ORDER_FIELDS.items()
    }


class ChannelFormBase(forms.ModelForm):
    """One labelled input per our field holding THEIR dotted path; the mapping is stored as JSON. Secrets are
    typed in and never shown back (left empty, the stored one stays); a webhook channel without a secret gets
    one generated, shown once after saving. The 试运行 button maps the pasted sample and saves nothing."""

    orders_path = forms.CharField(
        label=_("orders list path"),
        required=False,
        help_text=_("Where the list of orders is in a batch delivery, e.g. data.orders; empty: one order."),
    )
    amounts = forms.ChoiceField(
        label=_("amounts in"), choices=[("yuan", _("yuan (元)")), ("fen", _("fen (分)"))], initial="yuan"
    )
    time_format = forms.ChoiceField(
        label=_("time format"),
        choices=[
            ("text", _("text (2026-12-01 10:00:00)")),
            ("unix", _("unix seconds")),
            ("unix_ms", _("unix milliseconds")),
        ],
        initial="text",
    )
    time_zone = forms.CharField(
        label=_("time zone"),
        initial="Asia/Shanghai",
        help_text=_("For text times that carry no offset."),
    )
    status_map = forms.CharField(
        label=_("status codes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text=_("One a line: their code = our event (%(events)s).")
        % {"events": ", ".join(event.value for event in ChannelEvent)},
    )
    refund_map = forms.CharField(
        label=_("refund status codes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_(
            "When the platform reports the after-sale state in a field of its own (refund status code): one a line, "
            "their code = our event; a code listed wins over the status code."
        ),
    )
    sample = forms.CharField(
        label=_("sample payload"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "class": "vLargeTextField"}),
        help_text=_("Paste a delivery as the channel sends it, then press 试运行 Try on sample: nothing is saved."),
    )

    class Meta:
        model = Channel
        fields = ("code", "name", "kind", "is_active", "shop_name", "shop_id", "arrival", *CHANNEL_SECRET_FIELDS)
        widgets = {name: forms.PasswordInput() for name in CHANNEL_SECRET_FIELDS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated_secret = ""
        self.trial = None
        mapping = self.instance.field_mapping or default_mapping(self.instance.kind or Channel.Kind.OTHER)
        paths = mapping.get("fields") or {}
        for name in ORDER_FIELDS:
            if MAP_PREFIX + name in self.fields:
                self.fields[MAP_PREFIX + name].initial = paths.get(name, "")
        for name in ("orders_path", "amounts", "time_format", "time_zone"):
            if name in self.fields:
                self.fields[name].initial = mapping.get(name) or self.fields[name].initial
        for name in ("status_map", "refund_map"):
            if name in self.fields:
                self.fields[name].initial = status_map_text(mapping.get(name) or {})
        for name in CHANNEL_SECRET_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = (
                    _("Set (never shown). Leave empty to keep it; type a new one to replace it.")
                    if getattr(self.instance, name)
                    else _("whsec_<base64>. Left empty on a webhook channel, one is generated and shown once.")
                )

    def clean_status_map(self):
        return status_map_parse(self.cleaned_data.get("status_map") or "")

    def clean_refund_map(self):
        return status_map_parse(self.cleaned_data.get("refund_map") or "")

    def mapping(self) -> dict:
        cleaned = self.cleaned_data
        paths = {name: (cleaned.get(MAP_PREFIX + name) or "").strip() for name in ORDER_FIELDS}
        if not any(paths.values()) and not cleaned.get("orders_path"):
            return default_mapping(cleaned.get("kind") or Channel.Kind.OTHER)  # all empty: the kind's default
        return {
            "orders_path": (cleaned.get("orders_path") or "").strip(),
            "fields": {name: path for name, path in paths.items() if path},
            "amounts": cleaned.get("amounts") or "yuan",
            "time_format": cleaned.get("time_format") or "text",
            "time_zone": (cleaned.get("time_zone") or "").strip() or "Asia/Shanghai",
            "status_map": cleaned.get("status_map") or {},
            **({"refund_map": cleaned["refund_map"]} if cleaned.get("refund_map") else {}),
        }

    def clean(self):
        cleaned = super().clean()
        for name in CHANNEL_SECRET_FIELDS:  # left empty: the stored secret stays (it is never sent to the page)
            if name in self.fields and not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name)
            elif cleaned.get(name) and not signing.secret_valid(cleaned[name]):
                self.add_error(name, _("A signing secret is spelled whsec_ followed by at least 16 bytes in base64."))
        if self.errors:
            return cleaned
        mapping = self.mapping()
        problems = mapping_problems(mapping)
        for key, message in problems:
            target = MAP_PREFIX + key if key in ORDER_FIELDS else key if key in SETTING_FIELDS else None
            self.add_error(target, message)
        if problems:
            return cleaned
        self.instance.field_mapping = mapping
        if "_try" in self.data:
            self.trial = channel_mapping_try(
                channel_code=cleaned.get("code") or "", mapping=mapping, sample=cleaned.get("sample") or ""
            )
            # Stop here: the page shows what the sample would create, and nothing is saved.
            raise ValidationError(gettext("试运行 Trial run only: nothing was saved. The result is below."))
        if cleaned.get("arrival") in (Channel.Arrival.WEBHOOK, Channel.Arrival.BOTH) and not cleaned.get(
            "webhook_secret"
        ):
            self.generated_secret = cleaned["webhook_secret"] = signing.secret_new()
        return cleaned


ChannelForm = type("ChannelForm", (ChannelFormBase,), _path_inputs())


@admin.register(Channel)
class ChannelAdmin(HistoryAdmin):
    service_owned_fields = ()  # all set up here; the mapping through its inputs, checked by channel_save
    form = ChannelForm
    change_form_template = "admin/orders/channel/change_form.html"
    list_display = ("code", "name", "kind", "shop_name", "arrival", "is_active")
    list_filter = ("kind", "arrival", "is_active")
    search_fields = ("code", "name", "shop_name", "shop_id")
    readonly_fields = ("webhook_url", "secrets_set", "mapping_table", "intake_stats")
    inlines = [
        ChannelPullInline,
        ChannelBackfillInline,
        ShipConfirmSettingsInline,
    ]  # pull settings and state, backfills, 发货回传

    def get_fieldsets(self, request, obj=None):
        base = ("code", "name", "kind", "is_active", "shop_name", "shop_id")
        if not self.has_change_permission(request, obj):
            # A view-only page: every field as text, never the secrets, only whether they are set.
            sets = [
                (None, {"fields": base}),
                (_("Arrival and webhook"), {"fields": ("arrival", "webhook_url", "secrets_set")}),
                (_("Field mapping"), {"fields": ("mapping_table",)}),
            ]
        else:
            sets = [
                (None, {"fields": base}),
                (
                    _("Arrival and webhook"),
                    {"fields": ("arrival", *CHANNEL_SECRET_FIELDS, *(("webhook_url",) if obj else ()))},
                ),
                (
                    _("Field mapping: their dotted path for each of our fields"),
                    {
                        "fields": ("orders_path", "amounts", "time_format", "time_zone"),
                        "description": _(
                            "Each input holds THEIR path, e.g. receiver_info.mobile or items.0.sku; the line paths "
                            "are read inside each element of the lines list. Leave every path empty to start from "
                            "the channel kind's default."
                        ),
                    },
                ),
                (_("Our fields"), {"fields": tuple(MAP_PREFIX + name for name in ORDER_FIELDS)}),
                (_("Status codes"), {"fields": ("status_map", "refund_map")}),
                (_("试运行 Try on a sample"), {"fields": ("sample",)}),
            ]
        if obj is not None:
            sets.append((_("Intake: today and 7 days"), {"fields": ("intake_stats",)}))
        return sets

    @admin.display(description=_("webhook URL"))
    def webhook_url(self, obj: Channel) -> str:
        if not obj.pk:
            return "—"
        return settings.ORDERHUB_PUBLIC_URL.rstrip("/") + reverse("api-channel-webhook", kwargs={"code": obj.code})

    @admin.display(description=_("signing secrets"))
    def secrets_set(self, obj: Channel) -> str:
        return " / ".join(
            f"{Channel._meta.get_field(name).verbose_name}: "
            + str(_("set (hidden)") if getattr(obj, name) else _("not set"))
            for name in CHANNEL_SECRET_FIELDS
        )

    @admin.display(description=_("field mapping"))
    def mapping_table(self, obj: Channel):
        mapping = obj.field_mapping or default_mapping(obj.kind)
        paths = mapping.get("fields") or {}
        rows = [(label, paths.get(name) or "—") for name, (label, _required) in ORDER_FIELDS.items()]
        rows += [
            (gettext("orders list path"), mapping.get("orders_path") or "—"),
            (gettext("amounts in"), mapping.get("amounts") or "yuan"),
            (gettext("time format"), mapping.get("time_format") or "text"),
            (gettext("time zone"), mapping.get("time_zone") or "Asia/Shanghai"),
            (gettext("status codes"), status_map_text(mapping.get("status_map") or {}) or "—"),
            (gettext("refund status codes"), status_map_text(mapping.get("refund_map") or {}) or "—"),
        ]
        return format_html(
            '<table id="channel-mapping">{}</table>',
            format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", rows),
        )

    @admin.display(description=_("intake"))
    def intake_stats(self, obj: Channel):
        return intake_stats_table(selectors.channel_intake_stats(channels=[obj]), with_channel=False)

    def save_model(self, request, obj, form, change):
        channel_save(channel=obj, actor=request.user)  # the form checked the same rules, naming the fields
        if form.generated_secret:
            messages.warning(
                request,
                gettext(
                    "Webhook signing secret of %(channel)s generated: %(secret)s — copy it now, it is not shown "
                    "again. The sender signs each delivery to %(url)s with it (Standard Webhooks)."
                )
                % {"channel": obj.name, "secret": form.generated_secret, "url": self.webhook_url(obj)},
            )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["trial"] = getattr(context["adminform"].form, "trial", None)
        if add:  # the add page fills the mapping inputs from the kind chosen (orders.channels.<kind>)
            context["kind_defaults"] = {
                kind: {**mapping, "status_map_text": status_map_text(mapping.get("status_map") or {})}
                for kind in Channel.Kind.values
                for mapping in (default_mapping(kind),)
            }
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


def intake_stats_table(stats: list, *, with_channel: bool = True):
    headers = [
        gettext("period"),
        gettext("deliveries"),
        gettext("orders"),
        gettext("created"),
        gettext("updated"),
        gettext("unchanged"),
        gettext("duplicates"),
        gettext("stale"),
        gettext("rejected"),
        gettext("refused deliveries"),
        gettext("latency p50 (ms)"),
        gettext("latency p95 (ms)"),
    ]
    if with_channel:
        headers.insert(0, gettext("channel"))
    rows = []
    for row in stats:
        cells = [
            row.period,
            row.received,
            row.orders,
            row.created,
            row.updated,
            row.unchanged,
            row.duplicates,
            row.stale,
            row.rejected,
            row.refused,
            "—" if row.latency_p50 is None else row.latency_p50,
            "—" if row.latency_p95 is None else row.latency_p95,
        ]
        if with_channel:
            cells.insert(0, row.channel.name)
        rows.append(format_html_join("", "<td>{}</td>", ((cell,) for cell in cells)))
    return format_html(
        '<table class="intake-stats"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", "<th>{}</th>", ((header,) for header in headers)),
        format_html_join("", "<tr>{}</tr>", ((row,) for row in rows)),
    )


class ReadOnlyLogAdmin(ReadOnlyAdmin):
    """A log: nobody adds, edits or deletes its rows here; the inbox services write every field."""


class IntakeLogAdmin(ReadOnlyLogAdmin):
    """The intake log's lists: each channel's counts of today and 7 days on top; replay for 运营主管."""

    change_list_template = "admin/orders/intake_change_list.html"

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("orders.replay_inboxdelivery")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "intake_stats": intake_stats_table(selectors.channel_intake_stats())}
        return super().changelist_view(request, extra_context=extra_context)


def _replay(modeladmin, request, deliveries) -> None:
    done = 0
    for delivery in deliveries:
        try:
            summary = inbox_delivery_replay(delivery=delivery)
        except ApplicationError as error:
            modeladmin.message_user(request, f"{delivery}: {error.message}", messages.ERROR)
            continue
        done += 1
        modeladmin.message_user(
            request,
            gettext("Delivery %(delivery)s replayed: %(orders)s orders, %(rejected)s still rejected.")
            % {"delivery": delivery.delivery_id, "orders": summary.orders, "rejected": summary.rejected},
            messages.WARNING if summary.rejected else messages.SUCCESS,
        )
    if not done:
        modeladmin.message_user(request, gettext("Nothing was replayed."), messages.WARNING)


@admin.register(InboxDelivery)
class InboxDeliveryAdmin(IntakeLogAdmin):
    service_owned_fields = tuple(field.name for field in InboxDelivery._meta.fields)
    list_display = (
        "received_at",
        "channel",
        "delivery_id",
        "via",
        "state",
        "orders_count",
        "taken_count",
        "rejected_count",
        "replays",
        "error",
    )
    list_filter = ("state", "via", "channel", ("received_at", admin.DateFieldListFilter))
    search_fields = ("=delivery_id",)
    list_select_related = ("channel",)
    date_hierarchy = "received_at"
    actions = ["replay"]
    fields = (
        "channel",
        "via",
        "delivery_id",
        "state",
        "received_at",
        "processed_at",
        "attempts",
        "replays",
        "orders_count",
        "taken_count",
        "rejected_count",
        "error",
        "headers_shown",
        "body_shown",
        "records_table",
    )
    readonly_fields = fields

    @admin.action(description=_("重新处理 Replay (after fixing the mapping or SKU aliases)"), permissions=["replay"])
    def replay(self, request, queryset):
        _replay(self, request, queryset.select_related("channel"))

    @admin.display(description=_("headers"))
    def headers_shown(self, obj: InboxDelivery):
        kept = {name: value for name, value in (obj.headers or {}).items() if name.lower() in KEPT_HEADERS}
        return format_html("<pre>{}</pre>", json.dumps(kept, ensure_ascii=False, indent=2))

    @admin.display(description=_("raw body"))
    def body_shown(self, obj: InboxDelivery):
        try:
            text = json.dumps(json.loads(obj.body), ensure_ascii=False, indent=2)
        except ValueError:
            text = obj.body
        return format_html('<pre style="max-height:30em;overflow:auto">{}</pre>', text[:200_000])

    @admin.display(description=_("intake records"))
    def records_table(self, obj: InboxDelivery):
        rows = [
            (
                record.run,
                record.index,
                record.channel_order_no or "—",
                record.get_via_display(),
                record.get_outcome_display(),
                record.reason or "",
                record.order.number if record.order else "—",
            )
            for record in obj.records.select_related("order").order_by("run", "index")
        ]
        return format_html(
            '<table id="delivery-records">{}</table>',
            format_html_join("", "<tr>" + "<td>{}</td>" * 7 + "</tr>", rows),
        )


@admin.register(IntakeRecord)
class IntakeRecordAdmin(IntakeLogAdmin):
    service_owned_fields = tuple(field.name for field in IntakeRecord._meta.fields)
    list_display = (
        "processed_at",
        "channel",
        "channel_order_no",
        "via",
        "outcome",
        "reason",
        "order_link",
        "delivery_link",
        "latency_ms",
    )
    list_filter = ("outcome", "via", "channel", ("processed_at", admin.DateFieldListFilter))
    search_fields = ("=channel_order_no",)
    list_select_related = ("channel", "order", "delivery")
    date_hierarchy = "processed_at"
    actions = ["replay"]
    fields = (
        "channel",
        "delivery_link",
        "index",
        "run",
        "via",
        "channel_order_no",
        "outcome",
        "reason",
        "code",
        "field",
        "order_link",
        "received_at",
        "processed_at",
        "latency_ms",
    )
    readonly_fields = fields

    @admin.action(description=_("重新处理 Replay (after fixing the mapping or SKU aliases)"), permissions=["replay"])
    def replay(self, request, queryset):
        done = 0
        for record in queryset.select_related("delivery").exclude(delivery=None):
            try:
                summary = inbox_delivery_replay(delivery=record.delivery, indexes=[record.index])
            except ApplicationError as error:
                self.message_user(request, f"{record}: {error.message}", messages.ERROR)
                continue
            done += summary.orders - summary.rejected
        self.message_user(
            request,
            ngettext("%(count)s order taken on replay.", "%(count)s orders taken on replay.", done) % {"count": done},
            messages.SUCCESS if done else messages.WARNING,
        )

    @admin.display(description=_("order"), ordering="order")
    def order_link(self, obj: IntakeRecord):
        if obj.order is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order.pk]), obj.order.number
        )

    @admin.display(description=_("delivery"))
    def delivery_link(self, obj: IntakeRecord):
        if obj.delivery is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_inboxdelivery_change", args=[obj.delivery.pk]),
            obj.delivery.delivery_id,
        )


@admin.register(WebhookRefusal)
class WebhookRefusalAdmin(ReadOnlyLogAdmin):
    service_owned_fields = tuple(field.name for field in WebhookRefusal._meta.fields)
    list_display = ("created_at", "channel_code", "delivery_id", "code", "message", "remote_addr", "body_size")
    list_filter = ("code", "channel", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=delivery_id", "channel_code")
    date_hierarchy = "created_at"
