"""How many SQL statements one allocated order costs (the allocation job's path): pinned, so a change that adds
reads or writes per order shows up here. Run with -s to see the statements."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import OrderEvent, Source, Status
from orders.services.allocation import order_allocate_queued
from orders.services.transitions import order_transition
from tests.factories import make_order
from warehouse.models import StockLock, StockMovement
from warehouse.selectors import stock_check

# Committed transactions, as the job runs them: what a transaction reads once (status nodes) is counted.
pytestmark = pytest.mark.django_db(transaction=True)

# Statements per allocated order (2 lines, one warehouse, no routing rules, no quotas), BEGIN/COMMIT not
# counted, as bench/allocate.py counts them; 28 before issue 10, 11 before the lock read brought the node timeouts.
ALLOCATE_STATEMENTS = 10


def _waiting(*items):
    order = make_order(lines=[{"sku": code, "quantity": qty, "unit_price": "50.00"} for code, qty in items])
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    return order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)


def test_order_allocate_queued_two_lines_takes_pinned_statements(stocked):
    warm = _waiting(("MASK-001", 1))
    assert order_allocate_queued(order_id=warm.pk) == "allocated"  # warm caches (settings row, nodes)
    order = _waiting(("MASK-001", 2), ("SAMPLE-3", 1))
    with CaptureQueriesContext(connection) as captured:
        assert order_allocate_queued(order_id=order.pk) == "allocated"
    for i, query in enumerate(captured.captured_queries, 1):
        print(f"{i:2d} {query['sql'][:300]}")
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED and order.warehouse.code == "SH01"
    assert StockLock.objects.filter(order=order, state="active").count() == 2
    assert StockMovement.objects.filter(order_id=order.pk, kind="lock").count() == 2
    assert order.history.first().history_change_reason  # the history row says why
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.NOTE, data__routed_by="stock").exists()
    assert stock_check() == []
    sent = [q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    assert not [sql for sql in sent if "SAVEPOINT" in sql]  # one transaction, no savepoint inside it
    assert len(sent) <= ALLOCATE_STATEMENTS
