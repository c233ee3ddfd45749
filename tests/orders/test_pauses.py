"""Clock pauses beyond statuses (issue 13): a hold of one kind (waiting for the customer, an approval), a presale
waiting for its balance (the order stays 'placed', so its clock stops in place), on a moved clock; pause tokens
checked on save; 客服 holding an order as 等待客户回复 in the admin and the API; approval holds of kind 待审批."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation

from orders.calendar import TZ
from orders.models import Alert, Order, Source, Status, StatusNode
from orders.services.deadlines import deadline_basis_text, deadline_enter, deadline_paused_text
from orders.services.nodes import status_node_pauses_set
from orders.services.payment import order_confirm_payment
from orders.services.sweeps import overdue_alerts_raise
from orders.services.transitions import order_transition
from tests.factories import make_order
from tests.orders.test_deadlines import node_set
from tests.orders.test_ladders import approval_rule, held_for_approval, stalled
from tests.orders.test_status_node_admin import node_form

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 16, 9, tzinfo=TZ)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def move(order, to_status: str, minutes: float, *, hold_kind: str = "") -> Order:
    """What the lifecycle core does on a transition at T0 + minutes (a hold's kind is set before the deadline)."""
    from_status, order.status = order.status, to_status
    if to_status == Status.ON_HOLD:
        order.hold_kind = hold_kind
    deadline_enter(order=order, from_status=from_status, now=at(minutes))
    return order


def allocated_at_t0(timeout: int = 240) -> Order:
    node_set("allocated", timeout_minutes=timeout, pause_states=["hold:customer"])
    node_set("on_hold", timeout_minutes=120)
    order = make_order()
    order.status = Status.ALLOCATING
    return move(order, Status.ALLOCATED, 0)


def test_waiting_for_the_customer_pauses_twice_without_double_counting():
    order = allocated_at_t0()
    assert order.state_deadline == at(240)
    move(order, Status.ON_HOLD, 60, hold_kind=Order.HoldKind.CUSTOMER)  # 180 min left
    assert order.deadline_basis["paused"]["cause"] == "hold:customer"
    assert order.deadline_basis["paused"]["remaining"] == 180 * 60
    with translation.override("zh-hans"):
        assert "等待客户回复" in deadline_basis_text(order, now=at(90))
        assert deadline_paused_text(order) == "已暂停：挂起：等待客户回复"
    move(order, Status.ALLOCATED, 120)  # the customer answered after 60 min
    assert order.state_deadline == at(300) and order.deadline_basis["paused_seconds"] == 3600
    move(order, Status.ON_HOLD, 180, hold_kind=Order.HoldKind.CUSTOMER)  # 120 min left
    move(order, Status.ALLOCATED, 300)  # another 120 min waiting
    assert order.state_deadline == at(420)  # 240 min of work + 180 min waiting, each pause counted once
    assert order.deadline_basis["paused_seconds"] == 3 * 3600 and "paused" not in order.deadline_basis


def test_a_hold_of_another_kind_does_not_pause_a_node_set_to_waiting_for_the_customer():
    order = allocated_at_t0()
    move(order, Status.ON_HOLD, 60, hold_kind=Order.HoldKind.OTHER)
    assert "paused" not in order.deadline_basis and order.state_deadline == at(180)  # the hold's own 120 min
    move(order, Status.ALLOCATED, 120)
    assert order.state_deadline == at(120 + 240)  # a fresh stay: the first one's clock was not kept
    move(order, Status.ON_HOLD, 130, hold_kind=Order.HoldKind.STOCK)
    assert "paused" not in order.deadline_basis


def test_approval_holds_pause_a_node_set_to_approval_only():
    node_set("paid", timeout_minutes=60, pause_states=["hold:approval"])
    order = make_order()
    move(order, Status.PAID, 0)
    move(order, Status.ON_HOLD, 20, hold_kind=Order.HoldKind.APPROVAL)
    assert order.deadline_basis["paused"]["cause"] == "hold:approval"
    move(order, Status.PAID, 200)  # approved after 3 h
    move(order, Status.ON_HOLD, 210, hold_kind=Order.HoldKind.APPROVAL)  # a second approval
    move(order, Status.PAID, 270)
    assert order.state_deadline == at(270 + 30)  # 60 - 20 - 10 minutes left
    assert order.deadline_basis["paused_seconds"] == (180 + 60) * 60


def presale(**values) -> Order:
    order = make_order(is_presale=True, deposit_amount=Decimal("50.00"), **values)
    order.status = Status.PLACED
    return order


def test_presale_clock_stops_at_the_deposit_and_the_held_presale_stays_stopped():
    node_set("placed", timeout_minutes=30, pause_states=["presale_balance", "on_hold"])
    order = presale()
    move(order, Status.PLACED, 0)  # placed: 30 min to pay
    assert order.state_deadline == at(30)
    order.payment_status = Order.PaymentStatus.DEPOSIT_PAID  # record_deposit: placed → placed
    move(order, Status.PLACED, 10)
    paused = order.deadline_basis["paused"]
    assert order.state_deadline is None and (paused["remaining"], paused["cause"]) == (20 * 60, "presale_balance")
    with translation.override("zh-hans"):
        text = deadline_basis_text(order, now=at(10 + 3 * 24 * 60))
    assert "预售：等待尾款" in text and "剩余 20 " in text
    # three days later the balance comes with a wrong amount: held, then released, still waiting for the balance
    move(order, Status.ON_HOLD, 3 * 24 * 60)
    assert order.deadline_basis["paused"] == paused  # the same pause, since the deposit
    move(order, Status.PLACED, 3 * 24 * 60 + 30)
    assert order.state_deadline is None and order.deadline_basis == {"paused": paused}
    # paid in full: 'placed' is done and 'paid' runs from the balance, not from the deposit
    node_set("paid", timeout_minutes=60)
    order.payment_status = Order.PaymentStatus.PAID
    move(order, Status.PAID, 3 * 24 * 60 + 40)
    assert order.state_deadline == at(3 * 24 * 60 + 100) and "paused" not in order.deadline_basis


def test_presale_clock_resumes_with_its_time_left_when_the_wait_for_the_balance_ends_in_place():
    """deadline_resume: the node's clock goes on from where the deposit stopped it, the wait counted once."""
    from orders.services.deadlines import deadline_pause, deadline_resume

    node_set("placed", timeout_minutes=30, pause_states=["presale_balance"])
    order = presale()
    move(order, Status.PLACED, 0)
    deadline_pause(order=order, cause="presale_balance", now=at(10))
    deadline_pause(order=order, cause="presale_balance", now=at(50))  # already stopped: unchanged
    assert order.deadline_basis["paused"]["since"] == at(10).isoformat()
    deadline_resume(order=order, now=at(70))
    assert order.state_deadline == at(90) and order.deadline_basis["paused_seconds"] == 3600
    deadline_pause(order=order, cause="presale_balance", now=at(80))  # 10 min left
    deadline_resume(order=order, now=at(200))
    assert order.state_deadline == at(210) and order.deadline_basis["paused_seconds"] == 3600 + 120 * 60


def test_presale_through_the_payment_service_deposit_then_balance(caiwu):
    node_set("placed", timeout_minutes=30, pause_states=["presale_balance"])
    order = make_order(is_presale=True, deposit_amount=Decimal("50.00"), paid_amount=Decimal("0"))
    placed_deadline = order.state_deadline
    order = order_confirm_payment(
        order=order,
        paid_amount=order.deposit_amount,
        paid_at=timezone.now(),
        payment_reference="DEP-1",
        actor=caiwu,
        source=Source.ADMIN,
    )
    order.refresh_from_db()
    paused = order.deadline_basis["paused"]
    assert order.payment_status == Order.PaymentStatus.DEPOSIT_PAID and order.state_deadline is None
    assert paused["cause"] == "presale_balance" and 0 < paused["remaining"] <= 30 * 60
    assert abs((placed_deadline - parse(paused["since"])).total_seconds() - paused["remaining"]) < 2
    # two days pass (moved back): the node's sweep raises nothing for the waiting presale
    Order.objects.filter(pk=order.pk).update(state_entered_at=F("state_entered_at") - timedelta(days=2))
    assert overdue_alerts_raise(now=timezone.now() + timedelta(days=2)).raised == 0
    order = order_confirm_payment(
        order=order,
        paid_amount=order.subtotal,
        paid_at=timezone.now(),
        payment_reference="BAL-1",
        actor=caiwu,
        source=Source.ADMIN,
    )
    order.refresh_from_db()
    paid_minutes = StatusNode.objects.get(status=Status.PAID).timeout_minutes
    assert order.status == Status.PAID and "paused" not in order.deadline_basis
    assert order.state_deadline == order.state_entered_at + timedelta(minutes=paid_minutes)  # from the balance


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- tokens checked on save -----------------------------------------------------------------------------------
def pause_form(node: StatusNode, tokens: list[str]) -> dict:
    return {**node_form(node), "escalations-TOTAL_FORMS": "0", "pause_states": tokens}  # no ladder level


def test_a_bad_pause_token_is_refused_on_save_naming_it(client, yunying):
    node = StatusNode.objects.get(status=Status.ALLOCATED)
    client.force_login(yunying)
    url = reverse("admin:orders_statusnode_change", args=[node.pk])
    for token in ("hold:nonsense", "presale_balance"):
        with translation.override("zh-hans"):
            response = client.post(url, pause_form(node, ["on_hold", token]))
        assert response.status_code == 200
        assert f"「{token}」" in response.content.decode()
    node.refresh_from_db()
    assert node.pause_states == [] and node.timeout_minutes != 90  # nothing saved
    response = client.post(url, pause_form(node, ["hold:customer", "exception"]))
    assert response.status_code == 302
    node.refresh_from_db()
    assert node.pause_states == ["hold:customer", "exception"]
    with translation.override("zh-hans"):
        page = client.get(url).content.decode()
    assert "仅当挂起类型为：等待客户回复" in page and "预售：已付定金、尚未付尾款" in page


def test_the_node_service_and_model_refuse_bad_tokens_and_keep_old_status_lists():
    with pytest.raises(ValidationError, match="hold:later"):
        status_node_pauses_set(status=Status.PAID, tokens=["hold:later"])
    with pytest.raises(ValidationError, match="on_hold"):
        status_node_pauses_set(status=Status.ON_HOLD, tokens=["on_hold"])
    with pytest.raises(ValidationError, match="hold:customer"):
        status_node_pauses_set(status=Status.ON_HOLD, tokens=["hold:customer"])
    node = StatusNode.objects.get(status=Status.ALLOCATED)
    node.pause_states = ["on_hold", "exception"]  # a list saved before the tokens: still valid
    node.full_clean()
    assert status_node_pauses_set(status=Status.PLACED, tokens=["presale_balance"]).pause_states == ["presale_balance"]


# --- 客服 holds as 等待客户回复; approvals hold as 待审批 ----------------------------------------------------------
def paid_and_allocated() -> Order:
    order = make_order()
    for name, changes in [("pay", {}), ("start_allocation", {}), ("allocate", {"warehouse": "SH01"})]:
        order = order_transition(order=order, transition=name, actor=None, source=Source.SYSTEM, changes=changes)
    return order


@pytest.mark.usefixtures("stocked")
def test_customer_service_holds_as_waiting_for_the_customer_in_the_admin(client, kefu):
    node_set("allocated", timeout_minutes=600, pause_states=["hold:customer"])
    order = paid_and_allocated()
    client.force_login(kefu)
    page_url = reverse("admin:orders_order_change", args=[order.pk])
    with translation.override("zh-hans"):
        page = client.get(page_url).content.decode()
    assert 'name="hold_kind"' in page and '<option value="customer">等待客户回复</option>' in page
    url = reverse("admin:orders_order_transition", args=[order.pk])
    # a kind a person may not choose is refused, and nothing changes
    client.post(url, {"transition": "hold", "reason": "问尺码", "hold_kind": "stock"})
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED
    client.post(url, {"transition": "hold", "reason": "已联系客户确认尺码，等待回复", "hold_kind": "customer"})
    order.refresh_from_db()
    assert (order.status, order.hold_kind) == (Status.ON_HOLD, Order.HoldKind.CUSTOMER)
    assert order.status_reason == "已联系客户确认尺码，等待回复"
    assert order.deadline_basis["paused"]["cause"] == "hold:customer"
    with translation.override("zh-hans"):
        page = client.get(page_url).content.decode()
        listed = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert "计时已暂停（挂起：等待客户回复）" in page
    assert "已暂停：挂起：等待客户回复" in listed
    client.post(url, {"transition": "release", "reason": "客户已回复"})
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED and order.hold_kind == "" and "paused" not in order.deadline_basis


@pytest.mark.usefixtures("stocked")
def test_the_api_hold_takes_a_hold_kind(kefu):
    from tests.conftest import client_for

    order = paid_and_allocated()
    url = f"/api/v1/orders/{order.number}/transitions/"
    staff = client_for(kefu)
    refused = staff.post(url, {"transition": "release", "hold_kind": "customer"}, format="json")
    assert refused.status_code == 400 and "hold_kind" in str(refused.json())
    refused = staff.post(url, {"transition": "hold", "reason": "x", "hold_kind": "approval"}, format="json")
    assert refused.status_code == 400 and "approval" in refused.json()["message"]
    assert "customer (等待客户回复)" in refused.json()["message"]  # the choices named in words, not bare codes
    response = staff.post(url, {"transition": "hold", "reason": "等客户回复", "hold_kind": "customer"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["hold_kind"] == "customer"
    order.refresh_from_db()
    assert order.hold_kind == Order.HoldKind.CUSTOMER


def test_approval_holds_are_of_kind_approval_and_still_escalate_as_approval_overdue():
    approval_rule("运营主管", minutes=120)
    order, waiting = held_for_approval()
    assert order.hold_kind == Order.HoldKind.APPROVAL
    assert overdue_alerts_raise(now=waiting.created_at + timedelta(minutes=119)).raised == 0
    overdue_alerts_raise(now=waiting.created_at + timedelta(minutes=121))
    assert len(stalled(order)) == 1
    assert Alert.objects.get(order=order, kind=Alert.Kind.APPROVAL_OVERDUE).resolved_at is None
