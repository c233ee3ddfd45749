"""导出 Excel: any admin list, as the person filtered, searched and ordered it, every page of it, as xlsx.

`XlsxExportMixin` (put it first among a ModelAdmin's bases) adds
- a "导出 Excel" button above the list (templates/admin/change_list_object_tools.html) that exports the whole
  filtered list: the export URL carries the list's own query string and is read by the ChangeList the admin
  builds (get_changelist_instance), so filters, date drill-down, search and ordering are exactly the list's;
- an action "导出所选" for the ticked rows (or all of them, with "select all").
Columns are `export_fields` or else the list's columns (get_list_display, which may depend on the person). An
entry is a field name, a name of the admin or model (display callables, annotations, `a__b` lookups), a
callable, or a (label, entry) pair. HTML that a display callable builds (format_html) is exported as its text.
Values are exported as the list shows them: choice labels, related objects as their text, masked and
encrypted phones as stored. Only people with view permission may export; a list longer than
settings.XLSX_EXPORT_MAX_ROWS is refused with a message, nothing is written.
"""

import html
import re
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.contrib.admin.utils import label_for_field, lookup_field
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import strip_tags
from django.utils.safestring import SafeData
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.xlsx import xlsx_filename, xlsx_stream

EXPORT_CHUNK_ROWS = 2000
_BREAKS = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]+")


def html_to_text(value: str) -> str:
    """format_html output as a reader sees it: line breaks as new lines, tags gone, entities decoded."""
    text = html.unescape(strip_tags(_BREAKS.sub("\n", str(value))))
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()).strip()


class _Column:
    def __init__(self, model_admin, entry):
        label, self.name = entry if isinstance(entry, tuple) else (None, entry)
        self.model_admin = model_admin
        self.label = str(label) if label is not None else self._label()
        self._choices: dict | None = None
        # A plain column of the model (most of them) is read straight from the row: lookup_field per cell is a
        # third of an export's time. It finds a field before an admin method of the same name, and so does this.
        self._attname = None
        if isinstance(self.name, str):
            try:
                field = model_admin.model._meta.get_field(self.name)
            except FieldDoesNotExist:
                field = None
            if field is not None and field.concrete and not field.is_relation:
                self._attname = field.attname
                if field.flatchoices:
                    self._choices = {key: str(label) for key, label in field.flatchoices}

    def _label(self) -> str:
        try:
            return str(label_for_field(self.name, self.model_admin.model, self.model_admin))
        except AttributeError:  # an annotation: not known to the model
            return str(self.name)

    def value(self, obj: Model):
        if self._attname is not None:
            value = getattr(obj, self._attname)
            if self._choices is not None:
                return self._choices.get(value, value)
            return self._plain(value)
        try:
            field, _attr, value = lookup_field(self.name, obj, self.model_admin)
        except ObjectDoesNotExist:
            return None
        if field is not None:
            if getattr(field, "flatchoices", None):
                if self._choices is None:
                    self._choices = {key: str(label) for key, label in field.flatchoices}
                return self._choices.get(value, value)
            if field.is_relation:
                return None if value is None else str(value)
        return self._plain(value)

    @staticmethod
    def _plain(value):
        if isinstance(value, SafeData):
            return html_to_text(value)
        if isinstance(value, (list, tuple, set)):
            return "、".join(str(item) for item in value)
        if isinstance(value, dict):
            return "; ".join(f"{key}: {item}" for key, item in value.items())
        if isinstance(value, Model):
            return str(value)
        return value


class XlsxExportMixin:
    """See the module docstring. `export_fields`: the columns; `export_name`: the file's name (default: the
    model's plural name, e.g. 订单); `export_action`: offer "导出所选" among the actions."""

    export_fields: tuple | list | None = None
    export_name: str | None = None
    export_action: bool = True

    # -- columns and rows

    def get_export_fields(self, request: HttpRequest) -> list:
        if self.export_fields is not None:
            return list(self.export_fields)
        return [name for name in self.get_list_display(request) if name != "action_checkbox"]

    def export_columns(self, request: HttpRequest) -> list[_Column]:
        return [_Column(self, entry) for entry in self.get_export_fields(request)]

    def export_rows(self, columns: list[_Column], queryset: QuerySet) -> Iterator[list]:
        for obj in queryset.iterator(chunk_size=EXPORT_CHUNK_ROWS):
            yield [column.value(obj) for column in columns]

    def export_response(self, request: HttpRequest, queryset: QuerySet):
        columns = self.export_columns(request)
        name = str(self.export_name or self.model._meta.verbose_name_plural)
        return xlsx_stream(
            xlsx_filename(name), [column.label for column in columns], self.export_rows(columns, queryset), name
        )

    def _export_refused(self, request: HttpRequest, count: int) -> bool:
        limit = settings.XLSX_EXPORT_MAX_ROWS
        if count <= limit:
            return False
        messages.error(
            request,
            gettext(
                "This list has %(count)d rows; one export takes at most %(limit)d. Narrow it with the filters, "
                "the dates or the search, and export each part. Nothing was exported."
            )
            % {"count": count, "limit": limit},
        )
        return True

    # -- the button: the whole filtered list

    def export_xlsx_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        opts = self.model._meta
        changelist_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{changelist_url}?{ERROR_FLAG}=1")
        if self._export_refused(request, changelist.result_count):
            return HttpResponseRedirect(f"{changelist_url}?{request.GET.urlencode()}")
        return self.export_response(request, changelist.queryset)

    def export_xlsx_url(self, request: HttpRequest) -> str:
        opts = self.model._meta
        query = request.GET.copy()
        query.pop(PAGE_VAR, None)  # every page, whichever one is shown
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_export_xlsx")
        return f"{url}?{query.urlencode()}" if query else url

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if self.has_view_permission(request):
            extra_context = {**(extra_context or {}), "xlsx_export_url": self.export_xlsx_url(request)}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        opts = self.model._meta
        export = path(
            "export-xlsx/",
            self.admin_site.admin_view(self.export_xlsx_view),
            name=f"{opts.app_label}_{opts.model_name}_export_xlsx",
        )
        return [export, *super().get_urls()]

    # -- the action: the ticked rows

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        popup = IS_POPUP_VAR in request.GET  # a related-object picker: no actions, as Django has it
        if self.export_action and self.actions is not None and not popup and self.has_view_permission(request):
            action = self.get_action("export_selected_xlsx")
            actions[action[1]] = action
        return actions

    def export_selected_xlsx(self, request: HttpRequest, queryset: QuerySet):
        if self._export_refused(request, queryset.count()):
            return None
        return self.export_response(request, queryset)

    export_selected_xlsx.short_description = _("Export selected to Excel")
    export_selected_xlsx.allowed_permissions = ("view",)
