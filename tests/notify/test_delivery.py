"""Notifications reach people through real local robots, an SMS gateway and an SMTP server (issue 13)."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from werkzeug import Response

from orders.jobs import sweep_notifications
from orders.models import (
    Alert,
    Notification,
    NotificationChannel,
    NotificationGroupRoute,
    NotificationSettings,
    NotificationSweep,
)
from orders.services.alerts import alert_raise
from orders.services.notify import alert_notifications_plan
from orders.services.notify_delivery import notifications_deliver_due, notifications_retry
from tests.factories import user_with_role
from tests.notify.peers import SMTPServer

OK = {"errcode": 0, "errmsg": "ok"}


def robot(httpserver, kind=NotificationChannel.Kind.WECOM, **fields) -> NotificationChannel:
    return NotificationChannel.objects.create(
        name=f"{kind} robot {NotificationChannel.objects.count()}",
        kind=kind,
        url=httpserver.url_for("/robot/send?access_token=t0k"),
        **fields,
    )


def raise_alert(channel=None, text="订单 SO1 超时未发货", **kwargs) -> Alert:
    return alert_raise(kind=Alert.Kind.OTHER, message=text, notify_channel=channel, **kwargs)


def due_now() -> None:
    """The retries' wait has passed (moved clock: the rows' next attempt is brought forward)."""
    for row in Notification.objects.filter(state=Notification.State.FAILED):
        row.next_attempt_at = timezone.now() - timedelta(seconds=1)
        row.save(update_fields=["next_attempt_at"])


def posted(httpserver) -> list[dict]:
    return [json.loads(request.get_data()) for request, _response in httpserver.log]


def test_wecom_robot_gets_the_alert_once_per_dedupe_key(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    channel = robot(httpserver)
    raise_alert(channel)
    # when: the sweep plans and sends, and runs again
    assert alert_notifications_plan() == 1
    assert notifications_deliver_due()["sent"] == 1
    alert_notifications_plan()
    notifications_deliver_due()
    # then: one markdown message, one log row, sent
    (body,) = posted(httpserver)
    assert body["msgtype"] == "markdown" and "订单 SO1 超时未发货" in body["markdown"]["content"]
    row = Notification.objects.get()
    assert (row.state, row.errcode, row.attempts, row.sent_at is not None) == ("sent", "0", 1, True)


def test_dingtalk_robot_is_signed_as_dingtalk_documents(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    secret = "SECtest-secret"
    raise_alert(robot(httpserver, NotificationChannel.Kind.DINGTALK, secret=secret), severity="critical")
    alert_notifications_plan()
    notifications_deliver_due()
    (request, _response) = httpserver.log[0]
    timestamp, sign = request.args["timestamp"], request.args["sign"]
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert sign == expected and request.args["access_token"] == "t0k"
    assert "超时未发货" in json.loads(request.get_data())["markdown"]["text"]


def test_http_200_with_errcode_310000_is_a_failure_retried_then_dead_then_retried_by_hand(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json({"errcode": 310000, "errmsg": "keywords not in content"})
    alert = raise_alert(robot(httpserver, NotificationChannel.Kind.DINGTALK, max_attempts=2))
    alert_notifications_plan()
    notifications_deliver_due()
    row = Notification.objects.get()
    assert (row.state, row.errcode, row.attempts) == ("failed", "310000", 1)
    assert row.next_attempt_at > timezone.now()  # backoff
    notifications_deliver_due()  # not due yet: nothing sent
    assert len(httpserver.log) == 1
    due_now()
    notifications_deliver_due()
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("dead", 2)
    assert Alert.objects.get(pk=alert.pk).is_open  # the alert row stays
    # when: the robot's keyword is fixed and the dead row is retried (the admin's 重新发送)
    httpserver.clear()
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    assert notifications_retry(notifications=Notification.objects.all(), actor=None) == 1
    notifications_deliver_due()
    row.refresh_from_db()
    assert row.state == "sent" and len(httpserver.log) == 1


@pytest.mark.parametrize(("kind", "errcode"), [("dingtalk", 130101), ("wecom", 45009)])
def test_a_rate_limited_robot_waits_ten_minutes(httpserver, kind, errcode):
    httpserver.expect_request("/robot/send").respond_with_json({"errcode": errcode, "errmsg": "send too fast"})
    channel = robot(httpserver, kind)
    raise_alert(channel, "第一条")
    raise_alert(channel, "第二条", dedupe_key="second")
    alert_notifications_plan()
    notifications_deliver_due()
    channel.refresh_from_db()
    assert channel.blocked_until > timezone.now() + timedelta(minutes=9)
    assert len(httpserver.log) == 1  # the second is not tried into the limit
    assert set(Notification.objects.values_list("state", flat=True)) == {"failed", "queued"}
    due_now()
    notifications_deliver_due()
    assert len(httpserver.log) == 1  # still blocked


def test_a_robot_that_times_out_keeps_the_message_for_a_retry(httpserver):
    def late(request):
        time.sleep(2)
        return Response(json.dumps(OK), content_type="application/json")

    httpserver.expect_request("/robot/send").respond_with_handler(late)
    raise_alert(robot(httpserver, timeout_seconds=1))
    alert_notifications_plan()
    notifications_deliver_due()
    row = Notification.objects.get()
    assert (row.state, row.errcode, row.attempts) == ("failed", "unreachable", 1)
    for _wait in range(50):  # the late answer is logged when its handler returns: not into the next test's log
        if httpserver.log:
            break
        time.sleep(0.1)


def test_a_burst_folds_into_one_digest_within_the_robots_rate(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    channel = robot(httpserver, rate_per_minute=3)
    for n in range(5):
        raise_alert(channel, f"订单 SO{n} 超时", dedupe_key=f"burst-{n}")
    alert_notifications_plan()
    totals = notifications_deliver_due()
    # then: one message listing the five, each row marked sent in that digest
    (body,) = posted(httpserver)
    assert all(f"订单 SO{n} 超时" in body["markdown"]["content"] for n in range(5))
    digest = Notification.objects.get(is_digest=True)
    folded = Notification.objects.filter(is_digest=False)
    assert totals["folded"] == 5 and {(r.state, r.digest_id) for r in folded} == {("sent", digest.pk)}


def test_a_robot_at_its_rate_sends_the_rest_after_the_minute(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    channel = robot(httpserver, rate_per_minute=2)
    for n in range(2):
        raise_alert(channel, f"A{n}", dedupe_key=f"a-{n}")
    alert_notifications_plan()
    notifications_deliver_due()
    raise_alert(channel, "A2", dedupe_key="a-2")
    alert_notifications_plan()
    notifications_deliver_due()
    assert len(httpserver.log) == 2  # the third waits: two went within the minute
    assert Notification.objects.get(alert__message="A2").state == "queued"


def test_group_route_sends_to_the_group_robot_and_members_by_email_through_real_smtp(httpserver, settings):
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    group = Group.objects.get(name="仓库")
    channel = robot(httpserver)
    email = NotificationChannel.objects.create(name="邮件", kind="email")
    NotificationGroupRoute.objects.create(group=group, channel=channel, notify_members=True)
    member = user_with_role("仓库", "lead")
    prefs = NotificationSettings.objects.create(user=member, email="lead@example.com")
    prefs.channels.add(email)
    with SMTPServer() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        raise_alert(owner_group=group)
        alert_notifications_plan()
        notifications_deliver_due()
    assert len(posted(httpserver)) == 1
    (mail,) = smtp.mails
    assert mail.recipients == ["lead@example.com"]
    assert Notification.objects.get(channel=email).state == "sent"


def test_quiet_hours_defer_a_warning_but_not_a_critical_alert(settings):
    email = NotificationChannel.objects.create(name="邮件", kind="email")
    user = user_with_role("运营主管", "boss")
    prefs = NotificationSettings.objects.create(
        user=user, email="boss@example.com", quiet_from="22:00", quiet_until="08:00"
    )
    prefs.channels.add(email)
    night = timezone.make_aware(timezone.datetime(2026, 3, 2, 23, 30))  # Asia/Shanghai
    raise_alert(text="普通提醒", owner_user=user, severity="warning")
    raise_alert(text="严重提醒", owner_user=user, severity="critical", dedupe_key="crit")
    alert_notifications_plan(now=night)
    warning = Notification.objects.get(alert__message="普通提醒")
    critical = Notification.objects.get(alert__message="严重提醒")
    assert timezone.localtime(warning.next_attempt_at).isoformat() == "2026-03-03T08:00:00+08:00"
    assert critical.next_attempt_at == night


def test_a_severity_switched_off_is_not_sent():
    email = NotificationChannel.objects.create(name="邮件", kind="email")
    user = user_with_role("运营主管", "boss")
    prefs = NotificationSettings.objects.create(user=user, email="boss@example.com", notify_warning=False)
    prefs.channels.add(email)
    raise_alert(owner_user=user, severity="warning")
    alert_notifications_plan()
    assert not Notification.objects.exists()


def test_a_killed_sweep_run_again_plans_each_message_once(httpserver):
    channel = robot(httpserver)
    first = raise_alert(channel, "第一条", dedupe_key="k1")
    alert_notifications_plan()
    # given: a sweep killed after inserting its rows but before its mark was written (the mark is behind)
    NotificationSweep.objects.filter(pk=1).delete()
    raise_alert(channel, "第二条", dedupe_key="k2")
    # when: the next sweep runs
    alert_notifications_plan()
    # then: each alert has one row, none twice
    assert sorted(Notification.objects.values_list("alert__message", flat=True)) == ["第一条", "第二条"]
    assert NotificationSweep.objects.get().last_alert_id > first.pk


def test_a_burst_longer_than_one_robot_message_goes_in_several_digests_within_the_rate(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    channel = robot(httpserver, rate_per_minute=2)
    long_text = "超时未发货，请仓库主管尽快处理。" * 12  # ~ 580 bytes a line
    for n in range(30):
        raise_alert(channel, f"订单 SO{n} {long_text}", dedupe_key=f"long-{n}")
    alert_notifications_plan()
    notifications_deliver_due()
    bodies = posted(httpserver)
    assert len(bodies) == 2  # the robot's rate: two messages this minute
    assert all(len(body["markdown"]["content"].encode()) <= 4096 for body in bodies)
    folded = Notification.objects.filter(is_digest=False, state="sent")
    waiting = Notification.objects.filter(is_digest=False, state="queued")
    assert folded.count() + waiting.count() == 30 and waiting.exists() and folded.exists()
    assert set(folded.values_list("digest__is_digest", flat=True)) == {True}


def test_a_person_without_an_address_for_their_channel_is_logged_skipped():
    sms = NotificationChannel.objects.create(name="短信", kind="sms", url="http://127.0.0.1:9/sms")
    user = user_with_role("运营主管", "nomobile")
    prefs = NotificationSettings.objects.create(user=user)  # no mobile
    prefs.channels.add(sms)
    raise_alert(owner_user=user)
    alert_notifications_plan()
    row = Notification.objects.get()
    assert row.state == "skipped" and "手机号" in row.errmsg
    assert notifications_deliver_due()["sent"] == 0


def test_the_minute_sweep_job_plans_and_sends(httpserver):
    httpserver.expect_request("/robot/send").respond_with_json(OK)
    raise_alert(robot(httpserver))
    totals = sweep_notifications()
    assert (totals["planned"], totals["sent"]) == (1, 1)
    assert sweep_notifications()["sent"] == 0
