"""Arriving stock releases orders held for stock; alerts close themselves when their cause is gone; the admin
home shows each role its own open alerts; bulk release and acknowledge on the order list."""

import json
from datetime import timedelta

import django_rq
import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from logistics.carriers import generic
from logistics.models import Carrier, Shipment
from orders.jobs import sweep_overdue_orders
from orders.models import Alert, Order, Source, Status
from orders.services.alerts import alert_raise, alert_resolve
from orders.services.allocation import allocation_tick, order_allocate_queued
from orders.services.tracking import parcels_stall_sweep
from orders.services.transitions import order_transition
from tests.factories import SkuFactory, make_order, stock_in, user_with_role
from tests.logistics.parcels import printed
from warehouse.models import BreakerEvent, StockLevel
from warehouse.selectors import allocation_settings

pytestmark = pytest.mark.django_db

ALERTS = reverse("admin:orders_alert_changelist")
ORDERS = reverse("admin:orders_order_changelist")
RESOLVED_LABEL = "已由系统解决"


@pytest.fixture
def auto_allocation(manual_allocation):
    manual_allocation.auto_allocate = True
    manual_allocation.save()
    return manual_allocation


def paid(**payload) -> Order:
    return order_transition(order=make_order(**payload), transition="pay", actor=None, source=Source.API)


def rare_lines(quantity: int) -> list[dict]:
    return [{"sku": "RARE-1", "quantity": quantity, "unit_price": "50.00"}]


def held_for_stock(quantity: int = 2, **payload) -> Order:
    """A paid order the allocation queue held because RARE-1 is short at SH01."""
    order = paid(lines=rare_lines(quantity), **payload)
    assert order_allocate_queued(order_id=order.pk) == "held"
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD and "缺货" in order.status_reason
    return order


def inbound_and_run_jobs(django_capture_on_commit_callbacks, quantity: int) -> list:
    """Book inbound RARE-1 as a clerk does, then let a real RQ worker run what it enqueued (real Redis)."""
    queue = django_rq.get_queue("default")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        stock_in(SkuFactory(code="RARE-1"), StockLevel.objects.get(sku__code="RARE-1").warehouse, quantity)
    jobs = queue.get_jobs()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    for job in jobs:
        job.refresh()
        assert job.get_status() == "finished", job.exc_info
    return jobs


@pytest.fixture
def rare(stocked):
    """RARE-1 exists at SH01 with 1 unit: too few for the orders below."""
    stock_in(SkuFactory(code="RARE-1", name="限量礼盒"), stocked, 1)
    return stocked


# --- stock arrives: held-for-stock orders are released by themselves ---
def test_orders_release_stock_holds_inbound_allocates_the_held_order_and_resolves_its_alert(
    auto_allocation, rare, client, kefu, django_capture_on_commit_callbacks
):
    # given: an order held for stock, with purchasing's shortfall alert open
    order = held_for_stock(3)
    alert = Alert.objects.get(kind=Alert.Kind.STOCK_SHORTFALL, order=order)
    assert alert.is_open
    # when: purchasing books the inbound stock
    [job] = inbound_and_run_jobs(django_capture_on_commit_callbacks, 5)
    # then: the job named by warehouse ran and allocated the order through release → allocating → allocate
    assert job.func_name == "orders.jobs.release_stock_holds" and job.return_value() == {"released": 1}
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED and order.warehouse.code == "SH01"
    steps = list(order.events.filter(kind="transition").values_list("transition", "source"))
    assert steps[-3:] == [("hold", "system"), ("release", "system"), ("allocate", "system")]
    assert StockLevel.objects.get(sku__code="RARE-1").locked == 3
    alert.refresh_from_db()
    assert not alert.is_open and alert.resolved_at is not None and alert.acknowledged_at is None
    assert order.events.filter(kind="alert", data__resolved=True).exists()
    # and the alert list shows it closed by the system, under the 'resolved' filter only
    client.force_login(kefu)
    resolved = client.get(ALERTS, {"state": "resolved"}).content.decode()
    assert RESOLVED_LABEL in resolved and alert.message[:20] in resolved
    assert alert.message[:20] not in client.get(ALERTS, {"state": "open"}).content.decode()


