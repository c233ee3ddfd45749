"""The Excel history import: upload (guards, the file stored in PostgreSQL before we answer), configuration
(sheet, header row, column mapping, remembered per template), the dry run (a job: every problem with its Excel
row, and the counts), and the commit (a job on the "imports" queue: legacy orders in batches of
IMPORT_BATCH_ORDERS, each batch one transaction, resumable, idempotent) through intake.legacy_orders_create."""

from django.contrib.auth.models import AbstractBaseUser

from orders.exceptions import ImportRefused  # noqa: F401  (raised here; the admin catches it)
from orders.models import Channel, ImportJob


def import_upload(
    *, file_name: str, data: bytes, content_type: str, channel: Channel, actor: AbstractBaseUser | None
) -> ImportJob:
    """Check the upload (size, type by content, no macros, no zip bomb, no XML entities, CSV encoding) and store
    it as an ImportJob (state uploaded, sheets listed, sheet and header row guessed, mapping suggested).
    Raises ImportRefused(message, code) naming the guard; nothing is stored then."""
    raise NotImplementedError


def import_configure(
    *, job: ImportJob, sheet_name: str, header_row: int, mapping: dict[str, int], actor: AbstractBaseUser | None
) -> ImportJob:
    """Set the sheet, the header row (Excel's row number) and {field: column index}; remember them as the template
    of this header list. A changed configuration makes an earlier dry run stale (state back to uploaded).
    Raises ImportRefused (unknown sheet, a required field unmapped, a column out of range, job busy or done)."""
    raise NotImplementedError


def import_dry_run_start(*, job: ImportJob, actor: AbstractBaseUser | None) -> ImportJob:
    """State checking, and the dry-run job (orders.jobs.import_dry_run) enqueued on commit."""
    raise NotImplementedError


def import_commit_start(*, job: ImportJob, actor: AbstractBaseUser | None) -> ImportJob:
    """Refused unless the dry run is current (state checked, same configuration) and every status code in the
    file is mapped (LegacyStatusMapping); a failed or stalled commit may be started again and resumes.
    State committing, and orders.jobs.import_commit enqueued on the "imports" queue on commit."""
    raise NotImplementedError


def import_dry_run(*, job_id: int) -> dict:
    """The dry-run job's body: read every row, normalise, look SKUs / aliases / existing orders / status codes up
    in bulk, write the ImportProblem rows (bulk) and the summary; progress every IMPORT_PROGRESS_ROWS rows.
    Returns the summary."""
    raise NotImplementedError


def import_commit(*, job_id: int, max_batches: int | None = None) -> dict:
    """The commit job's body: the orders the dry run said it would create, IMPORT_BATCH_ORDERS per transaction,
    each batch with its progress (rows_done, orders_created, progress_at); orders already in the hub are skipped,
    so a second run (a killed worker, a re-import) creates nothing twice. `max_batches`: stop after so many
    (tests of resuming). A failure sets state failed and error; the batch it was in leaves nothing."""
    raise NotImplementedError
