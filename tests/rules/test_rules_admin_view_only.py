"""Roles that may only look at rules open any rule read-only and read it in words (issue 9, defect 6)."""

import pytest
from django.urls import reverse

from rules.models import Rule
from rules.services import rule_save, rule_sentence
from tests.factories import SkuFactory, user_with_role

pytestmark = pytest.mark.django_db

CONDITION = {
    "all": [
        {"fact": "member_level", "op": "eq", "value": "diamond"},
        {
            "any": [
                {"fact": "paid_amount", "op": "gte", "value": "299"},
                {"fact": "order_tags", "op": "contains", "value": "urgent"},
            ]
        },
    ]
}


@pytest.fixture
def gift_rule() -> Rule:
    SkuFactory(code="SAMPLE-3", name="面膜试用装")
    rule = Rule(kind="gift", name="钻石会员赠品", condition=CONDITION, action={"sku": "SAMPLE-3", "quantity": 3})
    return rule_save(rule=rule, actor=None)


@pytest.mark.parametrize("role", ["客服", "仓库", "财务", "采购"])
def test_rule_change_page_for_view_only_role_shows_the_rule_in_words_read_only(client, gift_rule, role):
    client.force_login(user_with_role(role))
    response = client.get(reverse("admin:rules_rule_change", args=[gift_rule.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert rule_sentence(rule=gift_rule, lang="zh") in html.replace("&gt;", ">")
    # the condition as nested comparisons in words, the action in words; no JSON, no inputs, no save button
    assert "<li>会员等级 等于 钻石会员</li>" in html
    assert "<li>实付金额 ≥ 299</li>" in html and "任一满足" in html
    assert "赠 SAMPLE-3 × 3" in html
    assert "&quot;fact&quot;" not in html and '"fact"' not in html
    assert 'name="condition"' not in html and 'name="_save"' not in html


def test_rule_change_page_for_view_only_role_shows_unreadable_json_as_text(client, gift_rule, kefu):
    Rule.objects.filter(pk=gift_rule.pk).update(condition={"all": [{"fact": "shoe_size", "op": "eq", "value": 1}]})
    client.force_login(kefu)
    response = client.get(reverse("admin:rules_rule_change", args=[gift_rule.pk]))
    assert response.status_code == 200
    assert "shoe_size" in response.content.decode()


def test_rule_change_page_for_manager_still_offers_the_builder(client, gift_rule, yunying):
    client.force_login(yunying)
    html = client.get(reverse("admin:rules_rule_change", args=[gift_rule.pk])).content.decode()
    assert 'data-rule-builder="condition"' in html and 'name="condition"' in html
