"""The Excel history import: upload (guards, the file stored in PostgreSQL before we answer), configuration
(sheet, header row, column mapping, remembered per template), the dry run (a job: every problem with its Excel
row, and the counts), and the commit (a job on the "imports" queue: legacy orders in batches of
IMPORT_BATCH_ORDERS, each batch one transaction, resumable, idempotent) through intake.legacy_orders_create."""

import hashlib
import json
import logging
import re

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from config.queue import job_enqueue_on_commit
from orders.drafts import Address, CustomerDraft, LegacyDraft, LineDraft, OrderDraft
from orders.exceptions import ImportErrorCode, ImportRefused
from orders.imports import guards, normalize, plan, read
from orders.imports.fields import FIELDS_BY_KEY, REQUIRED, header_key
from orders.models import Channel, ImportJob, ImportProblem, ImportTemplate, LegacyStatusMapping, Order
from orders.selectors import import_dry_run_stalled, import_stalled, sheet_layout
from orders.services.intake import legacy_orders_create
from orders.services.timeline import history_attribute
from warehouse.selectors import skus_resolve

logger = logging.getLogger(__name__)

LOOKUP_CHUNK = 10000  # order numbers per "already in the hub?" query
PROBLEM_BATCH = 5000
ERROR_MAX = 2000
PROGRESS_FIELDS = ["rows_done", "rows_total", "orders_created", "progress_at"]


def _limits() -> guards.Limits:
    return guards.Limits(
        max_bytes=settings.IMPORT_MAX_BYTES,
        max_entries=settings.IMPORT_MAX_ZIP_ENTRIES,
        max_unpacked=settings.IMPORT_MAX_UNPACKED_BYTES,
        max_ratio=settings.IMPORT_MAX_ZIP_RATIO,
    )


