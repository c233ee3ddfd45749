"""Waybill label PDFs: checked by rendering the pages to pixels and decoding the barcodes back to the numbers
(pypdfium2 + zxing-cpp), by reading the embedded font out of the PDF, and by where each character lands."""

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
import zxingcpp
from pypdf import PdfReader
from reportlab.lib.units import mm

from config.exceptions import InvalidInput
from logistics.labels import LabelData, labels_pdf
from logistics.models import LabelPaper

RENDER_SCALE = 300 / 72  # 300 dpi, about what a phone camera or a scanner sees of a thermal label
SHANGHAI = ZoneInfo("Asia/Shanghai")


def label(**changes) -> LabelData:
    values = {
        "carrier_name": "顺丰速运",
        "tracking_number": "SF1234567890123",
        "order_number": "20261201-K7Q2M9XA",
        "receiver_name": "王*",
        "receiver_phone": "138****8000",
        "receiver_address": "浙江省杭州市西湖区文三路478号华星时代广场A座1201室",
        "sender_name": "上海青浦仓",
        "sender_phone": "021-61234567",
        "sender_address": "上海市青浦区华新镇华志路1688号3号库",
        "routing_text": "310-浦东 021",
        "sorting_code": "A12-03",
        "goods_summary": "面膜1号×2；精华3号×1",
        "gift_summary": "面膜试用装×3",
        "printed_at": datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI),
    }
    return LabelData(**{**values, **changes})


def decoded(data: bytes) -> list[list[str]]:
    """The Code 128 contents found on each page, read from the rendered pixels."""
    document = pdfium.PdfDocument(data)
    try:
        pages = []
        for page in document:
            image = page.render(scale=RENDER_SCALE).to_pil()
            found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
            pages.append(sorted(result.text for result in found))
        return pages
    finally:
        document.close()


def characters(data: bytes, page_index: int = 0) -> tuple[list[tuple[str, tuple]], tuple[float, float]]:
    """Every character of one page with its box (left, bottom, right, top) in points, and the page size."""
    document = pdfium.PdfDocument(data)
    try:
        page = document[page_index]
        text = page.get_textpage()
        chars = [(text.get_text_range(i, 1), text.get_charbox(i)) for i in range(text.count_chars())]
        return [(c, box) for c, box in chars if c.strip()], page.get_size()
    finally:
        document.close()


def page_text(data: bytes) -> list[str]:
    return ["".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


@pytest.mark.parametrize(
    ("paper", "width_mm", "height_mm"),
    [(LabelPaper.P76X130, 76, 130), (LabelPaper.P100X150, 100, 150), (LabelPaper.P100X180, 100, 180)],
)
def test_labels_pdf_one_page_per_label_at_the_paper_size_barcodes_decode(paper, width_mm, height_mm):
    labels = [label(), label(tracking_number="78123456789012", order_number="20261201-B3C4D5E6")]

    data = labels_pdf(labels, paper=paper)

    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 2
    for page in reader.pages:
        assert float(page.mediabox.width) == pytest.approx(width_mm * mm, abs=0.01)
        assert float(page.mediabox.height) == pytest.approx(height_mm * mm, abs=0.01)
    pages = decoded(data)
    # Each page carries its own tracking number and order number (the 100x180 stub repeats the tracking one).
    assert set(pages[0]) == {"SF1234567890123", "20261201-K7Q2M9XA"}
    assert set(pages[1]) == {"78123456789012", "20261201-B3C4D5E6"}
    texts = page_text(data)
    for expected in (
        "SF1234567890123",
        "310-浦东021",
        "A12-03",
        "王*138****8000",
        "上海青浦仓",
        "订单号20261201-K7Q2M9XA",
    ):
        assert expected in texts[0]
    assert "面膜1号×2；精华3号×1" in texts[0] and "赠品：面膜试用装×3" in texts[0]
    assert "2026-12-0109:30" in texts[0]  # printed_at in Shanghai time
    assert "78123456789012" in texts[1] and "SF1234567890123" not in texts[1]


def test_labels_pdf_embeds_the_chinese_font():
    data = labels_pdf([label()], paper=LabelPaper.P76X130)

    fonts = PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"]
    embedded = []
    for ref in fonts.values():
        font = ref.get_object()
        descriptor = font.get("/FontDescriptor")
        if descriptor is not None and "/FontFile2" in descriptor.get_object():
            embedded.append(str(font["/BaseFont"]))
    assert embedded and all(re.fullmatch(r"/[A-Z]{6}\+WenQuanYiZenHei(-\d+)?", name) for name in embedded)
    assert all("/FontDescriptor" in ref.get_object() for ref in fonts.values())  # no unembedded font at all


def test_labels_pdf_long_chinese_address_wraps_inside_its_box_and_never_off_the_page():
    address = "广东省深圳市南山区粤海街道科技园南区高新南七道数字技术园B2栋3楼东侧靠近电梯口的第二个房间"
    very_long = address * 8  # far more than a label holds: shrinks, then ends in …
    for paper in LabelPaper.values:
        for text in (address, very_long):
            data = labels_pdf([label(receiver_address=text, goods_summary="精华3号×1；" * 60)], paper=paper)

            chars, (width, height) = characters(data)
            assert chars
            for char, (left, bottom, right, top) in chars:
                assert 0 < left <= right < width and 0 < bottom <= top < height, (paper, char)
            # The receiver's address stays above the sender's block: no line runs into the next box.
            sender_badge_top = next(top for char, (_l, _b, _r, top) in chars if char == "寄")
            others = label(receiver_address="", goods_summary="精华3号×1；")
            address_chars = set(address) - set("".join(str(v) for v in vars(others).values()))
            lowest = min(bottom for char, (_l, bottom, _r, _t) in chars if char in address_chars)
            assert lowest > sender_badge_top, paper
            # Crowded text does not cover the bars: still scannable.
            assert decoded(data)[0].count("SF1234567890123") >= 1

        flat = page_text(labels_pdf([label(receiver_address=address)], paper=paper))[0]
        assert address in flat  # wrapped, all of it
        flat = page_text(labels_pdf([label(receiver_address=very_long)], paper=paper))[0]
        assert "…" in flat and very_long not in flat  # cut, visibly


def test_labels_pdf_refuses_unknown_paper_and_no_labels():
    with pytest.raises(InvalidInput) as unknown:
        labels_pdf([label()], paper="A4")
    assert "76x130" in unknown.value.message and unknown.value.extra == {"field": "paper"}
    with pytest.raises(InvalidInput):
        labels_pdf([], paper=LabelPaper.P76X130)
