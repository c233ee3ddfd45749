"""变更影响 of a status-node setting: the orders now in the node, what a timeout / owner / ladder / text change does
to them (a timeout change moves no deadline: it applies to orders entering after the save), and what reads it."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders.models import Alert, EscalationLevel, MessageTemplate, Order, Status, StatusNode
from tests.factories import make_order, user_with_role


def in_node(status: str, *, minutes: int | None, deadline_in: int | None = 30) -> Order:
    order = make_order()
    now = timezone.now()
    basis = {"status": status, "minutes": minutes, "clock": "clock", "paused_seconds": 0} if minutes else {}
    Order.objects.filter(pk=order.pk).update(
        status=status,
        state_entered_at=now - timedelta(minutes=10),
        state_deadline=now + timedelta(minutes=deadline_in) if deadline_in is not None else None,
        deadline_basis=basis,
    )
    return order


@pytest.fixture
def paid_orders():
    """Four orders in 已付款 (three entered under 60 minutes, one of them late; one under 90) and one elsewhere."""
    return [
        in_node(Status.PAID, minutes=60),
        in_node(Status.PAID, minutes=60),
        in_node(Status.PAID, minutes=60, deadline_in=-5),
        in_node(Status.PAID, minutes=90),
        in_node(Status.ALLOCATING, minutes=60),
    ]


def node_form(node: StatusNode, levels: list[dict] | None = None, **overrides) -> dict:
    data = {
        "owner_group": str(node.owner_group_id or ""),
        "owner_user": str(node.owner_user_id or ""),
        "timeout_minutes": str(node.timeout_minutes or ""),
        "clock": node.clock,
        "calendar": str(node.calendar_id or ""),
        "customer_label": node.customer_label,
        "customer_message": node.customer_message,
    }
    if node.notify_customer:
        data["notify_customer"] = "on"
    saved = list(node.escalations.order_by("id"))
    rows = [
        {
            "id": str(lv.pk),
            "level": str(lv.level),
            "after_minutes": "" if lv.after_minutes is None else str(lv.after_minutes),
            "after_percent": "" if lv.after_percent is None else str(lv.after_percent),
            "repeat_minutes": str(lv.repeat_minutes),
            "notify_group": str(lv.notify_group_id or ""),
        }
        for lv in saved
    ] + (levels or [])
    data.update(
        {
            "escalations-TOTAL_FORMS": str(len(rows)),
            "escalations-INITIAL_FORMS": str(len(saved)),
            "escalations-MIN_NUM_FORMS": "0",
            "escalations-MAX_NUM_FORMS": "1000",
        }
    )
    for i, row in enumerate(rows):
        data.update({f"escalations-{i}-{k}": v for k, v in {"node": str(node.pk), **row}.items()})
    data.update(overrides)
    return data


def url(node: StatusNode) -> str:
    return reverse("admin:reports_impact_node", args=[node.pk])


def test_timeout_change_moves_no_deadline_and_counts_the_orders_keeping_theirs(client, yunying, paid_orders):
    node = StatusNode.objects.get(status=Status.PAID)
    deadlines = dict(Order.objects.values_list("pk", "state_deadline"))
    client.force_login(yunying)
    response = client.post(url(node), node_form(node, timeout_minutes="90"))
    assert response.status_code == 200
    impact = response.context["node_impact"]
    assert impact.in_node.count == 4 and impact.with_deadline == 4 and impact.overdue == 1
    assert impact.deadlines_moved == 0 and impact.old_basis == 3  # the one entered under 90 minutes already has it
    (timeout,) = impact.changes
    assert timeout.field == "timeout_minutes" and timeout.old == "60" and timeout.new == "90" and timeout.touched == 0
    assert any("订单流断点率" in f for f in impact.figures) and any("节点时长" in f for f in impact.figures)
    html = response.content.decode()
    assert "截止时间移动：0 单" in html and "3 单保持不变" in html
    assert {o.pk for o in paid_orders[:4]} == {int(pk) for pk in _linked_orders(html)}
    # then nothing was saved and no deadline moved
    assert StatusNode.objects.get(pk=node.pk).timeout_minutes == 60
    assert dict(Order.objects.values_list("pk", "state_deadline")) == deadlines


def _linked_orders(html: str) -> list[str]:
    prefix = reverse("admin:orders_order_changelist")
    return [part.split("/", 1)[0] for part in html.split(f'href="{prefix}')[1:]]


def test_owner_change_touches_every_order_in_the_node(client, yunying, paid_orders):
    node = StatusNode.objects.get(status=Status.PAID)
    kefu = Group.objects.get(name="仓库")
    client.force_login(yunying)
    impact = client.post(url(node), node_form(node, owner_group=str(kefu.pk))).context["node_impact"]
    (owner,) = impact.changes
    assert owner.field == "owner" and owner.new == "仓库" and owner.touched == 4


def test_a_new_ladder_level_touches_the_orders_with_a_deadline(client, yunying, paid_orders):
    node = StatusNode.objects.get(status=Status.PAID)
    ops = Group.objects.get(name="运营主管")
    level = {
        "level": "1",
        "after_minutes": "15",
        "after_percent": "",
        "repeat_minutes": "0",
        "notify_group": str(ops.pk),
    }
    client.force_login(yunying)
    impact = client.post(url(node), node_form(node, [level])).context["node_impact"]
    (ladder,) = impact.changes
    assert ladder.field == "escalations" and ladder.touched == 4 and "1 单已超时" in ladder.effect
    assert not EscalationLevel.objects.filter(node=node).exists()
    percent = {**level, "after_minutes": "", "after_percent": "50"}
    impact = client.post(url(node), node_form(node, [percent])).context["node_impact"]
    assert impact.changes[0].touched == 0  # a percent level applies to stays that start after the save


def test_unchanged_form_says_nothing_changes(client, yunying, paid_orders):
    node = StatusNode.objects.get(status=Status.PAID)
    client.force_login(yunying)
    response = client.post(url(node), node_form(node))
    assert response.context["node_impact"].changes == []
    assert 'id="impact-no-change"' in response.content.decode()


def test_templates_and_escalation_levels_reading_the_node_are_listed(client, yunying, paid_orders):
    node = StatusNode.objects.get(status=Status.ON_HOLD)  # two default rungs
    notice = MessageTemplate.objects.create(key="status:on_hold", body="订单 {order_number} {customer_label}")
    MessageTemplate.objects.create(key="status:paid", body="订单 {order_number} 已付款")  # another node's
    overdue = MessageTemplate.objects.create(key=f"alert:{Alert.Kind.NODE_OVERDUE}", body="{message}")
    client.force_login(yunying)
    response = client.post(url(node), node_form(node, customer_label="人工复核中"))
    impact = response.context["node_impact"]
    assert [r.obj.pk for r in impact.readers if r.what == "template"] == [overdue.pk, notice.pk]
    assert len([r for r in impact.readers if r.what == "escalation_level"]) == 2
    (label,) = impact.changes
    assert label.field == "customer_label" and label.touched == 0  # no order is on hold in this fixture
    assert reverse("admin:orders_messagetemplate_change", args=[notice.pk]) in response.content.decode()


def test_bad_form_shows_its_errors_and_saves_nothing(client, yunying, paid_orders):
    node = StatusNode.objects.get(status=Status.PAID)
    client.force_login(yunying)
    bad_level = {"level": "1", "after_minutes": "", "after_percent": "", "repeat_minutes": "0", "notify_group": ""}
    response = client.post(url(node), node_form(node, [bad_level], timeout_minutes="abc"))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="impact-errors"' in html and html.count("<li>") >= 2  # the timeout's error and the row's
    assert "#1 " in html  # the ladder row's own error, numbered
    assert "impact-in-node-count" not in html
    assert StatusNode.objects.get(pk=node.pk).timeout_minutes == 60 and not node.escalations.exists()


@pytest.mark.parametrize("role", ["客服", "仓库", "采购", "财务"])
def test_only_those_who_may_change_nodes_may_preview(client, role):
    node = StatusNode.objects.get(status=Status.PAID)
    client.force_login(user_with_role(role))
    assert client.post(url(node), node_form(node)).status_code == 403
    page = client.get(reverse("admin:orders_statusnode_change", args=[node.pk]))
    assert "change-impact-button" not in page.content.decode()


def test_the_node_form_carries_the_button(client, yunying):
    node = StatusNode.objects.get(status=Status.PAID)
    client.force_login(yunying)
    html = client.get(reverse("admin:orders_statusnode_change", args=[node.pk])).content.decode()
    assert f'data-impact-url="{url(node)}"' in html


def test_node_preview_reads_in_a_fixed_number_of_statements(client, yunying, paid_orders):
    node = StatusNode.objects.get(status=Status.PAID)
    client.force_login(yunying)
    data = node_form(node, timeout_minutes="90")
    client.post(url(node), data)  # warm: the session, the content types
    with CaptureQueriesContext(connection) as few:
        assert client.post(url(node), data).status_code == 200
    for _ in range(5):
        in_node(Status.PAID, minutes=60)
    with CaptureQueriesContext(connection) as more:
        response = client.post(url(node), data)
    assert response.context["node_impact"].in_node.count == 9
    assert len(more) == len(few)
