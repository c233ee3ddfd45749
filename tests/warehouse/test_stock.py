"""Stock through the real services on PostgreSQL: adjustments, locks at allocation, shortfall holds,
release, deduction, restock, expiry, quotas, aliases, the breaker, and the ledger check."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from config.exceptions import InvalidInput
from orders.models import Alert, Order, Source, Status
from orders.selectors import allocation_queue_stats
from orders.services.allocation import allocation_tick, order_allocate_queued
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, SkuFactory, WarehouseFactory, make_order, order_payload, stock_in
from warehouse.models import BreakerEvent, SkuAlias, StockLevel, StockLock, StockMovement, StockReservation
from warehouse.selectors import allocation_settings, stock_check
from warehouse.services import reservation_save, stock_adjust

pytestmark = pytest.mark.django_db


@pytest.fixture
def auto_allocation(manual_allocation):
    manual_allocation.auto_allocate = True
    manual_allocation.save()
    return manual_allocation


def level(code: str, warehouse: str = "SH01") -> StockLevel:
    return StockLevel.objects.get(sku__code=code, warehouse__code=warehouse)


def paid(**payload) -> Order:
    order = make_order(**payload)
    return order_transition(order=order, transition="pay", actor=None, source=Source.API)


def lines(*items) -> list[dict]:
    return [{"sku": code, "quantity": qty, "unit_price": "50.00"} for code, qty in items]


# --- adjustments ---
def test_stock_adjust_inbound_damage_and_count_each_write_one_movement(cangku):
    sku, warehouse = SkuFactory(code="A-1"), WarehouseFactory()
    stock_adjust(sku=sku, warehouse=warehouse, kind="inbound", quantity=50, reason="PO-1 到货", actor=cangku)
    stock_adjust(sku=sku, warehouse=warehouse, kind="damage", quantity=3, reason="破损", actor=cangku)
    stock_adjust(sku=sku, warehouse=warehouse, kind="count", quantity=40, reason="月度盘点", actor=cangku)
    assert level("A-1").on_hand == 40
    moves = list(StockMovement.objects.filter(sku=sku).order_by("id").values_list("kind", "on_hand_delta", "actor"))
    assert moves == [("inbound", 50, cangku.pk), ("damage", -3, cangku.pk), ("count", -7, cangku.pk)]
    assert stock_check() == []


@pytest.mark.parametrize(
    ("kind", "quantity", "reason", "field"),
    [
        ("damage", 11, "报损", "quantity"),  # below zero
        ("count", 3, "盘点", "quantity"),  # below the 5 locked
        ("inbound", 0, "到货", "quantity"),
        ("inbound", "abc", "到货", "quantity"),
        ("inbound", 5, "  ", "reason"),
        ("teleport", 5, "x", "kind"),
    ],
)
def test_stock_adjust_bad_input_is_refused_naming_the_field_and_changes_nothing(kind, quantity, reason, field, stocked):
    order = paid()
    order = order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    stock_adjust(sku=SkuFactory(code="B-1"), warehouse=stocked, kind="inbound", quantity=10, reason="x", actor=None)
    locked_order = make_order(lines=lines(("B-1", 5)))
    locked_order = order_transition(order=locked_order, transition="pay", actor=None, source=Source.API)
    order_transition(order=locked_order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    order_allocate_queued(order_id=locked_order.pk)
    before = (level("B-1").on_hand, StockMovement.objects.count())
    with pytest.raises(InvalidInput) as refused:
        stock_adjust(
            sku=SkuFactory(code="B-1"), warehouse=stocked, kind=kind, quantity=quantity, reason=reason, actor=None
        )
    assert refused.value.extra["field"] == field
    assert (level("B-1").on_hand, StockMovement.objects.count()) == before


# --- allocation: lock, shortfall, release, deduct, restock ---
def test_paid_order_enters_queue_allocates_and_locks_every_line_including_gifts(auto_allocation, stocked):
    order = paid(lines=lines(("MASK-001", 2), ("SAMPLE-3", 1)))
    assert order.status == Status.ALLOCATING  # admitted in the transaction that verified payment
    assert order_allocate_queued(order_id=order.pk) == "allocated"
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED and order.warehouse.code == "SH01"
    assert (level("MASK-001").locked, level("SAMPLE-3").locked) == (2, 1)
    assert level("MASK-001").available == 98
    assert StockLock.objects.filter(order=order, state="active").count() == 2
    assert order_allocate_queued(order_id=order.pk) == "skipped"  # a second job changes nothing
    assert level("MASK-001").locked == 2
    assert stock_check() == []


def test_shortfall_holds_order_with_missing_skus_locks_nothing_and_alerts_purchasing(auto_allocation, stocked):
    stock_in(SkuFactory(code="RARE-1", name="限量礼盒"), stocked, 1)
    SkuFactory(code="NONE-1")
    order = paid(lines=lines(("MASK-001", 2), ("RARE-1", 3), ("NONE-1", 1)))
    assert order_allocate_queued(order_id=order.pk) == "held"
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD and order.resume_status == Status.ALLOCATING
    assert "缺货" in order.status_reason and "RARE-1" in order.status_reason and "NONE-1" in order.status_reason
    assert "MASK-001" not in order.status_reason
    assert not StockLock.objects.filter(order=order).exists()  # all or nothing
    assert level("MASK-001").locked == 0
    alert = Alert.objects.get(kind=Alert.Kind.STOCK_SHORTFALL, order=order)
    assert alert.owner_group.name == "采购" and "RARE-1" in alert.message
    # purchasing books the stock; releasing the hold sends the order through allocation again
    stock_in(SkuFactory(code="RARE-1"), stocked, 5)
    stock_in(SkuFactory(code="NONE-1"), stocked, 5)
    order = order_transition(order=order, transition="release", actor=None, source=Source.ADMIN)
    assert order.status == Status.ALLOCATING
    assert order_allocate_queued(order_id=order.pk) == "allocated"
    assert stock_check() == []


def test_manual_allocate_with_shortfall_is_refused_with_409_reason_and_the_order_is_held(cangku, stocked):
    from tests.conftest import client_for

    order = paid(lines=lines(("MASK-001", 500)))
    order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    response = client_for(cangku).post(
        f"/api/v1/orders/{order.number}/transitions/", {"transition": "allocate", "warehouse": "SH01"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "stock_shortfall"
    assert response.json()["extra"]["shortfalls"] == [
        {"sku": "MASK-001", "warehouse": "SH01", "wanted": 500, "available": 100}
    ]
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD and order.warehouse is None


def test_cancel_releases_pickup_deducts_and_return_restocks(stocked):
    order = paid(lines=lines(("MASK-001", 4)))
    order = order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    order = order_transition(order=order, transition="allocate", actor=None, source=Source.SYSTEM)
    assert level("MASK-001").locked == 4
    order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="客户取消")
    assert (level("MASK-001").on_hand, level("MASK-001").locked) == (100, 0)

    shipped = paid(lines=lines(("MASK-001", 3)))
    for name, source, changes in (
        ("start_allocation", Source.SYSTEM, {}),
        ("allocate", Source.SYSTEM, {}),
        ("print_label", Source.SCAN, {"carrier": CarrierFactory().code, "tracking_number": "SF100200300"}),
        ("pick_up", Source.SCAN, {}),
    ):
        shipped = order_transition(order=shipped, transition=name, actor=None, source=source, changes=changes)
    assert (level("MASK-001").on_hand, level("MASK-001").locked) == (97, 0)
    for name, source, reason in (("transit", Source.CARRIER, ""), ("mark_returned", Source.ADMIN, "七天无理由")):
        shipped = order_transition(order=shipped, transition=name, actor=None, source=source, reason=reason)
    assert level("MASK-001").on_hand == 100
    kinds = list(StockMovement.objects.filter(order=shipped).order_by("id").values_list("kind", flat=True))
    assert kinds == ["lock", "deduct", "restock"]
    assert stock_check() == []


def test_lock_expiry_releases_stock_and_holds_the_order_to_allocate_again(stocked):
    order = paid(lines=lines(("MASK-001", 5)))
    order = order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    order = order_transition(order=order, transition="allocate", actor=None, source=Source.SYSTEM)
    lock = StockLock.objects.get(order=order)
    assert abs(lock.expires_at - lock.created_at - timedelta(hours=72)) < timedelta(seconds=5)
    StockLock.objects.filter(pk=lock.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    result = allocation_tick()
    assert result["locks_expired"] == 1
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD and order.resume_status == Status.ALLOCATING and order.warehouse is None
    assert "72" in order.status_reason
    assert level("MASK-001").locked == 0 and StockLock.objects.get(pk=lock.pk).state == "expired"
    assert stock_check() == []


def test_printed_orders_keep_their_lock_after_expiry(stocked):
    order = paid(lines=lines(("MASK-001", 5)))
    printing = {"carrier": CarrierFactory().code, "tracking_number": "SF1"}  # a number is registered with its carrier
    for name, changes in (("start_allocation", {}), ("allocate", {}), ("print_label", printing)):
        order = order_transition(order=order, transition=name, actor=None, source=Source.SYSTEM, changes=changes)
    StockLock.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert allocation_tick()["locks_expired"] == 0
    assert level("MASK-001").locked == 5


# --- quotas ---
def test_member_quota_serves_its_members_only_and_comes_back_on_cancel(stocked):
    stock_adjust(
        sku=SkuFactory(code="MASK-001"), warehouse=stocked, kind="count", quantity=10, reason="盘点", actor=None
    )
    quota = reservation_save(
        reservation=StockReservation(
            name="VIP 专享", kind="member", sku=SkuFactory(code="MASK-001"), warehouse=stocked, member_levels=["vip"]
        ),
        quantity=8,
        actor=None,
    )
    assert level("MASK-001").available == 2
    regular = paid(lines=lines(("MASK-001", 5)))
    order_transition(order=regular, transition="start_allocation", actor=None, source=Source.SYSTEM)
    assert order_allocate_queued(order_id=regular.pk) == "held"  # only 2 free for a gold member

    vip = paid(
        customer={"name": "李四", "phone": "13900000001", "member_level": "vip"},
        lines=lines(("MASK-001", 9)),
    )
    vip = order_transition(order=vip, transition="start_allocation", actor=None, source=Source.SYSTEM)
    assert order_allocate_queued(order_id=vip.pk) == "allocated"  # 8 from the quota, 1 free
    quota.refresh_from_db()
    assert quota.quantity == 0 and (level("MASK-001").reserved, level("MASK-001").locked) == (0, 9)
    vip.refresh_from_db()
    order_transition(order=vip, transition="cancel", actor=None, source=Source.ADMIN, reason="不要了")
    quota.refresh_from_db()
    assert quota.quantity == 8 and (level("MASK-001").reserved, level("MASK-001").available) == (8, 2)
    assert stock_check() == []


def test_reservation_larger_than_free_stock_is_refused(stocked):
    with pytest.raises(InvalidInput):
        reservation_save(
            reservation=StockReservation(
                name="大促", kind="promo", promo_code="DOUBLE11", sku=SkuFactory(code="MASK-001"), warehouse=stocked
            ),
            quantity=101,
            actor=None,
        )
    assert not StockReservation.objects.exists() and level("MASK-001").reserved == 0


# --- aliases ---
def test_intake_resolves_sku_aliases_to_one_sku(api, stocked):
    sku = SkuFactory(code="MB-C200", name="奔驰C200 车模")
    for alias in ("奔驰C200", "Mercedes-Benz C200"):
        SkuAlias.objects.create(sku=sku, alias=alias)
    for i, sent in enumerate(("奔驰C200", "mercedes-benz  c200", "mb-c200")):
        response = api.post("/api/v1/orders/", order_payload(lines=lines((sent, 1))), format="json")
        assert response.status_code == 201, response.json()
        order = Order.objects.get(number=response.json()["number"])
        assert order.lines.get().sku == sku, (i, sent)
    unknown = api.post("/api/v1/orders/", order_payload(lines=lines(("奔驰C300", 1))), format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_sku"


# --- breaker ---
def test_breaker_trips_at_backlog_alerts_warehouse_and_resets_by_itself(auto_allocation, stocked):
    auto_allocation.breaker_max_backlog = 2
    auto_allocation.save()
    first, second, third = paid(), paid(), paid()
    assert [o.status for o in (first, second, third)] == ["allocating", "allocating", "paid"]
    assert allocation_settings().breaker_tripped
    trip = BreakerEvent.objects.get()
    assert (trip.kind, trip.backlog, trip.max_backlog) == ("tripped", 2, 2)
    alert = Alert.objects.get(kind=Alert.Kind.BREAKER_TRIPPED)
    assert alert.owner_group.name == "仓库" and "2" in alert.message
    fourth = paid()
    assert fourth.status == Status.PAID  # still tripped
    # the warehouse drains the queue; the next tick resets the breaker and lets waiting orders in
    for order in (first, second):
        order_allocate_queued(order_id=order.pk)
    assert allocation_tick()["admitted"] == 1  # oldest first, up to just below the trip point
    assert list(BreakerEvent.objects.order_by("id").values_list("kind", flat=True)) == ["tripped", "reset"]
    assert not allocation_settings().breaker_tripped
    third.refresh_from_db()
    fourth.refresh_from_db()
    assert (third.status, fourth.status) == ("allocating", "paid")
    assert third.events.filter(transition="start_allocation", source="system").exists()


def test_breaker_trips_on_average_wait(auto_allocation, stocked):
    old = paid()
    Order.objects.filter(pk=old.pk).update(state_entered_at=timezone.now() - timedelta(minutes=9))
    newer = paid()
    assert newer.status == Status.PAID and allocation_settings().breaker_tripped


def test_allocation_queue_stats_counts_waiting_orders_and_averages_their_wait_in_one_statement(
    auto_allocation, stocked, django_assert_num_queries
):
    # given: two orders waiting 10 and 4 minutes, one allocated (not waiting)
    now = timezone.now()
    waiting = [paid(), paid()]
    for order, minutes in zip(waiting, (10, 4), strict=True):
        Order.objects.filter(pk=order.pk).update(state_entered_at=now - timedelta(minutes=minutes))
    order_allocate_queued(order_id=paid().pk)
    # when / then
    with django_assert_num_queries(1):
        backlog, wait = allocation_queue_stats(now=now)
    assert backlog == 2 and wait == pytest.approx(7.0)
    Order.objects.filter(status=Status.ALLOCATING).update(status=Status.PAID)
    assert allocation_queue_stats(now=now) == (0, 0.0)


def test_switching_automatic_allocation_off_leaves_paid_orders_for_a_person(stocked):
    order = paid()
    assert order.status == Status.PAID
    assert allocation_tick()["admitted"] == 0


# --- the ledger check ---
def test_stock_check_command_finds_a_number_the_ledger_does_not_explain(stocked):
    call_command("stock_check")
    StockLevel.objects.filter(sku__code="MASK-001").update(on_hand=150)  # a write that bypassed the services
    with pytest.raises(CommandError):
        call_command("stock_check")
    assert any("MASK-001@SH01: on_hand is 150, ledger says 100" in p for p in stock_check())


def test_database_refuses_a_level_with_negative_available(stocked):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(sku__code="MASK-001").update(locked=101)


# --- the last units, fought over ---
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_allocations_for_the_last_ten_units_lock_exactly_ten(auto_allocation):
    # given: 10 units of the scarce SKU, plenty of the other, 50 paid orders each wanting one of both
    warehouse = WarehouseFactory()
    stock_in(SkuFactory(code="LAST-10", name="最后十件"), warehouse, 10)
    stock_in(SkuFactory(code="PLENTY", name="充足"), warehouse, 1000)
    orders = [paid(lines=lines(("PLENTY", 1), ("LAST-10", 1))) for _ in range(50)]
    assert all(o.status == Status.ALLOCATING for o in orders)
    start = threading.Barrier(50)
    results: list[str] = []

    def worker(order_id: int) -> None:
        try:
            start.wait()
            results.append(order_allocate_queued(order_id=order_id))
        finally:
            connection.close()

    # when: 50 workers allocate at once, each on its own database connection
    threads = [threading.Thread(target=worker, args=(o.pk,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then
    assert sorted(results) == ["allocated"] * 10 + ["held"] * 40
    assert Order.objects.filter(status=Status.ALLOCATED).count() == 10
    held = Order.objects.filter(status=Status.ON_HOLD)
    assert held.count() == 40 and all("缺货" in o.status_reason for o in held)
    assert (level("LAST-10").locked, level("LAST-10").available) == (10, 0)
    assert level("PLENTY").locked == 10  # held orders locked nothing at all
    assert StockLock.objects.filter(state="active").count() == 20
    assert Alert.objects.filter(kind=Alert.Kind.STOCK_SHORTFALL).count() == 40
    assert stock_check() == []


def test_shortfall_of_many_skus_holds_the_order_although_the_reason_is_long(stocked):
    codes = [f"LONG-NAMED-SKU-{n:02d}" for n in range(6)]
    for code in codes:
        SkuFactory(code=code)
    order = paid(lines=lines(*[(code, 2) for code in codes]))
    order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)
    assert order_allocate_queued(order_id=order.pk) == "held"
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD and "LONG-NAMED-SKU-00" in order.status_reason
    assert len(order.history.first().history_change_reason) <= 100


def test_a_reason_longer_than_the_order_keeps_is_refused_naming_the_field(stocked):
    order = paid()
    with pytest.raises(InvalidInput) as refused:
        order_transition(order=order, transition="hold", actor=None, source=Source.ADMIN, reason="等" * 256)
    assert refused.value.extra["field"] == "reason"
    order.refresh_from_db()
    assert order.status == Status.PAID
