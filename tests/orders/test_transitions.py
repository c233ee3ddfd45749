"""Every transition from an allowed state and from a forbidden state, through the service."""

import pytest
from django.contrib.auth import get_user_model

from config.exceptions import Conflict, Forbidden, InvalidInput
from orders.models import Order, OrderEvent, Source, Status
from orders.services.transitions import order_transition, transitions_available
from orders.transitions import TRANSITIONS
from tests.factories import CarrierFactory, WarehouseFactory, make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

# How to bring a fresh order to each state (transition, source, changes).
STEPS = {
    "paid": [("pay", Source.API, {})],
    "allocating": [("start_allocation", Source.SYSTEM, {})],
    "allocated": [("allocate", Source.SYSTEM, {"warehouse": "SH01"})],
    "printed": [("print_label", Source.SCAN, {"carrier": "shunfeng", "tracking_number": "SF1234567890"})],
    "picked_up": [("pick_up", Source.SCAN, {})],
    "in_transit": [("transit", Source.CARRIER, {})],
    "delivered": [("deliver", Source.CARRIER, {})],
}
PATH = ["paid", "allocating", "allocated", "printed", "picked_up", "in_transit", "delivered"]
REASON = "测试原因"


def order_in(state: str) -> Order:
    WarehouseFactory()
    CarrierFactory()
    order = make_order()
    if state == "placed":
        return order
    if state in ("on_hold", "cancelled", "exception", "returned"):
        base = {"on_hold": "paid", "cancelled": "paid", "exception": "in_transit", "returned": "delivered"}[state]
        order = order_in(base)
        name = {"on_hold": "hold", "cancelled": "cancel", "exception": "flag_exception", "returned": "mark_returned"}[
            state
        ]
        return order_transition(order=order, transition=name, actor=None, source=Source.ADMIN, reason=REASON)
    for step in PATH[: PATH.index(state) + 1]:
        for name, source, changes in STEPS[step]:
            order = order_transition(order=order, transition=name, actor=None, source=source, changes=changes)
    return order


# transition → (an allowed state, source to use, changes, expected target)
ALLOWED = {
    "pay": ("placed", Source.API, {}, "paid"),
    "hold": ("paid", Source.ADMIN, {}, "on_hold"),
    "release": ("on_hold", Source.ADMIN, {}, "paid"),
    "start_allocation": ("paid", Source.ADMIN, {}, "allocating"),
    "allocate": ("allocating", Source.ADMIN, {"warehouse": "SH01"}, "allocated"),
    "print_label": ("allocated", Source.ADMIN, {"carrier": "shunfeng", "tracking_number": "SF99"}, "printed"),
    "pick_up": ("printed", Source.SCAN, {}, "picked_up"),
    "transit": ("picked_up", Source.CARRIER, {}, "in_transit"),
    "deliver": ("in_transit", Source.CARRIER, {}, "delivered"),
    "cancel": ("paid", Source.ADMIN, {}, "cancelled"),
    "mark_returned": ("delivered", Source.ADMIN, {}, "returned"),
    "flag_exception": ("in_transit", Source.ADMIN, {}, "exception"),
    "resolve_exception": ("exception", Source.ADMIN, {}, "in_transit"),
}
# transition → a state it must be refused from
FORBIDDEN = {
    "pay": "paid",
    "hold": "delivered",
    "release": "paid",
    "start_allocation": "placed",
    "allocate": "paid",
    "print_label": "allocating",
    "pick_up": "allocated",
    "transit": "printed",
    "deliver": "allocated",
    "cancel": "picked_up",
    "mark_returned": "paid",
    "flag_exception": "placed",
    "resolve_exception": "paid",
    "record_deposit": "paid",
}


def test_every_transition_is_covered():
    assert set(ALLOWED) | {"record_deposit"} == set(TRANSITIONS)
    assert set(FORBIDDEN) == set(TRANSITIONS)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_order_transition_from_allowed_state_moves_and_records_one_event(name):
    state, source, changes, target = ALLOWED[name]
    order = order_in(state)
    events_before = order.events.count()
    # when
    order = order_transition(order=order, transition=name, actor=None, source=source, reason=REASON, changes=changes)
    # then
    order.refresh_from_db()
    assert order.status == target
    event = order.events.order_by("-id").first()
    assert order.events.count() == events_before + 1
    assert (event.kind, event.transition, event.from_status, event.to_status, event.source) == (
        OrderEvent.Kind.TRANSITION,
        name,
        state,
        target,
        source,
    )
    assert order.history.first().status == target  # audit trail row for the change


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_order_transition_from_forbidden_state_is_refused_and_changes_nothing(name):
    state = FORBIDDEN[name]
    order = order_in(state)
    events_before, history_before = order.events.count(), order.history.count()
    with pytest.raises(Conflict) as refused:
        order_transition(order=order, transition=name, actor=None, source=Source.ADMIN, reason=REASON)
    assert refused.value.code == "transition_not_allowed"
    order.refresh_from_db()
    assert order.status == state
    assert order.events.count() == events_before
    assert order.history.count() == history_before


