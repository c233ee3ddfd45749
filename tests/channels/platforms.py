"""A local platform for pull tests, served by pytest-httpserver: it holds orders with modification times and
answers Taobao's TOP router, PDD's gateway, Douyin's order.searchList and the generic pull as those platforms
do — signatures and client timestamps checked, windows and page sizes limited (refused with the platform's own
error), receivers masked or encrypted, sorted by modification time, paged. Tests change orders between pages
(`on_request`), make it fail (`faults`: a status to answer, or "hang" to stall past the client's timeout)."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from werkzeug import Request, Response

from orders.models import Channel, ChannelPull

BEIJING = ZoneInfo("Asia/Shanghai")
APP_KEY = "12345678"
APP_SECRET = "s3cr3t-app-secret"
TOKEN = "6102a1f0session"
RATE_LIMITED = {
    "taobao": {
        "error_response": {
            "code": 7,
            "msg": "App Call Limited",
            "sub_code": "accesscontrol.limited-by-app-access-count",
            "sub_msg": "This ban will last for 1 more seconds",
        }
    },
    "pdd": {"error_response": {"error_code": 70031, "error_msg": "调用过于频繁，请调整调用频率"}},
    "douyin": {
        "code": 50001,
        "msg": "系统繁忙",
        "sub_code": "isv.access-limited",
        "sub_msg": "请求过于频繁，请稍后再试",
        "data": {},
    },
    "generic": {"error": "rate_limited", "message": "too many requests", "code": "rate_limited"},
}
PATHS = {"taobao": "/router/rest", "pdd": "/api/router", "douyin": "/order/searchList", "generic": "/orders"}
KINDS = {"taobao": Channel.Kind.TAOBAO, "pdd": Channel.Kind.PDD, "douyin": Channel.Kind.DOUYIN, "generic": "b2b"}


# The platforms' own signing, written here from their public docs (not the adapters' code), so a test fails when an
# adapter signs wrongly.
def md5_signature(params: dict, secret: str) -> str:
    """TOP (sign_method=md5) and PDD: MD5(secret + name1value1name2value2… sorted by name, sign left out + secret),
    upper-case hex."""
    joined = "".join(name + params[name] for name in sorted(params) if name != "sign")
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()  # noqa: S324 - the platforms' scheme


def douyin_signature(query: dict, param_json: str, secret: str) -> str:
    """抖店 v2, sign_method=hmac-sha256: HMAC-SHA256(key=app_secret, app_secret + "app_key…method…param_json…
    timestamp…v…" + app_secret), hex; param_json with its keys sorted."""
    business = json.dumps(json.loads(param_json), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    fields = {"app_key": query["app_key"], "method": query["method"], "param_json": business}
    fields |= {"timestamp": query["timestamp"], "v": query["v"]}
    text = secret + "".join(f"{name}{fields[name]}" for name in sorted(fields)) + secret
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def text_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def parse_text_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)


class Platform:
    """One platform of `kind` (taobao, pdd, douyin, generic). `orders`: platform order id → (modified, order)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.orders: dict[str, tuple[datetime, dict]] = {}
        self.faults: list[int | str] = []  # answered to the next requests, one each, instead of the real answer
        self.on_request: Callable[[Platform, dict], None] | None = None  # called before each list answer
        self.pages_served: list[int] = []  # page numbers of the list answers, in the order asked
        self.windows: list[tuple[datetime, datetime]] = []
        self.refusals: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at teardown: a hanging answer ends

    def put(self, order_id: str, modified: datetime, order: dict) -> None:
        stamp = int(modified.timestamp())
        if self.kind == "taobao":
            order["modified"] = text_time(modified)
        elif self.kind == "pdd":
            order["updated_at"] = text_time(modified)
        elif self.kind == "douyin":
            order["update_time"] = stamp
        else:
            order["modified_at"] = modified.isoformat()
        self.orders[order_id] = (modified, order)

    def modify(self, order_id: str, modified: datetime, **changes) -> None:
        _old, order = self.orders[order_id]
        order.update(changes)
        self.put(order_id, modified, order)

    def in_window(self, start: datetime, end: datetime, *, descending: bool = True) -> list[dict]:
        found = [(m, o) for m, o in self.orders.values() if start <= m < end]
        found.sort(key=lambda pair: pair[0], reverse=descending)
        return [order for _m, order in found]

    # The HTTP side ------------------------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
        if fault == "hang":
            self.release.wait(10)
            return Response("{}", content_type="application/json")
        if fault == "limit":  # the platform's own rate-limit answer, as each one words it
            return Response(json.dumps(RATE_LIMITED[self.kind], ensure_ascii=False), content_type="application/json")
        if fault is not None:
            return Response("<html>upstream error</html>", status=int(fault))
        return getattr(self, f"_{self.kind}")(request)

    def _refuse(self, message: str) -> str:
        self.refusals.append(message)
        return message

    def _clock_ok(self, moment: datetime) -> bool:
        return abs(datetime.now(UTC) - moment) <= timedelta(minutes=10)

    def _page(self, orders: list[dict], page: int, size: int, first: int = 1) -> list[dict]:
        offset = (page - first) * size
        return orders[offset : offset + size]

    def _listed(self, start: datetime, end: datetime, page: int, params: dict) -> None:
        self.windows.append((start, end))
        self.pages_served.append(page)
        if self.on_request:
            self.on_request(self, {"start": start, "end": end, "page": page, **params})

    def _taobao(self, request: Request) -> Response:
        params = request.form.to_dict()

        def error(code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> Response:
            self._refuse(sub_msg or msg)
            body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg, "request_id": "r1"}
            return Response(json.dumps({"error_response": body}), content_type="application/json")

        if params.get("app_key") != APP_KEY or params.get("session") != TOKEN:
            return error(27, "Invalid session", "invalid-sessionkey", "SessionKey非法")
        if params.get("sign") != md5_signature(params, APP_SECRET):
            return error(25, "Invalid signature")
        if not self._clock_ok(parse_text_time(params["timestamp"])):
            return error(31, "Invalid timestamp", "isv.invalid-timestamp", "时间戳与平台时间相差超过10分钟")
        if params["method"] == "taobao.trade.fullinfo.get":
            trade = self.orders[params["tid"]][1]
            answer = {"trade_fullinfo_get_response": {"trade": trade}}
            return Response(json.dumps(answer, ensure_ascii=False), content_type="application/json")
        start, end = parse_text_time(params["start_modified"]), parse_text_time(params["end_modified"])
        size, page = int(params["page_size"]), int(params["page_no"])
        if end - start > timedelta(days=1):
            return error(
                15, "Remote service error", "isv.invalid-parameter", "start_modified与end_modified间隔不能超过一天"
            )
        if start < datetime.now(UTC) - timedelta(days=90):
            return error(15, "Remote service error", "isv.invalid-parameter", "只能查询三个月内的订单")
        if size > 100:
            return error(40, "Invalid arguments:page_size", "isv.invalid-parameter", "page_size不能超过100")
        self._listed(start, end, page, params)
        orders = self.in_window(start, end)  # modified, newest first
        listed = [{"tid": o["tid"], "modified": o["modified"]} for o in self._page(orders, page, size)]
        answer = {"trades": {"trade": listed}}
        if params.get("use_has_next") == "true":
            answer["has_next"] = page * size < len(orders)
        else:
            answer["total_results"] = len(orders)
        body = {"trades_sold_increment_get_response": answer}
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")

    def _pdd(self, request: Request) -> Response:
        params = request.form.to_dict()

        def error(code: int, msg: str) -> Response:
            self._refuse(msg)
            body = {"error_response": {"error_code": code, "error_msg": msg, "request_id": "r1"}}
            return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")

        if params.get("client_id") != APP_KEY or params.get("access_token") != TOKEN:
            return error(10019, "access_token已过期")
        if params.get("sign") != md5_signature(params, APP_SECRET):
            return error(10016, "签名错误")
        if not self._clock_ok(datetime.fromtimestamp(int(params["timestamp"]), UTC)):
            return error(10001, "timestamp已过期")
        start = datetime.fromtimestamp(int(params["start_updated_at"]), UTC)
        end = datetime.fromtimestamp(int(params["end_updated_at"]), UTC)
        size, page = int(params["page_size"]), int(params["page"])
        if end - start > timedelta(minutes=30):
            return error(10000, "start_updated_at和end_updated_at的时间间隔不能超过30分钟")
        if end > datetime.now(UTC) - timedelta(minutes=3):
            return error(10000, "end_updated_at需小于当前时间3分钟")
        if size > 100:
            return error(10000, "page_size不能超过100")
        self._listed(start, end, page, params)
        orders = self.in_window(start, end)
        answer = {
            "order_sn_increment_get_response": {
                "order_sn_list": self._page(orders, page, size),
                "total_count": len(orders),
                "has_next": page * size < len(orders),
            }
        }
        return Response(json.dumps(answer, ensure_ascii=False), content_type="application/json")

    def _douyin(self, request: Request) -> Response:
        query = request.args.to_dict()
        params = request.get_data(as_text=True)

        def error(code: int, msg: str, sub_msg: str) -> Response:
            self._refuse(sub_msg)
            body = {"code": code, "msg": msg, "sub_code": "isv.parameter-invalid", "sub_msg": sub_msg, "data": {}}
            return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")

        expected = (
            douyin_signature(query, params, APP_SECRET) if {"app_key", "method", "timestamp", "v"} <= set(query) else ""
        )
        if query.get("app_key") != APP_KEY or query.get("access_token") != TOKEN:
            return error(30002, "access_token已过期", "access_token已过期")
        if not hmac.compare_digest(query.get("sign", ""), expected) or query.get("sign_method") != "hmac-sha256":
            return error(30001, "签名校验失败", "sign校验失败")
        if not self._clock_ok(parse_text_time(query["timestamp"])):
            return error(30007, "时间戳已过期", "timestamp与服务器时间相差超过10分钟")
        business = json.loads(params)
        start = datetime.fromtimestamp(business["update_time_start"], UTC)
        end = datetime.fromtimestamp(business["update_time_end"], UTC)
        size, page = int(business["size"]), int(business["page"])
        if size > 100:
            return error(50002, "业务处理失败", "size不能超过100")
        if end - start > timedelta(days=1):
            return error(50002, "业务处理失败", "更新时间跨度不能超过1天")
        if business.get("order_by") != "update_time":
            return error(50002, "业务处理失败", "按更新时间查询时order_by须为update_time")
        self._listed(start, end, page, business)
        orders = self.in_window(start, end, descending=not business.get("order_asc"))
        data = {"shop_order_list": self._page(orders, page, size, first=0), "page": page, "size": size}
        data["total"] = len(orders)
        body = {"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "", "data": data}
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")

    def _generic(self, request: Request) -> Response:
        query = request.query_string.decode()
        stamp = request.headers.get("X-OrderHub-Timestamp", "0")
        signed = f"{stamp}.{query}".encode()
        expected = "sha256=" + hmac.new(APP_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-OrderHub-Signature", ""), expected):
            self._refuse("bad signature")
            return Response(json.dumps({"message": "bad signature", "code": "signature"}), status=401)
        if abs(time.time() - int(stamp)) > 600:
            return Response(json.dumps({"message": "stale timestamp", "code": "timestamp"}), status=401)
        start = datetime.fromisoformat(request.args["modified_from"])
        end = datetime.fromisoformat(request.args["modified_to"])
        page, size = int(request.args["page"]), int(request.args["page_size"])
        self._listed(start, end, page, {})
        orders = self.in_window(start, end, descending=False)
        body = {"orders": self._page(orders, page, size), "has_next": page * size < len(orders)}
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


# Orders as each platform gives them -------------------------------------------------------------------------


def taobao_trade(tid: str, *, status: str = "WAIT_SELLER_SEND_GOODS", sku: str = "MASK-001", created=None) -> dict:
    created = created or datetime.now(UTC) - timedelta(hours=2)
    return {
        "tid": tid,
        "status": status,
        "type": "fixed",
        "created": text_time(created),
        "pay_time": text_time(created + timedelta(minutes=1)) if status != "WAIT_BUYER_PAY" else None,
        "payment": "59.00" if status != "WAIT_BUYER_PAY" else "0.00",
        "buyer_open_uid": f"AAH{tid}",
        "receiver_name": "张**",
        "receiver_mobile": "138****5678",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路***号",
        "oaid": f"1nE9Q{tid}OAID",
        "orders": {"order": [{"oid": f"{tid}01", "outer_sku_id": sku, "num": 1, "price": "59.00"}]},
    }


def pdd_order(
    order_sn: str, *, status: int = 1, sku: str = "MASK-001", created=None, ship_by=None, phone: str = ""
) -> dict:
    """`phone`: a masked phone instead of the encrypted one (for tests of the pull itself, not of intake)."""
    created = created or datetime.now(UTC) - timedelta(hours=2)
    return {
        "order_sn": order_sn,
        "order_status": status,
        "refund_status": 1,
        "created_time": text_time(created),
        "confirm_time": text_time(created + timedelta(minutes=1)),
        "pay_amount": 59.0,
        "last_ship_time": text_time(ship_by or created + timedelta(hours=48)),
        "receiver_name": "~AgAAAAEncryptedName~",
        "receiver_phone": phone or "~AgAAAAEncryptedPhone~",
        "province": "广东省",
        "city": "深圳市",
        "town": "南山区",
        "address": "~AgAAAAEncryptedAddress~",
        "item_list": [{"goods_id": 1001, "outer_id": sku, "goods_count": 1, "goods_price": 59.0}],
    }


def douyin_order(order_id: str, *, status: int = 2, sku: str = "MASK-001", created=None, ship_by=None) -> dict:
    created = created or datetime.now(UTC) - timedelta(hours=2)
    return {
        "order_id": order_id,
        "order_status": status,
        "create_time": int(created.timestamp()),
        "pay_time": int(created.timestamp()) + 60 if status != 1 else 0,
        "pay_amount": 5900 if status != 1 else 0,
        "exp_ship_time": int((ship_by or created + timedelta(hours=48)).timestamp()),
        "doudian_open_id": f"dy-{order_id}",
        "encrypt_post_receiver": "#EncRecv#",
        "encrypt_post_tel": "$EncTel$",
        "mask_post_tel": "1*******890",
        "post_addr": {
            "province": {"name": "北京市"},
            "city": {"name": "北京市"},
            "town": {"name": "朝阳区"},
            "encrypt_detail": "#EncDetail#",
        },
        "sku_order_list": [{"code": sku, "item_num": 1, "goods_price": 5900}],
        "cancel_reason": "",
    }


@pytest.fixture(name="platforms")
def platforms_fixture(httpserver):
    """platforms(kind) → a Platform answering at its path on the local server (one per kind per test)."""
    made: dict[str, Platform] = {}

    def make(kind: str, *, prefix: str = "") -> Platform:
        platform = made[prefix + kind] = Platform(kind)
        path = prefix + PATHS[kind]
        httpserver.expect_request(path).respond_with_handler(platform)
        platform.url = httpserver.url_for(prefix + PATHS[kind].removesuffix("/order/searchList"))
        return platform

    yield make
    for platform in made.values():
        platform.release.set()


def pull_channel_for(platform: Platform, code: str, **settings) -> Channel:
    """A channel of the platform's kind pulling from it, its mapping the kind's default (none saved)."""
    channel = Channel.objects.create(code=code, name=f"{code} 店", kind=KINDS[platform.kind], arrival="pull")
    values = {
        "enabled": True,
        "base_url": platform.url,
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "access_token": TOKEN,
        **settings,
    }
    ChannelPull.objects.create(channel=channel, **values)
    return channel
