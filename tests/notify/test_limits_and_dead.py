"""SMS daily limits per number, dead notifications raising one alert per channel and hour, and the promises of
issue 13 checked against real local robots, an SMS gateway and Django's mail."""

from datetime import timedelta

import django_rq
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders.models import Alert, Notification, NotificationChannel, NotificationSettings
from orders.services.alerts import alert_raise
from orders.services.notify import alert_notifications_plan, parcel_stalled_notice
from orders.services.notify_delivery import channel_deliver, notifications_deliver_due, sms_sent_today
from tests.factories import make_order, user_with_role
from tests.notify.peers import Robot, SmsGateway

NUMBER, OTHER_NUMBER, MASKED = "13812345678", "13987654321", "138****5678"


def order_to(phone: str):
    address = {"receiver": "张三", "phone": phone, "province": "浙江", "city": "杭州", "detail": "文三路 1 号"}
    return make_order(shipping_address=address)


def sms_channel(gateway: SmsGateway, **fields) -> NotificationChannel:
    return NotificationChannel.objects.create(
        name="短信", kind="sms", url=gateway.url, sms_sign_name="好物商城", rate_per_minute=200, **fields
    )


def stalled_notices(phone: str, count: int) -> list:
    orders = [order_to(phone) for _n in range(count)]
    for order in orders:
        parcel_stalled_notice(order=order)
    return orders


def test_the_41st_sms_to_one_number_in_a_day_is_skipped_another_number_goes_and_the_next_day_it_goes_again(
    httpserver,
):
    gateway = SmsGateway(httpserver)
    sms_channel(gateway)
    # given: 40 notices sent to one number today
    stalled_notices(NUMBER, 40)
    assert notifications_deliver_due()["sent"] == 40
    # when: a 41st to that number and one to another number
    (over,) = stalled_notices(NUMBER, 1)
    (other,) = stalled_notices(OTHER_NUMBER, 1)
    totals = notifications_deliver_due()
    # then: the 41st is not sent and its row says why; the other number still goes
    assert (totals["sent"], totals["skipped"]) == (1, 1)
    row = Notification.objects.get(order=over)
    assert (row.state, row.errcode) == ("skipped", "day_limit") and "每日短信上限（40 条）" in row.errmsg
    assert Notification.objects.get(order=other).state == "sent"
    assert gateway.phones.count(NUMBER) == 40 and gateway.phones.count(OTHER_NUMBER) == 1
    # when: the next day (moved clock) a new notice goes to the first number
    (tomorrow,) = stalled_notices(NUMBER, 1)
    notifications_deliver_due(now=timezone.now() + timedelta(days=1))
    assert Notification.objects.get(order=tomorrow).state == "sent"
    assert gateway.phones.count(NUMBER) == 41


def test_a_number_past_its_per_template_limit_still_gets_another_template(httpserver):
    gateway = SmsGateway(httpserver)
    sms_channel(gateway, sms_daily_per_template=2)
    stalled = stalled_notices(NUMBER, 3)
    notifications_deliver_due()
    states = [Notification.objects.get(order=order).state for order in stalled]
    assert states == ["sent", "sent", "skipped"]
    assert "同一模板" in Notification.objects.get(order=stalled[2]).errmsg
    # another template (the allocation notice's) to the same number goes
    notice = Notification.objects.create(
        channel=NotificationChannel.objects.get(),
        recipient=NUMBER,
        order=stalled[0],
        notice_kind="allocation_slow",
        template_key="notice:allocation_slow",
        body="您的订单正在智能分仓中",
        next_attempt_at=timezone.now(),
        dedupe_key="notice:test:allocation_slow",
    )
    notifications_deliver_due()
    notice.refresh_from_db()
    assert notice.state == "sent" and gateway.phones.count(NUMBER) == 3


def test_the_daily_limits_are_counted_in_one_query_per_batch_not_one_per_row(httpserver):
    gateway = SmsGateway(httpserver)
    channel = sms_channel(gateway)

    def queries_to_send(count: int, phone: str) -> int:
        stalled_notices(phone, count)
        with CaptureQueriesContext(connection) as captured:
            assert channel_deliver(channel_id=channel.pk).sent == count
        return len(captured)

    assert queries_to_send(3, NUMBER) == queries_to_send(12, OTHER_NUMBER)


