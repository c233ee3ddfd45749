"""Reading back what an export produced, with both readers a recipient might use."""

import io

import openpyxl
import python_calamine


def response_bytes(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def openpyxl_rows(data: bytes) -> list[list]:
    """Cells (value, data_type, quotePrefix, number_format) of the first sheet."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(row) for row in sheet.iter_rows()]


def calamine_rows(data: bytes) -> list[list]:
    return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
