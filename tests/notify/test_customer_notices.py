"""Customer notices: SMS on entering a node with notify_customer on, allocation over 30 minutes, a stalled parcel;
each at most once per order and kind; never to a masked phone; templates checked on save (issue 13)."""

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from werkzeug import Response

from logistics.models import Carrier, Shipment
from orders.models import MessageTemplate, Notification, NotificationChannel, Order, Source
from orders.services.notify import allocation_slow_notices, message_template_preview, parcel_stalled_notice
from orders.services.notify_delivery import notifications_deliver_due
from orders.services.tracking import parcel_stalled, parcels_stall_sweep
from orders.services.transitions import order_transition
from tests.factories import make_order
from tests.logistics.parcels import printed

MASKED = "138****5678"


def gateway(httpserver, **fields) -> NotificationChannel:
    """A generic SMS gateway that sends to real numbers and refuses masked ones, as Aliyun does."""

    def answer(request):
        body = json.loads(request.get_data())
        if "*" in body["phone"]:
            return Response(json.dumps({"code": "isv.MOBILE_NUMBER_ILLEGAL", "message": "非法手机号"}))
        return Response(json.dumps({"code": "OK", "message": "OK"}), content_type="application/json")

    httpserver.expect_request("/sms").respond_with_handler(answer)
    return NotificationChannel.objects.create(
        name="短信", kind="sms", url=httpserver.url_for("/sms"), sms_sign_name="好物商城", **fields
    )


def pay(order: Order) -> Order:
    return order_transition(order=order, transition="pay", actor=None, source=Source.API)


def sent_to(httpserver) -> list[dict]:
    return [json.loads(request.get_data()) for request, _response in httpserver.log]


def test_entering_a_notify_customer_node_texts_the_receiver_once(httpserver):
    gateway(httpserver)
    order = pay(make_order())  # 付款成功 has notify_customer on by default
    # when: the order leaves paid and comes back (hold, release), and the sender runs
    order = order_transition(order=order, transition="hold", actor=None, source=Source.ADMIN, reason="复核")
    order_transition(order=order, transition="release", actor=None, source=Source.ADMIN, reason="复核完")
    notifications_deliver_due()
    # then: one SMS to the receiver, naming the order
    (sms,) = sent_to(httpserver)
    assert sms["phone"] == "13812345678" and order.number in sms["text"] and sms["sign_name"] == "好物商城"
    row = Notification.objects.get(order=order)
    assert (row.notice_kind, row.state) == ("status:paid", "sent")


def test_a_masked_phone_is_never_sent_an_sms(httpserver):
    gateway(httpserver)
    payload_phone = {"receiver": "张三", "phone": MASKED, "province": "浙江", "city": "杭州", "detail": "文三路 1 号"}
    order = pay(make_order(shipping_address=payload_phone))
    notifications_deliver_due()
    row = Notification.objects.get(order=order)
    assert row.state == "skipped" and "脱敏" in row.errmsg and row.recipient == MASKED
    assert httpserver.log == []


def test_aliyun_style_gateway_gets_a_signed_sendsms(httpserver):
    secret = "ak-secret"

    def aliyun(request):
        form = dict(urllib.parse.parse_qsl(request.get_data(as_text=True)))
        signature = form.pop("Signature")

        def enc(v):
            return urllib.parse.quote(v, safe="~")

        canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(form.items()))
        to_sign = f"POST&%2F&{enc(canonical)}"
        expected = base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
        code = "OK" if signature == expected and form["Action"] == "SendSms" else "SignatureDoesNotMatch"
        return Response(json.dumps({"Code": code, "Message": code, "RequestId": "r1"}))

    httpserver.expect_request("/aliyun").respond_with_handler(aliyun)
    NotificationChannel.objects.create(
        name="阿里云短信",
        kind="sms",
        sms_adapter="aliyun",
        url=httpserver.url_for("/aliyun"),
        access_key_id="LTAI-test",
        access_key_secret=secret,
        sms_sign_name="好物商城",
    )
    MessageTemplate.objects.create(
        key="status:paid", body="订单 {order_number} {customer_label}", sms_template_code="SMS_1"
    )
    order = pay(make_order())
    notifications_deliver_due()
    row = Notification.objects.get(order=order)
    assert (row.state, row.errcode) == ("sent", "OK")
    form = dict(urllib.parse.parse_qsl(httpserver.log[0][0].get_data(as_text=True)))
    assert form["TemplateCode"] == "SMS_1" and json.loads(form["TemplateParam"])["order_number"] == order.number