def test_a_masked_number_in_a_persons_settings_is_never_sent_an_sms(httpserver):
    gateway = SmsGateway(httpserver)
    channel = sms_channel(gateway)
    user = user_with_role("运营主管", "masked")
    prefs = NotificationSettings.objects.create(user=user, mobile=MASKED)  # e.g. copied from a platform's order
    prefs.channels.add(channel)
    alert_raise(kind=Alert.Kind.OTHER, message="订单 SO1 需要处理", owner_user=user)
    alert_notifications_plan()
    notifications_deliver_due()
    row = Notification.objects.get()
    assert row.state == "skipped" and "脱敏" in row.errmsg
    assert gateway.phones == []


def robot_channel(robot: Robot, **fields) -> NotificationChannel:
    return NotificationChannel.objects.create(name="钉钉值班群", kind="dingtalk", url=robot.url, **fields)


def robot_alert(channel: NotificationChannel, text: str) -> Alert:
    return alert_raise(kind=Alert.Kind.OTHER, message=text, notify_channel=channel, dedupe_key=text)


def dead_alerts() -> list[Alert]:
    return list(Alert.objects.filter(kind=Alert.Kind.NOTIFICATION_DEAD).order_by("pk"))


def test_dead_notifications_raise_one_alert_per_channel_and_hour_which_resolves_when_the_channel_delivers(
    httpserver, client, yunying
):
    robot = Robot(httpserver, errcode=310000)  # HTTP 200, keyword missing: a refusal
    channel = robot_channel(robot, max_attempts=1)
    robot_alert(channel, "订单 SO1 超时未发货")
    robot_alert(channel, "订单 SO2 超时未发货")
    alert_notifications_plan()
    assert notifications_deliver_due()["dead"] == 2
    # then: one alert for the channel, not one per row, naming the channel, the recipient and the errcode
    (alert,) = dead_alerts()
    assert alert.is_open and alert.owner_group.name == "运营主管" and alert.severity == "critical"
    assert "钉钉值班群" in alert.message and "310000" in alert.message and "2" in alert.message
    # a third dies in the same hour: still that one alert
    robot_alert(channel, "订单 SO3 超时未发货")
    alert_notifications_plan()
    notifications_deliver_due()
    assert dead_alerts() == [alert]
    # an hour later (moved clock) another dies: a new alert for that hour
    robot_alert(channel, "订单 SO4 超时未发货")
    alert_notifications_plan()
    notifications_deliver_due(now=timezone.now() + timedelta(hours=1))
    assert len(dead_alerts()) == 2
    # when: the robot's keyword is fixed and the manager sends the dead rows again from the delivery log
    robot.answer(0)
    client.force_login(yunying)
    dead = list(Notification.objects.filter(state="dead").values_list("pk", flat=True))
    response = client.post(
        reverse("admin:orders_notification_changelist"), {"action": "retry", "_selected_action": dead}
    )
    assert response.status_code == 302
    notifications_deliver_due()
    # then: they go, and the channel's alerts resolve themselves
    assert set(Notification.objects.filter(alert__kind="other").values_list("state", flat=True)) == {"sent"}
    assert all(a.resolved_at is not None for a in dead_alerts())


def test_a_delivering_channel_does_not_resolve_another_channels_dead_alert(httpserver):
    refusing = robot_channel(Robot(httpserver, errcode=310000), max_attempts=1)
    robot_alert(refusing, "订单 SO1 超时未发货")
    alert_notifications_plan()
    notifications_deliver_due()
    email = NotificationChannel.objects.create(name="邮件", kind="email")
    user = user_with_role("运营主管", "mailme")
    NotificationSettings.objects.create(user=user, email="boss@example.com").channels.add(email)
    alert_raise(kind=Alert.Kind.OTHER, message="邮件提醒", owner_user=user)
    alert_notifications_plan()
    notifications_deliver_due()
    assert Notification.objects.get(channel=email, alert__message="邮件提醒").state == "sent"
    assert [a.is_open for a in dead_alerts()] == [True]