def test_orders_release_stock_holds_stock_for_one_takes_the_most_urgent_then_the_oldest(
    auto_allocation, rare, django_capture_on_commit_callbacks
):
    # given: three orders held for 2 units each; the urgent one is the newest
    now = timezone.now()
    oldest = held_for_stock(2, ordered_at=(now - timedelta(hours=3)).isoformat())
    newer = held_for_stock(2, ordered_at=(now - timedelta(hours=2)).isoformat())
    urgent = held_for_stock(2, ordered_at=(now - timedelta(hours=1)).isoformat(), priority=Order.Priority.URGENT)
    # when: stock for one order arrives (1 + 2 = 3 units)
    inbound_and_run_jobs(django_capture_on_commit_callbacks, 2)
    # then: the urgent one goes first, the others stay held
    statuses = {o.pk: Order.objects.get(pk=o.pk).status for o in (oldest, newer, urgent)}
    assert statuses == {urgent.pk: Status.ALLOCATED, oldest.pk: Status.ON_HOLD, newer.pk: Status.ON_HOLD}
    # and the minute tick does not flap the ones stock cannot cover
    allocation_tick()
    allocation_tick()
    for order in (oldest, newer):
        assert list(order.events.filter(kind="transition").values_list("transition", flat=True)) == [
            "pay",
            "start_allocation",
            "hold",
        ]
    # when: stock for one more arrives, the oldest of the two goes next
    inbound_and_run_jobs(django_capture_on_commit_callbacks, 2)
    oldest.refresh_from_db()
    newer.refresh_from_db()
    assert (oldest.status, newer.status) == (Status.ALLOCATED, Status.ON_HOLD)
    assert Alert.objects.get(order=newer, kind=Alert.Kind.STOCK_SHORTFALL).is_open


def test_allocation_tick_releases_stock_holds_when_stock_is_freed_by_a_cancellation(auto_allocation, rare):
    # given: the only unit of RARE-1 is locked by one order, a second waits for it
    first = paid(lines=rare_lines(1))
    assert order_allocate_queued(order_id=first.pk) == "allocated"
    waiting = held_for_stock(1)
    # when: the first is cancelled (stock freed without an inbound) and the minute tick runs
    order_transition(order=first, transition="cancel", actor=None, source=Source.API, reason="买家取消")
    assert allocation_tick()["stock_holds_released"] == 1
    waiting.refresh_from_db()
    assert waiting.status == Status.ALLOCATED


def test_orders_release_stock_holds_never_releases_a_hold_made_by_a_person(
    auto_allocation, rare, kefu, django_capture_on_commit_callbacks
):
    # given: a manual hold that even says 缺货, and a stock hold a person released and held again by hand
    manual = order_transition(
        order=paid(lines=rare_lines(1)), transition="hold", actor=kefu, source=Source.ADMIN, reason="缺货 客户要求等待"
    )
    rehold = held_for_stock(2)
    rehold = order_transition(order=rehold, transition="release", actor=kefu, source=Source.ADMIN)
    rehold = order_transition(order=rehold, transition="hold", actor=kefu, source=Source.ADMIN, reason="等客户确认")
    stock_hold = held_for_stock(2)
    # when: plenty of stock arrives and the tick runs
    inbound_and_run_jobs(django_capture_on_commit_callbacks, 50)
    allocation_tick()
    # then: both stay held for a person, while the queue's own stock hold was released and allocated
    for order in (manual, rehold):
        order.refresh_from_db()
        assert order.status == Status.ON_HOLD and order.hold_kind == Order.HoldKind.OTHER
    stock_hold.refresh_from_db()
    assert stock_hold.status == Status.ALLOCATED


def test_orders_release_stock_holds_leaves_holds_alone_while_automatic_allocation_is_off(
    auto_allocation, rare, django_capture_on_commit_callbacks
):
    order = held_for_stock(2)
    auto_allocation.auto_allocate = False
    auto_allocation.save()
    inbound_and_run_jobs(django_capture_on_commit_callbacks, 5)
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD
    # switched back on, the next tick releases it
    auto_allocation.auto_allocate = True
    auto_allocation.save()
    allocation_tick()
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED


# --- alerts close themselves ---
def test_alert_raise_after_the_system_resolved_the_alert_opens_a_new_one():
    first = alert_raise(kind=Alert.Kind.OTHER, message="x", dedupe_key="k")
    assert alert_resolve(alerts=Alert.objects.filter(dedupe_key="k"), resolution="gone") == 1
    assert alert_resolve(alerts=Alert.objects.filter(dedupe_key="k"), resolution="gone") == 0
    second = alert_raise(kind=Alert.Kind.OTHER, message="x", dedupe_key="k")
    assert second.pk != first.pk and second.is_open


