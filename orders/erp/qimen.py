"""奇门 QiMen, the OMS→WMS standard (../shared/INTEGRATIONS.md "ERP / WMS push formats"): an accepted order is
`taobao.qimen.deliveryorder.create`, a cancelled one `taobao.qimen.order.cancel`; query parameters, an XML body,
sign = upper(MD5(secret + sorted k+v of the query parameters except sign + body + secret)). The answer is XML
`<response><flag>success|failure</flag><code/><message/></response>`."""

import hashlib
import urllib.parse
import xml.etree.ElementTree as ET  # answers are parsed by expat ≥ 2.4, which refuses entity expansion attacks
from datetime import datetime

from django.utils import timezone

from orders.erp.base import Answer, Request

CREATE = "taobao.qimen.deliveryorder.create"
CANCEL = "taobao.qimen.order.cancel"
# Statuses QiMen has a message for, besides the accepted order.
STATUSES = ("cancelled",)
PLATFORM_CODES = {"taobao": "TM", "pdd": "PDD", "douyin": "DY"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def sign(*, secret: str, params: dict[str, str], body: str) -> str:
    text = secret + "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign") + body + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()  # noqa: S324 - the provider's scheme


def _time(value: str | None) -> str:
    return timezone.localtime(datetime.fromisoformat(value)).strftime(TIME_FORMAT) if value else ""


def _add(parent: ET.Element, tag: str, text: str = "") -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child


def delivery_order_xml(*, order: dict, warehouse_code: str, owner_code: str, operate_time: str) -> str:
    root = ET.Element("request")
    delivery = _add(root, "deliveryOrder")
    _add(delivery, "deliveryOrderCode", order["number"])
    _add(delivery, "orderType", "JYCK")  # 一般交易出库
    _add(delivery, "warehouseCode", warehouse_code)
    _add(delivery, "sourcePlatformCode", PLATFORM_CODES.get(order.get("channel_kind", ""), "OTHER"))
    _add(delivery, "sourceOrderCode", order["channel_order_no"])
    _add(delivery, "createTime", operate_time)
    _add(delivery, "placeOrderTime", _time(order["ordered_at"]))
    _add(delivery, "payTime", _time(order.get("paid_at")))
    _add(delivery, "operateTime", operate_time)
    _add(delivery, "shopNick", order["channel"])
    _add(delivery, "totalAmount", order["subtotal"])
    receiver = order["receiver"]
    info = _add(delivery, "receiverInfo")
    for tag, key in (
        ("name", "name"),
        ("mobile", "phone"),
        ("province", "province"),
        ("city", "city"),
        ("area", "district"),
        ("detailAddress", "detail"),
    ):
        _add(info, tag, receiver[key])
    lines = _add(root, "orderLines")
    for line in order["lines"]:
        item = _add(lines, "orderLine")
        _add(item, "ownerCode", owner_code)
        _add(item, "itemCode", line["sku"])
        _add(item, "itemName", line["name"])
        _add(item, "planQty", str(line["quantity"]))
        _add(item, "actualPrice", line["unit_price"])
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")


def order_cancel_xml(*, order: dict, warehouse_code: str, owner_code: str, reason: str) -> str:
    root = ET.Element("request")
    _add(root, "warehouseCode", warehouse_code)
    _add(root, "ownerCode", owner_code)
    _add(root, "orderCode", order["number"])
    _add(root, "orderType", "JYCK")
    _add(root, "cancelReason", reason)
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")


def build(*, endpoint, message, now: datetime) -> Request:
    """The request for one outbox row (`endpoint`: ErpEndpoint, `message`: OutboxMessage)."""
    order = message.payload["order"]
    stamp = timezone.localtime(now).strftime(TIME_FORMAT)
    change = message.payload.get("change")
    if change is None:
        method = CREATE
        body = delivery_order_xml(
            order=order,
            warehouse_code=endpoint.qimen_warehouse_code,
            owner_code=endpoint.qimen_owner_code,
            operate_time=stamp,
        )
    elif change["to_status"] in STATUSES:
        method = CANCEL
        body = order_cancel_xml(
            order=order,
            warehouse_code=endpoint.qimen_warehouse_code,
            owner_code=endpoint.qimen_owner_code,
            reason=change.get("reason") or "",
        )
    else:
        raise ValueError(f"QiMen has no message for entering {change['to_status']!r}")
    params = {
        "method": method,
        "timestamp": stamp,
        "format": "xml",
        "app_key": endpoint.app_key,
        "v": "2.0",
        "sign_method": "md5",
        "customerId": endpoint.qimen_customer_id,
    }
    params["sign"] = sign(secret=endpoint.secret, params=params, body=body)
    separator = "&" if "?" in endpoint.url else "?"
    url = endpoint.url + separator + urllib.parse.urlencode(params)
    return Request(url=url, body=body.encode("utf-8"), headers={"Content-Type": "text/xml; charset=utf-8"})


def read(status: int, text: str) -> Answer:
    if not 200 <= status < 300:
        return Answer(ok=False, text=text, error=f"HTTP {status}: {text[:200]}")
    if "<!doctype" in text.lower() or "<!entity" in text.lower():  # no answer of this format has a DTD (entity attacks)
        return Answer(ok=False, text=text, error="QiMen answer with a DTD refused")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD (checked above), so no entities to expand
    except ET.ParseError as exc:
        return Answer(ok=False, text=text, error=f"not XML: {exc}")
    flag = (root.findtext("flag") or "").strip()
    if flag == "success":
        return Answer(ok=True, text=text)
    code, said = (root.findtext("code") or "").strip(), (root.findtext("message") or "").strip()
    return Answer(ok=False, text=text, error=f"QiMen {flag or 'no flag'} {code}: {said}"[:500])
