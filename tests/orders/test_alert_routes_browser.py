"""运营主管 hands 库存不足 alerts to the warehouse group in the admin, in a real browser (issue 10)."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from orders.models import Alert, AlertRoute
from orders.services.alerts import alert_raise
from tests.browser import login

pytestmark = [pytest.mark.browser]


def test_manager_routes_shortfall_alerts_to_warehouse_and_the_next_one_goes_there(page: Page, live_server, yunying):
    # given: the manager on the admin home
    login(page, live_server, "yunying")
    # when: she opens 告警分派 → 库存不足, picks 仓库 from the plain list and saves
    page.get_by_role("link", name="告警分派").first.click()
    page.get_by_role("link", name="库存不足").click()
    page.select_option("#id_owner_group", label="仓库")
    page.select_option("#id_severity", label="严重")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    # then: the route says so, with her name on its history
    route = AlertRoute.objects.get(kind=Alert.Kind.STOCK_SHORTFALL)
    assert route.owner_group == Group.objects.get(name="仓库") and route.history.first().history_user == yunying
    # and the next shortfall alert goes to the warehouse group, critical
    alert = alert_raise(kind=Alert.Kind.STOCK_SHORTFALL, message="RARE-1 缺货 2 件")
    assert (alert.owner_group.name, alert.severity) == ("仓库", "critical")
