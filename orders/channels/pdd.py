"""Pinduoduo (PDD open platform): pdd.order.number.list.increment.get pages the orders updated in a window of at
most 30 minutes that ends at least 3 minutes behind the platform's clock. PDD md5 signing; receivers encrypted;
last_ship_time is the platform's ship-by deadline."""

import time
from datetime import datetime, timedelta

from orders.channels.base import PullAdapter, PullConfig, PullPage, PullUnavailable, count, md5_form_call

INCREMENT = "pdd.order.number.list.increment.get"


class Pdd(PullAdapter):
    kind = "pdd"
    default_base_url = "https://gw-api.pinduoduo.com/api/router"
    window_max = timedelta(minutes=30)
    window_default = timedelta(minutes=30)
    page_size_max = 100
    clock_margin_min = timedelta(minutes=3)
    clock_margin_default = timedelta(minutes=5)
    history_max = timedelta(days=90)
    back_to_front = True

    def call(self, *, config: PullConfig, type_: str, **business) -> dict:
        params = {
            "type": type_,
            "client_id": config.app_key,
            "access_token": config.access_token,
            "timestamp": str(int(time.time())),
            "data_type": "JSON",
            "version": "V1",
            **{key: str(value) for key, value in business.items()},
        }
        answer = md5_form_call(config=config, params=params)
        if not isinstance(answer.get("order_sn_increment_get_response"), dict):
            raise PullUnavailable(f"{type_}: no order_sn_increment_get_response in the answer")
        return answer["order_sn_increment_get_response"]

    def page(self, *, config: PullConfig, start: datetime, end: datetime, page_no: int) -> PullPage:
        answer = self.call(
            config=config,
            type_=INCREMENT,
            is_lucky_flag=0,  # all orders, lucky-draw ones too
            order_status=5,  # every status
            refund_status=5,  # every after-sale state
            start_updated_at=int(start.timestamp()),
            end_updated_at=int(end.timestamp()),
            page=page_no,
            page_size=config.page_size,
            use_has_next="true",
        )
        orders = answer.get("order_sn_list") or []
        total = answer.get("total_count")
        return PullPage(
            orders=orders, has_next=bool(answer.get("has_next")), total=None if total is None else count(total)
        )


# A PDD channel's mapping until a manager saves its own: a pull page is {"orders": [order, …]} as the increment
# API lists them; amounts in yuan, times Beijing time as text. Receivers encrypted (~AgAAAA…~), kept as given;
# last_ship_time is the platform's ship-by deadline. order_status: 1 待发货 (paid), 2 已发货待签收, 3 已签收.
# refund_status, the after-sale state, is a field of its own (PDD open platform docs): 1 无售后或售后关闭 (none, or
# closed: the order status counts), 2 售后处理中, 3 退款中, 4 退款成功. 2-4 are a refund request: held for 退款审核
# before shipping, an alert after (a refund already made, 4, needs the same person's look).
DEFAULT_MAPPING = {
    "orders_path": "orders",
    "fields": {
        "channel_order_no": "order_sn",
        "ordered_at": "created_time",
        "receiver": "receiver_name",
        "receiver_phone": "receiver_phone",
        "province": "province",
        "city": "city",
        "district": "town",
        "detail": "address",
        "lines": "item_list",
        "line_sku": "outer_id",
        "line_quantity": "goods_count",
        "line_unit_price": "goods_price",
        "paid_amount": "pay_amount",
        "paid_at": "confirm_time",
        "status": "order_status",
        "refund_status": "refund_status",
        "modified_at": "updated_at",
        "platform_ship_by": "last_ship_time",
    },
    "amounts": "yuan",
    "time_format": "text",
    "time_zone": "Asia/Shanghai",
    "status_map": {"1": "paid", "2": "ignored", "3": "ignored"},
    "refund_map": {"2": "refund_requested", "3": "refund_requested", "4": "refund_requested"},
}
