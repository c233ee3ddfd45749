"""导入历史订单: the clerk's Excel import wizard, the list of imports, and the legacy status mappings.

Step 1 upload (file + channel) → step 2 sheet, header row and columns, with the first rows as they will be read →
step 3 the dry run (a job: progress, then its report: counts, problems by Excel row, unmapped status codes) →
step 4 the commit (a job: progress bar polling a small JSON endpoint, the result and the imported orders).
Every step is a service or a selector of orders.services.imports / orders.selectors; the job's state is in the
database, so any page of it can be reloaded and shows where it is.

Who: the import permission is `orders.add_importjob` ("may start an import"); every page of the wizard refuses
without it, and the list needs `orders.view_importjob`. orders/roles.py gives them to 运营主管 (and 管理员).
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin import HistoryAdmin
from config.exceptions import ApplicationError
from config.xlsx import xlsx_filename, xlsx_stream
from orders import selectors
from orders.imports.fields import FIELDS, FIELDS_BY_KEY, REQUIRED
from orders.imports.plan import column_letter
from orders.models import Channel, ImportJob, ImportTemplate, LegacyStatusMapping, Status
from orders.services.imports import (
    import_commit_start,
    import_configure,
    import_dry_run_start,
    import_upload,
    unmapped_codes,
)
from orders.services.legacy_codes import legacy_status_mapping_save

IMPORT_PERMISSION = "orders.add_importjob"
PROBLEMS_PER_PAGE = 50
RAW_ROWS = 10  # the top rows shown to pick the header row
PREVIEW_ROWS = 10  # the first rows shown as they will be read
POLL_SECONDS = 2  # how often the progress page asks the JSON endpoint

# The dry run's problem kinds (ImportProblem.code) as a clerk reads them; an unknown code is shown as it is.
PROBLEM_LABELS = {
    "missing_field": _("Required field empty"),
    "duplicate_row": _("Exact repeat of a row"),
    "conflicting_rows": _("Same order number, different content"),
    "unknown_sku": _("Unknown SKU"),
    "unknown_status": _("Unknown legacy status code"),
    "already_in_hub": _("Order already in the hub"),
    "bad_date": _("Date not readable"),
    "bad_phone": _("Phone not readable"),
    "bad_amount": _("Amount not readable"),
    "bad_quantity": _("Quantity not readable"),
    "mangled_order_no": _("Order number rounded by Excel"),
    "bad_order_no": _("Order number not readable"),
}
RUNNING = (ImportJob.State.CHECKING, ImportJob.State.COMMITTING)


def problem_label(code: str) -> str:
    return str(PROBLEM_LABELS.get(code, code))


def duration_text(seconds) -> str:
    """约 3 分 20 秒 / about 3 min 20 s; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 1:
        return gettext("less than 1 s")
    seconds = int(seconds)
    minutes, rest = divmod(seconds, 60)
    if minutes >= 60:
        return gettext("about %(h)d h %(m)d min") % {"h": minutes // 60, "m": minutes % 60}
    if minutes:
        return gettext("about %(m)d min %(s)d s") % {"m": minutes, "s": rest}
    return gettext("about %(s)d s") % {"s": rest}


def progress_view_data(job: ImportJob) -> dict:
    """import_progress plus what the page shows of it: the percentage and one line of text."""
    progress = selectors.import_progress(job=job)
    done, total = progress.get("rows_done") or 0, progress.get("rows_total") or 0
    percent = min(100, int(done * 100 / total)) if total else 0
    parts = [gettext("%(done)d of %(total)d rows") % {"done": done, "total": total}]
    if progress.get("rows_per_s"):
        parts.append(gettext("%(rate)s rows/s") % {"rate": f"{progress['rows_per_s']:.0f}"})
    if progress.get("state") in RUNNING and progress.get("seconds_left") is not None:
        parts.append(gettext("time left %(left)s") % {"left": duration_text(progress["seconds_left"])})
    return {
        **progress,
        "percent": percent,
        "text": "，".join(parts),
        "running": progress["state"] in RUNNING,
    }


# --- forms ----------------------------------------------------------------------------------------------------------
class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("file"),
        help_text=_(".xlsx, .xls or .csv (UTF-8, with or without BOM, or GBK/GB18030 as Chinese Excel saves it)"),
        error_messages={"required": _("Choose the file to import.")},
    )
    channel = forms.ModelChoiceField(
        label=_("channel the orders came from"),
        queryset=Channel.objects.order_by("name"),
        error_messages={"required": _("Choose the channel these orders came from.")},
    )


