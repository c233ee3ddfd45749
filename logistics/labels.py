"""Thermal waybill labels (电子面单) as one PDF, one page per parcel at the carrier's paper size.

A label shows the big routing text (大头笔) and sorting code, the tracking number as a Code 128 barcode with
its digits, receiver (as masked by the caller) and sender, the order number as a barcode, and the goods and
gift summary. The Chinese font is embedded (logistics.fonts). Every text is fitted into its box: long lines
shrink and wrap, and what still does not fit ends in "…" instead of running off the label.
"""

import io
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from logistics.exceptions import InvalidInput
from logistics.fonts import pdf_font
from logistics.models import LabelPaper

MARGIN = 3 * mm
QUIET_MODULES = 10  # Code 128 quiet zone each side, in bar widths
BAR_WIDTH_MIN, BAR_WIDTH_MAX = 0.2 * mm, 0.5 * mm
ELLIPSIS = "…"
BASE_HEIGHT = 130 * mm  # the one-part label; taller paper adds a stub below it


@dataclass
class LabelData:
    carrier_name: str
    tracking_number: str
    order_number: str
    receiver_name: str  # as the caller masks it (platform-masked receivers stay masked)
    receiver_phone: str
    receiver_address: str
    sender_name: str
    sender_phone: str
    sender_address: str
    routing_text: str = ""  # 大头笔
    sorting_code: str = ""
    goods_summary: str = ""  # e.g. "面膜1号×2；精华3号×1"
    gift_summary: str = ""  # e.g. "赠 面膜试用装×3"
    printed_at: datetime | None = None  # default: now
    paper: str = ""  # this label's paper (its carrier's); default: the paper labels_pdf is given


def paper_size(paper: str) -> tuple[float, float]:
    """Width and height in points of a paper choice ("76x130", "100x150", "100x180")."""
    if paper not in LabelPaper.values:
        raise InvalidInput(
            _("Unknown label paper %(paper)s: one of %(choices)s (width x height in mm).")
            % {"paper": repr(paper), "choices": ", ".join(LabelPaper.values)},
            code="invalid_field",
            extra={"field": "paper"},
        )
    width, height = (int(part) for part in paper.split("x"))
    return width * mm, height * mm


def labels_pdf(labels: list[LabelData], *, paper: str) -> bytes:
    """One PDF with a page per label at the paper size (a label naming its own paper gets a page of that size)."""
    size = paper_size(paper)
    sizes = [paper_size(label.paper) if label.paper else size for label in labels]
    if not labels:
        raise InvalidInput(_("No labels to print."), code="invalid_field", extra={"field": "labels"})
    font = pdf_font()
    buffer = io.BytesIO()
    # The embedded font from the first operator on: no unembedded Helvetica even in the resources.
    canvas = Canvas(buffer, pagesize=sizes[0], pageCompression=1, initialFontName=font, initialFontSize=8)
    canvas.setTitle(
        f"面单 Waybill labels {labels[0].tracking_number}" + (f" +{len(labels) - 1}" if len(labels) > 1 else "")
    )
    canvas.setAuthor("OrderHub")
    for label, page_size in zip(labels, sizes, strict=True):
        canvas.setPageSize(page_size)
        _Page(canvas, font, page_size, label).draw()
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


