"""Where an order ships from: a rule naming a warehouse, a rule ranking warehouses, or stock and capacity."""

import pytest

from orders.models import Source, Status
from orders.services.allocation import order_allocate_queued
from orders.services.transitions import order_transition
from rules.actions import ActionError, Known, validate_action
from rules.models import Rule
from rules.services import rule_save
from tests.factories import SkuFactory, WarehouseFactory, make_order, stock_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_warehouses():
    """Hangzhou customers; a near warehouse in 浙江 with little room, a far one in 广东 with plenty."""
    near = WarehouseFactory(code="HZ01", name="杭州仓", province="浙江", daily_capacity=5)
    far = WarehouseFactory(code="GZ01", name="广州仓", province="广东", daily_capacity=500)
    sku = SkuFactory(code="MASK-001")
    for warehouse in (near, far):
        stock_in(sku, warehouse, 50)
    return near, far


def allocating_order(**payload):
    order = make_order(**payload)
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    return order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)


def route_rule(action: dict) -> Rule:
    return rule_save(
        rule=Rule(
            kind="route",
            name=f"route {action}",
            condition={"all": [{"fact": "province", "op": "eq", "value": "浙江"}]},
            action=action,
            enabled=True,
        ),
        actor=None,
        reason="test",
    )


def allocated_warehouse(order) -> str:
    assert order_allocate_queued(order_id=order.pk) == "allocated"
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED
    return order.warehouse.code


def test_without_rules_the_nearest_warehouse_with_stock_wins(two_warehouses):
    assert allocated_warehouse(allocating_order()) == "HZ01"


def test_nearest_warehouse_out_of_stock_sends_the_order_to_one_that_has_it(two_warehouses):
    order = allocating_order(lines=[{"sku": "MASK-001", "quantity": 60, "unit_price": "9.90"}])
    stock_in(SkuFactory(code="MASK-001"), two_warehouses[1], 20)  # only GZ01 now holds 70
    assert allocated_warehouse(order) == "GZ01"
    assert order.events.filter(data__routed_by="stock").exists()


def test_ranking_rule_by_capacity_prefers_the_emptiest_warehouse_with_stock(two_warehouses):
    route_rule({"ranking": "capacity"})
    order = allocating_order()
    assert allocated_warehouse(order) == "GZ01"
    assert order.events.filter(kind="rule", data__kind="route").count() == 1


def test_fixed_rule_names_the_warehouse(two_warehouses):
    route_rule({"ranking": "fixed", "warehouse": "GZ01"})
    assert allocated_warehouse(allocating_order()) == "GZ01"


def test_route_actions_are_checked_when_saved():
    known = Known(warehouses=frozenset({"SH01"}))
    assert validate_action("route", {"warehouse": "SH01"}, known) == {"ranking": "fixed", "warehouse": "SH01"}
    assert validate_action("route", {"ranking": "nearest"}, known) == {"ranking": "nearest"}
    for bad in ({"ranking": "fixed"}, {"ranking": "nearest", "warehouse": "SH01"}, {"ranking": "random"}):
        with pytest.raises(ActionError):
            validate_action("route", bad, known)
