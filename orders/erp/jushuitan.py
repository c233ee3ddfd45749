"""聚水潭 Jushuitan open API, order upload (../shared/INTEGRATIONS.md "ERP / WMS push formats"): a form POST of
app_key, access_token, timestamp, charset=utf-8, version=2 and biz (JSON), signed with
sign = lower(MD5(app_secret + sorted "keyvalue" of the non-empty parameters)). Each accepted order and each
subscribed status change uploads the order again with its shop status (Jushuitan updates by so_id). The answer
is `{code, msg, data}`: 0 is done, 199/200 mean too frequent / over the limit (back off longer)."""

import hashlib
import json
import urllib.parse
from datetime import datetime

from django.utils import timezone

from orders.erp.base import Answer, Request

THROTTLED_CODES = {199, 200}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Our status → the platform shop status Jushuitan knows.
SHOP_STATUS = {
    "placed": "WAIT_BUYER_PAY",
    "cancelled": "TRADE_CLOSED",
    "delivered": "TRADE_FINISHED",
    "picked_up": "WAIT_BUYER_CONFIRM_GOODS",
    "in_transit": "WAIT_BUYER_CONFIRM_GOODS",
    "returned": "TRADE_CLOSED",
}


def sign(*, secret: str, params: dict[str, str]) -> str:
    text = secret + "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")
    return hashlib.md5(text.encode("utf-8")).hexdigest().lower()  # noqa: S324 - the provider's scheme


def _time(value: str | None) -> str:
    return timezone.localtime(datetime.fromisoformat(value)).strftime(TIME_FORMAT) if value else ""


def order_upload(*, order: dict, shop_id: str) -> dict:
    receiver = order["receiver"]
    upload = {
        "shop_id": int(shop_id) if shop_id.isdigit() else shop_id,
        "so_id": order["number"],
        "order_date": _time(order["ordered_at"]),
        "shop_status": SHOP_STATUS.get(order["status"], "WAIT_SELLER_SEND_GOODS"),
        "shop_buyer_id": order["buyer_id"] or order["receiver"]["phone"],
        "receiver_state": receiver["province"],
        "receiver_city": receiver["city"],
        "receiver_district": receiver["district"],
        "receiver_address": receiver["detail"],
        "receiver_name": receiver["name"],
        "receiver_phone": receiver["phone"],
        "pay_amount": order["paid_amount"],
        "freight": "0.00",
        "buyer_message": order["invoice_title"],
        "items": [
            {
                "sku_id": line["sku"],
                "shop_sku_id": line["sku"],
                "name": line["name"],
                "qty": line["quantity"],
                "base_price": line["unit_price"],
                "amount": line["unit_price"],
                "outer_oi_id": f"{order['number']}-{i}",
            }
            for i, line in enumerate(order["lines"], start=1)
        ],
    }
    if order.get("paid_at"):
        upload["pay"] = {
            "outer_pay_id": order["channel_order_no"],
            "pay_date": _time(order["paid_at"]),
            "payment": "平台支付",
            "seller_account": order["channel"],
            "buyer_account": order["buyer_id"],
            "amount": order["paid_amount"],
        }
    return upload


def build(*, endpoint, message, now: datetime) -> Request:
    """The request for one outbox row (`endpoint`: ErpEndpoint, `message`: OutboxMessage)."""
    biz = [order_upload(order=message.payload["order"], shop_id=endpoint.jst_shop_id)]
    params = {
        "app_key": endpoint.app_key,
        "access_token": endpoint.jst_access_token,
        "timestamp": str(int(now.timestamp())),
        "charset": "utf-8",
        "version": "2",
        "biz": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
    }
    params["sign"] = sign(secret=endpoint.secret, params=params)
    body = urllib.parse.urlencode(params).encode()
    return Request(
        url=endpoint.url, body=body, headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
    )


def read(status: int, text: str) -> Answer:
    if not 200 <= status < 300:
        return Answer(ok=False, text=text, error=f"HTTP {status}: {text[:200]}")
    try:
        answer = json.loads(text)
        code = int(answer.get("code"))
    except (ValueError, TypeError, AttributeError):
        return Answer(ok=False, text=text, error=f"not a Jushuitan answer: {text[:200]}")
    if code == 0:
        return Answer(ok=True, text=text)
    error = f"Jushuitan {code}: {answer.get('msg', '')}"[:500]
    return Answer(ok=False, text=text, error=error, throttled=code in THROTTLED_CODES)
