"""The fulfilment certificate of a delivered order: an A4 PDF with its key times, parcels, signer and timeline.

The Chinese font is embedded (logistics.fonts), so the certificate reads the same on machines without any CJK font.
"""

from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone, translation
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from config.exceptions import Conflict
from config.pdf import a4_pdf_build
from logistics.fonts import pdf_font
from logistics.models import Shipment, TrackingEvent
from logistics.selectors import mask_name, mask_phone, receiver_area
from orders.models import Order, OrderEvent, Status

SIGNED_WORD = "签收"
NONE = "—"
TITLE = "订单履约证明 Fulfilment certificate"


def _fmt(value: datetime | None) -> str:
    if value is None:
        return NONE
    return timezone.localtime(value, ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m-%d %H:%M:%S")


def _last_transition_at(events: list[OrderEvent], transition: str) -> datetime | None:
    times = [e.created_at for e in events if e.kind == OrderEvent.Kind.TRANSITION and e.transition == transition]
    return times[-1] if times else None


def _event_label(event: OrderEvent) -> str:
    if event.kind == OrderEvent.Kind.TRANSITION and event.to_status:
        if event.from_status and event.from_status != event.to_status:
            return f"{event.get_from_status_display()} → {event.get_to_status_display()}"
        return str(event.get_to_status_display())
    return str(event.get_kind_display())


def _parcels(order: Order) -> list[tuple[str, str]]:
    rows = [
        (s.carrier.name, s.tracking_number)
        for s in Shipment.objects.filter(order=order, is_active=True)
        .select_related("carrier")
        .order_by("created_at", "id")
    ]
    return rows


def _signer(order: Order) -> str:
    event = (
        TrackingEvent.objects.filter(shipment__order=order, description__contains=SIGNED_WORD)
        .order_by("-occurred_at", "-id")
        .only("description")
        .first()
    )
    return event.description if event else NONE


def certificate_pdf(*, order: Order) -> bytes:
    """The certificate of a delivered order as PDF bytes; any other status is refused with Conflict."""
    if order.status != Status.DELIVERED:
        raise Conflict(
            f"Order {order.number} is not delivered (status: {order.status}); "
            "a fulfilment certificate exists only for delivered orders.",
            code="not_delivered",
            extra={"status": order.status},
        )
    font = pdf_font()
    with translation.override("zh-hans"):
        return _render(order, font)


def _render(order: Order, font: str) -> bytes:
    events = list(OrderEvent.objects.filter(order=order).order_by("created_at", "id"))
    parcels = _parcels(order)

    title = ParagraphStyle("title", fontName=font, fontSize=18, leading=24, alignment=1, spaceAfter=4 * mm)
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11.5)
    heading = ParagraphStyle("heading", parent=body, fontSize=12, leading=16, spaceBefore=5 * mm, spaceAfter=2 * mm)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    carriers = "<br/>".join(f"{escape(name)} {escape(number)}" for name, number in parcels) or NONE
    facts = [
        ("订单号 Order no.", p(order.number)),
        ("渠道 Channel", p(order.channel.name)),
        ("下单时间 Ordered", p(_fmt(order.ordered_at))),
        ("支付时间 Paid", p(_fmt(order.paid_at or _last_transition_at(events, "pay")))),
        ("发货（打单）时间 Shipped (label printed)", p(_fmt(_last_transition_at(events, "print_label")))),
        ("揽收时间 Picked up", p(_fmt(_last_transition_at(events, "pick_up")))),
        ("签收时间 Delivered", p(_fmt(_last_transition_at(events, "deliver")))),
        ("快递公司及运单号 Carrier / tracking no.", Paragraph(carriers, body)),
        ("签收信息 Signed for", p(_signer(order))),
        ("收件人 Receiver", p(mask_name(order.receiver_name) or NONE)),
        ("手机 Phone", p(mask_phone(order.receiver_phone) or NONE)),
        ("地区 Area", p(receiver_area(order) or NONE)),
    ]
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#aab2bd")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]
    )
    facts_table = Table(
        [[p(label), value] for label, value in facts], colWidths=[62 * mm, None], style=grid, hAlign="LEFT"
    )
    facts_table.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f4f5f7"))]))

    # Status changes only: notes, rule firings and reasons are staff-internal and this PDF goes to customers.
    timeline_rows = [[p(h, small) for h in ("时间 Time", "状态 Status", "来源 Source")]]
    timeline_rows += [
        [p(_fmt(e.created_at), small), p(_event_label(e), small), p(e.get_source_display(), small)]
        for e in events
        if e.kind == OrderEvent.Kind.TRANSITION
    ]
    timeline = Table(timeline_rows, colWidths=[40 * mm, None, 36 * mm], repeatRows=1, style=grid)
    timeline.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f4f5f7"))]))

    generated = _fmt(timezone.now())
    story = [
        Paragraph(TITLE, title),
        p("兹证明以下订单已完成履约并签收。This certifies that the order below was fulfilled and delivered."),
        Spacer(1, 3 * mm),
        facts_table,
        p("订单时间线 Timeline", heading),
        timeline,
        Spacer(1, 5 * mm),
        p(f"生成时间 Generated at: {generated}（{settings.TIME_ZONE}）· OrderHub", small),
    ]

    return a4_pdf_build(
        story, font=font, title=f"{TITLE} {order.number}", footer=f"{TITLE} · {order.number}", subject=order.number
    )
