"""Cell values as old systems and Excel leave them, cleaned up (orders/imports/normalize.py), or refused with a
reason; and header names as merged cells leave them (orders/imports/plan.py)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from orders.imports import normalize
from orders.imports.normalize import Bad
from orders.imports.plan import header_guess, headers_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025/1/5 14:03", datetime(2025, 1, 5, 14, 3)),
        ("2025-01-05 09:00:00", datetime(2025, 1, 5, 9, 0)),
        ("2025年1月7日 8:15", datetime(2025, 1, 7, 8, 15)),
        ("2025年1月7日", datetime(2025, 1, 7)),
        ("20250108", datetime(2025, 1, 8)),
        (20250108.0, datetime(2025, 1, 8)),
        (45662.375, datetime(2025, 1, 5, 9, 0)),  # Excel's serial number
        ("45662.5", datetime(2025, 1, 5, 12, 0)),
        (datetime(2025, 1, 9, 10, 30), datetime(2025, 1, 9, 10, 30)),  # a real datetime cell: Shanghai time
        (date(2025, 1, 9), datetime(2025, 1, 9)),
        ("2025.1.5 14:03:59", datetime(2025, 1, 5, 14, 3, 59)),
    ],
)
def test_dates_read_in_shanghai(value, expected):
    assert normalize.moment(value) == expected.replace(tzinfo=SHANGHAI)


def test_aware_datetime_converted_to_shanghai():
    assert normalize.moment(datetime(2025, 1, 5, 1, 0, tzinfo=ZoneInfo("UTC"))).hour == 9


@pytest.mark.parametrize("value", ["去年双十一", "2025/13/5", "2025-02-30 10:00", "", "1/5/2025x"])
def test_dates_refused(value):
    with pytest.raises(Bad) as caught:
        normalize.moment(value)
    assert caught.value.code == "bad_date"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("＋８６ １３８-１２３４-５６７８", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        (13812345678.0, "13812345678"),
        ("138****5678", "138****5678"),  # masked: kept as masked
        ("+86 138****5678", "138****5678"),
    ],
)
def test_phones_cleaned(value, expected):
    assert normalize.phone(value) == expected


@pytest.mark.parametrize("value", ["12345", "0571-88888888", "238 1234 5678", "138***5678"])
def test_phones_refused(value):
    with pytest.raises(Bad) as caught:
        normalize.phone(value)
    assert caught.value.code == "bad_phone"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("¥1,299.00", "1299.00"), ("￥ 1,299.5元", "1299.50"), (1299, "1299.00"), (0.1 + 0.2, "0.30"), ("RMB 1", "1.00")],
)
def test_amounts_read_as_decimal(value, expected):
    assert normalize.amount(value) == Decimal(expected)


@pytest.mark.parametrize("value", ["abc", "-5", "1.2.3", True])
def test_amounts_refused(value):
    with pytest.raises(Bad):
        normalize.amount(value)


@pytest.mark.parametrize(("value", "expected"), [("2", 2), ("２件", 2), (3.0, 3), (4, 4), ("5.0", 5)])
def test_quantities(value, expected):
    assert normalize.quantity(value) == expected


@pytest.mark.parametrize("value", ["两件", "0", 1.5, "-1", "1e3"])
def test_quantities_refused(value):
    with pytest.raises(Bad) as caught:
        normalize.quantity(value)
    assert caught.value.code == "bad_quantity"


@pytest.mark.parametrize("value", [1.23456789012345e18, "1.23E+18", "1.23456789012345E+17", 2**62 - 2**62 % 1000])
def test_order_numbers_excel_rounded_are_refused(value):
    with pytest.raises(Bad) as caught:
        normalize.order_no(value)
    assert caught.value.code == "mangled_order_no"
    assert "格式" in caught.value.reason or "format" in caught.value.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [("123456789012345678", "123456789012345678"), (20250105001.0, "20250105001"), ("TB-2025-01", "TB-2025-01")],
)
def test_order_numbers_kept(value, expected):
    assert normalize.order_no(value) == expected


def test_long_text_numbers_ending_in_zeros_look_rounded_the_file_decides():
    # as text they may be real: the dry run flags them when many of the file's long numbers look so
    assert normalize.order_no("1234567890123450000") == "1234567890123450000"
    assert normalize.looks_rounded("1234567890123450000")
    assert not normalize.looks_rounded("1234567890123450001")
    assert not normalize.looks_rounded("123456789012340")  # 15 digits: Excel keeps them all


def test_header_merged_across_columns_names_each_of_them():
    rows = [["订单编号", "收货信息", "", "", "数量"], ["A1", "张三", "13812345678", "杭州", 1]]
    merged = [((0, 1), (0, 3))]
    assert headers_of(rows, 1, merged) == ["订单编号", "收货信息", "收货信息 (2)", "收货信息 (3)", "数量"]
    assert headers_of(rows, 1) == ["订单编号", "收货信息", "列 C", "列 D", "数量"]  # no merge known (CSV)


def test_header_guess_skips_title_rows():
    rows = [["2025年订单导出"], ["导出人：小王", ""], [], ["订单编号", "收货人", "联系手机", "商品编码"], ["A1", "张"]]
    assert header_guess(rows) == 4