class SheetForm(forms.Form):
    """Which sheet and which row holds the column names (a GET form: it only changes what is shown)."""

    sheet = forms.ChoiceField(label=_("sheet"))
    header_row = forms.IntegerField(label=_("header row"), min_value=1)

    def __init__(self, *args, sheets: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sheet"].choices = [(name, name) for name in sheets]


NOT_IMPORTED = ""


class MappingForm(forms.Form):
    """One select per column of the header row: the order field it holds, or 不导入."""

    sheet = forms.CharField(widget=forms.HiddenInput)
    header_row = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, headers: list[str], mapping: dict[str, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = headers
        chosen = {index: key for key, index in mapping.items()}
        choices = [(NOT_IMPORTED, gettext("— not imported —"))] + [
            (f.key, f"{f.zh} {f.en}{' *' if f.required else ''}") for f in FIELDS
        ]
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header, choices=choices, required=False, initial=chosen.get(index, NOT_IMPORTED)
            )

    def column_fields(self):
        return [(index, self[f"col_{index}"]) for index in range(len(self.headers))]

    def clean(self):
        data = super().clean()
        mapping: dict[str, int] = {}
        for index, header in enumerate(self.headers):
            key = data.get(f"col_{index}")
            if not key:
                continue
            if key in mapping:
                raise forms.ValidationError(
                    gettext("「%(field)s」 is chosen for two columns: %(a)s and %(b)s. Choose it for one only.")
                    % {"field": FIELDS_BY_KEY[key].zh, "a": self.headers[mapping[key]], "b": header}
                )
            mapping[key] = index
        data["mapping"] = mapping
        return data


class LegacyStatusMappingForm(forms.ModelForm):
    class Meta:
        model = LegacyStatusMapping
        fields = ("code", "status", "label", "note")


# --- admin ----------------------------------------------------------------------------------------------------------
@admin.register(LegacyStatusMapping)
class LegacyStatusMappingAdmin(HistoryAdmin):
    """旧系统状态码 → our state (+ the old label). The add page takes ?code= and returns to ?next= (the report): its
    form posts to its own URL, query string included, and the report's inline form posts `next` itself."""

    form = LegacyStatusMappingForm
    list_display = ("code", "status", "label", "note")
    list_filter = ("status",)
    search_fields = ("code", "label")

    def save_model(self, request, obj, form, change):
        legacy_status_mapping_save(mapping=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # imported orders and their history name these codes

    def _next(self, request):
        target = request.POST.get("next") or request.GET.get("next") or ""
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return target
        return ""

    def response_add(self, request, obj, post_url_continue=None):
        target = self._next(request)
        if target and "_popup" not in request.POST:
            messages.success(
                request,
                gettext("Status code %(code)s now imports as '%(status)s'.")
                % {"code": obj.code, "status": obj.get_status_display()},
            )
            return HttpResponseRedirect(target)
        return super().response_add(request, obj, post_url_continue)


@admin.register(ImportTemplate)
class ImportTemplateAdmin(HistoryAdmin):
    """The remembered column layouts (one per header list): saved by the wizard, read here."""

    list_display = ("name", "sheet_name", "header_row", "updated_at")
    search_fields = ("name",)
    service_owned_fields = ("name", "headers", "sheet_name", "header_row", "mapping", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False  # the wizard remembers them

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # jobs name the template they used


@admin.register(ImportJob)
class ImportJobAdmin(HistoryAdmin):
    """The list of imports (file, who, when, state, counts); its add page is the upload, its page the wizard.
    Its history page shows each step (uploaded, configured, dry run, import started / resumed, done)."""

    # Nothing of a job is a form field: the wizard's steps (services) write all of it.
    service_owned_fields = tuple(f.name for f in ImportJob._meta.concrete_fields if f.name not in ("id", "content"))

    list_display = ("file_name", "channel", "created_by", "created_at", "state_badge", "rows_total", "counts")
    list_filter = ("state", "channel")
    list_select_related = ("channel", "created_by")
    search_fields = ("file_name",)
    date_hierarchy = "created_at"
    list_display_links = ("file_name",)
    change_list_template = "admin/orders/importjob/change_list.html"

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, job: ImportJob) -> str:
        return job.get_state_display()

    @admin.display(description=_("counts"))
    def counts(self, job: ImportJob) -> str:
        summary = job.summary or {}
        if job.state == ImportJob.State.DONE:
            return gettext("%(n)d orders imported") % {"n": job.orders_created}
        if summary:
            return gettext("%(create)s to import, %(problems)s problems") % {
                "create": summary.get("will_create", 0),
                "problems": summary.get("problem_count", 0),
            }
        return "—"

    # Permissions: seeing the list needs view; every wizard page needs the import permission (checked per view).
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.view_importjob") or request.user.has_perm(IMPORT_PERMISSION)

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a job changes through the wizard's steps only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what was imported from which file

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/configure/", view(self.configure_view), name="orders_importjob_configure"),
            path("<int:pk>/check/", view(self.check_view), name="orders_importjob_check"),
            path("<int:pk>/commit/", view(self.commit_view), name="orders_importjob_commit"),
            path("<int:pk>/progress/", view(self.progress_view), name="orders_importjob_progress"),
            path("<int:pk>/report/", view(self.report_view), name="orders_importjob_report"),
            *super().get_urls(),
        ]

    # --- helpers ---------------------------------------------------------------------------------------------
    def _job(self, request: HttpRequest, pk) -> ImportJob:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(ImportJob.objects.select_related("channel", "created_by"), pk=pk)

    def _page(self, request, template: str, title, job: ImportJob | None = None, **extra) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "job": job,
            **extra,
        }
        return TemplateResponse(request, f"admin/orders/importjob/{template}.html", context)

    @staticmethod
    def _job_url(job: ImportJob) -> str:
        return reverse("admin:orders_importjob_change", args=[job.pk])

    # --- step 1: upload ------------------------------------------------------------------------------------
    def add_view(self, request, form_url="", extra_context=None):
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            # One byte over the limit is enough for the service to refuse it by its size guard; a larger upload
            # is never read whole into memory.
            data = upload.read(settings.IMPORT_MAX_BYTES + 1)
            try:
                job = import_upload(
                    file_name=upload.name,
                    data=data,
                    content_type=upload.content_type or "",
                    channel=form.cleaned_data["channel"],
                    actor=request.user,
                )
            except ApplicationError as refusal:
                form.add_error("file", refusal.message)
            else:
                return HttpResponseRedirect(reverse("admin:orders_importjob_configure", args=[job.pk]))
        return self._page(request, "upload", _("Import order history"), form=form, step=1)

    # --- step 2: sheet, header row, columns, preview -------------------------------------------------------
    def configure_view(self, request: HttpRequest, pk: int):
        job = self._job(request, pk)
        restartable = selectors.import_dry_run_stalled(job=job)
        if (job.state in RUNNING and not restartable) or job.state == ImportJob.State.DONE:
            return HttpResponseRedirect(self._job_url(job))
        sheets = list(job.sheets or []) or [job.sheet_name]
        refusal = None
        mapping_form = None
        if request.method == "POST":
            sheet, header_row = request.POST.get("sheet", ""), request.POST.get("header_row", "")
        else:
            sheet = request.GET.get("sheet") or job.sheet_name or sheets[0]
            header_row = request.GET.get("header_row") or job.header_row
        sheet = sheet if sheet in sheets else sheets[0]
        try:
            header_row = int(header_row) if header_row else None
        except ValueError:
            header_row = None
        if header_row is not None and header_row < 1:
            header_row = None
        try:
            preview = selectors.import_sheet_preview(job=job, sheet_name=sheet, header_row=header_row, rows=RAW_ROWS)
        except ApplicationError as exc:
            preview, refusal = None, exc.message
        if preview is not None:
            header_row = preview["header_row"]
            saved = job.mapping and job.sheet_name == sheet and job.header_row == header_row
            mapping = job.mapping if saved else preview["mapping"]
            mapping_form = MappingForm(
                request.POST if request.method == "POST" else None,
                headers=preview["headers"],
                mapping=mapping,
                initial={"sheet": sheet, "header_row": header_row},
            )
            if request.method == "POST" and mapping_form.is_valid():
                try:
                    job = import_configure(
                        job=job,
                        sheet_name=sheet,
                        header_row=header_row,
                        mapping=mapping_form.cleaned_data["mapping"],
                        actor=request.user,
                    )
                    if "_check" in request.POST:
                        import_dry_run_start(job=job, actor=request.user)
                        return HttpResponseRedirect(self._job_url(job))
                except ApplicationError as exc:
                    mapping_form.add_error(None, exc.message)
                else:
                    messages.success(request, gettext("Columns saved and remembered for files with these headers."))
                    query = urlencode({"sheet": sheet, "header_row": header_row})
                    url = reverse("admin:orders_importjob_configure", args=[job.pk])
                    return HttpResponseRedirect(f"{url}?{query}#preview")
        configured = bool(job.mapping) and job.sheet_name == sheet and job.header_row == header_row
        preview_rows = selectors.import_preview_rows(job=job, n=PREVIEW_ROWS) if configured else []
        mapped_fields = [FIELDS_BY_KEY[key] for key in FIELDS_BY_KEY if key in (job.mapping or {})]
        raw = (preview or {}).get("rows") or []
        width = max((len(cells) for cells in raw), default=0)
        return self._page(
            request,
            "configure",
            _("Sheet, header row and columns"),
            job,
            step=2,
            refusal=refusal,
            preview=preview,
            sheet_form=SheetForm(initial={"sheet": sheet, "header_row": header_row}, sheets=sheets),
            sheet=sheet,
            header_row=header_row,
            mapping_form=mapping_form,
            mapping_columns=[(column_letter(i), field) for i, field in mapping_form.column_fields()]
            if mapping_form
            else [],
            letters=[column_letter(i) for i in range(width)],
            raw_rows=[(number, [*cells, *[""] * (width - len(cells))]) for number, cells in enumerate(raw, start=1)],
            sheet_query=urlencode({"sheet": sheet}),
            required=[FIELDS_BY_KEY[key] for key in REQUIRED],
            configured=configured,
            preview_rows=[
                {**row, "cells": [row["values"].get(f.key, "") for f in mapped_fields]} for row in preview_rows
            ],
            mapped_fields=mapped_fields,
        )

    # --- step 3 and 4: start the jobs ----------------------------------------------------------------------
    def check_view(self, request: HttpRequest, pk: int):
        return self._start(request, pk, import_dry_run_start)

    def commit_view(self, request: HttpRequest, pk: int):
        return self._start(request, pk, import_commit_start)

    def _start(self, request: HttpRequest, pk: int, start):
        """A POST button of the job's page starting its dry run or commit; a refusal is a red message there."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job(request, pk)
        try:
            start(job=job, actor=request.user)
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
        return HttpResponseRedirect(self._job_url(job))

    def progress_view(self, request: HttpRequest, pk: int):
        return JsonResponse(progress_view_data(self._job(request, pk)))

    def report_view(self, request: HttpRequest, pk: int):
        job = self._job(request, pk)
        header, rows = selectors.import_report_rows(job=job)
        name = gettext("import %(n)s problems") % {"n": job.pk}
        return xlsx_stream(xlsx_filename(name), header, rows, sheet_title=name)  # a name with .xlsx: Excel opens it

    # --- the job's page: progress, report, result ----------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self._job(request, object_id)
        if job.state == ImportJob.State.UPLOADED:
            return HttpResponseRedirect(reverse("admin:orders_importjob_configure", args=[job.pk]))
        summary = job.summary or {}
        kind = request.GET.get("kind", "")
        problems = Paginator(selectors.import_problems(job=job, code=kind), PROBLEMS_PER_PAGE)
        page = problems.get_page(request.GET.get("page"))
        unmapped = unmapped_codes((summary.get("status_codes") or {}).keys())
        commit_blocked = ""
        if unmapped:
            commit_blocked = gettext("Map every legacy status code first: %(codes)s") % {"codes": "、".join(unmapped)}
        elif not summary.get("will_create") and job.state == ImportJob.State.CHECKED:
            commit_blocked = gettext("The dry run found no order to import.")
        kinds = [
            {"code": code, "label": problem_label(code), "count": count}
            for code, count in sorted((summary.get("problems") or {}).items(), key=lambda item: -item[1])
        ]
        page_query = {"kind": kind} if kind else {}
        return self._page(
            request,
            "job",
            gettext("Import #%(n)s: %(file)s") % {"n": job.pk, "file": job.file_name},
            job,
            step={"checking": 3, "checked": 3, "committing": 4, "done": 4}.get(job.state, 3),
            progress=progress_view_data(job),
            poll_seconds=POLL_SECONDS,
            summary=summary,
            kinds=kinds,
            kind=kind,
            problems=page,
            problem_rows=[(problem, problem_label(problem.code)) for problem in page],
            page_query=urlencode(page_query),
            unmapped=unmapped,
            status_codes=sorted((summary.get("status_codes") or {}).items()),
            status_choices=Status.choices,
            commit_blocked=commit_blocked,
            can_commit=job.state in (ImportJob.State.CHECKED, ImportJob.State.FAILED) and not commit_blocked,
            orders_url=f"{reverse('admin:orders_order_changelist')}?{urlencode({'import_job': job.pk})}",
            add_mapping_url=reverse("admin:orders_legacystatusmapping_add"),
            can_map=request.user.has_perm("orders.add_legacystatusmapping"),
        )
