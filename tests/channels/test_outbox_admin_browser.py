"""运营主管 in a real browser: sets up an ERP endpoint (its secret never shown back) and puts a dead-lettered ERP
push back with 重新推送."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import ErpEndpoint, OutboxMessage
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


def test_manager_sets_up_a_qimen_endpoint_and_its_secret_is_never_shown_back(page: Page, live_server, yunying):
    # when: the manager fills in a QiMen endpoint, its secret typed in, pushing cancellations too
    login(page, live_server, "yunying")
    page.get_by_role("link", name="ERP 推送地址").first.click()
    page.locator(".object-tools a.addlink").click()
    page.fill("#id_name", "奇门 WMS")
    page.select_option("#id_kind", value="qimen")
    page.fill("#id_url", "https://qimen.example.com/router/qimen/service")
    page.fill("#id_app_key", "23456789")
    page.fill("#id_secret", "qm-typed-secret")
    page.fill("#id_qimen_customer_id", "C001")
    page.fill("#id_qimen_warehouse_code", "WH01")
    page.fill("#id_qimen_owner_code", "OWNER1")
    page.check("input[name=subscribed_statuses][value=cancelled]")
    page.click("input[name=_continue]")
    # then: saved; the page shows the secret is set, never its value
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    assert "qm-typed-secret" not in page.content()
    assert page.input_value("#id_secret") == ""
    endpoint = ErpEndpoint.objects.get(name="奇门 WMS")
    assert (endpoint.secret, endpoint.subscribed_statuses) == ("qm-typed-secret", ["cancelled"])
    assert endpoint.history.first().history_user == yunying
