"""Alert routing is data: one AlertRoute per alert kind, edited in the admin; services name no group."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from orders.models import Alert, AlertRoute, EscalationLevel, OrderEvent, Source, Status, StatusNode
from orders.roles import ROLES
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.allocation import order_allocate_queued
from orders.services.owners import alert_routes_ensure_defaults, owner_for
from orders.services.transitions import order_transition
from rules.models import Rule
from rules.services import rule_save
from tests.factories import SkuFactory, make_order, stock_in, user_with_role
from tests.orders.admin_forms import read_form

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ALERTS = reverse("admin:orders_alert_changelist")


def route(kind: str) -> AlertRoute:
    return AlertRoute.objects.get(kind=kind)


def route_url(kind: str) -> str:
    return reverse("admin:orders_alertroute_change", args=[route(kind).pk])


def edit_route(client, kind: str, **changes) -> None:
    """Change a route as a manager does: open its admin page, change the fields, save."""
    data, _ = read_form(client.get(route_url(kind)).content.decode(), "alertroute_form")
    data.update(changes)
    response = client.post(route_url(kind), data)
    assert response.status_code == 302, response.content.decode()[:2000]


def shortfall_alert() -> Alert:
    """A paid order the allocation queue holds because RARE-1 is short: the service raises the alert."""
    order = order_transition(
        order=make_order(lines=[{"sku": "RARE-1", "quantity": 3, "unit_price": "50.00"}]),
        transition="pay",
        actor=None,
        source=Source.API,
    )
    assert order_allocate_queued(order_id=order.pk) == "held"
    return Alert.objects.get(kind=Alert.Kind.STOCK_SHORTFALL, order=order)


@pytest.fixture
def rare(stocked, manual_allocation):
    """RARE-1 has 1 unit at SH01, and paid orders go to the allocation queue (the product's default)."""
    manual_allocation.auto_allocate = True
    manual_allocation.save()
    stock_in(SkuFactory(code="RARE-1", name="限量礼盒"), stocked, 1)
    return stocked


def test_migration_seeds_one_route_per_alert_kind_with_todays_owners():
    routes = {r.kind: r for r in AlertRoute.objects.select_related("owner_group")}
    assert set(routes) == set(Alert.Kind.values)
    owners = {kind: r.owner_group.name if r.owner_group else None for kind, r in routes.items()}
    assert owners == {
        "stock_shortfall": "采购",
        "breaker_tripped": "仓库",
        "parcel_stalled": None,  # the order's status node owner is asked first
        "node_overdue": None,  # likewise
        "approval_waiting": "运营主管",  # after the group the approval rule names
        "approval_overdue": "运营主管",  # 审批滞留: after the approver's superior and the on-hold group's lead
        "rule_error": "运营主管",
        "waybill_cancel_failed": "仓库",  # an unused waybill the carrier would not cancel
        "waybill_failed": "仓库",  # the carrier gave no waybill: the warehouse fixes the address / account
        "erp_push_dead": "运营主管",  # who configures the ERP endpoints
        "ship_confirm_failed": "客服",  # the platform's ship-by deadline: customer service acts
        "channel_pull_failing": "运营主管",  # a platform keeps refusing or failing: the manager checks its settings
        "calendar_year_unknown": "运营主管",  # next year's holidays unknown: the manager adds them as overrides
        "notification_dead": "运营主管",  # a robot or SMS gateway keeps failing: who configures the channels
        "other": "客服",
    }
    assert (routes["breaker_tripped"].severity, routes["rule_error"].severity) == ("critical", "critical")
    assert alert_routes_ensure_defaults() == 0  # nothing missing; never overwrites


def test_alert_raise_shortfall_after_manager_routes_it_to_warehouse_goes_to_warehouse(client, yunying, rare):
    # given: the manager routes 库存不足 to the warehouse group, severity critical, in the admin
    client.force_login(yunying)
    warehouse = Group.objects.get(name="仓库")
    edit_route(client, "stock_shortfall", owner_group=str(warehouse.pk), severity="critical")
    assert route("stock_shortfall").history.first().history_user == yunying
    # when: the next order is held for stock
    alert = shortfall_alert()
    # then: its alert goes to that group with that severity
    assert (alert.owner_group, alert.owner_user, alert.severity) == (warehouse, None, "critical")


def test_alert_raise_route_to_a_person_goes_to_that_person(client, yunying, rare):
    client.force_login(yunying)
    edit_route(client, "stock_shortfall", owner_group="", owner_user=str(yunying.pk))
    alert = shortfall_alert()
    assert (alert.owner_group, alert.owner_user) == (None, yunying)


def test_alert_raise_route_without_owner_leaves_alert_unowned_under_others_on_home(client, yunying, rare):
    # given: the shortfall route names nobody
    client.force_login(yunying)
    edit_route(client, "stock_shortfall", owner_group="", owner_user="")
    # when
    alert = shortfall_alert()
    # then: the alert has no owner, and purchasing finds it among the others' alerts, not its own
    assert alert.owner_group is None and alert.owner_user is None
    client.force_login(user_with_role("采购"))
    html = client.get(reverse("admin:index")).content.decode()
    mine = html.split('id="my-alerts"')[1].split("</table>")[0] if 'id="my-alerts"' in html else ""
    other = html.split('id="other-alerts"')[1].split("</p>")[0]
    assert 'data-kind="stock_shortfall"' not in mine
    assert "1 " in other and "owner=others" in other
    listed = client.get(ALERTS, {"state": "open", "owner": "others"}).content.decode()
    assert alert.message[:20] in listed


def test_alert_raise_with_explicit_owner_and_severity_keeps_them():
    kefu_group = Group.objects.get(name="客服")
    alert = alert_raise(kind=Alert.Kind.STOCK_SHORTFALL, message="x", owner_group=kefu_group, severity="info")
    assert (alert.owner_group, alert.severity) == (kefu_group, "info")


def test_owner_for_escalation_rule_group_node_then_route():
    procurement, warehouse = Group.objects.get(name="采购"), Group.objects.get(name="仓库")
    node = StatusNode.objects.get(status=Status.PLACED)  # owner 客服, level 1 → 运营主管 (defaults)
    level = EscalationLevel.objects.get(node=node, level=1)
    kind = Alert.Kind.NODE_OVERDUE
    assert owner_for(kind=kind, node=node, escalation=level).group.name == "运营主管"
    assert owner_for(kind=kind, node=node, rule_group="采购").group == procurement
    assert owner_for(kind=kind, node=node, rule_group="没有这个组").group.name == "客服"
    assert owner_for(kind=kind, node=node).group.name == "客服"
    assert owner_for(kind=kind).is_nobody  # the seeded node_overdue route names nobody
    AlertRoute.objects.filter(kind=kind).update(owner_group=warehouse)
    ownerless = StatusNode.objects.get(status=Status.IN_TRANSIT)  # no owner by default
    assert owner_for(kind=kind, node=ownerless).group == warehouse


def test_approval_rule_naming_a_missing_group_goes_to_the_approval_route():
    # given: an approval rule whose group was removed after the rule was saved
    gone = Group.objects.create(name="总经理")
    rule_save(
        rule=Rule(
            kind="approval",
            name="大额审批",
            enabled=True,
            condition={"all": [{"fact": "paid_amount", "op": "gt", "value": "1"}]},
            action={"group": "总经理"},
        ),
        actor=None,
    )
    gone.delete()
    # when: an order is paid and held for approval
    order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)
    # then: the approval alert goes to the route's owner instead of nobody
    assert Alert.objects.get(kind=Alert.Kind.APPROVAL_WAITING).owner_group.name == "运营主管"


