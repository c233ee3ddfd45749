"""客服 opens an order from the order list in a real browser and reads its health card (订单健康卡)."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import OrderEvent, Source, Status
from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser]


def test_customer_service_sees_the_health_card_on_the_order_page(page: Page, live_server, kefu):
    order = make_order()
    OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.TRANSITION,
        transition="hold",
        from_status=Status.PLACED,
        to_status=Status.ON_HOLD,
        actor=kefu,
        actor_label=kefu.get_username(),
        source=Source.ADMIN,
        reason="等买家回复",
    )
    login(page, live_server, kefu.username)
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    card = page.locator("#oh-health-card")
    expect(card).to_be_visible()
    expect(card.locator("h2")).to_have_text("订单健康卡")
    row = card.locator('[data-section="interventions"] tr[data-kind="hold"]')
    expect(row).to_contain_text("等买家回复")
    expect(row.locator(".oh-card-actor")).to_have_text(kefu.get_username())
