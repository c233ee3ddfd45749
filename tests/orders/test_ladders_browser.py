"""运营主管 builds a ladder level by percentage in a real browser, and finds the 审批滞留 order from the home page."""

from datetime import timedelta

import pytest
from django.db.models import F
from playwright.sync_api import Page, expect

from orders.models import Alert, EscalationLevel, Order, StatusNode
from orders.services.sweeps import overdue_alerts_raise
from tests.browser import login
from tests.orders.test_ladders import approval_rule, held_for_approval
from tests.orders.test_status_node_admin_browser import zh

pytestmark = [pytest.mark.browser]


def test_manager_adds_a_percent_level_then_follows_the_approval_overdue_counter(page: Page, live_server, yunying):
    node = StatusNode.objects.get(status="allocated")
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/orders/statusnode/{node.pk}/change/")
    rows = page.locator("#escalations-group tbody tr.form-row.has_original").count()
    page.locator("#escalations-group .add-row a").click()
    prefix = f"#id_escalations-{rows}"
    page.fill(f"{prefix}-level", "9")
    page.fill(f"{prefix}-after_minutes", "30")
    page.fill(f"{prefix}-after_percent", "50")
    page.select_option(f"{prefix}-notify_group", label="运营主管")
    page.click("input[name=_save]")
    expect(page.locator("#escalations-group .errorlist")).to_contain_text(
        zh("Fill in either the minutes after the deadline or the share of the allowed time, not both.")
    )
    page.fill(f"{prefix}-after_minutes", "")
    page.fill(f"{prefix}-repeat_minutes", "30")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    level = EscalationLevel.objects.get(node=node, level=9)
    assert (level.after_minutes, level.after_percent, level.repeat_minutes) == (None, 50, 30)

    # an approval held for 3 hours: the sweep escalates it, the home page counts it, the link filters the list
    approval_rule("运营主管", minutes=120)
    order, waiting = held_for_approval()
    Order.objects.filter(pk=order.pk).update(state_entered_at=F("state_entered_at") - timedelta(hours=3))
    Alert.objects.filter(pk=waiting.pk).update(created_at=F("created_at") - timedelta(hours=3))
    overdue_alerts_raise()
    page.goto(f"{live_server.url}/admin/")
    page.locator("#approval-overdue a").click()
    expect(page.locator("#result_list")).to_contain_text(order.number)
    expect(page.locator("#result_list .oh-approval-overdue")).to_have_text("审批滞留")