def test_allocation_breaker_reset_resolves_the_breaker_alert(auto_allocation, stocked):
    # given: the breaker tripped at a backlog of 2 and alerted the warehouse
    auto_allocation.breaker_max_backlog = 2
    auto_allocation.save()
    first, second, _waiting = paid(), paid(), paid()  # the third finds two waiting: tripped
    alert = Alert.objects.get(kind=Alert.Kind.BREAKER_TRIPPED)
    assert alert.is_open
    # when: the queue drains and the tick resets the breaker
    for order in (first, second):
        order_allocate_queued(order_id=order.pk)
    allocation_tick()
    # then
    assert not allocation_settings().breaker_tripped
    assert list(BreakerEvent.objects.order_by("id").values_list("kind", flat=True)) == ["tripped", "reset"]
    alert.refresh_from_db()
    assert alert.resolved_at is not None and "熔断" in alert.resolution


def test_alerts_resolve_stale_shortfall_alert_closes_when_the_order_is_cancelled(auto_allocation, rare):
    order = held_for_stock(3)
    order_transition(order=order, transition="cancel", actor=None, source=Source.API, reason="买家取消")
    sweep_overdue_orders()
    assert Alert.objects.get(order=order, kind=Alert.Kind.STOCK_SHORTFALL).resolved_at is not None


def test_parcel_record_new_carrier_event_resolves_the_stall_alert(client, stocked):
    # given: a parcel quiet for 37 hours, flagged stalled with an alert
    carrier = Carrier.objects.create(code="deppon", name="德邦", adapter="generic", callback_secret="s3cret")
    order = printed(carrier, number="DPK0001")
    Shipment.objects.update(created_at=timezone.now() - timedelta(hours=37))
    assert parcels_stall_sweep() == 1
    alert = Alert.objects.get(kind=Alert.Kind.PARCEL_STALLED, order=order)
    assert alert.is_open
    # when: the carrier reports the parcel again
    event = {"time": timezone.localtime().isoformat(), "state": "1", "description": "德邦已揽收"}
    body = json.dumps({"tracking_number": "DPK0001", "events": [event]}).encode()
    response = client.post(
        "/api/v1/logistics/callback/deppon/",
        body,
        content_type="application/json",
        headers={"X-OrderHub-Signature": generic.signature("s3cret", body)},
    )
    # then
    assert response.status_code == 200
    assert not Shipment.objects.get().is_stalled
    alert.refresh_from_db()
    assert alert.resolved_at is not None and not alert.is_open


def test_alerts_resolve_stale_overdue_alert_closes_when_the_order_leaves_the_overdue_status(stocked):
    # given: two placed orders overdue, each with its node-overdue alert
    moved, stuck = make_order(), make_order()
    Order.objects.filter(pk__in=[moved.pk, stuck.pk]).update(state_deadline=timezone.now() - timedelta(minutes=1))
    assert sweep_overdue_orders() == 2
    # when: one of them is paid (leaves 'placed') and the sweep runs again
    order_transition(order=moved, transition="pay", actor=None, source=Source.API)
    sweep_overdue_orders()
    # then: only its alert is resolved by the system
    assert Alert.objects.get(order=moved).resolved_at is not None
    assert Alert.objects.get(order=stuck).is_open


# --- the admin home: my groups' open alerts first, then the rest ---
def alerts_for_every_role(orders: int = 1) -> None:
    groups = {name: user_with_role(name).groups.get() for name in ("仓库", "客服", "采购")}
    alert_raise(kind=Alert.Kind.BREAKER_TRIPPED, message="msg-breaker", owner_group=groups["仓库"])
    for _ in range(orders):
        order = make_order()
        alert_raise(kind=Alert.Kind.NODE_OVERDUE, message="msg-overdue", order=order, owner_group=groups["客服"])
        alert_raise(kind=Alert.Kind.PARCEL_STALLED, message="msg-stall", order=order, owner_group=groups["客服"])
        alert_raise(kind=Alert.Kind.STOCK_SHORTFALL, message="msg-short", order=order, owner_group=groups["采购"])
    acknowledged = alert_raise(kind=Alert.Kind.NODE_OVERDUE, message="msg-acked", owner_group=groups["客服"])
    acknowledged.acknowledged_at = timezone.now()
    acknowledged.save()
    resolved = alert_raise(kind=Alert.Kind.NODE_OVERDUE, message="msg-resolved", owner_group=groups["客服"])
    alert_resolve(alerts=Alert.objects.filter(pk=resolved.pk), resolution="gone")