def test_alert_timeline_events_have_fixed_data_keys():
    order = make_order()
    alert = alert_raise(kind=Alert.Kind.OTHER, message="请回访", order=order)
    alert_resolve(alerts=Alert.objects.filter(pk=alert.pk), resolution="客户已回电")
    raised, resolved = OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.ALERT).order_by("id")
    keys = {"alert_id", "alert_kind", "severity", "resolved"}
    assert set(raised.data) == set(resolved.data) == keys
    assert (raised.data["resolved"], resolved.data["resolved"]) == (False, True)
    assert raised.data["severity"] == resolved.data["severity"] == "warning"
    assert raised.reason == "请回访" and "客户已回电" in resolved.reason


@pytest.mark.parametrize("role", [r for r in ROLES if r not in ("运营主管", "管理员")])
def test_alert_route_admin_other_roles_read_owners_as_text_and_cannot_change(client, role):
    # given: a role that sees orders (every role does) on a route's page
    client.force_login(user_with_role(role))
    url = route_url("stock_shortfall")
    page = client.get(url)
    # then: it reads who gets the alert, as text, with no input and no link into auth's pages
    assert page.status_code == 200, role
    html = page.content.decode()
    _, editable = read_form(html, "alertroute_form")
    assert not editable and "采购" in html and "/admin/auth/" not in html
    # and a forged post changes nothing
    client.post(url, {"owner_group": "", "owner_user": "", "severity": "info", "note": "x"})
    assert route("stock_shortfall").owner_group.name == "采购"


def test_alert_route_admin_manager_gets_plain_selects_and_cannot_add_delete_or_change_kind(client, yunying):
    client.force_login(yunying)
    html = client.get(route_url("other")).content.decode()
    assert '<select name="owner_group"' in html and '<select name="owner_user"' in html
    assert "data-ajax--url" not in html
    data, editable = read_form(html, "alertroute_form")
    assert "kind" not in editable
    client.post(route_url("other"), {**data, "kind": "rule_error"})
    assert route("other").kind == "other"
    assert client.get(reverse("admin:orders_alertroute_add")).status_code == 403
    delete = reverse("admin:orders_alertroute_delete", args=[route("other").pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AlertRoute.objects.count() == len(Alert.Kind.values)


# --- no group name in service code: who owns what is data (orders.roles seeds it; demo and migrations too) ---
SERVICE_CODE = [
    *sorted((ROOT / "orders" / "services").glob("*.py")),
    ROOT / "warehouse" / "services.py",
    *sorted((ROOT / "logistics").glob("services*.py")),
    *sorted((ROOT / "logistics" / "services").glob("*.py")),
    ROOT / "rules" / "services.py",
]
MAY_NAME_ROLES = {"roles.py", "demo.py"}  # the role table's sync, and the demo's sample staff


def test_services_name_no_role_group():
    names = [name for name in ROLES if re.search(r"[^\x00-\x7f]", name)]
    assert "采购" in names and "运营主管" in names
    checked, found = 0, []
    for path in SERVICE_CODE:
        if path.name in MAY_NAME_ROLES and path.parent.name == "services":
            continue
        checked += 1
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [
                f"{path.relative_to(ROOT)}:{number}: {name}"
                for name in names
                if re.search(f"[\"']{name}[\"']", line)  # a string that is exactly a group's name
            ]
    assert checked >= 10
    assert found == []
