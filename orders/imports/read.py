"""Reading an uploaded file's rows: xlsx and xls through python-calamine, CSV with the encoding the guards found.
Rows are lists of cell values (str, float, int, bool, datetime, date, time; "" for an empty cell), numbered as
Excel numbers them (from 1). Pure."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _
from python_calamine import CalamineError, CalamineWorkbook

from orders.exceptions import ImportErrorCode, ImportRefused

CSV_SHEET = "CSV"


def _workbook(data: bytes) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (CalamineError, ValueError, OSError) as error:
        raise ImportRefused(
            _("The workbook cannot be read (%(error)s). Open it in Excel and save it again.") % {"error": error},
            code=ImportErrorCode.UNREADABLE,
        ) from error


def sheet_names(*, kind: str, data: bytes) -> list[str]:
    if kind == "csv":
        return [CSV_SHEET]
    return list(_workbook(data).sheet_names)


def _sheet(workbook: CalamineWorkbook, sheet_name: str):
    try:
        return workbook.get_sheet_by_name(sheet_name)
    except Exception as error:
        raise ImportRefused(
            _("The workbook has no sheet named '%(sheet)s'.") % {"sheet": sheet_name}, code=ImportErrorCode.NO_SHEET
        ) from error


def rows_read(*, kind: str, data: bytes, encoding: str, sheet_name: str) -> Iterator[list]:
    """Every row from Excel's row 1 on (empty rows included, so positions are row numbers)."""
    if kind == "csv":
        text = data.decode(encoding or "utf-8")
        yield from csv.reader(io.StringIO(text, newline=""))
        return
    yield from _sheet_rows(_sheet(_workbook(data), sheet_name))


def _sheet_rows(sheet) -> Iterator[list]:
    try:
        yield from sheet.iter_rows()
    except CalamineError as error:
        raise ImportRefused(
            _("The sheet cannot be read (%(error)s).") % {"error": error}, code=ImportErrorCode.UNREADABLE
        ) from error


@dataclass
class Sheet:
    """One sheet opened once: its rows (an iterator, from Excel's row 1), merged cells (0-based ranges) and
    its height (rows, an estimate for CSV)."""

    rows: Iterator[list]
    merged: list
    height: int


def sheet_open(*, kind: str, data: bytes, encoding: str, sheet_name: str) -> Sheet:
    if kind == "csv":
        return Sheet(
            rows=rows_read(kind=kind, data=data, encoding=encoding, sheet_name=sheet_name),
            merged=[],
            height=data.count(b"\n") + (0 if data.endswith(b"\n") else 1),
        )
    sheet = _sheet(_workbook(data), sheet_name)

    try:
        merged = list(sheet.merged_cell_ranges or [])
    except Exception:  # a format calamine keeps no merges for
        merged = []
    return Sheet(rows=_sheet_rows(sheet), merged=merged, height=sheet.end[0] + 1 if sheet.end else 0)


def top_rows(*, kind: str, data: bytes, encoding: str, sheet_name: str, count: int) -> tuple[list[list], list]:
    """(the first `count` rows, the sheet's merged cells)."""
    sheet = sheet_open(kind=kind, data=data, encoding=encoding, sheet_name=sheet_name)
    rows = []
    for row in sheet.rows:
        rows.append(list(row))
        if len(rows) >= count:
            break
    return rows, sheet.merged
