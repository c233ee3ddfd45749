"""An ops manager builds rules in the admin by picking from lists, in a real browser (Chromium via Playwright).

Set RULE_BUILDER_SCREENSHOT=/some/file.png to keep a screenshot of the filled-in add page.
"""

import json
import os

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from orders.models import NotificationChannel
from rules.models import Rule
from rules.services import rule_save
from tests.browser import login
from tests.factories import SkuFactory, user_with_role

pytestmark = pytest.mark.browser

GIFT_CONDITION = {
    "all": [
        {"fact": "member_level", "op": "eq", "value": "diamond"},
        {"fact": "sku_categories", "op": "contains", "value": "面膜"},
        {"fact": "paid_amount", "op": "gte", "value": "299"},
    ]
}
GIFT_ACTION = {"sku": "SAMPLE-3", "quantity": 3, "note": "放入面膜试用装"}
GIFT_SENTENCE = "会员等级 等于 钻石会员 且 商品类目 包含 面膜 且 实付金额 ≥ 299 → 赠 SAMPLE-3 × 3（放入面膜试用装）"


@pytest.fixture
def sample_sku():
    return SkuFactory(code="SAMPLE-3", name="面膜试用装")


def condition_builder(page: Page) -> Locator:
    return page.locator('[data-rule-builder="condition"] .rb-ui')


def root_rows(page: Page) -> Locator:
    return condition_builder(page).locator(".rb-root > .rb-items > .rb-row")


def add_condition(page: Page) -> Locator:
    """Click the root group's "+ 条件" and return the new row."""
    before = root_rows(page).count()
    condition_builder(page).locator(".rb-root > .rb-group-foot").get_by_role(
        "button", name="+ 条件 add condition"
    ).click()
    expect(root_rows(page)).to_have_count(before + 1)
    return root_rows(page).nth(before)


def open_add_page(page: Page, live_server) -> None:
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/rules/rule/add/")
    # JavaScript on: the builders replace the JSON text boxes
    expect(condition_builder(page)).to_be_visible()
    expect(page.locator("#id_condition")).to_be_hidden()
    expect(page.locator("#id_action")).to_be_hidden()


def test_rule_builder_manager_builds_gift_rule_by_picking_and_it_is_saved_as_json(
    page: Page, live_server, yunying, sample_sku
):
    # given
    open_add_page(page, live_server)
    page.select_option("#id_kind", label="赠品")
    page.fill("#id_name", "钻石会员面膜赠品")

    # when: 钻石会员 且 商品类目包含 面膜 且 实付金额 ≥ 299, only by picking and typing values
    first = root_rows(page).first  # a new condition starts with one empty row
    first.locator("select.rb-fact").select_option(label="会员等级 member level")
    expect(first.locator("select.rb-op")).to_have_value("eq")
    first.locator("select.rb-choice").select_option(label="钻石会员 diamond")

    second = add_condition(page)
    second.locator("select.rb-fact").select_option(label="商品类目 SKU categories")
    second.locator("select.rb-op").select_option(label="包含 includes")
    second.locator("input.rb-input").fill("面膜")

    third = add_condition(page)
    third.locator("select.rb-fact").select_option(label="实付金额 paid amount")
    # only operators for amounts are offered
    assert third.locator("select.rb-op option").all_inner_texts() == [
        "等于 is",
        "不等于 is not",
        ">",
        "≥",
        "<",
        "≤",
        "介于 between",
    ]
    third.locator("select.rb-op").select_option(label="≥")
    third.locator("input.rb-input").fill("299")

    # and: → 赠 SAMPLE-3 × 3, the gift's inputs shown for the kind chosen
    page.fill("#id_action_sku", "SAMPLE-3")
    page.fill("#id_action_quantity", "3")
    page.fill("#id_action_note", "放入面膜试用装")
    expect(condition_builder(page).locator(".rb-preview")).to_have_text(
        "预览 preview：会员等级 等于 钻石会员 且 商品类目 包含 面膜 且 实付金额 ≥ 299"
    )
    # the hidden JSON follows every change; numbers of the action are JSON numbers
    assert json.loads(page.locator("#id_condition").input_value()) == GIFT_CONDITION
    assert json.loads(page.locator("#id_action").input_value()) == GIFT_ACTION
    if os.environ.get("RULE_BUILDER_SCREENSHOT"):
        page.screenshot(path=os.environ["RULE_BUILDER_SCREENSHOT"], full_page=True)
    page.click("input[name=_save]")

    # then
    page.wait_for_url(f"{live_server.url}/admin/rules/rule/")
    rule = Rule.objects.get()
    assert rule.kind == "gift"
    assert rule.condition == GIFT_CONDITION
    assert rule.action == GIFT_ACTION
    expect(page.locator("#result_list")).to_contain_text(GIFT_SENTENCE)


