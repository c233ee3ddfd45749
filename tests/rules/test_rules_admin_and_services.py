from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from rules.models import Rule
from rules.services import rule_save, rule_sentence, rules_decide
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db

GIFT_CONDITION = {
    "all": [
        {"fact": "member_level", "op": "eq", "value": "diamond"},
        {"fact": "sku_categories", "op": "contains", "value": "面膜"},
        {"fact": "paid_amount", "op": "gte", "value": "299"},
    ]
}
FACTS = {
    "member_level": "diamond",
    "sku_categories": ["面膜"],
    "paid_amount": Decimal("350"),
    "order_tags": [],
    "subtotal": Decimal("350"),
}


def form_data(**overrides) -> dict:
    import json

    data = {
        "kind": "gift",
        "name": "钻石会员面膜赠品",
        "description": "",
        "position": "10",
        "condition": json.dumps(GIFT_CONDITION, ensure_ascii=False),
        "action": json.dumps({"sku": "SAMPLE-3", "quantity": 3, "note": "放入面膜试用装"}, ensure_ascii=False),
    }
    data.update(overrides)
    return data


@pytest.fixture
def sample_sku():
    return SkuFactory(code="SAMPLE-3", name="面膜试用装")


def make_rule(**overrides) -> Rule:
    fields = {
        "kind": "gift",
        "name": "r",
        "condition": GIFT_CONDITION,
        "action": {"sku": "SAMPLE-3", "quantity": 3},
        "enabled": True,
    }
    fields.update(overrides)
    return rule_save(rule=Rule(**fields), actor=None)


def test_manager_creates_rule_in_admin_and_sees_it_as_a_sentence(client, yunying, sample_sku):
    client.force_login(yunying)
    response = client.post(reverse("admin:rules_rule_add"), form_data())
    assert response.status_code == 302, response.content.decode()[-2000:]
    rule = Rule.objects.get()
    assert rule.enabled is False  # new rules start switched off, to be tried first
    assert rule_sentence(rule=rule, lang="zh") == (
        "会员等级 等于 钻石会员 且 商品类目 包含 面膜 且 实付金额 ≥ 299 → 赠 SAMPLE-3 × 3（放入面膜试用装）"
    )
    assert rule.history.get().history_user == yunying
    page = client.get(reverse("admin:rules_rule_changelist")).content.decode()
    assert "赠 SAMPLE-3 × 3" in page


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"condition": '{"all": [{"fact": "shoe_size", "op": "eq", "value": 1}]}'}, "condition", "unknown fact"),
        ({"condition": '{"all": [{"fact": "paid_amount", "op": "gte", "value": "lots"}]}'}, "condition", "amount"),
        ({"condition": '{"all": []}'}, "condition", "empty"),
        ({"action": '{"sku": "NO-SUCH", "quantity": 3}'}, "action", "does not exist"),
        ({"action": '{"sku": "SAMPLE-3", "quantity": 0}'}, "action", "quantity"),
        (
            {
                "valid_from_0": "2026-12-01",
                "valid_from_1": "00:00:00",
                "valid_to_0": "2026-11-01",
                "valid_to_1": "00:00:00",
            },
            "valid_to",
            "after",
        ),
    ],
)
def test_invalid_rule_is_refused_on_the_field_and_nothing_saved(client, yunying, sample_sku, change, field, words):
    client.force_login(yunying)
    response = client.post(reverse("admin:rules_rule_add"), form_data(**change))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and words in " ".join(errors[field]), errors
    assert Rule.objects.count() == 0


def test_customer_service_cannot_edit_rules(client, kefu):
    client.force_login(kefu)
    assert client.get(reverse("admin:rules_rule_add")).status_code == 403


def test_every_change_is_a_new_version_with_history(sample_sku):
    rule = make_rule()
    rule.enabled = False
    rule = rule_save(rule=rule, actor=None, reason="switched off")
    assert rule.version == 2
    assert [h.history_change_reason for h in rule.history.all()] == ["switched off", ""]


def test_rules_decide_matches_in_order_counts_hits_and_honours_stop_after_match(sample_sku):
    first = make_rule(name="first", position=1, stop_after_match=True)
    make_rule(name="second", position=2)
    tag = make_rule(kind="tag", name="tag", action={"tag": "高意向"})
    decisions, failures = rules_decide(kinds=("gift", "tag"), facts=FACTS)
    assert [d.rule_name for d in decisions] == ["first", "tag"] and failures == []
    first.refresh_from_db()
    tag.refresh_from_db()
    assert (first.hit_count, tag.hit_count) == (1, 1) and first.last_hit_at is not None


def test_disabled_and_out_of_window_rules_do_not_fire(sample_sku):
    now = timezone.now()
    make_rule(name="off", enabled=False)
    make_rule(name="later", valid_from=now + timedelta(days=1))
    make_rule(name="over", valid_from=now - timedelta(days=2), valid_to=now - timedelta(days=1))
    assert rules_decide(kinds=("gift",), facts=FACTS) == ([], [])


def test_missing_fact_is_a_failure_recorded_on_the_rule_not_a_crash(sample_sku):
    rule = make_rule()
    decisions, failures = rules_decide(kinds=("gift",), facts={"member_level": "diamond", "sku_categories": ["面膜"]})
    assert decisions == [] and "paid_amount" in failures[0].message
    rule.refresh_from_db()
    assert "paid_amount" in rule.last_error and rule.history.count() == 1