def test_a_robot_stays_within_18_a_minute_the_burst_folding_into_a_digest(httpserver):
    robot = Robot(httpserver)
    channel = robot_channel(robot)  # the default rate: 18 a minute
    for n in range(17):
        robot_alert(channel, f"订单 SO{n} 超时未发货")
    alert_notifications_plan()
    assert notifications_deliver_due()["sent"] == 17
    # when: a burst of 10 more in the same minute, then 5 more
    for n in range(17, 27):
        robot_alert(channel, f"订单 SO{n} 超时未发货")
    alert_notifications_plan()
    assert notifications_deliver_due()["folded"] == 10
    for n in range(27, 32):
        robot_alert(channel, f"订单 SO{n} 超时未发货")
    alert_notifications_plan()
    notifications_deliver_due()
    # then: 18 messages this minute, the last one listing the burst; the rest wait for the next minute
    assert len(robot.messages) == 18
    assert all(f"SO{n} " in robot.messages[-1]["markdown"]["text"] for n in range(17, 27))
    assert Notification.objects.filter(state="queued", alert__isnull=False).count() == 5
    later = timezone.now() + timedelta(minutes=2)
    notifications_deliver_due(now=later)
    assert len(robot.messages) == 23  # a minute later the window is free again: the five go one by one


def test_email_goes_through_django_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    email = NotificationChannel.objects.create(name="邮件", kind="email")
    user = user_with_role("运营主管", "boss")
    NotificationSettings.objects.create(user=user, email="boss@example.com").channels.add(email)
    alert_raise(kind=Alert.Kind.OTHER, message="订单 SO7 超时未发货", owner_user=user)
    alert_notifications_plan()
    assert notifications_deliver_due()["sent"] == 1
    (message,) = mail.outbox
    assert message.to == ["boss@example.com"] and "订单 SO7 超时未发货" in message.body


def test_a_wecom_200_with_an_errcode_is_a_failure_retried_with_doubling_backoff(httpserver):
    robot = Robot(httpserver, errcode=93000)  # HTTP 200 {"errcode": 93000}: the webhook is invalid
    channel = NotificationChannel.objects.create(name="企微群", kind="wecom", url=robot.url)
    robot_alert(channel, "订单 SO1 超时未发货")
    alert_notifications_plan()
    assert notifications_deliver_due()["failed"] == 1
    row = Notification.objects.get()
    assert (row.state, row.errcode, row.attempts) == ("failed", "93000", 1)
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=20)  # 30 s ± a quarter
    notifications_deliver_due(now=row.next_attempt_at)
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("failed", 2) and len(robot.messages) == 2
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=40)  # 60 s ± a quarter
    assert not dead_alerts()  # not dead yet


def test_quiet_hours_hold_a_warning_until_they_end_while_a_critical_goes_at_once(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    email = NotificationChannel.objects.create(name="邮件", kind="email")
    user = user_with_role("运营主管", "night")
    prefs = NotificationSettings.objects.create(
        user=user, email="night@example.com", quiet_from="22:00", quiet_until="08:00"
    )
    prefs.channels.add(email)
    night = timezone.make_aware(timezone.datetime(2026, 3, 2, 23, 30))
    alert_raise(kind=Alert.Kind.OTHER, message="普通提醒", owner_user=user, severity="warning")
    alert_raise(kind=Alert.Kind.OTHER, message="严重提醒", owner_user=user, severity="critical", dedupe_key="c")
    alert_notifications_plan(now=night)
    notifications_deliver_due(now=night)
    assert [m.body for m in mail.outbox] == ["严重提醒"]
    notifications_deliver_due(now=night + timedelta(hours=8))  # 07:30: still quiet
    assert len(mail.outbox) == 1
    notifications_deliver_due(now=night + timedelta(hours=8, minutes=30))  # 08:00
    assert [m.body for m in mail.outbox] == ["严重提醒", "普通提醒"]


def test_the_daily_count_reads_the_sms_day_index():
    channel = NotificationChannel.objects.create(name="短信", kind="sms", url="http://127.0.0.1:9/sms")
    query = sms_sent_today(channel, {NUMBER, OTHER_NUMBER}, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table: ask which index the plan can use
        plan = query.explain()
    assert "notification_sms_day_idx" in plan


def test_a_failed_row_asks_its_sender_again_on_the_notifications_queue(httpserver, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("notifications")
    queue.empty()
    for job_id in queue.scheduled_job_registry.get_job_ids():
        queue.scheduled_job_registry.remove(job_id, delete_job=True)
    channel = robot_channel(Robot(httpserver, errcode=310000))  # refused: retried with backoff
    robot_alert(channel, "订单 SO1 超时未发货")
    alert_notifications_plan()
    with django_capture_on_commit_callbacks(execute=True):
        notifications_deliver_due()
    assert Notification.objects.get().state == "failed"
    (job_id,) = queue.scheduled_job_registry.get_job_ids()
    assert queue.fetch_job(job_id).kwargs == {"channel_id": channel.pk}
