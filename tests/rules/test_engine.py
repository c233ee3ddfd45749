"""The rule engine on plain fact dicts: validation, evaluation, rendering. No database."""

from decimal import Decimal

import pytest

from rules.engine import ConditionError, MissingFact, compile_condition, render, validate

DIAMOND_MASK_299 = {
    "all": [
        {"fact": "member_level", "op": "eq", "value": "diamond"},
        {"fact": "sku_categories", "op": "contains", "value": "面膜"},
        {"fact": "paid_amount", "op": "gte", "value": "299"},
    ]
}
FACTS = {
    "member_level": "diamond",
    "sku_categories": ["面膜", "精华"],
    "paid_amount": Decimal("299.00"),
    "order_count_30d": 2,
    "subtotal": Decimal("320"),
    "order_tags": ["加急"],
    "presale": False,
}


def matches(condition: dict, facts: dict) -> bool:
    return compile_condition(validate(condition))(facts)


def test_example_gift_rule_matches_exactly_at_the_threshold():
    assert matches(DIAMOND_MASK_299, FACTS)
    assert not matches(DIAMOND_MASK_299, dict(FACTS, paid_amount=Decimal("298.99")))
    assert not matches(DIAMOND_MASK_299, dict(FACTS, member_level="gold"))
    assert not matches(DIAMOND_MASK_299, dict(FACTS, sku_categories=["精华"]))


def test_any_groups_and_nesting():
    approval = {
        "any": [
            {"fact": "subtotal", "op": "gt", "value": 5000},
            {"all": [{"fact": "order_tags", "op": "contains", "value": "定制"}, {"fact": "presale", "op": "is_false"}]},
        ]
    }
    assert not matches(approval, FACTS)
    assert matches(approval, dict(FACTS, order_tags=["定制"]))
    assert matches(approval, dict(FACTS, subtotal=Decimal("5000.01")))


@pytest.mark.parametrize(
    ("op", "value", "fact_value", "expected"),
    [
        ("between", ["100", "300"], Decimal("299"), True),
        ("between", ["100", "300"], Decimal("300.01"), False),
        ("in", ["tmall", "douyin"], "douyin", True),
        ("not_in", ["tmall"], "tmall", False),
        ("contains_any", ["a", "b"], ["b", "c"], True),
        ("contains_all", ["a", "b"], ["a", "c"], False),
        ("not_contains", "a", ["b"], True),
    ],
)
def test_operators(op, value, fact_value, expected):
    fact = {"between": "paid_amount", "in": "channel", "not_in": "channel"}.get(op, "customer_tags")
    assert matches({"all": [{"fact": fact, "op": op, "value": value}]}, {fact: fact_value}) is expected


@pytest.mark.parametrize(
    ("condition", "path", "words"),
    [
        ({"all": [{"fact": "shoe_size", "op": "eq", "value": 1}]}, "all.0.fact", "unknown fact"),
        ({"all": [{"fact": "paid_amount", "op": "gte", "value": "lots"}]}, "all.0.value", "amount"),
        ({"all": [{"fact": "order_count_30d", "op": "gte", "value": 1.5}]}, "all.0.value", "whole number"),
        ({"all": [{"fact": "paid_amount", "op": "contains", "value": "1"}]}, "all.0.op", "does not apply"),
        ({"all": [{"fact": "member_level", "op": "eq", "value": "platinum"}]}, "all.0.value", "not one of"),
        ({"all": [{"fact": "paid_amount", "op": "between", "value": [300, 100]}]}, "all.0.value", "low end"),
        ({"all": [{"fact": "paid_amount", "op": "teleport", "value": 1}]}, "all.0.op", "unknown operator"),
        ({"all": []}, "all", "empty"),
        ({}, "condition", "group"),
        ({"all": [{"fact": "channel", "op": "eq", "value": "x", "code": "__import__('os')"}]}, "all.0", "unexpected"),
    ],
)
def test_validate_refuses_with_a_message_naming_the_place(condition, path, words):
    with pytest.raises(ConditionError) as refused:
        validate(condition)
    assert any(p == path and words in msg for p, msg in refused.value.errors), refused.value.errors


def test_validate_lists_every_problem_at_once():
    with pytest.raises(ConditionError) as refused:
        validate({"all": [{"fact": "nope", "op": "eq", "value": 1}, {"fact": "paid_amount", "op": "gt", "value": "x"}]})
    assert [p for p, _ in refused.value.errors] == ["all.0.fact", "all.1.value"]


def test_missing_fact_is_reported_by_name():
    with pytest.raises(MissingFact) as missing:
        matches(DIAMOND_MASK_299, {"member_level": "diamond", "sku_categories": ["面膜"]})
    assert missing.value.fact == "paid_amount"


def test_facts_are_only_read_by_name_never_evaluated():
    hostile = {"all": [{"fact": "channel", "op": "eq", "value": "__import__('os').system('false')"}]}
    assert matches(hostile, {"channel": "__import__('os').system('false')"})  # compared as text, nothing run
    assert not matches(hostile, {"channel": "tmall"})


def test_render_reads_as_one_sentence_in_chinese_and_english():
    checked = validate(DIAMOND_MASK_299)
    assert render(checked, "zh") == "会员等级 等于 钻石会员 且 商品类目 包含 面膜 且 实付金额 ≥ 299"
    assert render(checked, "en") == "member level is diamond and SKU categories includes 面膜 and paid amount ≥ 299"
