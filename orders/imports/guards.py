"""Upload guards: what a file is, decided by its bytes (never its name), and the ways a file can hurt us refused
with a message for the clerk and a code naming the guard. Pure: raises orders.exceptions.ImportRefused."""

import io
import zipfile
from dataclasses import dataclass
from xml.sax.handler import ContentHandler

from defusedxml import DefusedXmlException
from defusedxml.sax import make_parser
from django.utils.translation import gettext as _

from orders.exceptions import ImportErrorCode, ImportRefused

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
MACRO_TYPES = ("macroEnabled", "vbaProject", "ms-office.vbaProject")
LARGE_ENTRY = 1024 * 1024  # the per-entry ratio is checked on entries unpacking above this
TEXT_ENCODINGS = ("utf-8", "gb18030")  # gb18030 reads GBK and GB2312 too


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_entries: int
    max_unpacked: int
    max_ratio: int


@dataclass(frozen=True)
class FileType:
    kind: str  # xlsx | xls | csv
    encoding: str = ""  # csv only: utf-8-sig, utf-8 or gb18030


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"


def file_check(*, data: bytes, limits: Limits) -> FileType:
    """What the upload is, or ImportRefused naming the guard that refused it."""
    if not data:
        raise ImportRefused(_("The file is empty."), code=ImportErrorCode.EMPTY)
    if len(data) > limits.max_bytes:
        raise ImportRefused(
            _("The file is %(size)s; at most %(limit)s can be imported at once. Split it and upload the parts.")
            % {"size": _megabytes(len(data)), "limit": _megabytes(limits.max_bytes)},
            code=ImportErrorCode.TOO_LARGE,
        )
    if data.startswith(ZIP_MAGIC):
        _xlsx_check(data, limits)
        return FileType("xlsx")
    if data.startswith(OLE2_MAGIC):
        _xls_check(data)
        return FileType("xls")
    return FileType("csv", _text_encoding(data))


def _not_a_table() -> ImportRefused:
    return ImportRefused(
        _("This is not an Excel workbook or a CSV file (whatever its name says). Save it from Excel as .xlsx or .csv."),
        code=ImportErrorCode.UNKNOWN_TYPE,
    )


def _bomb() -> ImportRefused:
    return ImportRefused(
        _("The workbook unpacks to far more than its size (a zip bomb?). It was refused; save it again from Excel."),
        code=ImportErrorCode.ZIP_BOMB,
    )


def _macro() -> ImportRefused:
    return ImportRefused(
        _("The workbook contains macros (.xlsm). Save it from Excel as a plain workbook (.xlsx) and upload that."),
        code=ImportErrorCode.MACRO_WORKBOOK,
    )


def _xlsx_check(data: bytes, limits: Limits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise _not_a_table() from error
    if len(entries) > limits.max_entries:
        raise _bomb()
    unpacked = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries)
    if unpacked > limits.max_unpacked or unpacked > limits.max_ratio * max(packed, 1):
        raise _bomb()
    for entry in entries:
        if entry.file_size > LARGE_ENTRY and entry.file_size > limits.max_ratio * max(entry.compress_size, 1):
            raise _bomb()
    names = {entry.filename for entry in entries}
    if "[Content_Types].xml" not in names:
        raise _not_a_table()
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise _macro()
    for entry in entries:
        if entry.filename.endswith((".xml", ".rels", ".vml")):
            _xml_prolog_check(archive, entry)
    types = archive.read("[Content_Types].xml").decode("utf-8", "replace")
    if any(marker in types for marker in MACRO_TYPES):
        raise _macro()
    if XLSX_MAIN not in types:
        raise _not_a_table()


class _Prolog(Exception):
    """The root element began: no DTD came before it, so none can come."""


class _StopAtRoot(ContentHandler):
    def startElement(self, name, attrs):
        raise _Prolog

    def startElementNS(self, name, qname, attrs):
        raise _Prolog


def _xml_prolog_check(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    """defusedxml refuses any DTD, entity declaration or external reference; a DTD can only come before the root
    element, so parsing stops there (a 50 MB sheet costs a few bytes, not a full parse)."""
    parser = make_parser()
    parser.forbid_dtd = True
    parser.forbid_entities = True
    parser.forbid_external = True
    parser.setContentHandler(_StopAtRoot())
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(4096):
                parser.feed(chunk)
            parser.close()
    except _Prolog:
        return
    except DefusedXmlException as error:
        raise ImportRefused(
            _("The workbook's XML declares entities or a DTD (an XML attack?). It was refused."),
            code=ImportErrorCode.XML_ATTACK,
        ) from error
    except Exception as error:  # SAXParseException, zlib errors: a broken workbook
        raise ImportRefused(
            _("The workbook is damaged and cannot be read. Open it in Excel and save it again."),
            code=ImportErrorCode.UNREADABLE,
        ) from error


def _xls_check(data: bytes) -> None:
    """An OLE2 file is a workbook only with a Workbook (or Book) stream; one with a VBA project has macros."""
    if "_VBA_PROJECT".encode("utf-16-le") in data:
        raise _macro()
    if "Workbook".encode("utf-16-le") not in data and "Book".encode("utf-16-le") not in data:
        raise _not_a_table()


def _text_encoding(data: bytes) -> str:
    head = data[:8192]
    if b"\x00" in head:  # binary (an .exe, an image …), or UTF-16, which Excel's CSV never is
        raise _not_a_table()
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    else:
        encodings = TEXT_ENCODINGS
    for encoding in encodings:
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ImportRefused(
        _("The CSV text is neither UTF-8 nor GBK/GB18030. Save it from Excel as 'CSV UTF-8' and upload it again."),
        code=ImportErrorCode.BAD_ENCODING,
    )
