"""Shadowed and overlapping rules, decided from the conditions' structure (rules.overlap) and reported by the
configuration health report: covered, not covered, different kind, disabled earlier rule, validity windows, the
cases only "possibly" decided."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reports.selectors.confhealth import rule_findings
from rules import overlap
from tests.reports.confhealth_config import cmp, rule


def pair_findings() -> set[tuple[str, str]]:
    """(kind, later rule's name) of the shadow and overlap findings."""
    found = rule_findings(today=timezone.localdate(), rarely_below=1)
    return {
        (f.kind, f.subject.split(" · ")[1].split(" ")[0]) for f in found if f.kind in ("rule_shadowed", "rule_overlap")
    }


def shadow_text() -> str:
    return next(f.what for f in rule_findings(today=timezone.localdate(), rarely_below=1) if f.kind == "rule_shadowed")


PRESALE = {"all": [cmp("presale", "is_true")]}
NOT_NORMAL = {"all": [cmp("member_level", "ne", "normal")]}
BIG = {"all": [cmp("paid_amount", "gte", "1000")]}
VIP_BIG = {"all": [cmp("paid_amount", "gt", "5000"), cmp("member_level", "in", ["vip", "diamond"])]}


def test_a_later_rule_covered_by_an_earlier_stop_after_match_rule_is_shadowed(db):
    rule("大额", BIG, position=10, stop_after_match=True)
    rule("VIP大额", VIP_BIG, position=20)
    assert pair_findings() == {("rule_shadowed", "VIP大额")}
    assert "可能" not in shadow_text()


def test_an_earlier_rule_that_does_not_stop_only_overlaps(db):
    rule("大额", BIG, position=10)
    rule("VIP大额", VIP_BIG, position=20)
    assert pair_findings() == {("rule_overlap", "VIP大额")}


def test_a_later_rule_not_covered_is_not_shadowed_but_overlaps(db):
    rule("大额", BIG, position=10, stop_after_match=True)
    # VIP orders of any amount: only some of them match the earlier rule
    rule("VIP", {"all": [cmp("member_level", "eq", "vip")]}, position=20)
    assert pair_findings() == {("rule_overlap", "VIP")}


def test_disjoint_conditions_neither_shadow_nor_overlap(db):
    rule("大额", BIG, position=10, stop_after_match=True)
    rule("小额", {"all": [cmp("paid_amount", "lt", "1000")]}, position=20)
    assert pair_findings() == set()


def test_a_rule_of_another_kind_is_not_shadowed(db):
    rule("大额", BIG, position=10, stop_after_match=True)
    rule("VIP大额", VIP_BIG, kind="gift", position=20, action={"sku": "X", "quantity": 1})
    assert pair_findings() == set()


def test_a_disabled_earlier_rule_shadows_nothing(db):
    rule("大额", BIG, position=10, stop_after_match=True, enabled=False)
    rule("VIP大额", VIP_BIG, position=20)
    assert pair_findings() == set()


def test_the_earlier_rule_is_by_position_not_by_creation(db):
    rule("VIP大额", VIP_BIG, position=20)
    rule("大额", BIG, position=10, stop_after_match=True)
    assert pair_findings() == {("rule_shadowed", "VIP大额")}
    # moved after it, the big rule can still fire for the other big orders: both match some orders
    rule("VIP大额2", VIP_BIG, position=5, stop_after_match=True)
    assert ("rule_shadowed", "大额") not in pair_findings()


def test_an_earlier_rule_valid_only_part_of_the_time_possibly_shadows(db):
    now = timezone.now()
    rule("大额", BIG, position=10, stop_after_match=True, valid_from=now, valid_to=now + timedelta(days=7))
    rule("VIP大额", VIP_BIG, position=20)
    assert pair_findings() == {("rule_shadowed", "VIP大额")}
    assert "可能" in shadow_text()


def test_rules_valid_at_different_times_do_not_overlap(db):
    now = timezone.now()
    rule("双十一", BIG, position=10, valid_from=now, valid_to=now + timedelta(days=1))
    rule("双十二", BIG, position=20, valid_from=now + timedelta(days=30), valid_to=now + timedelta(days=31))
    assert pair_findings() == set()


def test_the_same_condition_written_differently_is_the_same_condition(db):
    rule("金卡或VIP", {"any": [cmp("member_level", "eq", "gold"), cmp("member_level", "eq", "vip")]}, position=10)
    rule("金卡VIP", {"all": [cmp("member_level", "in", ["vip", "gold"])]}, position=20)
    found = rule_findings(today=timezone.localdate(), rarely_below=1)
    overlap_finding = next(f for f in found if f.kind == "rule_overlap")
    assert "金卡或VIP" in overlap_finding.what
    assert "相同" in overlap_finding.what


def test_routing_rules_reading_the_warehouse_capacity_are_only_possibly_shadowed(db):
    capacity = {"all": [cmp("warehouse_remaining_capacity", "gt", 0)]}
    rule("杭州仓", capacity, kind="route", position=10, stop_after_match=True, action={"ranking": "fixed"})
    rule("上海仓", capacity, kind="route", position=20, action={"ranking": "fixed"})
    assert pair_findings() == {("rule_shadowed", "上海仓")}
    assert "可能" in shadow_text()


# --- the structure analysis itself ------------------------------------------------------------------------------


def s(condition):
    return overlap.shape(condition)


@pytest.mark.parametrize(
    "outer,inner,expected",
    [
        (BIG, VIP_BIG, overlap.YES),
        (VIP_BIG, BIG, overlap.NO),
        # whole numbers: > 2 and < 4 and not 3 is impossible, so anything covers it
        (
            {"all": [cmp("order_count_30d", "eq", 99)]},
            {
                "all": [
                    cmp("order_count_30d", "gt", 2),
                    cmp("order_count_30d", "lt", 4),
                    cmp("order_count_30d", "ne", 3),
                ]
            },
            overlap.YES,
        ),
        # ≥ 3 whole orders is inside > 2
        ({"all": [cmp("order_count_30d", "gt", 2)]}, {"all": [cmp("order_count_30d", "gte", 3)]}, overlap.YES),
        # amounts are not whole: > 2 does not cover ≥ 2
        ({"all": [cmp("paid_amount", "gt", "2")]}, {"all": [cmp("paid_amount", "gte", "2")]}, overlap.NO),
        # list facts: includes all of [A, B] is inside includes A; includes any of [A, B] is not
        (
            {"all": [cmp("sku_codes", "contains", "A")]},
            {"all": [cmp("sku_codes", "contains_all", ["A", "B"])]},
            overlap.YES,
        ),
        (
            {"all": [cmp("sku_codes", "contains", "A")]},
            {"all": [cmp("sku_codes", "contains_any", ["A", "B"])]},
            overlap.NO,
        ),
        # a choice fact's values are known: "not normal" covers "gold or vip"
        (
            {"all": [cmp("member_level", "ne", "normal")]},
            {"all": [cmp("member_level", "in", ["gold", "vip"])]},
            overlap.YES,
        ),
        # covered only by two branches together (amount < 100, or ≥ 100): not decided
        (
            {"any": [cmp("paid_amount", "lt", "100"), cmp("paid_amount", "gte", "100")]},
            {"all": [cmp("paid_amount", "gt", "50"), cmp("paid_amount", "lt", "150")]},
            overlap.MAYBE,
        ),
        (
            {"all": [cmp("presale", "is_true")]},
            {"all": [cmp("presale", "is_true"), cmp("city", "eq", "杭州")]},
            overlap.YES,
        ),
        ({"all": [cmp("city", "not_in", ["杭州", "上海"])]}, {"all": [cmp("city", "eq", "杭州")]}, overlap.NO),
    ],
)
def test_covers(outer, inner, expected):
    assert overlap.covers(s(outer), s(inner)) == expected


def test_overlaps_and_impossible():
    assert overlap.overlaps(s(BIG), s({"all": [cmp("paid_amount", "lte", "1000")]})) == overlap.YES  # exactly 1000
    assert overlap.overlaps(s(BIG), s({"all": [cmp("paid_amount", "lt", "1000")]})) == overlap.NO
    assert (
        overlap.overlaps(s({"all": [cmp("presale", "is_true")]}), s({"all": [cmp("presale", "is_false")]}))
        == overlap.NO
    )
    assert overlap.impossible(s({"all": [cmp("sku_codes", "contains", "A"), cmp("sku_codes", "not_contains", "A")]}))
    assert not overlap.impossible(s(BIG))