def import_upload(
    *, file_name: str, data: bytes, content_type: str, channel: Channel, actor: AbstractBaseUser | None
) -> ImportJob:
    """Check the upload (size, type by content, no macros, no zip bomb, no XML entities, CSV encoding) and store
    it as an ImportJob (state uploaded, sheets listed, sheet and header row guessed, mapping suggested).
    Raises ImportRefused(message, code) naming the guard; nothing is stored then. `content_type` (what the
    browser said) is only logged: the bytes decide."""
    kind = guards.file_check(data=data, limits=_limits())
    sheets = read.sheet_names(kind=kind.kind, data=data)
    if not sheets:
        raise ImportRefused(_("The workbook has no sheet."), code=ImportErrorCode.NO_SHEET)
    job = ImportJob(
        file_name=file_name[:255],
        file_kind=kind.kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        encoding=kind.encoding,
        sheets=sheets,
        channel=channel,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    layout, _top = sheet_layout(job=job, sheet_name=sheets[0])
    job.sheet_name = layout.template.sheet_name if layout.template and layout.template.sheet_name in sheets else ""
    job.sheet_name = job.sheet_name or sheets[0]
    job.header_row = layout.header_row
    job.mapping = layout.mapping
    job.template = layout.template
    logger.info("import upload %s (%s, said %s, %s bytes)", file_name, kind.kind, content_type, len(data))
    history_attribute(job, actor=actor, reason=f"uploaded {file_name}")
    job.save()
    return job


def _busy(job: ImportJob) -> None:
    """Refuse while a job runs; a dry run that stalled (its worker gone) may be configured or started again."""
    if job.state in (ImportJob.State.CHECKING, ImportJob.State.COMMITTING) and not import_dry_run_stalled(job=job):
        raise ImportRefused(_("The import is running; wait until it has finished."), code=ImportErrorCode.BUSY)
    if job.state == ImportJob.State.DONE or job.orders_created:
        raise ImportRefused(
            _("This import is finished; upload the file again to start a new import."), code=ImportErrorCode.DONE
        )


def _template_name(file_name: str) -> str:
    return re.sub(r"\.(xlsx|xls|csv)$", "", file_name, flags=re.IGNORECASE)[:100] or "import"


def import_configure(
    *, job: ImportJob, sheet_name: str, header_row: int, mapping: dict[str, int], actor: AbstractBaseUser | None
) -> ImportJob:
    """Set the sheet, the header row (Excel's row number) and {field: column index}; remember them as the template
    of this header list. A changed configuration makes an earlier dry run stale (state back to uploaded).
    Raises ImportRefused (unknown sheet, a required field unmapped, a column out of range, job busy or done)."""
    _busy(job)
    if sheet_name not in job.sheets:
        raise ImportRefused(
            _("The workbook has no sheet named '%(sheet)s'.") % {"sheet": sheet_name}, code=ImportErrorCode.NO_SHEET
        )
    try:
        header_row = int(header_row)
        mapping = {str(key): int(col) for key, col in mapping.items() if col not in (None, "")}
    except (TypeError, ValueError) as error:
        raise ImportRefused(
            _("The header row and the columns must be numbers."), code=ImportErrorCode.BAD_MAPPING
        ) from error
    if header_row < 1:
        raise ImportRefused(_("The header row must be 1 or more."), code=ImportErrorCode.BAD_MAPPING)
    layout, _top = sheet_layout(job=job, sheet_name=sheet_name, header_row=header_row)
    unknown = sorted(key for key in mapping if key not in FIELDS_BY_KEY)
    outside = sorted(key for key, col in mapping.items() if not 0 <= col < len(layout.headers))
    missing = [FIELDS_BY_KEY[key].zh for key in REQUIRED if key not in mapping]
    if unknown or outside:
        raise ImportRefused(
            _("Unknown field or a column outside the table: %(fields)s.") % {"fields": ", ".join(unknown + outside)},
            code=ImportErrorCode.BAD_MAPPING,
        )
    if missing:
        raise ImportRefused(
            _("Map a column to each required field: %(fields)s.") % {"fields": "、".join(missing)},
            code=ImportErrorCode.BAD_MAPPING,
        )
    key = header_key(layout.headers)
    template = ImportTemplate.objects.filter(header_key=key).first() or ImportTemplate(
        header_key=key, name=_template_name(job.file_name)
    )
    template.headers = layout.headers
    template.sheet_name = sheet_name
    template.header_row = header_row
    template.mapping = mapping
    history_attribute(template, actor=actor, reason=f"mapping of import #{job.pk} {job.file_name}")
    with transaction.atomic():
        template.save()
        job.sheet_name, job.header_row, job.mapping, job.template = sheet_name, header_row, mapping, template
        job.state = ImportJob.State.UPLOADED
        job.summary, job.error, job.rows_done, job.rows_total = {}, "", 0, 0
        job.problems.all().delete()
        history_attribute(job, actor=actor, reason="configured")
        job.save()
    return job


def _config_digest(job: ImportJob) -> str:
    """What a dry run's result depends on besides the hub: the file, sheet, header row and mapping."""
    config = [job.sha256, job.sheet_name, job.header_row, sorted(job.mapping.items()), job.channel_id]
    return hashlib.sha256(json.dumps(config).encode()).hexdigest()[:16]


def import_dry_run_start(*, job: ImportJob, actor: AbstractBaseUser | None) -> ImportJob:
    """State checking, and the dry-run job (orders.jobs.import_dry_run) enqueued on commit. A stalled dry run
    (no progress for IMPORT_STALE_SECONDS: its worker died) is started afresh."""
    stalled = import_dry_run_stalled(job=job)
    _busy(job)
    if not job.header_row or not job.mapping:
        raise ImportRefused(_("Choose the sheet, header row and columns first."), code=ImportErrorCode.BAD_MAPPING)
    now = timezone.now()
    job.state, job.rows_done, job.started_at, job.progress_at, job.finished_at, job.error = (
        ImportJob.State.CHECKING,
        0,
        now,
        now,
        None,
        "",
    )
    history_attribute(job, actor=actor, reason="stalled dry run started again" if stalled else "dry run started")
    job.save()
    job_enqueue_on_commit(
        job="orders.jobs.import_dry_run", queue="imports", timeout=settings.IMPORT_JOB_TIMEOUT_SECONDS, job_id=job.pk
    )
    return job


def unmapped_codes(codes) -> list[str]:
    codes = list(codes)
    mapped = set(LegacyStatusMapping.objects.filter(code__in=codes).values_list("code", flat=True))
    return sorted(code for code in codes if code not in mapped)


def _unmapped_refusal(missing: list[str]) -> ImportRefused:
    return ImportRefused(
        _("Map these legacy status codes first (legacy status mappings): %(codes)s.") % {"codes": ", ".join(missing)},
        code=ImportErrorCode.UNMAPPED_STATUS,
        extra={"codes": missing},
    )


def import_commit_start(*, job: ImportJob, actor: AbstractBaseUser | None) -> ImportJob:
    """Refused unless the dry run is current (state checked, same configuration) and every status code in the
    file is mapped (LegacyStatusMapping); a failed or stalled commit may be started again and resumes.
    State committing, and orders.jobs.import_commit enqueued on the "imports" queue on commit."""
    resuming = job.summary.get("commit_started") and (
        job.state == ImportJob.State.FAILED or (job.state == ImportJob.State.COMMITTING and import_stalled(job=job))
    )
    if job.state == ImportJob.State.DONE:
        raise ImportRefused(_("This file has already been imported."), code=ImportErrorCode.DONE)
    if job.state == ImportJob.State.COMMITTING and not resuming:
        raise ImportRefused(_("The import is running; wait until it has finished."), code=ImportErrorCode.BUSY)
    if not resuming and (job.state != ImportJob.State.CHECKED or job.summary.get("config") != _config_digest(job)):
        raise ImportRefused(
            _("Run the dry run again first: the file or its settings changed since the last one."),
            code=ImportErrorCode.NOT_CHECKED,
        )
    missing = unmapped_codes(job.summary.get("status_codes", {}))
    if missing:
        raise _unmapped_refusal(missing)
    now = timezone.now()
    job.state, job.error, job.progress_at, job.finished_at = ImportJob.State.COMMITTING, "", now, None
    if not resuming:
        job.started_at, job.rows_done, job.rows_total = now, 0, job.summary.get("will_create_lines", 0)
    job.summary = {**job.summary, "commit_started": now.isoformat()}
    history_attribute(job, actor=actor, reason="import resumed" if resuming else "import started")
    job.save()
    job_enqueue_on_commit(
        job="orders.jobs.import_commit", queue="imports", timeout=settings.IMPORT_JOB_TIMEOUT_SECONDS, job_id=job.pk
    )
    return job


# --- the jobs ------------------------------------------------------------------------------------------------------
def _progress(job: ImportJob, **values) -> None:
    """Progress is not an audit fact: written without a history row."""
    for name, value in values.items():
        setattr(job, name, value)
    job.progress_at = timezone.now()
    job.skip_history_when_saving = True
    try:
        job.save(update_fields=PROGRESS_FIELDS)
    finally:
        del job.skip_history_when_saving


def _in_hub(channel_id: int, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), LOOKUP_CHUNK):
        chunk = numbers[start : start + LOOKUP_CHUNK]
        found.update(
            Order.objects.filter(channel_id=channel_id, channel_order_no__in=chunk)
            .order_by()
            .values_list("channel_order_no", flat=True)
        )
    return found


