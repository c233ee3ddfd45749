"""运营主管 edits a rule's condition in a real browser, clicks 查看变更影响 / Preview impact, sees the count and the
orders it would newly match under the form (nothing saved, the edit still in the form), then saves as usual."""

import pytest
from playwright.sync_api import Page, expect

from orders.models import Order, Status
from rules.models import Rule
from rules.services import rule_save
from tests.browser import login
from tests.factories import make_order

pytestmark = [pytest.mark.browser]


def test_preview_shows_the_count_and_list_then_the_rule_saves(page: Page, live_server, yunying):
    rule = rule_save(
        rule=Rule(
            kind="tag",
            name="高意向",
            condition={"all": [{"fact": "paid_amount", "op": "gte", "value": "300"}]},
            action={"tag": "高意向"},
            enabled=True,
        ),
        actor=None,
    )
    small, newly, big = (
        make_order(paid_amount="100.00"),
        make_order(paid_amount="200.00"),
        make_order(paid_amount="400.00"),
    )
    paid = make_order(paid_amount="250.00")
    Order.objects.filter(pk=paid.pk).update(status=Status.PAID)  # past the moment tag rules act

    login(page, live_server, yunying.username)
    page.goto(f"{live_server.url}/admin/rules/rule/{rule.pk}/change/")
    value = page.locator('[data-rule-builder="condition"] .rb-ui .rb-root > .rb-items > .rb-row').first.locator(
        "input.rb-input"
    )
    expect(value).to_have_value("300")
    value.fill("150")

    page.get_by_role("button", name="查看变更影响 Preview impact").click()
    box = page.locator("#change-impact")
    expect(box).to_have_attribute("data-state", "ok")
    expect(box.locator("#impact-newly-count")).to_have_text("1")
    expect(box.locator("#impact-no-longer-count")).to_have_text("0")
    expect(box.locator("#impact-newly li")).to_have_count(1)
    link = box.locator("#impact-newly a")
    expect(link).to_have_text(newly.number)
    assert link.get_attribute("href").endswith(f"/admin/orders/order/{newly.pk}/change/")
    assert small.number not in box.inner_text() and big.number not in box.inner_text()
    # nothing saved, the edit still in the form
    assert Rule.objects.get(pk=rule.pk).version == 1
    expect(value).to_have_value("150")
    assert page.url.endswith(f"/admin/rules/rule/{rule.pk}/change/")

    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/rules/rule/")
    saved = Rule.objects.get(pk=rule.pk)
    assert saved.version == 2 and saved.condition == {"all": [{"fact": "paid_amount", "op": "gte", "value": "150"}]}


def test_a_bad_form_shows_its_errors_under_the_button(page: Page, live_server, yunying):
    login(page, live_server, yunying.username)
    page.goto(f"{live_server.url}/admin/rules/rule/add/")
    page.fill("#id_name", "")
    page.get_by_role("button", name="查看变更影响 Preview impact").click()
    box = page.locator("#change-impact")
    expect(box).to_have_attribute("data-state", "invalid")
    expect(box.locator("#impact-errors li").first).to_be_visible()
    assert not Rule.objects.exists()
