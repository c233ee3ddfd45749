"""A channel's pull (settings typed in on the channel's page, keys never shown back, the run state read-only)
and its backfills (started by a manager for a past date range, their progress shown)."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin
from config.exceptions import ApplicationError
from orders.channels.pulls import pull_adapter_for
from orders.models import (
    CHANNEL_PULL_SECRET_FIELDS,
    CHANNEL_PULL_SETTINGS_FIELDS,
    CHANNEL_PULL_STATE_FIELDS,
    ChannelBackfill,
    ChannelPull,
)
from orders.services.channel_pulls import (
    PULL_ARRIVALS,
    channel_backfill_check,
    channel_backfill_start,
    channel_pull_save,
)


def _minutes(delta) -> str:
    return f"{int(delta.total_seconds() // 60)}"


class ChannelPullForm(forms.ModelForm):
    """Keys are typed in and never shown back; left empty, the stored key stays (as for carriers)."""

    base_url = forms.URLField(
        label=_("pull API base URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Empty: the platform's own address."),
    )

    class Meta:
        model = ChannelPull
        fields = CHANNEL_PULL_SETTINGS_FIELDS
        widgets = {name: forms.PasswordInput() for name in CHANNEL_PULL_SECRET_FIELDS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in CHANNEL_PULL_SECRET_FIELDS:
            if name in self.fields and getattr(self.instance, name):
                self.fields[name].help_text = _(
                    "Set (never shown). Leave empty to keep it; type a new one to replace it."
                )

    def clean(self):
        cleaned = super().clean()
        for name in CHANNEL_PULL_SECRET_FIELDS:  # left empty: the stored key stays (it is never sent to the page)
            if name in self.fields and not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name)
        return cleaned


class ChannelPullFormSet(BaseInlineFormSet):
    """Saved through the service (only the settings fields, never the run state); limits checked against the
    channel's platform."""

    actor = None

    def clean(self):
        super().clean()
        adapter = pull_adapter_for(self.instance.kind)
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("enabled") and self.instance.arrival not in PULL_ARRIVALS:
                form.add_error(
                    "enabled",
                    gettext("Set how orders arrive to 'Scheduled pull' or 'Webhook and pull' to pull this channel."),
                )
            window = data.get("window_minutes")
            if window and window * 60 > adapter.window_max.total_seconds():
                form.add_error(
                    "window_minutes",
                    gettext("The platform allows windows of at most %(minutes)s minutes.")
                    % {"minutes": _minutes(adapter.window_max)},
                )
            size = data.get("page_size")
            if size and size > adapter.page_size_max:
                form.add_error(
                    "page_size",
                    gettext("The platform allows pages of at most %(size)s orders.") % {"size": adapter.page_size_max},
                )
            margin = data.get("clock_margin_seconds")
            if margin is not None and margin < adapter.clock_margin_min.total_seconds():
                form.add_error(
                    "clock_margin_seconds",
                    gettext("The platform needs the window to end at least %(seconds)s seconds behind its clock.")
                    % {"seconds": int(adapter.clock_margin_min.total_seconds())},
                )

    def save_new(self, form, commit=True):
        pull = form.save(commit=False)
        pull.channel = self.instance
        return channel_pull_save(pull=pull, actor=self.actor)

    def save_existing(self, form, obj, commit=True):
        return channel_pull_save(pull=form.save(commit=False), actor=self.actor)