def _plan(job: ImportJob, *, track_progress: bool) -> tuple[plan.Plan, dict[str, LegacyStatusMapping]]:
    """Read every row of the job's sheet and plan it: (the plan, the legacy status mappings of its codes by code,
    read once: the unmapped codes are the plan's others)."""
    data = bytes(job.content)
    sheet = read.sheet_open(kind=job.file_kind, data=data, encoding=job.encoding, sheet_name=job.sheet_name)
    head: list[list] = []
    collector = None
    every = settings.IMPORT_PROGRESS_ROWS
    if track_progress:
        _progress(job, rows_total=max(sheet.height - job.header_row, 0), rows_done=0)
    for index, values in enumerate(sheet.rows):
        number = index + 1
        if number <= job.header_row:
            head.append(list(values))
            if number == job.header_row:
                collector = plan.Collector(plan.headers_of(head, job.header_row, sheet.merged), job.mapping)
            continue
        collector.add(values, number)
        if track_progress and (number - job.header_row) % every == 0:
            _progress(job, rows_done=number - job.header_row)
    if collector is None:
        raise ImportRefused(
            _("The sheet has fewer rows than the header row %(row)s.") % {"row": job.header_row},
            code=ImportErrorCode.BAD_MAPPING,
        )
    skus = skus_resolve(collector.skus)
    in_hub = _in_hub(job.channel_id, list(collector.plan.orders))
    statuses = {m.code: m for m in LegacyStatusMapping.objects.filter(code__in=list(collector.plan.status_codes))}
    result = collector.finish(known_skus=set(skus), in_hub=in_hub, mapped_codes=set(statuses))
    if track_progress:
        _progress(job, rows_done=result.rows, rows_total=result.rows)
    return result, statuses


def _unmapped(result: plan.Plan, statuses: dict[str, LegacyStatusMapping]) -> list[str]:
    return sorted(code for code in result.status_codes if code not in statuses)


def _job_for(job_id: int, state: str) -> ImportJob | None:
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.state != state:
        return None  # gone, or already finished (a retried job): nothing to do
    return job


def _fail(job_id: int, error: Exception) -> None:
    job = ImportJob.objects.get(pk=job_id)  # as committed: a failed batch's counts were rolled back
    job.state = ImportJob.State.FAILED
    job.error = (getattr(error, "message", "") or f"{type(error).__name__}: {error}")[:ERROR_MAX]
    job.finished_at = timezone.now()
    history_attribute(job, actor=None, reason="failed")
    job.save()


