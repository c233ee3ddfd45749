"""Allocating in the payment's transaction (AllocationSettings.allocate_on_payment): a paid POST routes the order
and locks its stock on the row it has locked once, with one history row for the whole run, when no other order
waits in the queue; otherwise (or on a shortfall) it behaves as a worker would."""

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from orders.models import Alert, Order, OrderEvent, Source, Status
from orders.services.allocation import order_allocate_queued
from orders.services.transitions import order_transition
from tests.factories import SkuFactory, make_order, order_payload, stock_in
from warehouse.models import StockLock, StockMovement
from warehouse.selectors import stock_check

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"
ORDER_ROW_LOCK = re.compile(r'FROM "orders_order".*FOR UPDATE', re.S)
# The paid-and-admitted POST's budget (tests/orders/test_lifecycle.py) plus the allocation: the stock rows locked,
# written and their ledger, the lock rows. Measured 25; issue 12's duplicate check adds its one query (the settings
# row is the process's copy); issue 13's customer-notice hook adds its one read of which nodes notify customers and
# the SMS channel (cold here; once per NOTIFY_CONFIG_CACHE_SECONDS per process), as in test_lifecycle.py.
PAID_AND_ALLOCATED_POST_MAX_STATEMENTS = 27


@pytest.fixture
def allocate_on_payment(manual_allocation):
    manual_allocation.auto_allocate = True
    manual_allocation.allocate_on_payment = True
    manual_allocation.save()
    return manual_allocation


class _ForgetCaches(Exception):
    pass


def _paid_post(api, **overrides):
    api.post(URL, order_payload(), format="json")  # warm up; the customer exists
    try:  # a new transaction reads its own status-node timeouts
        with transaction.atomic():
            raise _ForgetCaches
    except _ForgetCaches:
        pass
    payload = order_payload(paid_at="2026-11-30T10:00:00+08:00", payment_reference="TRADE-1", **overrides)
    with CaptureQueriesContext(connection) as queries:
        response = api.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    return Order.objects.get(number=response.json()["number"]), [q["sql"] for q in queries.captured_queries]


def test_order_create_paid_with_allocate_on_payment_allocates_in_the_same_transaction(
    api, allocate_on_payment, stocked
):
    # when
    order, statements = _paid_post(api)
    print(f"\n{len(statements)} statements per paid-and-allocated POST")
    for s in statements:
        print("  ", s[:160])
    # then: allocated, its stock locked, one order lock, one timeline event per move, one history row for the POST
    assert order.status == Status.ALLOCATED and order.warehouse == stocked
    assert [(lk.sku.code, lk.quantity) for lk in StockLock.objects.filter(order=order)] == [("MASK-001", 2)]
    assert len([s for s in statements if ORDER_ROW_LOCK.search(s)]) == 1
    moves = order.events.filter(kind=OrderEvent.Kind.TRANSITION).order_by("pk").values_list("transition", flat=True)
    assert list(moves) == ["pay", "start_allocation", "allocate"]
    assert order.events.filter(data__routed_by="stock").count() == 1
    _created, paid = (h.history_change_reason for h in order.history.order_by("history_id"))
    assert paid.startswith("payment recorded: TRADE-1; pay: ") and paid.endswith("; start_allocation; allocate")
    assert len([s for s in statements if s.startswith("SAVEPOINT")]) == 1  # intake's transaction (BEGIN in production)
    assert len(statements) <= PAID_AND_ALLOCATED_POST_MAX_STATEMENTS
    assert stock_check() == []
    # the job a worker would have run finds nothing to do (none is enqueued, but a stale tick might call it)
    assert order_allocate_queued(order_id=order.pk) == "skipped"


def test_order_create_paid_with_allocate_on_payment_waits_its_turn_when_orders_wait(api, allocate_on_payment, stocked):
    # given: an order already waiting in the queue
    waiting = make_order()
    allocate_on_payment.allocate_on_payment = False
    allocate_on_payment.save()
    waiting = order_transition(order=waiting, transition="pay", actor=None, source=Source.API)
    assert waiting.status == Status.ALLOCATING
    allocate_on_payment.allocate_on_payment = True
    allocate_on_payment.save()
    # when
    order, _statements = _paid_post(api)
    # then: admitted behind it, not allocated ahead of it
    assert order.status == Status.ALLOCATING
    assert not StockLock.objects.filter(order=order).exists()


def test_order_create_paid_with_allocate_on_payment_holds_a_shortfall_and_keeps_the_payment(
    api, allocate_on_payment, stocked
):
    # given: 1 unit of a SKU the order wants 2 of
    stock_in(SkuFactory(code="RARE-1", name="稀缺"), stocked, 1)
    movements = StockMovement.objects.count()
    # when
    order, _statements = _paid_post(
        api, lines=[{"sku": "RARE-1", "quantity": 2, "unit_price": "50.00"}], paid_amount="100.00"
    )
    # then: paid and held for stock, as a worker would have held it; nothing locked
    assert order.payment_status == Order.PaymentStatus.PAID
    assert order.status == Status.ON_HOLD and order.hold_kind == Order.HoldKind.STOCK and "缺货" in order.status_reason
    assert order.warehouse is None and not StockLock.objects.filter(order=order).exists()
    assert StockMovement.objects.count() == movements
    assert Alert.objects.filter(kind=Alert.Kind.STOCK_SHORTFALL, order=order, resolved_at__isnull=True).exists()
    moves = order.events.filter(kind=OrderEvent.Kind.TRANSITION).order_by("pk").values_list("transition", flat=True)
    assert list(moves) == ["pay", "start_allocation", "hold"]


def test_order_transition_release_with_allocate_on_payment_goes_to_the_queue(allocate_on_payment, stocked):
    # given: a paid order held by a person (paid while automatic allocation was off)
    allocate_on_payment.auto_allocate = False
    allocate_on_payment.save()
    order = order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)
    order = order_transition(order=order, transition="hold", actor=None, source=Source.SYSTEM, reason="核对地址")
    allocate_on_payment.auto_allocate = True
    allocate_on_payment.save()
    # when
    order = order_transition(order=order, transition="release", actor=None, source=Source.SYSTEM)
    # then: only the payment allocates at once; a release waits for a worker
    assert order.status == Status.ALLOCATING
    assert not StockLock.objects.filter(order=order).exists()
