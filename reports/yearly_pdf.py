"""The yearly fulfilment report (我的年度履约报告) as an A4 PDF: pure rendering of figures already computed by
reports.selectors.yearly, no database access. The Chinese font is embedded (logistics.fonts, shared with the waybill
labels and the fulfilment certificate), so the report reads the same on machines without any CJK font.
"""

from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from django.conf import settings
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from config.pdf import a4_pdf_build
from logistics.fonts import pdf_font
from orders.models import Status
from reports.selectors.yearly import DEFINITIONS, EXCEPTIONS_LISTED, YearlyFigures

NONE = "—"
TITLE = "我的年度履约报告 Yearly fulfilment report"
GRID = colors.HexColor("#aab2bd")
SHADE = colors.HexColor("#f4f5f7")
BAR = colors.HexColor("#3b6fb6")
STATUS_NAMES = {
    Status.PLACED: "已下单",
    Status.PAID: "支付已校验",
    Status.ON_HOLD: "待人工复核",
    Status.ALLOCATING: "待分仓",
    Status.ALLOCATED: "仓单已生成",
    Status.PRINTED: "已打单",
    Status.PICKED_UP: "已揽收",
    Status.IN_TRANSIT: "运输中",
    Status.DELIVERED: "已签收",
    Status.CANCELLED: "已取消",
    Status.RETURNED: "已退货",
    Status.EXCEPTION: "异常",
}


def _month_chart(figures: YearlyFigures, font: str, width: float) -> Drawing:
    """Orders per month as bars, with the month's on-time ship rate above each bar."""
    height = 60 * mm
    drawing = Drawing(width, height, initialFontName=font, initialFontSize=7)
    chart = VerticalBarChart()
    chart.x, chart.y = 12 * mm, 10 * mm
    chart.width, chart.height = width - 16 * mm, height - 20 * mm
    chart.data = [[m.orders for m in figures.months]]
    chart.bars[0].fillColor = BAR
    chart.valueAxis.valueMin = 0
    top = max([m.orders for m in figures.months] + [1])
    chart.valueAxis.valueMax = top + max(1, top // 5)
    chart.valueAxis.valueStep = max(1, (top + 4) // 5)
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.categoryAxis.categoryNames = [f"{m.month}月" for m in figures.months]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6.5
    chart.barLabels.nudge = 5
    drawing.add(chart)
    drawing.add(String(12 * mm, height - 6 * mm, "每月订单数 Orders per month", fontName=font, fontSize=8))
    return drawing


def yearly_report_pdf(
    *, figures: YearlyFigures, customer_name: str, customer_phone: str, generated_at: datetime
) -> bytes:
    """The report as PDF bytes. customer_phone as the caller masks it (a masked platform phone stays masked)."""
    font = pdf_font()
    tz = ZoneInfo(settings.TIME_ZONE)

    title = ParagraphStyle(
        "title", fontName=font, bulletFontName=font, fontSize=18, leading=24, alignment=1, spaceAfter=3 * mm
    )
    body = ParagraphStyle("body", fontName=font, bulletFontName=font, fontSize=10, leading=14, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=11)
    heading = ParagraphStyle("heading", parent=body, fontSize=12, leading=16, spaceBefore=5 * mm, spaceAfter=2 * mm)

    def p(text: object, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, GRID),
            ("FONTNAME", (0, 0), (-1, -1), font),  # else the cells set Helvetica, unembedded
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]
    )
    rate = f"{figures.on_time_rate}%" if figures.on_time_rate is not None else NONE
    hours = f"{figures.delivery_hours_avg} 小时 h" if figures.delivery_hours_avg is not None else NONE
    facts = [
        ("客户 Customer", f"{customer_name} {customer_phone}".strip()),
        ("年度 Year", f"{figures.year} 年"),
        ("订单数 Orders", figures.orders),
        ("实付金额 Paid amount", f"¥{figures.gmv:,}"),
        ("已取消 Cancelled", figures.cancelled),
        ("已发货 Shipped", figures.shipped),
        ("准时发货率 On-time ship rate", f"{rate}（{figures.on_time} / {figures.rated}）"),
        ("已签收 Delivered", figures.delivered),
        ("平均送达时长 Average delivery time", hours),
        ("异常订单 Exception orders", figures.exceptions),
    ]
    facts_table = Table([[p(k), p(v)] for k, v in facts], colWidths=[60 * mm, None], style=grid, hAlign="LEFT")
    facts_table.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), SHADE)]))

    month_rows = [[p(h, small) for h in ("月份 Month", "订单 Orders", "准时发货率 On-time", "异常 Exceptions")]]
    for m in figures.months:
        month_rate = f"{(100 * m.on_time / m.rated):.1f}%" if m.rated else NONE
        month_rows.append([p(f"{m.month} 月", small), p(m.orders, small), p(month_rate, small), p(m.exceptions, small)])
    months_table = Table(month_rows, colWidths=[30 * mm, 30 * mm, 50 * mm, 30 * mm], repeatRows=1, style=grid)
    months_table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), SHADE)]))

    exception_rows = [
        [p(h, small) for h in ("订单号 Order no.", "下单时间 Ordered", "异常时间 Exception at", "当前状态 Status")]
    ]
    exception_rows += [
        [
            p(e.number, small),
            p(e.ordered_at, small),
            p(e.exception_at or NONE, small),
            p(STATUS_NAMES.get(e.status, e.status), small),
        ]
        for e in figures.exception_orders
    ]
    story = [
        Paragraph(TITLE, title),
        p(f"{customer_name}，感谢您 {figures.year} 年的信任。以下是您这一年订单的履约情况。"),
        p(f"Your orders of {figures.year} and how they were fulfilled.", small),
        Spacer(1, 3 * mm),
        facts_table,
        p("每月概览 By month", heading),
        _month_chart(figures, font, A4[0] - 36 * mm),
        months_table,
        p(f"异常订单 Exception orders（{figures.exceptions}）", heading),
    ]
    if figures.exception_orders:
        exceptions_table = Table(exception_rows, colWidths=[44 * mm, 36 * mm, 36 * mm, None], repeatRows=1, style=grid)
        exceptions_table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), SHADE)]))
        story.append(exceptions_table)
        if figures.exceptions > len(figures.exception_orders):
            story.append(
                p(
                    f"仅列出前 {EXCEPTIONS_LISTED} 笔，共 {figures.exceptions} 笔。First {EXCEPTIONS_LISTED} listed.",
                    small,
                ),
            )
    else:
        story.append(p("本年度没有异常订单。No exception orders this year."))
    story.append(p("口径说明 Definitions", heading))
    story += [p(f"{name}：{text}", small) for name, text in DEFINITIONS]
    story += [
        Spacer(1, 4 * mm),
        p(f"生成时间 Generated at: {generated_at.astimezone(tz):%Y-%m-%d %H:%M:%S}（{settings.TIME_ZONE}）", small),
    ]

    return a4_pdf_build(
        story, font=font, title=f"{TITLE} {figures.year}", footer=f"{TITLE} · {figures.year}", top_mm=16
    )