def test_rule_builder_value_of_wrong_type_shows_field_error_and_saves_nothing(
    page: Page, live_server, yunying, sample_sku
):
    # given
    open_add_page(page, live_server)
    page.select_option("#id_kind", label="赠品")
    page.fill("#id_name", "写错金额")
    row = root_rows(page).first
    row.locator("select.rb-fact").select_option(label="实付金额 paid amount")
    row.locator("select.rb-op").select_option(label="≥")
    page.fill("#id_action_sku", "SAMPLE-3")

    # when: an amount that is not a number
    row.locator("input.rb-input").fill("abc")
    page.click("input[name=_save]")

    # then: the condition field says why, the row is pointed out, and nothing is saved
    condition_row = page.locator(".form-row.field-condition")
    expect(condition_row.locator("ul.errorlist")).to_contain_text("paid_amount needs an amount, got 'abc'")
    expect(condition_row.locator(".rb-error-text")).to_have_text(
        "这一行有误 this row is wrong：paid_amount needs an amount, got 'abc'"
    )
    expect(page.locator(".errornote")).to_be_visible()
    row = root_rows(page).first
    expect(row).to_have_class("rb-row rb-error")
    expect(row.locator("select.rb-fact")).to_have_value("paid_amount")
    expect(row.locator("input.rb-input")).to_have_value("abc")
    assert Rule.objects.count() == 0


def test_rule_builder_editing_one_row_keeps_nested_groups_unchanged(page: Page, live_server, yunying):
    # given: a rule with a nested group and a group nested two levels deep (shown as text, kept as is)
    condition = {
        "all": [
            {"fact": "paid_amount", "op": "gte", "value": "100"},
            {
                "any": [
                    {"fact": "member_level", "op": "in", "value": ["gold", "vip"]},
                    {"all": [{"fact": "presale", "op": "is_true"}, {"fact": "city", "op": "eq", "value": "杭州"}]},
                ]
            },
        ]
    }
    rule = rule_save(
        rule=Rule(kind="merge", name="合单", condition=condition, action={"window_hours": 24, "min_orders": 3}),
        actor=None,
    )
    login(page, live_server, "yunying")
    page.goto(f"{live_server.url}/admin/rules/rule/{rule.pk}/change/")
    nested = condition_builder(page).locator(".rb-nested")
    expect(nested.locator("select.rb-group-op")).to_have_value("any")
    expect(nested.get_by_label("金卡会员 gold")).to_be_checked()
    expect(nested.get_by_label("VIP会员 VIP")).to_be_checked()
    expect(nested.get_by_label("钻石会员 diamond")).not_to_be_checked()
    expect(nested.locator(".rb-kept code")).to_have_text("预售订单 为是 且 城市 等于 杭州")
    expect(page.locator("#id_action_waive_shipping")).to_be_checked()

    # when: the first amount changes and shipping is no longer waived
    root_rows(page).first.locator("input.rb-input").fill("200")
    page.uncheck("#id_action_waive_shipping")
    assert json.loads(page.locator("#id_action").input_value()) == {
        "window_hours": 24,
        "min_orders": 3,
        "waive_shipping": False,
    }
    page.click("input[name=_save]")

    # then: only that value changed
    page.wait_for_url(f"{live_server.url}/admin/rules/rule/")
    rule.refresh_from_db()
    condition["all"][0]["value"] = "200"
    assert rule.condition == condition
    assert rule.action == {"window_hours": 24, "min_orders": 3, "waive_shipping": False}


def test_rule_builder_without_javascript_the_json_can_still_be_edited(
    browser: Browser, live_server, yunying, sample_sku
):
    # given: a browser with JavaScript off
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        login(page, live_server, "yunying")
        page.goto(f"{live_server.url}/admin/rules/rule/add/")

        # then: the JSON boxes are there to type into, the empty builders are not shown
        expect(page.locator("#id_condition")).to_be_visible()
        expect(page.locator("#id_action")).to_be_visible()
        expect(page.locator('[data-rule-builder="condition"] .rb-ui')).to_be_hidden()

        # when
        page.select_option("#id_kind", "gift")
        page.fill("#id_name", "手写 JSON")
        page.fill("#id_condition", json.dumps(GIFT_CONDITION, ensure_ascii=False))
        page.fill("#id_action", json.dumps(GIFT_ACTION, ensure_ascii=False))
        page.click("input[name=_save]")

        # then
        page.wait_for_url(f"{live_server.url}/admin/rules/rule/")
        rule = Rule.objects.get()
        assert (rule.condition, rule.action) == (GIFT_CONDITION, GIFT_ACTION)
    finally:
        context.close()


def test_rule_builder_offers_an_escalation_rungs_level_user_channel_and_repeat(page: Page, live_server, yunying):
    # given: a person and a robot that can be notified
    user_with_role("仓库", "cangku-lead")
    NotificationChannel.objects.create(name="老板钉钉机器人", kind="dingtalk", url="http://127.0.0.1:9/robot")
    open_add_page(page, live_server)
    page.select_option("#id_kind", "escalation")
    page.fill("#id_name", "上海超时 L3")
    row = root_rows(page).first
    row.locator("select.rb-fact").select_option(label="省份 province")
    row.locator("input.rb-input").fill("上海")

    # when: the rung's inputs are filled by picking
    assert "cangku-lead" in page.locator("#id_action_user option").all_inner_texts()
    page.fill("#id_action_level", "3")
    page.fill("#id_action_after_minutes", "120")
    page.select_option("#id_action_channel", "老板钉钉机器人")
    page.fill("#id_action_repeat_minutes", "60")
    page.click("input[name=_save]")

    # then: saved without the targets left empty, and the list says it in words
    page.wait_for_url(f"{live_server.url}/admin/rules/rule/")
    rule = Rule.objects.get()
    assert rule.action == {"level": 3, "after_minutes": 120, "channel": "老板钉钉机器人", "repeat_minutes": 60}
    expect(page.locator("#result_list")).to_contain_text("L3 超时 120 分钟通知 渠道 老板钉钉机器人，每 60 分钟重复")