class ChannelPullInline(admin.StackedInline):
    model = ChannelPull
    form = ChannelPullForm
    formset = ChannelPullFormSet
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = _("pull (scheduled, modified since)")
    verbose_name_plural = _("pull (scheduled, modified since)")
    state_fields = ("platform_limits", *CHANNEL_PULL_STATE_FIELDS)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"actor": request.user})

    def get_fields(self, request, obj=None):
        settings_fields = list(CHANNEL_PULL_SETTINGS_FIELDS)
        if not self.has_change_permission(request, obj):
            # A view-only page shows every field as text: never the keys, only whether they are set.
            settings_fields = [name for name in settings_fields if name not in CHANNEL_PULL_SECRET_FIELDS]
            settings_fields.append("keys_set")
        extra = ["backfill_link"] if obj is not None and request.user.has_perm("orders.add_channelbackfill") else []
        return [*settings_fields, *self.state_fields, *extra]

    def get_readonly_fields(self, request, obj=None):
        readonly = [*self.state_fields, "keys_set", "backfill_link"]
        if not self.has_change_permission(request, obj):
            readonly += list(CHANNEL_PULL_SETTINGS_FIELDS)
        return readonly

    @admin.display(description=_("keys"))
    def keys_set(self, obj: ChannelPull) -> str:
        return " / ".join(
            f"{ChannelPull._meta.get_field(name).verbose_name}: "
            + str(_("set (hidden)") if getattr(obj, name) else _("not set"))
            for name in CHANNEL_PULL_SECRET_FIELDS
        )

    @admin.display(description=_("platform limits"))
    def platform_limits(self, obj: ChannelPull) -> str:
        adapter = pull_adapter_for(obj.channel.kind if obj.channel_id else "")
        return gettext(
            "window ≤ %(window)s min (default %(default)s), page ≤ %(page)s, ends ≥ %(margin)s s behind the "
            "platform's clock%(history)s; pages %(order)s"
        ) % {
            "window": _minutes(adapter.window_max),
            "default": _minutes(adapter.window_default),
            "page": adapter.page_size_max,
            "margin": int(adapter.clock_margin_min.total_seconds()),
            "history": gettext(", last %(days)s days only") % {"days": adapter.history_max.days}
            if adapter.history_max
            else "",
            "order": gettext("from the last back to the first") if adapter.back_to_front else gettext("in order"),
        }

    @admin.display(description=_("backfill"))
    def backfill_link(self, obj: ChannelPull):
        if not obj.channel_id:
            return "—"
        url = reverse("admin:orders_channelbackfill_add") + f"?channel={obj.channel_id}"
        return format_html('<a class="button" href="{}" id="start-backfill">{}</a>', url, gettext("Start a backfill"))


class ChannelBackfillInline(admin.TabularInline):
    model = ChannelBackfill
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("backfills")
    fields = ("start", "end", "state", "cursor", "windows_done", "orders_seen", "counts", "last_error", "started_by")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # started from its own form (the button above), through the service

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("started_by")


class ChannelBackfillForm(forms.ModelForm):
    class Meta:
        model = ChannelBackfill
        fields = ("channel", "start", "end")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            channel_backfill_check(channel=cleaned["channel"], start=cleaned["start"], end=cleaned["end"])
        except ApplicationError as refusal:
            field = (refusal.extra or {}).get("field")
            self.add_error(field if field in self.fields else None, refusal.message)
        return cleaned


@admin.register(ChannelBackfill)
class ChannelBackfillAdmin(HistoryAdmin):
    """A past range pulled again. Started here (运营主管), then only watched: its job owns every other field."""

    form = ChannelBackfillForm
    list_display = ("channel", "start", "end", "state", "windows_done", "orders_seen", "started_by", "created_at")
    list_filter = ("state", "channel")
    search_fields = ("channel__code", "channel__name")
    list_select_related = ("channel", "started_by")
    date_hierarchy = "created_at"
    progress_fields = (
        "state",
        "cursor",
        "windows_done",
        "pages",
        "orders_seen",
        "counts",
        "last_error",
        "failures",
        "next_attempt_at",
        "started_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["channel", "start", "end"]
        return ["channel", "start", "end", *self.progress_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        now = timezone.localtime().replace(second=0, microsecond=0)
        initial.setdefault("start", now - timedelta(days=1))
        initial.setdefault("end", now - timedelta(minutes=10))
        return initial

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        backfill = channel_backfill_start(channel=obj.channel, start=obj.start, end=obj.end, actor=request.user)
        obj.pk = backfill.pk
