"""客服 holds an order as 等待客户回复 on the order page, in a real browser (Chromium via Playwright): the hold's
kind is chosen beside its reason, and the page then says the node's clock is paused and why."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import Order, Status, StatusNode
from tests.browser import login
from tests.e2e.test_admin_orders import order_url, paid_order, transition_form, zh

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]


def test_kefu_holds_as_waiting_for_the_customer_and_the_page_says_the_clock_is_paused(page: Page, live_server, kefu):
    StatusNode.objects.filter(status=Status.PAID).update(timeout_minutes=60, pause_states=["hold:customer"])
    order = paid_order()
    login(page, live_server, "kefu")
    page.goto(order_url(live_server, order))
    form = transition_form(page, "hold")
    kinds = form.locator("select[name=hold_kind] option")
    expect(kinds).to_have_text([zh(Order.HoldKind.OTHER.label), zh(Order.HoldKind.CUSTOMER.label)])

    form.locator("select[name=hold_kind]").select_option(label=zh(Order.HoldKind.CUSTOMER.label))
    form.locator("input[name=reason]").fill("已联系客户确认颜色，等待回复")
    form.locator("button[data-transition='hold']").click()
    page.wait_for_url(order_url(live_server, order))

    expect(page.locator("#oh-current-status")).to_have_text(zh(Status.ON_HOLD.label))
    expect(page.locator("body")).to_contain_text("计时已暂停（挂起：等待客户回复）")
    order.refresh_from_db()
    assert (order.hold_kind, order.status_reason) == (Order.HoldKind.CUSTOMER, "已联系客户确认颜色，等待回复")
    assert order.deadline_basis["paused"]["node"] == Status.PAID
