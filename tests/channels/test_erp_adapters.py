"""The push formats' signatures, checked against digests computed here independently from the documented strings
(../shared/INTEGRATIONS.md "ERP / WMS push formats"; the providers' own examples do not reproduce), and one
changed Chinese character must change each sign."""

import base64
import hashlib
import hmac
import json
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from orders.erp import jushuitan, qimen, webhook
from orders.models import ErpEndpoint, OutboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 10, 30, 0, tzinfo=SHANGHAI)


def snapshot(receiver_name="张三", **overrides) -> dict:
    order = {
        "number": "OH261201ABCDEFGH",
        "channel": "tmall",
        "channel_kind": "taobao",
        "channel_order_no": "TM1000001",
        "buyer_id": "buyer-1",
        "status": "paid",
        "payment_status": "paid",
        "ordered_at": "2026-12-01T09:00:00+08:00",
        "paid_at": "2026-12-01T09:01:00+08:00",
        "receiver": {
            "name": receiver_name,
            "phone": "13812345678",
            "province": "浙江",
            "city": "杭州",
            "district": "西湖区",
            "detail": "文三路 100 号",
        },
        "subtotal": "198.00",
        "paid_amount": "198.00",
        "promo_code": "",
        "invoice_title": "",
        "tags": [],
        "platform_ship_by": None,
        "promised_ship_by": None,
        "lines": [{"sku": "MASK-001", "name": "补水面膜", "quantity": 2, "unit_price": "99.00", "is_gift": False}],
    }
    order.update(overrides)
    return order


def message(order: dict, change: dict | None = None) -> OutboxMessage:
    payload = {"event": "order_accepted", "order": order}
    if change:
        payload = {"event": "status_changed", "change": change, "order": order}
    return OutboxMessage(idempotency_key=order["number"], sequence=1, kind="order_accepted", payload=payload)


def qimen_endpoint() -> ErpEndpoint:
    return ErpEndpoint(
        kind="qimen",
        url="http://127.0.0.1:1/router/qimen/service",
        app_key="23456789",
        secret="qm-secret-密钥",
        qimen_customer_id="C001",
        qimen_warehouse_code="WH-HZ01",
        qimen_owner_code="OWNER1",
    )


def test_qimen_build_sign_matches_an_independent_md5_over_the_documented_string():
    # when
    request = qimen.build(endpoint=qimen_endpoint(), message=message(snapshot()), now=NOW)
    # then: the query has every documented parameter, and sign = upper(md5(secret + sorted k+v + body + secret))
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    assert query["method"] == "taobao.qimen.deliveryorder.create"
    assert query["timestamp"] == "2026-12-01 10:30:00"
    assert (query["format"], query["v"], query["sign_method"], query["customerId"]) == ("xml", "2.0", "md5", "C001")
    body = request.body.decode("utf-8")
    unsigned = {k: v for k, v in query.items() if k != "sign"}
    text = "qm-secret-密钥" + "".join(k + unsigned[k] for k in sorted(unsigned)) + body + "qm-secret-密钥"
    assert query["sign"] == hashlib.md5(text.encode("utf-8")).hexdigest().upper()  # noqa: S324 - the provider's scheme
    assert "<deliveryOrderCode>OH261201ABCDEFGH</deliveryOrderCode>" in body
    assert "<warehouseCode>WH-HZ01</warehouseCode>" in body
    assert "<sourcePlatformCode>TM</sourcePlatformCode>" in body
    assert "<receiverInfo><name>张三</name><mobile>13812345678</mobile>" in body
    assert "<orderLine><ownerCode>OWNER1</ownerCode><itemCode>MASK-001</itemCode>" in body
    assert "<planQty>2</planQty>" in body


def test_qimen_sign_changes_with_one_chinese_character_of_the_body():
    one = qimen.build(endpoint=qimen_endpoint(), message=message(snapshot("张三")), now=NOW)
    other = qimen.build(endpoint=qimen_endpoint(), message=message(snapshot("张四")), now=NOW)
    signs = [parse_qs(urlsplit(r.url).query)["sign"][0] for r in (one, other)]
    assert signs[0] != signs[1]


def test_qimen_cancel_is_order_cancel_and_other_statuses_are_refused():
    change = {"to_status": "cancelled", "reason": "买家取消", "transition": "cancel", "from_status": "paid"}
    request = qimen.build(endpoint=qimen_endpoint(), message=message(snapshot(), change), now=NOW)
    assert parse_qs(urlsplit(request.url).query)["method"] == ["taobao.qimen.order.cancel"]
    assert "<cancelReason>买家取消</cancelReason>" in request.body.decode()
    try:
        qimen.build(endpoint=qimen_endpoint(), message=message(snapshot(), {**change, "to_status": "paid"}), now=NOW)
    except ValueError as exc:
        assert "paid" in str(exc)
    else:
        raise AssertionError("QiMen has no message for 'paid'")


