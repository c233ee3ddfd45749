"""Douyin shop (抖店 open platform): order.searchList pages the orders updated in a window, sorted by
update_time; amounts in fen, exp_ship_time the ship-by deadline, receivers encrypted (encrypt_post_tel,
encrypt_post_receiver, post_addr.encrypt_detail). Signed with HMAC-SHA256 over the app key, method, param_json,
timestamp and version."""

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from orders.channels.base import PlatformError, PullAdapter, PullConfig, PullPage, PullUnavailable, count, http_json

PLATFORM_TZ = ZoneInfo("Asia/Shanghai")
METHOD = "order.searchList"
OK = 10000


def param_json(business: dict) -> str:
    """The business parameters as the platform signs them: keys sorted, no spaces."""
    return json.dumps(business, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def douyin_sign(*, app_key: str, secret: str, method: str, params: str, timestamp: str, v: str = "2") -> str:
    text = f"{secret}app_key{app_key}method{method}param_json{params}timestamp{timestamp}v{v}{secret}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class Douyin(PullAdapter):
    kind = "douyin"
    default_base_url = "https://openapi-fxg.jinritemai.com"
    window_max = timedelta(days=1)
    window_default = timedelta(minutes=30)
    page_size_max = 100
    clock_margin_default = timedelta(minutes=2)
    history_max = timedelta(days=90)
    back_to_front = True
    first_page = 0

    def page(self, *, config: PullConfig, start: datetime, end: datetime, page_no: int) -> PullPage:
        params = param_json(
            {
                "update_time_start": int(start.timestamp()),
                "update_time_end": int(end.timestamp()),
                "order_by": "update_time",
                "order_asc": False,
                "page": page_no,
                "size": config.page_size,
            }
        )
        timestamp = datetime.now(PLATFORM_TZ).strftime("%Y-%m-%d %H:%M:%S")
        query = {
            "app_key": config.app_key,
            "method": METHOD,
            "access_token": config.access_token,
            "timestamp": timestamp,
            "v": "2",
            "sign_method": "hmac-sha256",
            "sign": douyin_sign(
                app_key=config.app_key, secret=config.app_secret, method=METHOD, params=params, timestamp=timestamp
            ),
        }
        url = config.base_url.rstrip("/") + "/" + METHOD.replace(".", "/")
        answer = http_json(
            url, config=config, query=query, body=params.encode(), headers={"Content-Type": "application/json"}
        )
        if answer.get("code") != OK:
            message = answer.get("sub_msg") or answer.get("msg") or "error"
            raise PlatformError(str(message), code=str(answer.get("sub_code") or answer.get("code") or ""))
        data = answer.get("data")
        if not isinstance(data, dict):
            raise PullUnavailable(f"{METHOD}: no data in the answer")
        orders = data.get("shop_order_list") or []
        total = count(data.get("total", 0))
        return PullPage(orders=orders, has_next=(page_no + 1) * config.page_size < total, total=total)


# A Douyin channel's mapping until a manager saves its own: a pull page is {"orders": [shop order, …]} as
# order.searchList lists them; amounts in fen, times as unix seconds. Receivers come encrypted (encrypt_post_*),
# kept as given; exp_ship_time is the platform's ship-by deadline. order_status: 1 待支付, 105 已支付, 2 备货中,
# 101 部分发货, 3 已发货, 4 已取消, 5 已完成.
DEFAULT_MAPPING = {
    "orders_path": "orders",
    "fields": {
        "channel_order_no": "order_id",
        "ordered_at": "create_time",
        "buyer_id": "doudian_open_id",
        "receiver": "encrypt_post_receiver",
        "receiver_phone": "encrypt_post_tel",
        "province": "post_addr.province.name",
        "city": "post_addr.city.name",
        "district": "post_addr.town.name",
        "detail": "post_addr.encrypt_detail",
        "lines": "sku_order_list",
        "line_sku": "code",
        "line_quantity": "item_num",
        "line_unit_price": "goods_price",
        "paid_amount": "pay_amount",
        "paid_at": "pay_time",
        "status": "order_status",
        "modified_at": "update_time",
        "cancel_reason": "cancel_reason",
        "platform_ship_by": "exp_ship_time",
    },
    "amounts": "fen",
    "time_format": "unix",
    "time_zone": "Asia/Shanghai",
    "status_map": {
        "1": "placed",
        "105": "paid",
        "2": "paid",
        "101": "ignored",
        "3": "ignored",
        "5": "ignored",
        "4": "cancelled",
    },
}
