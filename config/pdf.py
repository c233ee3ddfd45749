"""A4 documents of the hub's PDFs (fulfilment certificate, yearly report): the same margins, metadata and footer
(title and page number in the embedded font) on every page."""

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate


def a4_pdf_build(story: list, *, font: str, title: str, footer: str, subject: str = "", top_mm: int = 18) -> bytes:
    """Lay out the flowables on A4 pages; `font` is the embedded font's name, also the default of every
    paragraph and table cell (else reportlab falls back to Helvetica, which is not embedded)."""

    def draw_footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#5b6470"))
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"第 {doc.page} 页 Page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=top_mm * mm,
        bottomMargin=18 * mm,
        title=title,
        author="OrderHub",
        subject=subject,
        initialFontName=font,
    )
    doc.build(story, onFirstPage=draw_footer, onLaterPages=draw_footer)
    return buffer.getvalue()