class _Page:
    """Lays out one label top-down; each block gets a height in mm, the goods block whatever is left."""

    def __init__(self, canvas: Canvas, font: str, size: tuple[float, float], label: LabelData):
        self.c, self.font, self.label = canvas, font, label
        self.width, self.height = size
        self.inner = self.width - 2 * MARGIN
        self.top = self.height - MARGIN

    # -- drawing helpers --------------------------------------------------------------------------------------
    def _take(self, height: float) -> tuple[float, float]:
        """Reserve a block of this height below the last one; returns (its top, its bottom) and draws a rule."""
        top, bottom = self.top, self.top - height
        self.top = bottom
        self.c.setLineWidth(0.6)
        self.c.line(MARGIN, bottom, self.width - MARGIN, bottom)
        return top, bottom

    def _line(self, text: str, *, x: float, y: float, width: float, size: float, align: str = "left") -> None:
        """One line of text, shrunk to fit its width (and cut with … below 5 pt)."""
        text = " ".join(str(text).split())
        natural = stringWidth(text, self.font, size) or 1
        size = max(min(size, size * width / natural * 0.99), 5)
        while text and stringWidth(text, self.font, size) > width:
            text = text[:-2] + ELLIPSIS if len(text) > 1 else ""
        self.c.setFont(self.font, size)
        if align == "center":
            self.c.drawCentredString(x + width / 2, y, text)
        elif align == "right":
            self.c.drawRightString(x + width, y, text)
        else:
            self.c.drawString(x, y, text)

    def _paragraph(self, text: str, *, x: float, top: float, width: float, height: float, size: float) -> None:
        """Wrapped text (CJK wrapping) in a box: the largest size from `size` down to 5 pt that fits; at 5 pt the
        text is cut with … until it fits."""
        text = " ".join(str(text).split())
        for points in [size - step * 0.5 for step in range(int((size - 5) / 0.5) + 1)]:
            paragraph = self._para(text, points)
            if paragraph.wrap(width, height)[1] <= height:
                break
        else:
            while text:
                text = text[: max(len(text) - 4, 0)]
                paragraph = self._para(text + ELLIPSIS, 5)
                if paragraph.wrap(width, height)[1] <= height:
                    break
        _, used = paragraph.wrap(width, height)
        paragraph.drawOn(self.c, x, top - used)

    def _para(self, text: str, size: float) -> Paragraph:
        style = ParagraphStyle("label", fontName=self.font, fontSize=size, leading=size * 1.18, wordWrap="CJK")
        return Paragraph(escape(text), style)

    def _barcode(self, value: str, *, top: float, bar_height: float, width: float) -> float:
        """A Code 128 barcode centred below `top`, as wide as fits; returns the y of its bottom."""
        modules = Code128(value, barWidth=1, quiet=False, humanReadable=False).width
        bar = min(max(width / (modules + 2 * QUIET_MODULES), BAR_WIDTH_MIN), BAR_WIDTH_MAX)
        code = Code128(
            value,
            barWidth=bar,
            barHeight=bar_height,
            humanReadable=False,
            quiet=True,
            lquiet=bar * QUIET_MODULES,
            rquiet=bar * QUIET_MODULES,
        )
        x = MARGIN + max((self.inner - code.width) / 2, 0)
        code.drawOn(self.c, x, top - bar_height)
        return top - bar_height

    # -- the label ----------------------------------------------------------------------------------------------
    def draw(self) -> None:
        label, c, m = self.label, self.c, MARGIN
        c.setLineWidth(0.8)
        c.rect(m / 2, m / 2, self.width - m, self.height - m)

        printed = timezone.localtime(label.printed_at or timezone.now()).strftime("%Y-%m-%d %H:%M")
        top, bottom = self._take(7 * mm)
        self._line(label.carrier_name, x=m, y=bottom + 2 * mm, width=self.inner * 0.6, size=11)
        self._line(printed, x=m + self.inner * 0.6, y=bottom + 2 * mm, width=self.inner * 0.4, size=7, align="right")

        # 大头笔: the sorting centre reads it from a metre away.
        top, bottom = self._take(16 * mm)
        routing_width = self.inner * (0.72 if label.sorting_code else 1)
        self._line(label.routing_text or "—", x=m, y=bottom + 4 * mm, width=routing_width, size=30)
        if label.sorting_code:
            self._line(
                label.sorting_code,
                x=m + routing_width,
                y=bottom + 4 * mm,
                width=self.inner - routing_width,
                size=16,
                align="right",
            )

        top, bottom = self._take(23 * mm)
        bars_bottom = self._barcode(label.tracking_number, top=top - 1.5 * mm, bar_height=15 * mm, width=self.inner)
        self._line(
            " ".join(_groups(label.tracking_number)),
            x=m,
            y=bars_bottom - 4.5 * mm,
            width=self.inner,
            size=11,
            align="center",
        )

        self._party("收", label.receiver_name, label.receiver_phone, label.receiver_address, height=22 * mm, size=10)
        self._party("寄", label.sender_name, label.sender_phone, label.sender_address, height=14 * mm, size=7.5)

        top, bottom = self._take(13 * mm)
        bars_bottom = self._barcode(label.order_number, top=top - 1 * mm, bar_height=8 * mm, width=self.inner * 0.8)
        self._line(
            f"订单号 {label.order_number}", x=m, y=bars_bottom - 3 * mm, width=self.inner, size=7, align="center"
        )

        # Taller paper (二联/三联) keeps the 76x130 layout on top and adds a stub the receiver keeps.
        stub = self.height - BASE_HEIGHT
        bottom = MARGIN + stub
        self._paragraph(
            _goods(label), x=m, top=self.top - 1 * mm, width=self.inner, height=self.top - bottom - 2 * mm, size=8
        )
        if stub >= 15 * mm:
            self._stub(bottom)

    def _stub(self, top: float) -> None:
        label, c, m = self.label, self.c, MARGIN
        c.setDash(3, 2)
        c.line(m / 2, top, self.width - m / 2, top)
        c.setDash()
        self.top = top - 1 * mm
        if top - MARGIN >= 40 * mm:
            bars_bottom = self._barcode(label.tracking_number, top=self.top, bar_height=9 * mm, width=self.inner * 0.8)
            self.top = bars_bottom - 1 * mm
        self._line(
            f"客户联 {label.carrier_name} {' '.join(_groups(label.tracking_number))}",
            x=m,
            y=self.top - 3.5 * mm,
            width=self.inner,
            size=9,
        )
        self.top -= 5 * mm
        for word, name, phone in (
            ("收", label.receiver_name, label.receiver_phone),
            ("寄", label.sender_name, label.sender_phone),
        ):
            self._line(f"{word}：{name} {phone}", x=m, y=self.top - 3 * mm, width=self.inner, size=7.5)
            self.top -= 4 * mm
        space = self.top - MARGIN - 1 * mm
        if space > 4 * mm:
            self._paragraph(_goods(label), x=m, top=self.top - 0.5 * mm, width=self.inner, height=space, size=7)

    def _party(self, word: str, name: str, phone: str, address: str, *, height: float, size: float) -> None:
        top, bottom = self._take(height)
        badge = 6 * mm
        self.c.circle(MARGIN + badge / 2, top - badge / 2 - 1 * mm, badge / 2 - 0.3 * mm)
        self._line(word, x=MARGIN, y=top - badge / 2 - 2.3 * mm, width=badge, size=size + 2, align="center")
        x = MARGIN + badge + 1.5 * mm
        width = self.width - MARGIN - x
        self._line(f"{name}  {phone}", x=x, y=top - size * 1.1 - 1 * mm, width=width, size=size + 1.5)
        line_top = top - (size + 1.5) * 1.35 - 1.5 * mm
        self._paragraph(address, x=x, top=line_top, width=width, height=line_top - bottom - 1 * mm, size=size)


def _goods(label: LabelData) -> str:
    goods = f"货品：{label.goods_summary or '—'}"
    return goods + (f"\u3000赠品：{label.gift_summary}" if label.gift_summary else "")


def _groups(number: str) -> list[str]:
    """Digits in groups of four under the bars, as carriers print them (easier to read aloud)."""
    return [number[i : i + 4] for i in range(0, len(number), 4)]