def test_print_label_without_tracking_number_is_refused_with_reason():
    order = order_in("allocated")
    with pytest.raises(Conflict) as refused:
        order_transition(order=order, transition="print_label", actor=None, source=Source.ADMIN)
    assert "运单号" in refused.value.message  # Chinese first
    from django.utils import translation

    with translation.override("en"), pytest.raises(Conflict) as refused_en:
        order_transition(order=order, transition="print_label", actor=None, source=Source.ADMIN)
    assert "tracking number" in refused_en.value.message
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED


def test_pick_up_from_admin_is_refused_without_carrier_event_or_scan():
    order = order_in("printed")
    with pytest.raises(Conflict) as refused:
        order_transition(order=order, transition="pick_up", actor=None, source=Source.ADMIN)
    assert refused.value.extra["allowed_sources"] == ["carrier", "scan"]
    order.refresh_from_db()
    assert order.status == Status.PRINTED


def test_allocate_without_warehouse_routes_by_stock_and_records_why():
    order = order_in("allocating")
    order = order_transition(order=order, transition="allocate", actor=None, source=Source.ADMIN)
    assert order.status == Status.ALLOCATED and order.warehouse.code == "SH01"
    assert "上海仓" in order.events.get(kind="note", data__routed_by="stock").reason


def test_allocate_with_no_active_warehouse_is_refused():
    order = order_in("allocating")
    from warehouse.models import Warehouse

    Warehouse.objects.update(is_active=False)
    with pytest.raises(Conflict):
        order_transition(order=order, transition="allocate", actor=None, source=Source.ADMIN)
    order.refresh_from_db()
    assert order.status == Status.ALLOCATING


def test_allocate_with_unknown_warehouse_is_400_and_changes_nothing():
    order = order_in("allocating")
    with pytest.raises(InvalidInput) as refused:
        order_transition(
            order=order, transition="allocate", actor=None, source=Source.ADMIN, changes={"warehouse": "NOPE"}
        )
    assert refused.value.extra["field"] == "warehouse"
    order.refresh_from_db()
    assert order.warehouse_id is None and order.status == Status.ALLOCATING


@pytest.mark.parametrize("name", ["hold", "cancel"])
def test_reason_required_transitions_refuse_an_empty_reason(name):
    order = order_in("paid")
    with pytest.raises(InvalidInput) as refused:
        order_transition(order=order, transition=name, actor=None, source=Source.ADMIN, reason="  ")
    assert refused.value.code == "reason_required"


def test_hold_and_release_return_to_the_state_held_from():
    order = order_in("allocated")
    order = order_transition(order=order, transition="hold", actor=None, source=Source.ADMIN, reason="地址待确认")
    assert (order.status, order.status_reason, order.resume_status) == ("on_hold", "地址待确认", "allocated")
    order = order_transition(order=order, transition="release", actor=None, source=Source.ADMIN)
    assert (order.status, order.status_reason, order.resume_status) == ("allocated", "", "")


def test_transition_sets_state_entered_at_and_deadline_from_node_setting():
    order = order_in("placed")
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    minutes = (order.state_deadline - order.state_entered_at).total_seconds() / 60
    assert minutes == 60  # default 'paid' node timeout
    order = order_in("delivered")
    assert order.state_deadline is None  # final node has no timeout


def test_unknown_transition_is_400():
    order = order_in("placed")
    with pytest.raises(InvalidInput) as refused:
        order_transition(order=order, transition="teleport", actor=None, source=Source.API)
    assert refused.value.code == "unknown_transition"


def test_transition_without_permission_is_forbidden(cangku):
    order = order_in("paid")
    with pytest.raises(Forbidden):
        order_transition(order=order, transition="cancel", actor=cangku, source=Source.ADMIN, reason=REASON)
    order.refresh_from_db()
    assert order.status == Status.PAID


def test_transition_records_actor_on_event_and_history(kefu):
    order = order_in("paid")
    order_transition(order=order, transition="hold", actor=kefu, source=Source.ADMIN, reason=REASON)
    event = order.events.order_by("-id").first()
    assert event.actor == kefu and event.reason == REASON
    assert "hold" in order.history.first().history_change_reason


def test_transitions_available_match_role_and_state(kefu, cangku):
    order = order_in("paid")
    assert {s.name for s in transitions_available(order=order, actor=kefu, source=Source.ADMIN)} == {"hold", "cancel"}
    assert {s.name for s in transitions_available(order=order, actor=cangku, source=Source.ADMIN)} == {
        "start_allocation"
    }


def test_status_field_cannot_be_written_by_hand():
    field = Order._meta.get_field("status")
    assert field.editable is False


def test_legacy_order_refuses_every_transition():
    order = order_in("paid")
    Order.objects.filter(pk=order.pk).update(is_legacy=True)  # as the importer marks it
    order.refresh_from_db()
    for name in TRANSITIONS:
        with pytest.raises(Conflict):
            order_transition(order=order, transition=name, actor=None, source=Source.ADMIN, reason=REASON)
    assert transitions_available(order=order, actor=get_user_model()(is_superuser=True), source="admin") == []
