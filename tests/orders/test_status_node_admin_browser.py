"""运营主管 adds an escalation level to a status node in a real browser (issue 9, defect 7)."""

import pytest
from django.contrib.auth.models import Group
from django.utils import translation
from playwright.sync_api import Page, expect

from orders.models import EscalationLevel, StatusNode
from tests.browser import login

pytestmark = [pytest.mark.browser]


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(text)


def test_manager_adds_escalation_level_refused_without_recipient_then_saved_with_one(page: Page, live_server, yunying):
    node = StatusNode.objects.get(status="paid")
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/orders/statusnode/{node.pk}/change/")
    page.locator("#escalations-group .add-row a").click()
    page.fill("#id_escalations-0-level", "1")
    page.fill("#id_escalations-0-after_minutes", "30")

    # when: saved without anyone to notify
    page.click("input[name=_save]")
    # then: the level's row says so in Chinese, and nothing was saved
    expect(page.locator("#escalations-group .errorlist")).to_contain_text(
        zh("Choose a group, a person or a channel to notify (at least one).")
    )
    assert not EscalationLevel.objects.filter(node=node).exists()

    # when: a group is chosen from the plain list
    page.select_option("#id_escalations-0-notify_group", label="客服")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible()
    level = EscalationLevel.objects.get(node=node)
    assert level.notify_group == Group.objects.get(name="客服")
    assert level.history.get().history_user == yunying
