"""运营主管 edits a customer notice's text in the admin and previews it against a real order, in a real browser."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import MessageTemplate, Source
from orders.services.transitions import order_transition
from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser]


def test_manager_edits_a_notice_text_refused_then_saved_and_previewed(page: Page, live_server, yunying):
    order = order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)
    template = MessageTemplate.objects.create(key="status:paid", body="订单 {order_number} {customer_label}")
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/orders/messagetemplate/{template.pk}/change/?order={order.number}")
    expect(page.locator(".field-preview")).to_contain_text(f"订单 {order.number} 付款成功")
    # when: she drops the order number from the text and saves: refused, naming the placeholder
    page.fill("#id_body", "您的订单已付款")
    page.click("input[name=_continue]")
    expect(page.locator(".errorlist")).to_contain_text("{order_number}")
    # when: she writes it back with the number and saves
    page.fill("#id_body", "【好物】您的订单 {order_number} 已付款，{customer_label}")
    page.click("input[name=_continue]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    template.refresh_from_db()
    assert template.body == "【好物】您的订单 {order_number} 已付款，{customer_label}"
    assert template.history.first().history_user == yunying
    expect(page.locator(".field-preview")).to_contain_text("【好物】您的订单")