def test_a_gateway_refusal_is_dead_at_once(httpserver):
    httpserver.expect_request("/sms").respond_with_json({"code": "isv.BUSINESS_LIMIT_CONTROL_X", "message": "x"})
    NotificationChannel.objects.create(name="短信", kind="sms", url=httpserver.url_for("/sms"))
    order = pay(make_order())
    notifications_deliver_due()
    assert Notification.objects.get(order=order).state == "failed"  # flow control: retried later
    httpserver.clear()
    httpserver.expect_request("/sms").respond_with_json({"code": "isv.TEMPLATE_MISSING_PARAMETERS", "message": "x"})
    row = Notification.objects.get(order=order)
    row.next_attempt_at = timezone.now() - timedelta(seconds=1)
    row.save(update_fields=["next_attempt_at"])
    notifications_deliver_due()
    assert Notification.objects.get(order=order).state == "dead"


def test_allocation_over_30_minutes_is_told_once(httpserver):
    gateway(httpserver)
    order = pay(make_order())
    order = order_transition(order=order, transition="start_allocation", actor=None, source=Source.ADMIN)
    fresh = order_transition(order=pay(make_order()), transition="start_allocation", actor=None, source=Source.ADMIN)
    later = timezone.now() + timedelta(minutes=31)  # the clock moved on
    # when: the sweep runs, twice
    assert allocation_slow_notices(now=timezone.now()) == 0  # not 30 minutes yet
    assert allocation_slow_notices(now=later) == 2
    assert allocation_slow_notices(now=later) == 0
    notifications_deliver_due(now=later)
    texts = [sms["text"] for sms in sent_to(httpserver)]
    assert sum("正在智能分仓中" in text for text in texts) == 2
    assert Notification.objects.filter(notice_kind="allocation_slow").count() == 2
    assert {fresh.pk, order.pk} == set(
        Notification.objects.filter(notice_kind="allocation_slow").values_list("order_id", flat=True)
    )


def test_a_stalled_parcel_notice_once_per_order(httpserver):
    gateway(httpserver)
    order = pay(make_order())
    parcel_stalled_notice(order=order)
    parcel_stalled_notice(order=order)
    assert Notification.objects.filter(order=order, notice_kind="parcel_stalled").count() == 1


@pytest.mark.parametrize(
    ("key", "body", "says"),
    [
        ("status:paid", "您的订单已付款 {status}", "{order_number}"),
        ("alert:*", "订单 {order_number}", "{message}"),
        ("status:paid", "订单 {order_number} {buyer}", "{buyer}"),
        ("notice:allocation_slow", "订单 {order_number", "花括号"),
    ],
)
def test_a_template_with_a_missing_or_unknown_placeholder_is_refused_on_save(key, body, says):
    with pytest.raises(ValidationError) as refused:
        MessageTemplate.objects.create(key=key, body=body)
    assert says in str(refused.value)
    assert not MessageTemplate.objects.exists()


def test_a_template_is_used_and_previewed_against_a_real_order(httpserver):
    gateway(httpserver)
    template = MessageTemplate.objects.create(key="status:paid", body="【好物】订单 {order_number} {customer_label}")
    order = pay(make_order())
    assert message_template_preview(key=template.key, body=template.body, order=order) == (
        f"【好物】订单 {order.number} 付款成功"
    )
    notifications_deliver_due()
    assert sent_to(httpserver)[0]["text"] == f"【好物】订单 {order.number} 付款成功"


def test_a_parcel_that_stalls_tells_the_customer_once_even_when_it_stalls_again(httpserver, stocked):
    gateway(httpserver)
    carrier = Carrier.objects.create(code="deppon", name="德邦", adapter="generic", callback_secret="s3cret")
    order = printed(carrier, number="DPK0001")
    Shipment.objects.update(created_at=timezone.now() - timedelta(hours=37))
    # when: the stall sweep flags it, and later the parcel stalls once more
    assert parcels_stall_sweep() == 1
    parcel_stalled(shipment=Shipment.objects.get(), why="又一次停滞")
    notifications_deliver_due()
    # then: one SMS to the receiver about the parcel (besides the order's 付款成功 notice)
    (sms,) = [sms for sms in sent_to(httpserver) if "物流信息暂未更新" in sms["text"]]
    assert sms["phone"] == "13812345678" and order.number in sms["text"]
    assert Notification.objects.get(order=order, notice_kind="parcel_stalled").state == "sent"
