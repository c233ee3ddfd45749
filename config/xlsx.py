"""Excel files we hand out: safe to open, constant memory for long lists.

`safe_cell(value)` is what goes into a cell. Text that Excel would read as a formula (it starts with = + - @, a
tab or a carriage return) becomes `QuotedText`: the writer marks its cell quote-prefixed, Excel's own "this is
text" flag (the apostrophe typed before a value), so the cell shows exactly the text and never runs it, even
after the reader edits it. "+86 138 0013 8000" therefore stays a readable phone, and -5 typed as text stays text.
Decimal and int stay numbers; datetimes are written as naive Asia/Shanghai time.

`xlsx_stream` writes a write-only workbook row by row into a temporary file and streams that file back in
chunks (the file is deleted when the response closes), so memory does not grow with the list.
`xlsx_bytes` is for small reports of a few sheets.
"""

import datetime
import math
import re
import tempfile
from collections.abc import Iterable
from decimal import Decimal
from itertools import chain, islice
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

# Characters that make Excel (or LibreOffice, or a CSV reader of the same text) treat a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 forbids these control characters; openpyxl refuses them. Tab, LF and CR are allowed.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Excel keeps 15 significant digits; longer integers (platform order ids) are written as text.
EXCEL_EXACT_INT_LIMIT = 10**15
# Excel's limit for the text of one cell.
CELL_MAX_CHARS = 32767

AMOUNT_FORMAT = "0.00"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "hh:mm:ss"

# Column widths come from the header and the first rows; wide CJK characters count twice.
WIDTH_SAMPLE_ROWS = 200
WIDTH_MIN, WIDTH_MAX = 6, 60

STREAM_CHUNK_BYTES = 64 * 1024


class QuotedText(str):
    """Text that would start a formula: written as a quote-prefixed text cell."""


def _local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _excel_keeps(number) -> bool:
    """6900000000000009990 would become 6.9E+18 (15 digits); Excel has no NaN or infinity."""
    if isinstance(number, int):
        return abs(number) < EXCEL_EXACT_INT_LIMIT
    return math.isfinite(number)


def safe_cell(value):
    """The value as written to a cell: None → empty, booleans → 是/否, Decimal/int/float numbers (but integers of
    16+ digits and NaN/infinity as text: Excel would lose digits or refuse them), aware datetimes → naive local
    time, dates and times as they are, text cleaned of XML-illegal characters and, when it would start a formula,
    `QuotedText`. Anything else (a lazy translation, a model) is written as its text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float, Decimal)):
        if _excel_keeps(value):
            return value
        value = str(value)  # and on, as text
    elif isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(_local_tz())
        return value.replace(tzinfo=None)
    if isinstance(value, datetime.time):
        return value.replace(tzinfo=None)
    if isinstance(value, datetime.date):
        return value
    text = _ILLEGAL_XML.sub("", str(value))[:CELL_MAX_CHARS]
    if text.startswith(FORMULA_STARTS):
        return QuotedText(text)
    return text


def _cell(sheet, value) -> WriteOnlyCell:
    value = safe_cell(value)
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, str(value))
        # openpyxl infers a formula from a leading "=" and an error from "#N/A"; everything we write is text.
        cell.data_type = "s"
        if isinstance(value, QuotedText):
            cell.quotePrefix = True
        return cell
    cell = WriteOnlyCell(sheet, value)
    if isinstance(value, Decimal):
        cell.number_format = AMOUNT_FORMAT
    elif isinstance(value, datetime.datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, datetime.date):
        cell.number_format = DATE_FORMAT
    elif isinstance(value, datetime.time):
        cell.number_format = TIME_FORMAT
    return cell


def _display_width(value) -> int:
    value = safe_cell(value)
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return len(f"{value:.2f}")
    if isinstance(value, datetime.datetime):
        return 19
    if isinstance(value, datetime.date):
        return 10
    text = str(value).split("\n", 1)[0]
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _write_sheet(sheet, header: list, rows: Iterable[list]) -> int:
    """Header (bold, frozen), widths from the first rows, then every row. Returns the number of data rows."""
    rows = iter(rows)
    sample = list(islice(rows, WIDTH_SAMPLE_ROWS))
    for index, label in enumerate(header, start=1):
        widest = max([_display_width(label), *(_display_width(row[index - 1]) for row in sample if len(row) >= index)])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(widest + 2, WIDTH_MIN), WIDTH_MAX)
    sheet.freeze_panes = "A2"
    bold, middle = Font(bold=True), Alignment(vertical="center")
    heading = []
    for label in header:
        cell = _cell(sheet, label)
        cell.font, cell.alignment = bold, middle
        heading.append(cell)
    sheet.append(heading)
    count = 0
    for row in chain(sample, rows):
        sheet.append([_cell(sheet, value) for value in row])
        count += 1
    return count


def _sheet_title(name: str) -> str:
    # Excel: at most 31 characters, none of : \ / ? * [ ]
    return re.sub(r"[:\\/?*\[\]]", "_", str(name))[:31] or "Sheet1"


def xlsx_write(target, sheets: dict[str, tuple[list, Iterable[list]]]) -> None:
    """Write the sheets ({title: (header, rows)}) as a write-only workbook into `target` (a path or binary file)."""
    workbook = Workbook(write_only=True)
    for title, (header, rows) in sheets.items():
        _write_sheet(workbook.create_sheet(_sheet_title(title)), list(header), rows)
    workbook.save(target)


def xlsx_bytes(sheets: dict[str, tuple[list, Iterable[list]]]) -> bytes:
    """A small workbook (reports of a few thousand rows) as bytes."""
    with tempfile.TemporaryFile() as file:
        xlsx_write(file, sheets)
        file.seek(0)
        return file.read()


def xlsx_filename(name: str, ext: str = "xlsx") -> str:
    """e.g. 订单_2026-12-01.xlsx: the list's name and today's local date."""
    safe = re.sub(r'[\\/:*?"<>|\r\n\t]', "_", str(name)).strip() or "export"
    return f"{safe}_{timezone.localdate():%Y-%m-%d}.{ext}"


def xlsx_response_from_file(file, filename: str) -> FileResponse:
    """Stream an open workbook file back in chunks; FileResponse closes it (a TemporaryFile is then gone)."""
    file.seek(0)
    response = FileResponse(
        file,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response.block_size = STREAM_CHUNK_BYTES
    return response


def xlsx_stream(filename: str, header: list, rows: Iterable[list], sheet_title: str | None = None) -> FileResponse:
    """A one-sheet workbook of `rows` as a download named `filename` (Chinese names via RFC 5987 filename*).

    Rows are written as they come (feed it `queryset.iterator(chunk_size=2000)`), into a temporary file that is
    unlinked at once and closed with the response: memory stays flat however long the list."""
    file = tempfile.TemporaryFile()
    try:
        title = sheet_title or filename.rsplit(".", 1)[0]
        xlsx_write(file, {title: (header, rows)})
    except BaseException:
        file.close()
        raise
    return xlsx_response_from_file(file, filename)
