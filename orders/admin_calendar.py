"""Admin of working calendars (weekly hours, day overrides) and of the promise light thresholds.

运营主管 edits them; everyone who sees orders views them. Saving goes through orders.services.calendars (the
deadlines rebuild their calendars); a year whose holidays chinese_calendar does not know yet is warned about."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from config.admin import HistoryAdmin
from orders.models import CalendarDay, PromiseSettings, WorkCalendar, WorkingHours
from orders.services.calendars import (
    calendar_changed,
    calendar_save,
    calendar_warnings,
    promise_settings,
    promise_settings_save,
)


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0
    fields = ("weekday", "start", "end")


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 0
    fields = ("date", "is_working", "start", "end", "note")


@admin.register(WorkCalendar)
class WorkCalendarAdmin(HistoryAdmin):
    list_display = ("name", "is_default", "warehouse", "group", "use_china_holidays", "updated_at")
    list_filter = ("is_default", "use_china_holidays", "warehouse")
    list_select_related = ("warehouse", "group")
    search_fields = ("name",)
    fields = ("name", "is_default", "warehouse", "group", "use_china_holidays")
    inlines = [WorkingHoursInline, CalendarDayInline]

    def _warn(self, request) -> None:
        for warning in calendar_warnings():
            messages.warning(request, warning)

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            self._warn(request)
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "GET":
            self._warn(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        calendar_save(calendar=obj)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        calendar_changed()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # status nodes and orders' deadline bases name it: switch it off by editing instead


class PromiseSettingsForm(forms.ModelForm):
    class Meta:
        model = PromiseSettings
        fields = ("yellow_hours", "red_hours")


@admin.register(PromiseSettings)
class PromiseSettingsAdmin(HistoryAdmin):
    """One row (like the allocation settings): the list page opens it directly."""

    form = PromiseSettingsForm
    list_display = ("__str__", "yellow_hours", "red_hours")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        settings = promise_settings()
        return HttpResponseRedirect(reverse("admin:orders_promisesettings_change", args=[settings.pk]))

    def save_model(self, request, obj, form, change):
        promise_settings_save(settings=obj)
