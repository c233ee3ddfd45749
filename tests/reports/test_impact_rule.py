"""变更影响 of a rule: the open orders newly matched / no longer matched by the unsaved form, the rules it overlaps or
is shadowed by, what reads it — computed from the posted form without saving, for those who may change rules."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Alert, MessageTemplate, Order, Status
from reports.selectors.impact import rule_impact
from rules.models import Rule
from rules.services import rule_save
from tests.factories import make_order, user_with_role

OLD = {"all": [{"fact": "paid_amount", "op": "gte", "value": "300"}]}
NEW = {"all": [{"fact": "paid_amount", "op": "between", "value": ["150", "350"]}]}


def tag_rule(name="高意向", condition=OLD, position=10, stop=False, enabled=True, kind="tag", action=None) -> Rule:
    rule = Rule(
        kind=kind,
        name=name,
        condition=condition,
        action=action or {"tag": name},
        position=position,
        stop_after_match=stop,
        enabled=enabled,
    )
    return rule_save(rule=rule, actor=None)


def order_paid(amount: str, status: str = Status.PLACED) -> Order:
    order = make_order(paid_amount=amount)
    if status != Status.PLACED:
        Order.objects.filter(pk=order.pk).update(status=status)
    return order


@pytest.fixture
def orders():
    """100: neither; 200: newly matched; 320: both; 400: no longer; 380 paid: past the moment tag rules act."""
    return {
        "100": order_paid("100.00"),
        "200": order_paid("200.00"),
        "320": order_paid("320.00"),
        "400": order_paid("400.00"),
        "paid": order_paid("380.00", Status.PAID),
        "gone": order_paid("200.00", Status.CANCELLED),
    }


def form_data(rule: Rule | None, **overrides) -> dict:
    data = {
        "kind": rule.kind if rule else "tag",
        "name": rule.name if rule else "新规则",
        "description": "",
        "position": str(rule.position if rule else 10),
        "condition": json.dumps(NEW),
        "action": json.dumps(rule.action if rule else {"tag": "新"}, ensure_ascii=False),
        "enabled": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def url_for(rule: Rule | None) -> str:
    return reverse("admin:reports_impact_rule", args=[rule.pk] if rule else [])


def test_rule_impact_counts_newly_and_no_longer_matched_open_orders(orders):
    # given a saved tag rule ≥ 300 and its unsaved edit 150–350
    rule = tag_rule()
    edited = Rule.objects.get(pk=rule.pk)
    edited.condition = NEW
    # when
    impact = rule_impact(old=rule, new=edited)
    # then: only unpaid orders count (a tag rule acts on payment); cancelled ones are not in flight
    assert impact.open_total == 4 and impact.scanned == 4 and not impact.capped
    assert impact.matched_old == 2 and impact.matched_new == 2
    assert [o.number for o in impact.newly.first] == [orders["200"].number] and impact.newly.count == 1
    assert [o.number for o in impact.no_longer.first] == [orders["400"].number] and impact.no_longer.count == 1


def test_rule_impact_of_a_new_rule_matches_without_an_old_one(orders):
    new = Rule(kind="tag", name="n", condition=NEW, action={"tag": "n"}, position=10, enabled=True)
    impact = rule_impact(old=None, new=new)
    assert impact.is_new and impact.no_longer.count == 0
    assert {o.number for o in impact.newly.first} == {orders["200"].number, orders["320"].number}


def test_rule_impact_switched_off_changes_no_order_and_switching_off_drops_all(orders):
    rule = tag_rule()
    off = Rule.objects.get(pk=rule.pk)
    off.enabled = False
    impact = rule_impact(old=rule, new=off)
    assert impact.newly.count == 0
    assert {o.number for o in impact.no_longer.first} == {orders["320"].number, orders["400"].number}


def test_rule_impact_is_capped_and_says_how_many_were_read(orders):
    rule = tag_rule()
    edited = Rule.objects.get(pk=rule.pk)
    edited.condition = NEW
    impact = rule_impact(old=rule, new=edited, cap=3)
    assert impact.scanned == 3 and impact.open_total == 4 and impact.capped


def test_rule_impact_reads_facts_in_a_fixed_number_of_statements(orders, monkeypatch):
    rule = tag_rule()
    edited = Rule.objects.get(pk=rule.pk)
    edited.condition = NEW
    with CaptureQueriesContext(connection) as few:
        rule_impact(old=rule, new=edited)
    for amount in ("210.00", "220.00", "230.00", "240.00"):
        order_paid(amount)
    with CaptureQueriesContext(connection) as more:
        impact = rule_impact(old=rule, new=edited)
    assert impact.newly.count == 5
    assert len(more) == len(few)
    monkeypatch.setattr("reports.selectors.impact.BATCH", 3)  # 8 orders: three batches of three statements
    with CaptureQueriesContext(connection) as batched:
        assert rule_impact(old=rule, new=edited).newly.count == 5
    assert len(batched) == len(few) + 2 * 3


def test_rule_impact_names_the_overlapping_and_the_shadowing_rules(orders):
    rule = tag_rule(position=10)
    shadow = tag_rule(name="大单", condition={"all": [{"fact": "paid_amount", "op": "gte", "value": "190"}]},
                      position=5, stop=True)  # fmt: skip
    later = tag_rule(name="更大", condition={"all": [{"fact": "paid_amount", "op": "gte", "value": "310"}]},
                     position=50)  # fmt: skip
    same = tag_rule(name="同条件", condition=NEW, position=1, stop=True)
    tag_rule(name="停用", condition=NEW, position=2, stop=True, enabled=False)  # off: it takes nothing
    edited = Rule.objects.get(pk=rule.pk)
    edited.condition = NEW
    relations = {r.rule.pk: r for r in rule_impact(old=rule, new=edited).relations}
    assert set(relations) == {shadow.pk, later.pk, same.pk}
    assert relations[shadow.pk].relation == "shadowed_by" and relations[shadow.pk].both == 2  # 200 and 320
    assert relations[later.pk].relation == "overlaps" and relations[later.pk].both == 1  # 320
    assert relations[same.pk].relation == "shadowed_by" and relations[same.pk].identical


def test_rule_impact_lists_rules_and_templates_that_read_it(orders):
    rule = tag_rule()
    reader = tag_rule(
        kind="escalation",
        name="高意向超时",
        condition={"all": [{"fact": "order_tags", "op": "contains", "value": "高意向"}]},
        action={"after_minutes": 30, "group": "运营主管"},
    )
    tag_rule(name="无关", condition={"all": [{"fact": "province", "op": "eq", "value": "浙江"}]})
    template = MessageTemplate.objects.create(key=f"alert:{Alert.Kind.RULE_ERROR}", body="规则出错：{message}")
    impact = rule_impact(old=rule, new=Rule.objects.get(pk=rule.pk))
    assert [(r.what, r.obj.pk) for r in impact.readers] == [("rule", reader.pk), ("template", template.pk)]
    assert impact.figures == ()


def test_approval_rule_reads_the_hold_node_ladder_and_feeds_the_figures(orders):
    rule = tag_rule(kind="approval", name="大额审批", action={"group": "运营主管", "timeout_minutes": 120})
    impact = rule_impact(old=rule, new=Rule.objects.get(pk=rule.pk))
    levels = [r for r in impact.readers if r.what == "escalation_level"]
    assert [r.obj.node.status for r in levels] == [Status.ON_HOLD, Status.ON_HOLD]  # the default two rungs
    assert any("订单流断点率" in f for f in impact.figures)


# --- the admin view ---------------------------------------------------------------------------------------------
def test_preview_posts_the_unsaved_form_and_shows_counts_and_links(client, yunying, orders):
    rule = tag_rule()
    client.force_login(yunying)
    response = client.post(url_for(rule), form_data(rule))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span id="impact-newly-count">1</span>' in html
    assert '<span id="impact-no-longer-count">1</span>' in html
    change = reverse("admin:orders_order_change", args=[orders["200"].pk])
    assert f'<a href="{change}">{orders["200"].number}</a>' in html
    assert Rule.objects.get(pk=rule.pk).condition == OLD and Rule.objects.get(pk=rule.pk).version == 1


def test_preview_of_a_new_rule_needs_add_permission_and_saves_nothing(client, yunying, orders):
    client.force_login(yunying)
    response = client.post(url_for(None), form_data(None))
    assert response.status_code == 200 and '<span id="impact-newly-count">2</span>' in response.content.decode()
    assert not Rule.objects.exists()


def test_bad_form_shows_its_own_errors_and_computes_nothing(client, yunying, orders):
    rule = tag_rule()
    client.force_login(yunying)
    bad = json.dumps({"all": [{"fact": "shoe_size", "op": "eq", "value": 1}]})
    response = client.post(url_for(rule), form_data(rule, condition=bad))
    assert response.status_code == 400
    html = response.content.decode()
    assert "unknown fact" in html and 'id="impact-errors"' in html
    assert "impact-newly-count" not in html
    response = client.post(url_for(rule), form_data(rule, position="x"))
    assert response.status_code == 400 and "执行顺序" in response.content.decode()
    assert Rule.objects.get(pk=rule.pk).condition == OLD


@pytest.mark.parametrize("role", ["客服", "仓库", "采购", "财务"])
def test_only_those_who_may_change_rules_may_preview(client, role, orders):
    rule = tag_rule()
    user = user_with_role(role)
    client.force_login(user)
    assert client.post(url_for(rule), form_data(rule)).status_code == 403
    assert client.post(url_for(None), form_data(None)).status_code == 403
    page = client.get(reverse("admin:rules_rule_change", args=[rule.pk]))
    assert "change-impact-button" not in page.content.decode()


@pytest.mark.parametrize("role", ["运营主管", "管理员"])
def test_the_change_and_add_forms_carry_the_button(client, role):
    rule = tag_rule()
    client.force_login(user_with_role(role))
    html = client.get(reverse("admin:rules_rule_change", args=[rule.pk])).content.decode()
    assert f'data-impact-url="{url_for(rule)}"' in html and "查看变更影响" in html
    html = client.get(reverse("admin:rules_rule_add")).content.decode()
    assert f'data-impact-url="{url_for(None)}"' in html


def test_get_is_refused_and_an_unknown_rule_is_404(client, yunying):
    client.force_login(yunying)
    assert client.get(url_for(None)).status_code == 405
    assert client.post(reverse("admin:reports_impact_rule", args=[999999]), form_data(None)).status_code == 404


def test_anonymous_is_sent_to_the_login(client):
    response = client.post(url_for(None), form_data(None))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_decimal_amounts_survive_the_form(orders):
    # the form's condition comes back typed: the selector compares Decimals, not strings
    rule = tag_rule(condition={"all": [{"fact": "paid_amount", "op": "gt", "value": "199.99"}]})
    impact = rule_impact(old=None, new=rule)
    assert impact.newly.count == 3
