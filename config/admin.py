"""Admin base classes shared by every app: fields services own stay read-only, and history is a record only."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from simple_history.admin import SimpleHistoryAdmin


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

    def history_view(self, request, object_id, extra_context=None):
        # A user link answers 403 to whoever may not open users (财务, 客服 …): show the name as text then.
        extra_context = {**(extra_context or {}), "can_open_users": request.user.has_perm("auth.view_user")}
        return super().history_view(request, object_id, extra_context=extra_context)