def test_qimen_read_flags_and_refuses_a_dtd():
    assert qimen.read(200, "<response><flag>success</flag></response>").ok
    failure = qimen.read(200, "<response><flag>failure</flag><code>W1</code><message>无此仓库</message></response>")
    assert not failure.ok and "W1" in failure.error and "无此仓库" in failure.error
    bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><response><flag>&a;</flag></response>'
    assert not qimen.read(200, bomb).ok
    assert not qimen.read(500, "oops").ok


def jst_endpoint() -> ErpEndpoint:
    return ErpEndpoint(
        kind="jushuitan",
        url="http://127.0.0.1:1/open/jushuitan/orders/upload",
        app_key="jst-app",
        secret="jst-secret",
        jst_access_token="token-1",
        jst_shop_id="10086",
    )


def test_jushuitan_build_sign_matches_an_independent_md5_of_sorted_nonempty_params():
    request = jushuitan.build(endpoint=jst_endpoint(), message=message(snapshot()), now=NOW)
    form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    assert form["timestamp"] == str(int(NOW.timestamp()))
    assert (form["charset"], form["version"], form["app_key"], form["access_token"]) == (
        "utf-8",
        "2",
        "jst-app",
        "token-1",
    )
    unsigned = {k: v for k, v in form.items() if k != "sign" and v != ""}
    text = "jst-secret" + "".join(f"{k}{unsigned[k]}" for k in sorted(unsigned))
    assert form["sign"] == hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the provider's scheme
    biz = json.loads(form["biz"])
    assert biz[0]["so_id"] == "OH261201ABCDEFGH" and biz[0]["shop_id"] == 10086
    assert biz[0]["receiver_name"] == "张三" and biz[0]["items"][0]["sku_id"] == "MASK-001"
    assert biz[0]["pay"]["amount"] == "198.00"


def test_jushuitan_sign_changes_with_one_chinese_character_and_answers_are_read():
    one = jushuitan.build(endpoint=jst_endpoint(), message=message(snapshot("张三")), now=NOW)
    other = jushuitan.build(endpoint=jst_endpoint(), message=message(snapshot("张四")), now=NOW)
    signs = [parse_qs(r.body.decode())["sign"][0] for r in (one, other)]
    assert signs[0] != signs[1]
    assert jushuitan.read(200, '{"code": 0, "msg": "ok", "data": {"datas": []}}').ok
    throttled = jushuitan.read(200, '{"code": 199, "msg": "调用太频繁"}')
    assert not throttled.ok and throttled.throttled
    assert jushuitan.read(200, '{"code": 200, "msg": "超出限制"}').throttled
    other_error = jushuitan.read(200, '{"code": 100, "msg": "参数错误"}')
    assert not other_error.ok and not other_error.throttled and "参数错误" in other_error.error


def test_webhook_signature_is_standard_webhooks_v1_over_id_timestamp_body():
    key = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    request = webhook.build(
        url="http://127.0.0.1:1/hook",
        secret=f"whsec_{key}",
        message_id="OH261201ABCDEFGH",
        kind="order_accepted",
        sequence=1,
        payload={"order": snapshot()},
        now=1764556200,
    )
    assert request.headers["webhook-id"] == "OH261201ABCDEFGH"
    assert request.headers["webhook-timestamp"] == "1764556200"
    signed = b"OH261201ABCDEFGH.1764556200." + request.body
    expected = base64.b64encode(hmac.new(b"0123456789abcdef0123456789abcdef", signed, hashlib.sha256).digest())
    assert request.headers["webhook-signature"] == "v1," + expected.decode()
    assert json.loads(request.body)["data"]["order"]["receiver"]["name"] == "张三"
    changed = webhook.build(
        url="http://127.0.0.1:1/hook",
        secret=f"whsec_{key}",
        message_id="OH261201ABCDEFGH",
        kind="order_accepted",
        sequence=1,
        payload={"order": snapshot("张四")},
        now=1764556200,
    )
    assert changed.headers["webhook-signature"] != request.headers["webhook-signature"]


def test_webhook_read_statuses():
    assert webhook.read(204, "").ok
    assert webhook.read(429, "slow down").throttled
    assert webhook.read(400, "bad").refused
    server_error = webhook.read(503, "down")
    assert not server_error.ok and not server_error.refused
