from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from orders.jobs import sweep_overdue_orders
from orders.models import Alert, Order
from orders.services.alerts import alert_acknowledge, alert_raise
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_alert_raise_with_key_is_raised_once_and_on_the_timeline():
    order = make_order()
    first = alert_raise(kind=Alert.Kind.OTHER, message="请核对地址", order=order, dedupe_key="addr:1")
    again = alert_raise(kind=Alert.Kind.OTHER, message="请核对地址", order=order, dedupe_key="addr:1")
    assert first.pk == again.pk
    assert Alert.objects.count() == 1
    assert order.events.filter(kind="alert").count() == 1


def test_alert_acknowledge_records_who_and_allows_a_new_alert(kefu):
    alert = alert_raise(kind=Alert.Kind.OTHER, message="x", dedupe_key="k")
    alert = alert_acknowledge(alert=alert, actor=kefu)
    assert alert.acknowledged_by == kefu and alert.acknowledged_at is not None
    assert alert.history.first().acknowledged_by_id == kefu.pk
    assert alert_raise(kind=Alert.Kind.OTHER, message="x", dedupe_key="k").pk != alert.pk


def test_overdue_sweep_job_runs_on_a_real_rq_worker_and_alerts_the_node_owner(django_capture_on_commit_callbacks):
    # given: an order whose 'placed' deadline passed
    overdue = make_order()
    on_time = make_order()
    Order.objects.filter(pk=overdue.pk).update(state_deadline=timezone.now() - timedelta(minutes=1))
    queue = django_rq.get_queue("default")
    queue.empty()
    # when: enqueued like the scheduler does, and a worker drains the queue (real Redis)
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        queue.enqueue(sweep_overdue_orders)
    [job] = queue.get_jobs()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    # then
    job.refresh()
    assert job.get_status() == "finished", job.exc_info
    assert job.return_value() == 1
    alert = Alert.objects.get()
    assert alert.order_id == overdue.pk and alert.kind == Alert.Kind.NODE_OVERDUE
    assert alert.owner_group.name == "客服"
    assert not Alert.objects.filter(order=on_time).exists()
    # and a second sweep raises nothing new
    assert sweep_overdue_orders() == 0


def test_overdue_sweep_walks_the_escalation_chain_and_escalation_rules_once():
    from rules.models import Rule
    from rules.services import rule_save

    # given: a placed order 45 minutes past its deadline; the 'placed' node escalates to 运营主管 after 30 min,
    # and an escalation rule notifies 管理员 after 40 min for VIP-free orders over 100 yuan
    rule = rule_save(
        rule=Rule(
            kind="escalation",
            name="大单超时通知管理员",
            enabled=True,
            condition={"all": [{"fact": "paid_amount", "op": "gt", "value": "100"}]},
            action={"group": "管理员", "after_minutes": 40},
        ),
        actor=None,
    )
    order = make_order()
    Order.objects.filter(pk=order.pk).update(state_deadline=timezone.now() - timedelta(minutes=45))
    # when
    raised = sweep_overdue_orders()
    # then
    by_group = sorted((a.owner_group.name, a.severity) for a in Alert.objects.filter(order=order))
    assert raised == 3
    assert by_group == [("客服", "warning"), ("管理员", "critical"), ("运营主管", "critical")]
    assert sweep_overdue_orders() == 0
    rule.refresh_from_db()
    assert rule.hit_count == 1  # counted when it escalated, not on every sweep
