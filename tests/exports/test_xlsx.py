"""config/xlsx.py: cells that would start a formula stay text, numbers stay numbers, times are local."""

import datetime
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.http import FileResponse

from config.xlsx import QuotedText, safe_cell, xlsx_bytes, xlsx_filename, xlsx_stream
from tests.exports.xlsx_read import calamine_rows, openpyxl_rows, response_bytes

DANGEROUS = ['=HYPERLINK("http://evil.example","点我")', "+1+2", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", DANGEROUS)
def test_formula_starts_come_back_as_quote_prefixed_text(text):
    data = xlsx_bytes({"s": (["列"], [[text]])})
    (cell,) = openpyxl_rows(data)[1]
    assert cell.data_type == "s"  # not "f": no formula in the file
    assert cell.quotePrefix is True  # Excel's text marker: the reader sees the text, editing keeps it text
    # openpyxl reads a stored CR as the XML parser normalises it (to LF); the text is unchanged otherwise
    assert cell.value.replace("\n", "\r") == text or cell.value == text
    assert calamine_rows(data)[1] == [text]


def test_plain_text_is_not_marked_and_error_lookalikes_stay_text():
    data = xlsx_bytes({"s": (["a", "b", "c"], [["普通文本", "#N/A", "a=b"]])})
    cells = openpyxl_rows(data)[1]
    assert [c.value for c in cells] == ["普通文本", "#N/A", "a=b"]
    assert [c.data_type for c in cells] == ["s", "s", "s"]
    assert not any(c.quotePrefix for c in cells)


def test_numbers_phones_booleans_and_empty_cells():
    row = [Decimal("1299.00"), Decimal("-15.50"), 7, "+86 138 0013 8000", "138****8000", True, False, None]
    data = xlsx_bytes({"s": (["金额", "退款", "数量", "电话", "脱敏", "是", "否", "空"], [row])})
    cells = openpyxl_rows(data)[1]
    assert cells[0].value == 1299 and cells[0].data_type == "n" and cells[0].number_format == "0.00"
    assert cells[1].value == -15.5 and cells[1].data_type == "n"
    assert cells[2].value == 7 and cells[2].data_type == "n"
    assert cells[3].value == "+86 138 0013 8000" and cells[3].data_type == "s"  # readable, no apostrophe
    assert cells[4].value == "138****8000"
    assert [c.value for c in cells[5:]] == ["是", "否", None]
    assert calamine_rows(data)[1][:4] == [1299.0, -15.5, 7, "+86 138 0013 8000"]


def test_aware_datetimes_are_written_in_shanghai_time_with_a_date_format():
    utc = datetime.datetime(2025, 1, 5, 16, 30, tzinfo=datetime.UTC)
    data = xlsx_bytes({"s": (["下单时间", "日期"], [[utc, datetime.date(2025, 1, 7)]])})
    when, day = openpyxl_rows(data)[1]
    assert when.value == datetime.datetime(2025, 1, 6, 0, 30)  # naive, Asia/Shanghai
    assert when.number_format == "yyyy-mm-dd hh:mm:ss"
    assert day.number_format == "yyyy-mm-dd"
    assert calamine_rows(data)[1][0] == datetime.datetime(2025, 1, 6, 0, 30)


def test_safe_cell_values():
    assert isinstance(safe_cell("=1"), QuotedText)
    assert not isinstance(safe_cell("1="), QuotedText)
    assert safe_cell("bad\x00\x07chars") == "badchars"  # XML cannot carry them
    assert safe_cell(6900000000000009990) == "6900000000000009990"  # 19 digits: Excel would round it
    assert safe_cell(999_999_999_999_999) == 999_999_999_999_999
    assert safe_cell(float("nan")) == "nan" and safe_cell(Decimal("Infinity")) == "Infinity"
    assert isinstance(safe_cell(-6900000000000009990), QuotedText)  # as text, a leading minus is marked too
    shanghai = datetime.datetime(2025, 1, 5, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert safe_cell(shanghai) == datetime.datetime(2025, 1, 5, 8, 0)


def test_header_is_bold_frozen_and_columns_get_widths():
    data = xlsx_bytes({"订单": (["订单编号", "收货地址"], [["SO1", "浙江省杭州市西湖区文三路 100 号 3 幢 501 室"]])})
    sheet = openpyxl.load_workbook(io.BytesIO(data))["订单"]
    assert sheet["A1"].font.b and sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width > sheet.column_dimensions["A"].width >= 6


def test_xlsx_stream_is_a_file_backed_streaming_download_with_a_chinese_filename():
    rows = ([i, f"SO{i}", Decimal(i) / 100] for i in range(5000))
    response = xlsx_stream(xlsx_filename("订单"), ["序号", "订单编号", "金额"], rows)
    assert isinstance(response, FileResponse) and response.streaming
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=utf-8''%E8%AE%A2%E5%8D%95_20" in disposition
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows_read = calamine_rows(response_bytes(response))
    assert len(rows_read) == 5001 and rows_read[-1] == [4999, "SO4999", 49.99]


def test_filename_has_the_local_date_and_no_path_characters():
    name = xlsx_filename("库存/流水")
    assert name.startswith("库存_流水_") and name.endswith(".xlsx")
    datetime.date.fromisoformat(name[len("库存_流水_") : -len(".xlsx")])
