"""运营主管 puts a dead-lettered ERP push back with 重新推送 in the admin, in a real browser."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import OutboxMessage
from orders.services.outbox_delivery import outbox_deliver_batch
from tests.browser import login
from tests.channels.erp_peer import ErpPeer
from tests.channels.outbox_fixtures import endpoint
from tests.factories import make_order

pytestmark = [pytest.mark.browser]


def test_manager_pushes_a_dead_letter_again_from_the_outbox_list(page: Page, live_server, yunying, stocked):
    # given: an ERP that refused the order (a 4xx is a dead letter at once)
    refusing = ErpPeer(lambda seen: (422, '{"error": "店铺未授权"}'))
    try:
        endpoint(refusing)
        order = make_order()
        assert outbox_deliver_batch().dead == 1
    finally:
        refusing.stop()
    # when: the manager opens 发件箱, ticks the row and runs 重新推送
    login(page, live_server, "yunying")
    page.get_by_role("link", name="发件箱").first.click()
    expect(page.get_by_text(order.number).first).to_be_visible()
    expect(page.get_by_text("店铺未授权").first).to_be_visible()
    page.locator("input.action-select").first.check()
    page.select_option("select[name=action]", value="retry")
    page.locator("button[name=index]").click()
    # then: the page says it is pushed again, and the row waits for its next attempt with her name on it
    expect(page.locator("ul.messagelist .success")).to_contain_text("重新推送")
    message = OutboxMessage.objects.get(order=order)
    assert (message.state, message.attempts) == ("pending", 0)
    assert message.history.first().history_user == yunying
