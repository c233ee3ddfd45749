"""The fulfilment certificate PDF of a delivered order: public signed link, embedded CJK font, refusals."""

import io
import re

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from config.exceptions import Conflict
from logistics.certificate import certificate_pdf
from logistics.models import Carrier, Shipment, TrackingEvent
from logistics.selectors import tracking_link_token, tracking_order_from_token
from orders.models import Source
from orders.services.transitions import order_transition
from tests.logistics.parcels import printed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

SIGNED = "【上海】已签收，签收人：本人"


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def carrier():
    return Carrier.objects.create(code="shunfeng", name="顺丰速运")


def delivered(carrier):
    order = printed(carrier)
    order = order_transition(order=order, transition="pick_up", actor=None, source=Source.SCAN)
    order = order_transition(order=order, transition="transit", actor=None, source=Source.CARRIER)
    shipment = Shipment.objects.get(order=order)
    for description, fingerprint in (("【上海】派送中", "out"), (SIGNED, "signed")):
        TrackingEvent.objects.create(
            shipment=shipment,
            occurred_at=timezone.now(),
            description=description,
            fingerprint=fingerprint,
            received_via="poll",
            raw={},
        )
    return order_transition(
        order=order, transition="deliver", actor=None, source=Source.CARRIER, reason="快递员确认签收"
    )


def url_for(order) -> str:
    return f"/track/o/{tracking_link_token(order)}/certificate.pdf"


def linked_certificate_order(page):
    """The order whose certificate the page links. The link is signed when the page is rendered (a
    timestamped token), so it is read from the page rather than compared with a token made here."""
    link = re.search(r'href="/track/o/([^"/]+)/certificate\.pdf"', page.content.decode())
    return tracking_order_from_token(token=link.group(1)) if link else None


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_delivered_order_gets_a_certificate_with_the_font_embedded(carrier):
    order = delivered(carrier)
    response = Client().get(url_for(order))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="certificate-{order.number}.pdf"'
    data = response.content
    assert data.startswith(b"%PDF")
    # The CJK font travels inside the file (a TrueType subset), not by name only.
    assert b"/FontFile2" in data
    assert re.search(rb"/FontName /[A-Z]{6}\+WenQuanYiZenHei", data)

    text = pdf_text(data)
    for expected in (
        order.number,
        "订单履约证明",
        "顺丰速运",
        "SF1000000001",
        "签收",
        SIGNED,
        "张*",
        "138****5678",
        "浙江杭州西湖区",
        "运输中 → 已签收",
        "Asia/Shanghai",
    ):
        assert expected in text, expected
    assert "快递员确认签收" not in text  # event reasons are staff-internal: not on the customer's document
    # No unmasked receiver data on a public document.
    assert "13812345678" not in text and "张三" not in text and "文三路" not in text


def test_the_tracking_page_of_a_delivered_order_links_the_certificate(carrier):
    order = delivered(carrier)
    page = Client().get(f"/track/o/{tracking_link_token(order)}/")
    assert page.status_code == 200
    assert linked_certificate_order(page) == order
    assert "下载履约证明 PDF" in page.content.decode()

    posted = Client().post("/track/", {"number": order.number, "last4": "5678"})
    assert posted.status_code == 200 and linked_certificate_order(posted) == order


def test_not_delivered_order_has_no_certificate(carrier):
    order = printed(carrier)
    page = Client().get(f"/track/o/{tracking_link_token(order)}/")
    assert page.status_code == 200 and "certificate.pdf" not in page.content.decode()
    assert Client().get(url_for(order)).status_code == 404
    with pytest.raises(Conflict) as refused:
        certificate_pdf(order=order)
    assert order.number in refused.value.message and "delivered" in refused.value.message


def test_tampered_token_is_404(carrier):
    order = delivered(carrier)
    token = tracking_link_token(order)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert Client().get(f"/track/o/{tampered}/certificate.pdf").status_code == 404
    assert Client().get("/track/o/not-a-token/certificate.pdf").status_code == 404


def test_missing_font_fails_with_a_clear_message(carrier, settings, tmp_path):
    order = delivered(carrier)
    settings.ORDERHUB_PDF_FONT = str(tmp_path / "wqy-zenhei.ttc")
    with pytest.raises(ImproperlyConfigured) as missing:
        certificate_pdf(order=order)
    assert "fonts-wqy-zenhei" in str(missing.value) and "wqy-zenhei.ttc" in str(missing.value)
