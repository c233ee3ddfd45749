"""Escalation rules in the overdue sweep: the due orders' facts read set-based vs order by order (issue 13).

Builds --orders open orders (default 200,000; bench/sweep.py's bulk SQL) spread over --customers customers, with
two lines each for the --due-percent (default 1 %) that are 45 minutes past their deadline, and a three-rung
rule ladder (30 min → 运营主管, 40 min → a user, 45 min → a robot repeating every 60). Then it times:

  per order  selectors.order_facts for each due order (what the sweep did before: 3 statements an order)
  batch      selectors.orders_facts for all due orders in batches of 5,000 (2 statements a batch)
  sweep      orders.services.sweeps.overdue_alerts_raise, its escalation-rule part on its own line

and prints seconds, statements and the per-order / batch ratio. Run:

  BENCH_DB_NAME=orderhub_bench_rules BENCH_REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/sweep_rules.py
"""

import contextlib
import time

import common
import sweep

BATCH = 5000


def spread_and_lines(conn, customers: int) -> int:
    """Spread the bench orders over `customers` customers and give each due order two lines; the due count."""
    conn.execute("DELETE FROM orders_customer WHERE phone LIKE '1390%%'")
    sweep.insert_series(
        conn,
        "orders_customer",
        {"name": "'压测客户' || i", "phone": "'1390' || lpad(i::text, 7, '0')", "member_level": "'gold'"},
        1,
        customers,
    )
    conn.execute(
        "UPDATE orders_order o SET customer_id = c.id FROM (SELECT id, row_number() OVER (ORDER BY id) AS k"
        " FROM orders_customer WHERE phone LIKE '1390%%') c"
        " WHERE o.number LIKE 'SW%%' AND c.k = 1 + (o.id %% %(customers)s)",
        {"customers": customers},
    )
    sku = conn.execute("SELECT id FROM warehouse_sku ORDER BY id LIMIT 1").fetchone()[0]
    due = [
        r[0] for r in conn.execute("SELECT id FROM orders_order WHERE number LIKE 'SW%%' AND state_deadline <= now()")
    ]
    for offset in (0, 1):
        sweep.insert_series(
            conn,
            "orders_orderline",
            {
                "order_id": "(%(due)s::bigint[])[i]",
                "sku_id": "%(sku)s",
                "quantity": f"{1 + offset}",
                "unit_price": "99.00",
                "is_gift": "false" if offset == 0 else "(i %% 3 = 0)",
            },
            1,
            len(due),
            {"due": due, "sku": sku},
        )
    conn.execute("ANALYZE orders_order")
    conn.execute("ANALYZE orders_orderline")
    conn.execute("ANALYZE orders_customer")
    return len(due)


def ladder_ensure() -> None:
    from django.contrib.auth import get_user_model

    from orders.models import EscalationLevel, NotificationChannel
    from rules.models import Rule
    from rules.services import rule_save
    from warehouse.models import Sku

    EscalationLevel.objects.all().delete()  # only the rules' part is measured here
    Rule.objects.filter(kind="escalation").delete()
    if not Sku.objects.exists():
        Sku.objects.create(code="BENCH-RULE", name="压测商品")
    get_user_model().objects.get_or_create(username="bench-lead", defaults={"is_staff": True})
    NotificationChannel.objects.get_or_create(
        name="压测机器人", defaults={"kind": NotificationChannel.Kind.WECOM, "url": "http://127.0.0.1:9/robot"}
    )
    condition = {"all": [{"fact": "order_count_30d", "op": "gte", "value": 1}]}
    for level, minutes, target in (
        (1, 30, {"group": "运营主管"}),
        (2, 40, {"user": "bench-lead"}),
        (3, 45, {"channel": "压测机器人", "repeat_minutes": 60}),
    ):
        rule = Rule(kind="escalation", name=f"压测 L{level}", enabled=True, condition=condition)
        rule.action = {"level": level, "after_minutes": minutes, **target}
        rule_save(rule=rule, actor=None)


@contextlib.contextmanager
def counted():
    """Count the statements Django sends meanwhile (a one-element list, filled in as they run)."""
    from django.db import connection

    n = [0]

    def wrapper(execute, sql, params, many, context):
        n[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield n


def main() -> None:
    parser = common.cli(__doc__)
    parser.add_argument("--orders", type=int, default=200_000, help="open orders (default 200,000)")
    parser.add_argument("--customers", type=int, default=20_000, help="customers they belong to (default 20,000)")
    parser.add_argument("--due-percent", type=float, default=1.0, help="share of them that is due (default 1)")
    args = parser.parse_args()
    common.database_ensure()
    common.django_setup()
    sweep.master_ensure()
    ladder_ensure()
    with common.connect() as conn:
        conn.execute(
            "DELETE FROM orders_orderline WHERE order_id IN (SELECT id FROM orders_order WHERE number LIKE 'SW%%')"
        )
        sweep.orders_build(conn, args.orders, args.due_percent, {})  # no levels by percentage here
        due_n = spread_and_lines(conn, args.customers)
    common.log(f"{due_n:,} due orders")

    from django.utils import timezone

    from orders import selectors
    from orders.models import Order
    from orders.services.sweeps import overdue_alerts_raise

    now = timezone.now()
    due = list(
        Order.objects.filter(number__startswith="SW", state_deadline__lte=now).select_related("channel", "customer")
    )
    with counted() as per_q:
        start = time.perf_counter()
        singles = {o.pk: selectors.order_facts(order=o, now=now) for o in due}
        per_s = time.perf_counter() - start
    with counted() as batch_q:
        start = time.perf_counter()
        batched = {}
        for lo in range(0, len(due), BATCH):
            batched.update(selectors.orders_facts(orders=due[lo : lo + BATCH], now=now))
        batch_s = time.perf_counter() - start
    assert batched == singles, "orders_facts and order_facts disagree"
    start = time.perf_counter()
    result = overdue_alerts_raise(now=now)
    sweep_s = time.perf_counter() - start
    start = time.perf_counter()
    again = overdue_alerts_raise(now=now)
    again_s = time.perf_counter() - start
    load_line = common.load_average()
    print()
    print(f"open orders            {args.orders:,} ({due_n:,} due, {args.customers:,} customers)")
    print(f"facts per order        {per_s:.3f} s  ({per_q[0]:,} statements)")
    print(f"facts set-based        {batch_s:.3f} s  ({batch_q[0]:,} statements)")
    print(f"per order / set-based  {per_s / batch_s:.1f} ×  (same facts: yes)")
    print(f"sweep                  {sweep_s:.3f} s  ({result.raised:,} alerts in {result.batches} batches)")
    print("  by statement         " + ", ".join(f"{k} {v:.3f} s" for k, v in result.seconds.items()))
    print(f"second sweep           {again_s:.3f} s  ({again.raised} alerts: nothing fires twice)")
    print(f"({load_line})")


if __name__ == "__main__":
    main()