def home_counts(client) -> tuple[dict[str, str], str]:
    html = client.get(reverse("admin:index")).content.decode()
    mine = html.split('id="my-alerts"')[1].split("</table>")[0]
    rows = {}
    for row in mine.split('data-kind="')[1:]:
        kind = row.split('"')[0]
        rows[kind] = row.split('class="oh-alert-count"')[1].split(">")[1].split("<")[0]
    other = html.split('id="other-alerts"')[1].split("</p>")[0]
    return rows, other


def test_admin_home_shows_warehouse_and_customer_service_their_own_open_alerts_first(
    client, cangku, kefu, stocked, django_assert_max_num_queries
):
    alerts_for_every_role()
    client.force_login(cangku)
    mine, other = home_counts(client)
    assert mine == {"breaker_tripped": "1"} and "3 " in other and "owner=others" in other
    client.force_login(kefu)
    mine, other = home_counts(client)
    assert mine == {"node_overdue": "1", "parcel_stalled": "1"} and "2 " in other  # not the acked or resolved
    # each count links to exactly those alerts
    listed = client.get(ALERTS, {"state": "open", "owner": "mine", "kind__exact": "node_overdue"}).content.decode()
    assert "msg-overdue" in listed and "msg-stall" not in listed and "msg-acked" not in listed
    assert "msg-resolved" not in listed
    others = client.get(ALERTS, {"state": "open", "owner": "others"}).content.decode()
    assert "msg-breaker" in others and "msg-short" in others and "msg-overdue" not in others
    # and the page's queries do not grow with the number of alerts
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:index"))
    alerts_for_every_role(orders=20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        mine, _other = home_counts(client)
    assert mine == {"node_overdue": "21", "parcel_stalled": "21"}


# --- bulk actions on the order list ---
def test_order_admin_release_holds_asks_a_reason_releases_each_and_lists_refusals(client, kefu, stocked):
    # given: two held orders and one that is not held
    held = [
        order_transition(order=paid(), transition="hold", actor=kefu, source=Source.ADMIN, reason="待确认")
        for _ in range(2)
    ]
    not_held = paid()
    client.force_login(kefu)
    selection = {"action": "release_holds", "_selected_action": [o.pk for o in [*held, not_held]]}
    # when: the action is chosen, it asks for the reason first and changes nothing
    form = client.post(ORDERS, selection)
    assert form.status_code == 200 and 'id="release-form"' in form.content.decode()
    assert not_held.number in form.content.decode()
    assert all(Order.objects.get(pk=o.pk).status == Status.ON_HOLD for o in held)
    # an empty reason is refused on the field
    empty = client.post(ORDERS, {**selection, "apply": "1", "reason": " "})
    assert empty.status_code == 200 and "errorlist" in empty.content.decode()
    # when: the reason is given
    done = client.post(ORDERS, {**selection, "apply": "1", "reason": "客户已确认地址"}, follow=True)
    # then: each held order was released through its transition with the reason; the refusal is listed in red
    for order in held:
        order.refresh_from_db()
        assert order.status == Status.PAID
        assert order.events.filter(transition="release", actor=kefu, reason="客户已确认地址").exists()
    notes = [(m.level_tag, str(m)) for m in get_messages(done.wsgi_request)]
    assert ("success", "已解除 2 个订单的挂起。") in notes
    [refusal] = [text for level, text in notes if level == "error"]
    assert not_held.number in refusal
    assert Order.objects.get(pk=not_held.pk).status == Status.PAID


def test_order_admin_release_holds_is_offered_only_with_release_permission(client, cangku, kefu, stocked):
    held = order_transition(order=paid(), transition="hold", actor=kefu, source=Source.ADMIN, reason="待确认")
    client.force_login(cangku)  # the warehouse may not release holds
    assert 'value="release_holds"' not in client.get(ORDERS).content.decode()
    client.post(ORDERS, {"action": "release_holds", "_selected_action": [held.pk], "apply": "1", "reason": "x"})
    held.refresh_from_db()
    assert held.status == Status.ON_HOLD
    client.force_login(kefu)
    assert 'value="release_holds"' in client.get(ORDERS).content.decode()


def test_order_admin_acknowledge_alerts_acknowledges_the_selected_orders_open_alerts(client, kefu, stocked):
    chosen, other = make_order(), make_order()
    for order in (chosen, other):
        alert_raise(kind=Alert.Kind.OTHER, message=f"核对 {order.number}", order=order, dedupe_key=f"c:{order.pk}")
    client.force_login(kefu)
    client.post(ORDERS, {"action": "acknowledge_alerts", "_selected_action": [chosen.pk]})
    assert Alert.objects.get(order=chosen).acknowledged_by == kefu
    assert Alert.objects.get(order=other).is_open
