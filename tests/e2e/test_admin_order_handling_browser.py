"""Customer service sets priority and tags from the order page in a real browser: buttons, small forms, timeline."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import Order, Source
from orders.services.transitions import order_transition
from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stocked")]


def test_order_tags_and_priority_kefu_edits_them_as_tags_and_timeline_lists_old_and_new(page: Page, live_server, kefu):
    # given: a paid order tagged 高意向 and 复购; its form shows tags and priority read-only
    order = make_order(tags=["高意向", "复购"])
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    login(page, live_server, "kefu")
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator("input[name=city]")).to_have_count(0)
    expect(page.locator("select[name=priority]")).to_have_count(0)

    # when: 标签 — untick 复购, type two new tags
    page.click("#oh-set-tags")
    page.get_by_label("复购").uncheck()
    page.fill("#id_add", "加急，回访")
    page.click("#tags-form input[type=submit]")

    # then: back on the order page, one timeline row lists the tags before and after
    expect(page.locator("#oh-timeline")).to_contain_text("标签：高意向、复购 → 高意向、加急、回访")

    # when: 设置优先级 without a reason, then with one
    page.click("#oh-set-priority")
    page.select_option("#id_priority", str(Order.Priority.URGENT.value))
    page.click("#priority-form input[type=submit]")
    expect(page.locator("#id_reason:invalid")).to_have_count(1)  # the browser asks for the reason first
    page.fill("#id_reason", "VIP 客户催单")
    page.click("#priority-form input[type=submit]")
    expect(page.locator("#oh-timeline")).to_contain_text("优先级：普通 → 紧急（VIP 客户催单）")
    order.refresh_from_db()
    assert order.tags == ["高意向", "加急", "回访"] and order.priority == Order.Priority.URGENT
