"""Admin base classes shared by every app: fields services own stay read-only, and history is a record only."""

from datetime import datetime

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import ModelChange, ModelDelta
from simple_history.template_utils import HistoricalRecordContextHelper


class _ReadableChanges(HistoricalRecordContextHelper):
    """Changes as a clerk reads them: choice labels instead of codes, local time, "—" for nothing."""

    def prepare_delta_change_value(self, change, value):
        field = self.model._meta.get_field(change.field)
        if value in (None, "") or getattr(value, "pk", 0) is None:  # empty, or an unset foreign key
            return "—"
        if isinstance(value, datetime):
            return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"
        if field.choices:
            return dict(field.flatchoices).get(value, value)
        return super().prepare_delta_change_value(change, value)


class ServiceOwnedFieldsMixin:
    """`service_owned_fields`: fields only services write (status, stock figures, parcels, rule versions …).

    They are read-only on every form of this admin, whoever opens it; the service's own button changes them.
    tests/orders/test_admin_service_owned.py walks every admin form as every role against this list.
    """

    service_owned_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + [f for f in self.service_owned_fields if f not in readonly]


class HistoryAdmin(ServiceOwnedFieldsMixin, SimpleHistoryAdmin):
    """History pages stay readable; reverting to an old version is refused.

    A revert saves the whole old row (status, stock flags, secrets …) behind the services' backs, with no
    transition, no timeline event and no stock movement, and simple-history's version page accepts a POST
    even when its button is hidden. So the version page changes nothing and sends the user back to the list,
    whose "changes" column shows every old value.
    """

    object_history_list_template = "admin/history/object_history_list.html"

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            messages.error(
                request,
                gettext(
                    "Reverting to an old version is not possible here: it would bypass the checks and the "
                    "record of the services. Nothing was changed. Use the buttons on the page instead."
                ),
            )
        else:
            messages.info(request, gettext("Old versions are shown in the list of changes below."))
        opts = self.model._meta
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[object_id]))

    def get_historical_record_context_helper(self, request, historical_record):
        return _ReadableChanges(self.model, historical_record)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        """As simple-history's, plus the fields no form edits (simple-history skips them): status, stock and
        breaker flags are exactly what a reader of this page looks for. Save timestamps are left out."""
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs)
        previous = None
        for current in historical_records:
            if previous is not None:
                extra = [
                    ModelChange(f.name, getattr(current, f.attname), getattr(previous, f.attname))
                    for f in previous.tracked_fields
                    if not f.editable and not f.primary_key and not getattr(f, "auto_now", False)
                    if getattr(current, f.attname) != getattr(previous, f.attname)
                ]
                if extra:
                    helper = self.get_historical_record_context_helper(request, previous)
                    delta = ModelDelta(extra, [c.field for c in extra], current, previous)
                    shown = helper.context_for_delta_changes(delta)
                    previous.history_delta_changes = [*shown, *getattr(previous, "history_delta_changes", [])]
            previous = current

    def history_view(self, request, object_id, extra_context=None):
        # A user link answers 403 to whoever may not open users (财务, 客服 …): show the name as text then.
        extra_context = {**(extra_context or {}), "can_open_users": request.user.has_perm("auth.view_user")}
        return super().history_view(request, object_id, extra_context=extra_context)


class ReadOnlyAdmin(ServiceOwnedFieldsMixin, admin.ModelAdmin):
    """A page to read only: nobody adds, edits or deletes rows here (a log the services write, or a page with no
    table of its own such as the dashboard); whoever may view it sees it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
