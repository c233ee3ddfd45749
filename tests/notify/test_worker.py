"""The planner's on-commit job reaches a real rqworker on the notifications queue, which sends (issue 13)."""

import sys

import django_rq
import pytest

from orders.models import Alert, Notification, NotificationChannel
from orders.services.alerts import alert_raise
from orders.services.notify import alert_notifications_plan
from tests.channels import processes

pytestmark = pytest.mark.django_db(transaction=True)


def test_planned_rows_are_sent_by_a_real_worker_after_commit(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    queue = django_rq.get_queue("notifications")
    queue.empty()
    channel = NotificationChannel.objects.create(name="企微群", kind="wecom", url=httpserver.url_for("/robot/send"))
    alert_raise(kind=Alert.Kind.OTHER, message="订单 SO1 超时未发货", notify_channel=channel)
    alert_notifications_plan()  # commits, then asks the channel's sender
    assert queue.count == 1
    worker = processes.Process(
        [sys.executable, "manage.py", "rqworker", "notifications", "--burst"],
        env=processes.env_for(),
        name="rqworker-notify",
    ).start()
    try:
        assert worker.wait(timeout=120) == 0, worker.output()
    finally:
        worker.stop()
    row = Notification.objects.get()
    assert row.state == "sent", worker.output()
    assert len(httpserver.log) == 1
