"""The lifecycle: one paid POST locks the order row once, writes one timeline event per transition, and stays
within its SQL budget; effects declared in the table run on the row already locked."""

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from orders.models import Order, OrderEvent, Status
from rules.models import Rule
from rules.services import rule_save
from tests.factories import SkuFactory, order_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"
# The budget of one paid-and-admitted POST: 42 statements before the lifecycle core, 23 after it; issue 10 aims
# at 20. Measured 20 here (as many in production: BEGIN/COMMIT instead of SAVEPOINT/RELEASE): the payment runs in
# intake's transaction, and the 'created' line joins the one INSERT of the run's timeline lines.
# Issue 12 adds 1 to both: the cross-channel duplicate check's one indexed query (its settings row is the
# process's copy, orders.services.duplicates.duplicate_settings, read by the warm-up).
# Issue 13 adds 1: entering paid (notify_customer on by default) reads which nodes notify customers and the SMS
# channel, once per NOTIFY_CONFIG_CACHE_SECONDS per process (cold here); with an SMS channel on, its template
# and the notice row are 2 more.
PAID_POST_MAX_STATEMENTS = 22
# An unpaid POST: token, permissions, channel, SKUs, fingerprint, customer, node timeouts, order + history, lines
# + history, the 'created' line, and the transaction around them (SAVEPOINT/RELEASE here, BEGIN/COMMIT in production).
UNPAID_POST_MAX_STATEMENTS = 15
ORDER_ROW_LOCK = re.compile(r'FROM "orders_order".*FOR UPDATE', re.S)


@pytest.fixture
def auto_allocation(manual_allocation):
    manual_allocation.auto_allocate = True
    manual_allocation.save()
    return manual_allocation


class _ForgetCaches(Exception):
    pass


def _paid_post(api, **overrides):
    return _post(api, order_payload(paid_at="2026-11-30T10:00:00+08:00", payment_reference="TRADE-1", **overrides))


def _post(api, payload):
    api.post(URL, order_payload(), format="json")  # warm up what a running worker has cached; the customer exists
    try:  # a new transaction reads its own status-node timeouts: forget those the warm-up read
        with transaction.atomic():
            raise _ForgetCaches
    except _ForgetCaches:
        pass
    with CaptureQueriesContext(connection) as queries:
        response = api.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    _paid_post.body = response.json()
    return Order.objects.get(number=response.json()["number"]), [q["sql"] for q in queries.captured_queries]


def test_order_create_paid_post_takes_the_order_lock_once(api, auto_allocation, stocked):
    order, statements = _paid_post(api)
    assert order.status == Status.ALLOCATING  # paid, then admitted to the queue in the same transaction
    locks = [s for s in statements if ORDER_ROW_LOCK.search(s)]
    assert len(locks) == 1, locks


def test_order_create_paid_post_writes_one_timeline_event_per_transition(api, auto_allocation, stocked):
    order, _statements = _paid_post(api)
    transitions = list(
        order.events.filter(kind=OrderEvent.Kind.TRANSITION).order_by("pk").values_list("transition", flat=True)
    )
    assert transitions == ["pay", "start_allocation"]
    # one history row when created, one for the paid POST: payment figures and both moves in one save
    created, paid = (h.history_change_reason for h in order.history.order_by("history_id"))
    assert created == "created via api"
    assert paid.startswith("payment recorded: TRADE-1; pay: ") and paid.endswith("; start_allocation")


def test_order_create_paid_post_stays_within_its_sql_budget(api, auto_allocation, stocked):
    _order, statements = _paid_post(api)
    print(f"\n{len(statements)} statements per paid POST")
    for s in statements:
        print("  ", s[:160])
    assert len(statements) <= PAID_POST_MAX_STATEMENTS


def test_order_create_unpaid_post_stays_within_its_sql_budget(api, auto_allocation, stocked):
    order, statements = _post(api, order_payload())
    print(f"\n{len(statements)} statements per unpaid POST")
    for s in statements:
        print("  ", s[:160])
    assert order.status == Status.PLACED
    assert len(statements) <= UNPAID_POST_MAX_STATEMENTS
    assert not [s for s in statements if ORDER_ROW_LOCK.search(s)]  # nothing to move: no row lock


def test_order_transition_pay_effects_hold_and_gift_on_the_same_locked_row(api, auto_allocation, stocked):
    # given: a gift rule and an approval rule on paid orders over 100
    SkuFactory(code="SAMPLE-3", name="面膜试用装", category="赠品")
    over_100 = {"all": [{"fact": "subtotal", "op": "gt", "value": "100"}]}
    for kind, action in (("gift", {"sku": "SAMPLE-3", "quantity": 1}), ("approval", {"group": "运营主管"})):
        rule_save(rule=Rule(kind=kind, name=kind, condition=over_100, action=action, enabled=True), actor=None)
    # when
    order, statements = _paid_post(api)
    # then: held by the rule inside the pay run (not admitted), with one lock, and the answer shows the gift
    assert order.status == Status.ON_HOLD and order.resume_status == Status.PAID
    assert len([s for s in statements if ORDER_ROW_LOCK.search(s)]) == 1
    transitions = list(order.events.filter(kind=OrderEvent.Kind.TRANSITION).values_list("transition", flat=True))
    assert transitions == ["pay", "hold"]
    assert sorted(line["sku"] for line in _paid_post.body["lines"]) == ["MASK-001", "SAMPLE-3"]
