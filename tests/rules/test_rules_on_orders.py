"""The example rules of DESIGN.md end to end: rule row → order posted through the API → effect on the order."""

import pytest

from orders.models import Alert, Order
from rules.models import Rule
from rules.services import rule_save
from tests.factories import SkuFactory, order_payload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]
URL = "/api/v1/orders/"
PAID = "2026-11-22T10:00:00+08:00"


def rule(kind: str, condition: dict, action: dict, **extra) -> Rule:
    return rule_save(
        rule=Rule(kind=kind, name=f"{kind} rule", condition=condition, action=action, enabled=True, **extra), actor=None
    )


@pytest.fixture
def mask():
    SkuFactory(code="SAMPLE-3", name="面膜试用装", category="赠品")
    return SkuFactory(code="MASK-001", name="补水面膜", category="面膜")


def post(api, **overrides) -> Order:
    response = api.post(URL, order_payload(paid_at=PAID, **overrides), format="json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    body = response.json()  # the answer already shows what the rules did
    assert (body["status"], body["tags"], body["priority"]) == (order.status, order.tags, order.priority)
    assert len(body["lines"]) == order.lines.count()
    return order


def test_gift_rule_adds_gift_line_and_timeline_event_naming_rule_and_version(api, mask):
    gift = rule(
        "gift",
        {
            "all": [
                {"fact": "member_level", "op": "eq", "value": "diamond"},
                {"fact": "sku_categories", "op": "contains", "value": "面膜"},
                {"fact": "paid_amount", "op": "gte", "value": "299"},
            ]
        },
        {"sku": "SAMPLE-3", "quantity": 3, "note": "放入试用装"},
    )
    rich = post(
        api,
        customer={"name": "钻石", "phone": "13800000001", "member_level": "diamond"},
        lines=[{"sku": "MASK-001", "quantity": 3, "unit_price": "100.00"}],
        paid_amount="300.00",
    )
    poor = post(
        api,
        customer={"name": "钻石", "phone": "13800000001", "member_level": "diamond"},
        lines=[{"sku": "MASK-001", "quantity": 2, "unit_price": "100.00"}],
        paid_amount="200.00",
    )
    gift_line = rich.lines.get(is_gift=True)
    assert (gift_line.sku.code, gift_line.quantity, gift_line.unit_price, gift_line.note) == (
        "SAMPLE-3",
        3,
        0,
        "放入试用装",
    )
    event = rich.events.get(kind="rule")
    assert event.data == {
        "rule_id": gift.pk,
        "version": 1,
        "kind": "gift",
        "action": {"sku": "SAMPLE-3", "quantity": 3, "note": "放入试用装"},
    }
    assert "v1" in event.reason
    assert not poor.lines.filter(is_gift=True).exists()
    gift.refresh_from_db()
    assert gift.hit_count == 1


def test_tag_and_priority_rules(api, mask):
    rule("tag", {"all": [{"fact": "paid_amount", "op": "gt", "value": "199"}]}, {"tag": "高意向"})
    rule("priority", {"all": [{"fact": "member_level", "op": "eq", "value": "vip"}]}, {"level": 2})
    order = post(
        api,
        customer={"name": "V", "phone": "13800000002", "member_level": "vip"},
        lines=[{"sku": "MASK-001", "quantity": 1, "unit_price": "250.00"}],
        paid_amount="250",
    )
    assert order.tags == ["高意向"] and order.priority == 2 and order.status == "paid"


def test_approval_rule_holds_order_and_alerts_the_approvers(api, mask):
    rule(
        "approval",
        {"any": [{"fact": "subtotal", "op": "gt", "value": "5000"}]},
        {"group": "运营主管", "timeout_minutes": 120},
    )
    order = post(api, lines=[{"sku": "MASK-001", "quantity": 60, "unit_price": "100.00"}], paid_amount="6000")
    assert order.status == "on_hold" and "运营主管" in order.status_reason
    assert Alert.objects.get(kind="approval_waiting").owner_group.name == "运营主管"


def test_switched_off_rule_does_nothing(api, mask):
    r = rule("tag", {"all": [{"fact": "paid_amount", "op": "gt", "value": "0"}]}, {"tag": "x"})
    r.enabled = False
    rule_save(rule=r, actor=None)
    assert post(api).tags == []


def test_rule_error_holds_the_order_records_error_and_alerts(api, mask):
    # a rule on a fact these orders do not carry (capacity comes with routing): the order must not stop silently
    broken = rule("tag", {"all": [{"fact": "warehouse_remaining_capacity", "op": "gt", "value": 10}]}, {"tag": "x"})
    order = post(api)
    assert order.status == "on_hold" and "warehouse_remaining_capacity" in order.status_reason
    broken.refresh_from_db()
    assert "warehouse_remaining_capacity" in broken.last_error
    assert Alert.objects.filter(kind="rule_error", order=order).exists()


def test_changing_a_rule_does_not_change_what_already_happened(api, mask):
    r = rule("tag", {"all": [{"fact": "paid_amount", "op": "gt", "value": "0"}]}, {"tag": "旧标签"})
    first = post(api)
    r.action = {"tag": "新标签"}
    rule_save(rule=r, actor=None)
    second = post(api)
    first.refresh_from_db()
    assert first.tags == ["旧标签"] and first.events.get(kind="rule").data["version"] == 1
    assert second.tags == ["新标签"] and second.events.get(kind="rule").data["version"] == 2


def allocate(order: Order, **changes) -> Order:
    from orders.services.transitions import order_transition

    order = order_transition(order=order, transition="start_allocation", actor=None, source="system")
    return order_transition(order=order, transition="allocate", actor=None, source="system", changes=changes)


def test_route_rule_picks_the_warehouse_while_it_has_capacity(api, mask):
    from tests.factories import WarehouseFactory, stock_in
    from warehouse.models import Warehouse

    Warehouse.objects.filter(code="SH01").update(daily_capacity=1)
    stock_in(mask, WarehouseFactory(code="GZ01", name="广州仓", daily_capacity=100))
    rule(
        "route",
        {
            "all": [
                {"fact": "province", "op": "eq", "value": "浙江"},
                {"fact": "warehouse_remaining_capacity", "op": "gt", "value": 0},
            ]
        },
        {"warehouse": "SH01"},
        position=1,
    )
    rule(
        "route",
        {"all": [{"fact": "warehouse_remaining_capacity", "op": "gt", "value": 0}]},
        {"warehouse": "GZ01"},
        position=2,
    )
    first = allocate(post(api))
    second = allocate(post(api))
    assert (first.warehouse.code, second.warehouse.code) == ("SH01", "GZ01")  # SH01 was full after one
    assert first.events.filter(kind="rule", data__kind="route").count() == 1
    # an order no rule routes goes where the stock and today's room are, and says so
    unrouted = post(
        api,
        shipping_address={"receiver": "a", "phone": "13800000009", "province": "西藏", "city": "拉萨", "detail": "x"},
    )
    Rule.objects.filter(kind="route", position=2).update(enabled=False)
    routed = allocate(unrouted)
    assert routed.warehouse.code == "GZ01"  # SH01 has no room left today
    assert routed.events.filter(kind="rule", data__kind="route").count() == 0
    assert routed.events.filter(kind="note", data__routed_by="stock").exists()


def test_merge_rule_tags_same_address_orders_before_printing(api, mask):
    from orders.services.transitions import order_transition
    from tests.factories import CarrierFactory, WarehouseFactory

    WarehouseFactory()
    CarrierFactory()
    rule(
        "merge",
        {"all": [{"fact": "same_address_orders_24h", "op": "gte", "value": 3}]},
        {"window_hours": 24, "min_orders": 3, "waive_shipping": True},
    )
    orders = [allocate(post(api), warehouse="SH01") for _ in range(3)]
    printed = order_transition(
        order=orders[0],
        transition="print_label",
        actor=None,
        source="scan",
        changes={"carrier": "shunfeng", "tracking_number": "SF1"},
    )
    assert any(t.startswith("合并发货-") for t in printed.tags) and "免运费" in printed.tags
    for other in orders[1:]:
        other.refresh_from_db()
        assert printed.tags == other.tags
