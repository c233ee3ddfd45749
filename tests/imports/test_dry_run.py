"""The dry run of a messy workbook: title rows and a merged two-line header found, every fault reported with its
Excel row and a reason a clerk understands, and the counts the commit will match."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from orders.exceptions import ImportRefused
from orders.models import ImportJob, ImportTemplate
from orders.selectors import import_preview_rows, import_progress, import_report_rows, import_sheet_preview
from orders.services.imports import import_configure, import_dry_run, import_dry_run_start, import_upload
from tests.factories import make_order
from tests.imports.workbooks import HEADER, csv_bytes, row, xls, xlsx

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
MANGLED = "Excel 已将此订单号四舍五入（变成了科学计数法或末尾补零）；请把该列设为“文本”格式后重新导出。"

# Excel rows 5 … 27 under two title rows and a two-line header (rows 3–4).
MESSY = [
    row("TB1001", "MASK-001", 2, "99.00", paid="218.00"),  # 5
    row("TB1001", "面膜小样", 1, "20.00", paid="218.00"),  # 6: the same order, a second line (an alias)
    row("TB1001", "MASK-001", 2, "99.00", paid="218.00"),  # 7: an exact repeat of row 5
    row("TB1002", receiver="王五"),  # 8
    row("TB1002", "CREAM-02", receiver="李四"),  # 9: the same order number, another receiver: conflict
    row(1.23456789012345e18),  # 10: Excel made a float of it
    row("1234567890123450000"),  # 11: … and kept 15 digits of it
    row("TB1003", price="¥1,299.00", paid="¥1,299.00", phone="＋８６ １３８-１２３４-５６７８", when="2025/1/5 14:03"),
    row("TB1004", phone="138****5678", when="2025年1月7日 8:15", buyer=""),  # 13: masked phone kept
    row("TB1005", status="B02", when="20250108"),  # 14
    row("TB1006", when=45662.375),  # 15: an Excel serial number
    row("TB1007", when=datetime(2025, 1, 9, 10, 30)),  # 16: a real datetime cell
    row("TB1008", when="去年双十一"),  # 17
    row("TB1009", phone="12345"),  # 18
    row("TB1010", "NOPE-9"),  # 19
    row("TB1011", qty="两件"),  # 20
    row("TB1012", price="abc"),  # 21
    row("TB1013", receiver=""),  # 22
    row("TB1014", status="Z99"),  # 23: a code nobody mapped yet
    row("HUB-1"),  # 24: already in the hub
    [""] * len(HEADER),  # 25: blank
    row("TB1015", "MASK-001", 1, "99.00", paid="119.00"),  # 26
    row("TB1015", "CREAM-02", 1, "20.00", paid="119.00"),  # 27
]


def messy_job(catalogue) -> ImportJob:
    make_order(channel_order_no="HUB-1")
    return import_upload(
        file_name="2025Q1历史订单.xlsx",
        data=xlsx(MESSY, title_rows=2, merged_header=True),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        channel=catalogue,
        actor=None,
    )


def dry_run(job: ImportJob) -> dict:
    import_dry_run_start(job=job, actor=None)
    import_dry_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == ImportJob.State.CHECKED, job.error
    return job.summary


def problems(job: ImportJob) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for number, code in job.problems.values_list("row_number", "code"):
        found.setdefault(number, []).append(code)
    return found


def test_upload_finds_header_under_title_rows_and_merged_two_line_header(catalogue):
    job = messy_job(catalogue)

    preview = import_sheet_preview(job=job, sheet_name="订单")

    assert job.header_row == preview["header_row"] == 4
    assert preview["headers"] == HEADER  # 订单编号 … merged down from row 3 name their columns on row 4
    assert preview["mapping"]["receiver"] == 2 and preview["mapping"]["ordered_at"] == 12
    assert preview["rows"][0][0] == "2025年历史订单导出"


def test_dry_run_reports_every_fault_with_its_excel_row(catalogue):
    job = messy_job(catalogue)

    summary = dry_run(job)

    found = problems(job)
    assert found == {
        7: ["duplicate_row"],
        9: ["conflicting_rows"],
        10: ["mangled_order_no"],
        11: ["mangled_order_no"],
        17: ["bad_date"],
        18: ["bad_phone"],
        19: ["unknown_sku"],
        20: ["bad_quantity"],
        21: ["bad_amount"],
        22: ["missing_field"],
        23: ["unknown_status"],
        24: ["already_in_hub"],
    }
    assert summary["rows"] == 22
    assert summary["orders"] == 16
    assert summary["will_create"] == 8  # TB1001, 1003–1007, 1014, 1015
    assert summary["will_create_lines"] == 10
    assert summary["already_in_hub"] == 1
    assert summary["skipped_orders"] == 7
    assert summary["unmapped_status_codes"] == ["Z99"]
    assert summary["status_codes"] == {"A01": 20, "B02": 1, "Z99": 1}
    assert summary["problems"]["mangled_order_no"] == 2
    assert job.rows_done == job.rows_total == 22


def test_dry_run_reasons_are_chinese_and_name_the_row(catalogue):
    job = messy_job(catalogue)
    dry_run(job)

    messages = dict(job.problems.values_list("row_number", "message"))
    assert messages[10] == f"第 10 行：{MANGLED}"
    assert messages[7] == "第 7 行：与第 5 行完全重复（订单 TB1001）；本行将被跳过。"
    assert messages[9].startswith("第 9 行：订单 TB1002 在第 8 行也出现过，但收货人姓名不同")
    assert messages[17] == "第 17 行：无法识别日期“去年双十一”；请写成 2025-01-05 14:03 这样的格式。"
    assert "状态码“Z99”（共 1 行）还没有历史状态映射" in messages[23]
    assert messages[24] == "第 24 行：订单 HUB-1 已在系统中，不会重复导入。"
    header, rows = import_report_rows(job=job)
    rows = list(rows)
    assert header == ["Excel 行号", "列", "值", "原因", "问题代码"]
    assert rows[0][0] == 7 and rows[-1][0] == 24
    assert next(r for r in rows if r[0] == 18)[1:3] == ["联系手机", "12345"]


def test_preview_rows_show_values_as_they_will_be_read(catalogue):
    job = messy_job(catalogue)

    preview = import_preview_rows(job=job, n=10)

    by_row = {item["row"]: item for item in preview}
    assert by_row[12]["values"]["phone"] == "13812345678"  # full-width, +86 and dashes cleaned
    assert by_row[12]["values"]["unit_price"] == "1299.00"
    assert by_row[12]["values"]["ordered_at"] == "2025-01-05 14:03"
    assert by_row[13]["values"]["phone"] == "138****5678"
    assert by_row[13]["values"]["ordered_at"] == "2025-01-07 08:15"
    assert by_row[14]["values"]["ordered_at"] == "2025-01-08 00:00"
    assert by_row[10]["problems"] == [MANGLED]


def test_progress_reports_rows_and_state(catalogue):
    job = messy_job(catalogue)
    dry_run(job)

    progress = import_progress(job=job)

    assert progress["state"] == "checked" and progress["state_label"] == "试运行完成"
    assert progress["rows_done"] == progress["rows_total"] == 22
    assert progress["summary"]["will_create"] == 8


def test_mapping_is_remembered_per_template(catalogue):
    headers = ["单号", "客户", "收件人", "电话", "地址", "货号", "件数", "价格", "状态", "日期"]
    first = import_upload(
        file_name="老系统导出.xlsx",
        data=xlsx(
            [["X1", "b", "张三", "13812345678", "浙江省杭州市文三路1号", "MASK-001", 1, 9, "A01", 20250101]],
            header=headers,
        ),
        content_type="",
        channel=catalogue,
        actor=None,
    )
    assert "channel_order_no" not in first.mapping  # 单号 is no synonym: the clerk maps it
    mapping = {"channel_order_no": 0, "buyer_id": 1, "receiver": 2, "phone": 3, "address": 4, "sku": 5,
               "quantity": 6, "unit_price": 7, "status": 8, "ordered_at": 9}  # fmt: skip
    import_configure(job=first, sheet_name="订单", header_row=1, mapping=mapping, actor=None)
    assert ImportTemplate.objects.get().mapping == mapping

    second = import_upload(
        file_name="老系统导出-2月.xlsx",
        data=xlsx(
            [["X2", "c", "李四", "13912345678", "上海市世纪大道2号", "MASK-001", 2, 9, "A01", 20250201]], header=headers
        ),
        content_type="",
        channel=catalogue,
        actor=None,
    )
    assert second.mapping == mapping and second.template_id == ImportTemplate.objects.get().pk
    summary = dry_run(second)
    assert summary["will_create"] == 1 and summary["problem_count"] == 0


def test_configure_refuses_a_mapping_without_required_fields(catalogue):
    job = messy_job(catalogue)
    with pytest.raises(ImportRefused) as caught:
        import_configure(job=job, sheet_name="订单", header_row=4, mapping={"channel_order_no": 0}, actor=None)
    assert caught.value.code == "bad_mapping"
    assert "请为每个必填字段指定列" in caught.value.message and "收货人姓名" in caught.value.message


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_dry_run_of_a_chinese_csv(catalogue, encoding):
    rows = [
        row("TB2001", when="2025/1/5 14:03"),
        row("TB2001", "CREAM-02", when="2025-01-05 14:03:00"),
        row("TB2002", phone="138 1234 5678"),
    ]
    job = import_upload(
        file_name="导出.csv", data=csv_bytes(rows, encoding=encoding), content_type="text/csv", channel=catalogue,
        actor=None,
    )  # fmt: skip

    summary = dry_run(job)

    assert (summary["rows"], summary["orders"], summary["will_create"], summary["problem_count"]) == (3, 2, 2, 0)


def test_dry_run_of_an_old_style_xls_under_a_title_row(catalogue):
    rows = [
        row("TB3001", when=datetime(2025, 1, 9, 10, 30)),  # a real date cell of the .xls
        row("TB3001", "CREAM-02", when=datetime(2025, 1, 9, 10, 30)),  # the same order, a second line
        row("TB3002", price="¥1,299.00", paid="¥1,299.00", phone="+86 138-1234-5678"),
        row("TB3003", "NOPE-9"),  # an unknown SKU
    ]
    job = import_upload(
        file_name="旧系统导出.xls", data=xls(rows, title_rows=1), content_type="application/vnd.ms-excel",
        channel=catalogue, actor=None,
    )  # fmt: skip
    assert job.file_kind == "xls" and job.header_row == 2  # the title row skipped

    summary = dry_run(job)

    assert (summary["rows"], summary["orders"], summary["will_create"]) == (4, 3, 2)
    assert problems(job) == {6: ["unknown_sku"]}  # Excel row 6: the title, the header, then rows 3–6
    preview = import_preview_rows(job=job, n=3)
    assert preview[0]["values"]["ordered_at"].startswith("2025-01-09 10:30")


def test_dry_run_lookups_are_set_based_not_per_row(catalogue, django_assert_max_num_queries):
    rows = [row(f"TB{3000 + i}", ("MASK-001", "CREAM-02", "面膜小样")[i % 3]) for i in range(300)]
    job = import_upload(file_name="大.xlsx", data=xlsx(rows), content_type="", channel=catalogue, actor=None)
    import_dry_run_start(job=job, actor=None)

    with django_assert_max_num_queries(20):
        import_dry_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.summary["will_create"] == 300


def test_a_long_order_number_ending_in_zeros_by_chance_is_kept(catalogue):
    # Excel rounds a whole column; one 18-digit number in many that ends in 000 is a real one
    numbers = [f"{123456789012345001 + i * 7919}" for i in range(9)] + ["223456789012345000"]
    job = import_upload(
        file_name="淘宝.xlsx", data=xlsx([row(no) for no in numbers]), content_type="", channel=catalogue, actor=None
    )
    summary = dry_run(job)
    assert (summary["will_create"], summary["problem_count"]) == (10, 0)


def test_a_column_of_long_numbers_ending_in_zeros_was_rounded_by_excel(catalogue):
    numbers = ["123456789012345000", "123456789012346000", "223456789012345000", "323456789012345001"]
    job = import_upload(
        file_name="淘宝.xlsx", data=xlsx([row(no) for no in numbers]), content_type="", channel=catalogue, actor=None
    )
    summary = dry_run(job)
    assert summary["will_create"] == 1
    assert sorted(job.problems.values_list("row_number", "code")) == [(r, "mangled_order_no") for r in (2, 3, 4)]
