"""Channel test helpers: a webhook channel with the generic mapping, orders in the hub's own spelling, and a
Standard Webhooks sender that signs its deliveries as a connector would."""

import itertools
import json
import time
from datetime import timedelta

from django.utils import timezone

from orders.channels import signing
from orders.channels.mapping import GENERIC_MAPPING
from orders.models import Channel

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_dGhlLXByZXZpb3VzLXNlY3JldC1rZXk="
_seq = itertools.count(1)


def webhook_channel(code: str = "shop", **fields) -> Channel:
    values = {
        "name": "小程序商城",
        "kind": Channel.Kind.WECHAT,
        "arrival": Channel.Arrival.WEBHOOK,
        "webhook_secret": SECRET,
        "field_mapping": GENERIC_MAPPING,
        **fields,
    }
    channel, _ = Channel.objects.update_or_create(code=code, defaults=values)
    return channel


def channel_order(number: str | None = None, *, sku: str = "MASK-001", **overrides) -> dict:
    """One order as the generic mapping reads it."""
    n = next(_seq)
    data = {
        "channel_order_no": number or f"WX{900000 + n}",
        "buyer_id": f"wx-buyer-{n}",
        "ordered_at": (timezone.localtime() - timedelta(minutes=5)).replace(microsecond=0).isoformat(),
        "customer": {"name": "李四", "phone": "13900001111"},
        "shipping_address": {
            "receiver": "李四",
            "phone": "13900001111",
            "province": "上海",
            "city": "上海",
            "district": "浦东新区",
            "detail": "世纪大道 1 号",
        },
        "lines": [{"sku": sku, "quantity": 1, "unit_price": "59.00"}],
        "paid_amount": "0",
        "status": "placed",
    }
    data.update(overrides)
    return data


def batch(*orders: dict) -> bytes:
    return json.dumps({"orders": list(orders)}, ensure_ascii=False).encode()


def signed_headers(body: bytes, *, msg_id: str | None = None, secrets=(SECRET,), timestamp: int | None = None) -> dict:
    msg_id = msg_id or f"msg_{next(_seq)}_{time.time_ns()}"
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = " ".join(signing.sign(secret=s, msg_id=msg_id, timestamp=stamp, body=body) for s in secrets)
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}


def django_headers(headers: dict) -> dict:
    """The same headers as Django's test client takes them (HTTP_WEBHOOK_ID …)."""
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def drain(queue) -> None:
    """Run every job waiting on `queue` in this process (a real RQ worker, burst mode)."""
    from rq import SimpleWorker

    SimpleWorker([queue], connection=queue.connection).work(burst=True)
