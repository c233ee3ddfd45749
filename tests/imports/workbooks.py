"""Messy legacy workbooks, built with openpyxl the way old systems and clerks leave them: title rows above the
header, merged header cells, Excel-mangled order numbers, dates in five spellings, full-width phones …"""

import io
import zipfile
from datetime import datetime

import openpyxl
import xlwt

HEADER = ["订单编号", "买家会员名", "收货人姓名", "联系手机", "收货地址", "商品编码", "数量", "单价", "实付金额",
          "订单状态", "物流单号", "快递公司", "下单时间"]  # fmt: skip


def row(no, sku="MASK-001", qty=1, price="99.00", *, phone="13812345678", status="A01", when="2025-01-05 09:00:00",
        buyer="tb_buyer", receiver="张三", address="浙江省杭州市西湖区文三路1号", paid="99.00", tracking="",
        carrier=""):  # fmt: skip
    return [no, buyer, receiver, phone, address, sku, qty, price, paid, status, tracking, carrier, when]


def xlsx(rows, *, header=HEADER, title_rows=0, sheet="订单", merged_header=False, extra_sheets=()) -> bytes:
    """A workbook whose first sheet has `title_rows` title lines, then the header, then the rows. merged_header:
    a two-line header whose 收货信息 group is merged over 收货人姓名/联系手机/收货地址 and whose other names are
    merged down over both lines (calamine gives a merged value at its first cell only)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for i in range(title_rows):
        ws.append(["2025年历史订单导出" if i == 0 else "导出时间：2025-04-01"])
    if title_rows:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
    if merged_header:
        top = title_rows + 1
        for col, name in enumerate(header, 1):
            if name in ("收货人姓名", "联系手机", "收货地址"):
                ws.cell(top + 1, col, name)
            else:
                ws.cell(top, col, name)
                ws.merge_cells(start_row=top, start_column=col, end_row=top + 1, end_column=col)
        ws.cell(top, 3, "收货信息")
        ws.merge_cells(start_row=top, start_column=3, end_row=top, end_column=5)
    else:
        ws.append(header)
    for values in rows:
        ws.append(values)
    for name, values in extra_sheets:
        other = wb.create_sheet(name)
        for line in values:
            other.append(line)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows, *, encoding: str, header=HEADER) -> bytes:
    lines = [",".join(str(v) for v in header)] + [",".join(str(v) for v in r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def rezip(data: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None,
          compression=zipfile.ZIP_DEFLATED) -> bytes:  # fmt: skip
    """The same xlsx with some parts replaced or added (to build .xlsm, bombs and XML attacks)."""
    replace, add = replace or {}, add or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as target:
        for item in source.infolist():
            target.writestr(item.filename, replace.get(item.filename, source.read(item.filename)))
        for name, content in add.items():
            target.writestr(name, content)
    return out.getvalue()


WHEN = datetime(2025, 1, 5, 9, 0)


def xls(rows, *, header=HEADER, title_rows=0, sheet="订单") -> bytes:
    """The same layout as an old-style .xls (BIFF8), as Excel 2003 and many Chinese systems still export it."""
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet(sheet)
    for r in range(title_rows):
        ws.write(r, 0, f"历史订单导出（第 {r + 1} 行标题）")
    dates = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    for c, name in enumerate(header):
        ws.write(title_rows, c, name)
    for r, values in enumerate(rows, start=title_rows + 1):
        for c, value in enumerate(values):
            if isinstance(value, datetime):
                ws.write(r, c, value, dates)
            else:
                ws.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
