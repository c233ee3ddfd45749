"""The integration role (系统对接, API tokens) makes the transitions a channel reports, and nothing else."""

import pytest

from orders.models import Order, Source
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]


def transition(api, order: Order, name: str, **body):
    return api.post(f"/api/v1/orders/{order.number}/transitions/", {"transition": name, **body}, format="json")


def allocated_order() -> Order:
    order = make_order()
    for name, changes in [("pay", {}), ("start_allocation", {}), ("allocate", {"warehouse": "SH01"})]:
        order = order_transition(order=order, transition=name, actor=None, source=Source.SYSTEM, changes=changes)
    return order


def test_order_transition_integration_role_cancels_with_platform_reason(api):
    order = allocated_order()
    response = transition(api, order, "cancel", reason="天猫: 买家取消订单")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["status_reason"]) == ("cancelled", "天猫: 买家取消订单")
    assert order.events.get(transition="cancel").actor.username == "api"
    assert not order.stock_locks.filter(state="active").exists()  # the cancel released the stock


def test_order_transition_integration_role_holds_for_platform_refund_request(api):
    order = allocated_order()
    response = transition(api, order, "hold", reason="平台退款申请 RF-2026-001")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_reason"]) == ("on_hold", "平台退款申请 RF-2026-001")
    # deciding what happens next is a person's job: no release for the integration role
    assert transition(api, order, "release").status_code == 403
    order.refresh_from_db()
    assert order.status == "on_hold"


@pytest.mark.parametrize("name", ["print_label", "flag_exception", "mark_returned"])
def test_order_transition_integration_role_cannot_fulfil_or_handle_exceptions(api, name):
    CarrierFactory()
    order = allocated_order()
    response = transition(api, order, name, reason="x", tracking_number="SF1400000003", carrier="shunfeng")
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "allocated"


def test_order_transition_integration_role_available_transitions_are_the_channel_ones(api):
    body = api.get(f"/api/v1/orders/{allocated_order().number}/").json()
    assert {t["name"] for t in body["available_transitions"]} == {"hold", "cancel"}
