"""Upload guards: the bytes decide what a file is; oversize, fakes, macros, zip bombs and XML attacks are refused
with a clear Chinese message and a code naming the guard, and nothing is stored."""

import io
import zipfile

import pytest

from orders.exceptions import ImportRefused
from orders.models import ImportJob
from orders.services.imports import import_upload
from tests.factories import ChannelFactory
from tests.imports.workbooks import csv_bytes, rezip, row, xlsx

pytestmark = pytest.mark.django_db


def upload(data: bytes, name: str = "历史订单.xlsx") -> ImportJob:
    return import_upload(
        file_name=name, data=data, content_type="application/octet-stream", channel=ChannelFactory(), actor=None
    )


def refused(data: bytes, name: str = "历史订单.xlsx") -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        upload(data, name)
    assert ImportJob.objects.count() == 0  # nothing stored
    return caught.value


def test_upload_plain_xlsx_is_stored_with_its_bytes_before_answering():
    data = xlsx([row("TB1001")])
    job = upload(data)
    stored = ImportJob.objects.get(pk=job.pk)
    assert bytes(stored.content) == data
    assert (stored.file_kind, stored.size, stored.state) == ("xlsx", len(data), "uploaded")
    assert stored.sheets == ["订单"] and stored.header_row == 1
    assert stored.mapping["channel_order_no"] == 0 and stored.mapping["ordered_at"] == 12


def test_upload_oversize_refused_naming_the_limit(settings):
    settings.IMPORT_MAX_BYTES = 1000
    error = refused(b"a,b\n" * 400, "big.csv")
    assert error.code == "too_large"
    assert "一次最多可导入" in error.message


def test_upload_empty_refused():
    assert refused(b"", "empty.csv").code == "empty_file"


def test_upload_renamed_exe_refused_by_content_not_name():
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200 + b"This program cannot be run"
    error = refused(exe, "订单.xlsx")
    assert error.code == "unknown_type"
    assert "不是 Excel 工作簿或 CSV 文件" in error.message


def test_upload_zip_that_is_not_a_workbook_refused():
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert refused(out.getvalue()).code == "unknown_type"


def test_upload_xlsm_refused_by_its_macro_part():
    data = xlsx([row("TB1001")])
    types = zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml")
    macro_types = types.replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    error = refused(rezip(data, replace={"[Content_Types].xml": macro_types}), "订单.xlsx")
    assert error.code == "macro_workbook"
    assert "含有宏" in error.message
    assert refused(rezip(data, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 100})).code == (
        "macro_workbook"
    )


def test_upload_zip_bomb_refused_by_ratio():
    data = rezip(xlsx([row("TB1001")]), add={"xl/media/padding.bin": b"\x00" * (20 * 1024 * 1024)})
    error = refused(data)
    assert error.code == "zip_bomb"
    assert "压缩炸弹" in error.message


def test_upload_zip_bomb_refused_by_entry_count(settings):
    settings.IMPORT_MAX_ZIP_ENTRIES = 50
    data = rezip(xlsx([row("TB1001")]), add={f"xl/media/{i}.txt": b"x" for i in range(60)})
    assert refused(data).code == "zip_bomb"


def test_upload_zip_bomb_refused_by_total_unpacked_size(settings):
    settings.IMPORT_MAX_UNPACKED_BYTES = 10_000
    data = rezip(xlsx([row("TB1001")]), add={"xl/media/a.bin": bytes(range(256)) * 100}, compression=zipfile.ZIP_STORED)
    assert refused(data).code == "zip_bomb"


BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>"""


def test_upload_billion_laughs_refused_before_calamine_reads_it():
    data = xlsx([["订单编号", "收货人姓名"], ["TB1", "张三"]], header=["订单编号"])
    error = refused(rezip(data, add={"xl/sharedStrings2.xml": BILLION_LAUGHS}))
    assert error.code == "xml_attack"
    assert "XML 攻击" in error.message


def test_upload_external_entity_refused():
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&e;</worksheet>'
    )
    data = xlsx([row("TB1001")])
    assert refused(rezip(data, replace={"xl/worksheets/sheet1.xml": xxe})).code == "xml_attack"


@pytest.mark.parametrize(
    ("encoding", "stored"), [("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8"), ("gbk", "gb18030"), ("gb18030", "gb18030")]
)
def test_upload_csv_encodings_read_from_content(encoding, stored):
    job = upload(csv_bytes([row("TB1001", receiver="张三")], encoding=encoding), "导出.csv")
    assert (job.file_kind, job.encoding, job.sheets) == ("csv", stored, ["CSV"])
    assert job.mapping["receiver"] == 2


def test_upload_csv_in_another_encoding_refused():
    data = "订单编号,收货人\nTB1,张三\n".encode("utf-16-le")
    assert refused(data, "x.csv").code == "unknown_type"  # NUL bytes: not a text CSV
    big5 = "訂單編號,收貨人\nTB1,張三\n".encode("big5") + b"\xff\xfe\xfd"
    assert refused(big5, "x.csv").code == "bad_encoding"


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504  # the compound-file header an .xls (or .doc) starts with


def test_upload_ole2_without_a_workbook_stream_is_not_a_workbook():
    # e.g. a Word .doc renamed to .xls
    assert refused(OLE2 + "WordDocument".encode("utf-16-le"), "订单.xls").code == "unknown_type"


def test_upload_xls_with_a_vba_project_refused_as_macro():
    data = OLE2 + "Workbook".encode("utf-16-le") + "_VBA_PROJECT_CUR".encode("utf-16-le")
    assert refused(data, "订单.xls").code == "macro_workbook"


def test_upload_broken_xls_refused_as_unreadable():
    # No .xls writer is installed here (xlwt is not a dependency), so a real .xls round trip is not tested; a
    # damaged one must still get a clear refusal rather than a crash.
    error = refused(OLE2 + "Workbook".encode("utf-16-le") + b"\x00" * 1024, "订单.xls")
    assert error.code == "unreadable"
    assert "无法读取工作簿" in error.message