def import_dry_run(*, job_id: int) -> dict:
    """The dry-run job's body: read every row, normalise, look SKUs / aliases / existing orders / status codes up
    in bulk, write the ImportProblem rows (bulk) and the summary; progress every IMPORT_PROGRESS_ROWS rows.
    Returns the summary."""
    job = _job_for(job_id, ImportJob.State.CHECKING)
    if job is None:
        return {"skipped": job_id}
    try:
        with translation.override(settings.LANGUAGE_CODE):
            result, statuses = _plan(job, track_progress=True)
            summary = {
                **result.summary(unmapped=_unmapped(result, statuses)),
                "config": _config_digest(job),
            }
            with transaction.atomic():
                job.problems.all().delete()
                ImportProblem.objects.bulk_create(
                    (
                        ImportProblem(
                            job=job,
                            row_number=p.row,
                            column=p.column[:100],
                            code=p.code,
                            message=p.message[:500],
                            value=p.value[:200],
                        )
                        for p in result.problems
                    ),
                    batch_size=PROBLEM_BATCH,
                )
                job.summary = summary
                job.state = ImportJob.State.CHECKED
                job.finished_at = timezone.now()
                history_attribute(job, actor=None, reason="dry run done")
                job.save()
    except Exception as error:
        logger.exception("import %s dry run failed", job_id)
        _fail(job_id, error)
        return {"failed": str(error)}
    return summary


def _legacy_draft(job: ImportJob, order: plan.PlannedOrder, statuses: dict[str, LegacyStatusMapping]) -> LegacyDraft:
    value = order.value
    province, city, district = value("province") or "", value("city") or "", value("district") or ""
    detail = value("address") or ""
    if not province:
        province, city, district, detail = normalize.address_split(detail)
    phone = value("phone")
    code = value("status")
    mapping = statuses[code]
    draft = OrderDraft(
        channel=job.channel.code,
        channel_order_no=order.order_no,
        ordered_at=order.ordered_at,
        customer=CustomerDraft(name=value("receiver")[:100], phone=phone),
        address=Address(
            receiver=value("receiver")[:255],
            phone=phone,
            province=province[:32],
            city=city[:32],
            district=district[:32],
            detail=detail[:512],
        ),
        lines=tuple(LineDraft(sku=row.sku, quantity=row.quantity, unit_price=row.unit_price) for row in order.rows),
        buyer_id=(value("buyer_id") or "")[:64],
        paid_amount=order.paid_amount,
        paid_at=value("paid_at"),
    )
    return LegacyDraft(
        draft=draft,
        status=mapping.status,
        legacy_code=code,
        legacy_label=mapping.label,
        tracking_number=order.first_text("tracking_number")[:64],
        carrier=order.first_text("carrier")[:64],
        note=order.first_text("note")[:200],
    )


def import_commit(*, job_id: int, max_batches: int | None = None) -> dict:
    """The commit job's body: the orders the dry run said it would create, IMPORT_BATCH_ORDERS per transaction,
    each batch with its progress (rows_done, orders_created, progress_at); orders already in the hub are skipped,
    so a second run (a killed worker, a re-import) creates nothing twice. `max_batches`: stop after so many
    (tests of resuming). A failure sets state failed and error; the batch it was in leaves nothing."""
    job = _job_for(job_id, ImportJob.State.COMMITTING)
    if job is None:
        return {"skipped": job_id}
    batches = 0
    try:
        with translation.override(settings.LANGUAGE_CODE):
            result, statuses = _plan(job, track_progress=False)
            missing = _unmapped(result, statuses)
            if missing:
                raise _unmapped_refusal(missing)
            if result.valid_digest() != job.summary.get("valid_digest"):
                raise ImportRefused(
                    _("The hub changed since the dry run (SKUs or aliases): run the dry run again."),
                    code=ImportErrorCode.NOT_CHECKED,
                )
            orders = result.creatable()  # orders of earlier batches of this job are in the hub now: not again
            size = settings.IMPORT_BATCH_ORDERS
            actor = job.created_by
            for start in range(0, len(orders), size):
                if max_batches is not None and batches >= max_batches:
                    return {"stopped_after_batches": batches, "orders_created": job.orders_created}
                chunk = orders[start : start + size]
                drafts = [_legacy_draft(job, order, statuses) for order in chunk]
                with transaction.atomic():
                    created = legacy_orders_create(drafts=drafts, job_id=job.pk, file_name=job.file_name, actor=actor)
                    _progress(
                        job,
                        orders_created=job.orders_created + created,
                        rows_done=job.rows_done + sum(len(order.rows) for order in chunk),
                    )
                batches += 1
            job.state = ImportJob.State.DONE
            job.finished_at = timezone.now()
            history_attribute(job, actor=None, reason=f"imported {job.orders_created} orders")
            job.save()
    except Exception as error:
        logger.exception("import %s commit failed", job_id)
        _fail(job_id, error)
        return {"failed": str(error)}
    return {"orders_created": job.orders_created, "batches": batches}
