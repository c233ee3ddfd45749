"""Notifications in the admin: 运营主管 configures channels (secrets never shown back) and templates (refused
with a clear error, previewed against a real order); 客服 reads the delivery log (issue 13)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from orders.models import (
    MessageTemplate,
    Notification,
    NotificationChannel,
    NotificationGroupRoute,
    NotificationSettings,
    Source,
)
from orders.services.alerts import alert_raise
from orders.services.notify import alert_notifications_plan
from orders.services.transitions import order_transition
from tests.factories import make_order, user_with_role

SECRET = "SEC-very-secret-value"


def channel_form(**overrides) -> dict:
    data = {
        "name": "钉钉值班群",
        "kind": "dingtalk",
        "url": "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "secret": SECRET,
        "access_key_id": "",
        "access_key_secret": "",
        "sms_adapter": "generic",
        "sms_sign_name": "",
        "rate_per_minute": "18",
        "max_attempts": "6",
        "timeout_seconds": "5",
        "sms_daily_per_number": "40",
        "sms_daily_per_template": "50",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_manager_sets_up_a_signed_robot_and_its_secret_is_never_shown_back(client, yunying):
    client.force_login(yunying)
    response = client.post(reverse("admin:orders_notificationchannel_add"), channel_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    channel = NotificationChannel.objects.get()
    assert channel.secret == SECRET and channel.history.first().history_user == yunying
    page = client.get(reverse("admin:orders_notificationchannel_change", args=[channel.pk])).content.decode()
    assert SECRET not in page and "已设置（不显示）" in page
    # saving again with the secret left empty keeps it
    client.post(reverse("admin:orders_notificationchannel_change", args=[channel.pk]), channel_form(secret=""))
    channel.refresh_from_db()
    assert channel.secret == SECRET


def test_customer_service_reads_the_log_but_cannot_configure(client, kefu):
    channel = NotificationChannel.objects.create(name="企微群", kind="wecom", url="https://qyapi.weixin.qq.com/x")
    alert_raise(kind="other", message="订单 SO9 需要处理", notify_channel=channel)
    alert_notifications_plan()
    client.force_login(kefu)
    log = client.get(reverse("admin:orders_notification_changelist") + "?q=企微群")
    assert log.status_code == 200 and "企微群" in log.content.decode()
    row = Notification.objects.get()
    page = client.get(reverse("admin:orders_notification_change", args=[row.pk]))
    assert page.status_code == 200 and "订单 SO9 需要处理" in page.content.decode()
    # the channel shown as text: its page is not for customer service
    assert reverse("admin:orders_notificationchannel_change", args=[channel.pk]) not in page.content.decode()
    assert client.get(reverse("admin:orders_notificationchannel_add")).status_code == 403
    assert client.get(reverse("admin:orders_notificationchannel_changelist")).status_code == 403
    assert b'value="retry"' not in client.get(reverse("admin:orders_notification_changelist")).content


def test_manager_template_with_missing_placeholder_is_refused_naming_it(client, yunying):
    client.force_login(yunying)
    response = client.post(
        reverse("admin:orders_messagetemplate_add"),
        {"key": "status:paid", "title": "", "body": "您的订单已付款", "sms_template_code": ""},
    )
    assert response.status_code == 200
    assert "缺少必需的占位符 {order_number}" in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_template_page_previews_against_a_named_order(client, yunying):
    order = order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)
    make_order()  # a newer one: the named order is the one shown
    template = MessageTemplate.objects.create(key="status:paid", body="订单 {order_number}：{customer_label}")
    client.force_login(yunying)
    url = reverse("admin:orders_messagetemplate_change", args=[template.pk])
    page = client.get(f"{url}?order={order.number}").content.decode()
    assert f"订单 {order.number}：付款成功" in page


def test_manager_sends_a_dead_row_again(client, yunying):
    channel = NotificationChannel.objects.create(name="企微群", kind="wecom", url="https://qyapi.weixin.qq.com/x")
    alert_raise(kind="other", message="m", notify_channel=channel)
    alert_notifications_plan()
    row = Notification.objects.get()
    row.state = Notification.State.DEAD
    row.save(update_fields=["state"])
    client.force_login(yunying)
    response = client.post(
        reverse("admin:orders_notification_changelist"), {"action": "retry", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("queued", 0)


def test_manager_template_with_an_unknown_placeholder_is_refused_naming_it(client, yunying):
    client.force_login(yunying)
    response = client.post(
        reverse("admin:orders_messagetemplate_add"),
        {"key": "status:paid", "title": "", "body": "订单 {order_number} {buyer}", "sms_template_code": ""},
    )
    assert response.status_code == 200
    assert "未知占位符 {buyer}" in response.content.decode()
    assert not MessageTemplate.objects.exists()


NOTIFY_PAGES = (
    "notification",
    "messagetemplate",
    "notificationchannel",
    "notificationsettings",
    "notificationgrouproute",
)
# What each role may open: 客服 reads the log and the templates; 运营主管 and 管理员 everything.
MAY_OPEN = {
    "客服": {"notification", "messagetemplate"},
    "运营主管": set(NOTIFY_PAGES),
    "管理员": set(NOTIFY_PAGES),
}


def user_of(client):
    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


@pytest.mark.parametrize("role", list(MAY_OPEN))
def test_each_role_opens_the_delivery_log_and_notify_pages_it_may_and_no_others(client, role):
    channel = NotificationChannel.objects.create(name="企微群", kind="wecom", url="https://qyapi.weixin.qq.com/x")
    lead = user_with_role("仓库", "lead")
    prefs = NotificationSettings.objects.create(user=lead, email="lead@example.com")
    route = NotificationGroupRoute.objects.create(group=Group.objects.get(name="仓库"), channel=channel)
    template = MessageTemplate.objects.create(key="alert:*", body="提醒：{message}")
    alert_raise(kind="other", message="订单 SO9 需要处理", notify_channel=channel)
    alert_notifications_plan()
    objects = {
        "notification": Notification.objects.get(),
        "messagetemplate": template,
        "notificationchannel": channel,
        "notificationsettings": prefs,
        "notificationgrouproute": route,
    }
    client.force_login(user_with_role(role, f"who-{role}"))
    for name in NOTIFY_PAGES:
        pages = [
            reverse(f"admin:orders_{name}_changelist"),
            reverse(f"admin:orders_{name}_change", args=[objects[name].pk]),
        ]
        for url in pages:
            status = client.get(url).status_code
            assert status == (200 if name in MAY_OPEN[role] else 403), (role, url, status)
    log = client.get(reverse("admin:orders_notification_changelist")).content.decode()
    assert "企微群" in log
    assert ('value="retry"' in log) == (role != "客服")  # 重新发送 is for who configures the channels
    # the outbox's delivery log (the same read-only admin) opens for whoever may view it
    outbox = client.get(reverse("admin:orders_outboxmessage_changelist")).status_code
    assert outbox == (200 if user_of(client).has_perm("orders.view_outboxmessage") else 403)
    home = client.get(reverse("admin:index"))
    assert home.status_code == 200
    assert (reverse("admin:orders_notificationchannel_changelist") in home.content.decode()) == (role != "客服")
