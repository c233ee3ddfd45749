"""Taobao / Tmall (TOP open API): taobao.trades.sold.increment.get pages the trades modified in a window,
taobao.trade.fullinfo.get gives each one in full. TOP signing (sign_method md5), JSON answers; receivers come
masked, with an OAID to order waybills by."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from orders.channels.base import PullAdapter, PullConfig, PullPage, PullUnavailable, count, md5_form_call

PLATFORM_TZ = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TRADE_FIELDS = (
    "tid,status,type,created,modified,pay_time,payment,total_fee,buyer_open_uid,buyer_nick,receiver_name,"
    "receiver_mobile,receiver_state,receiver_city,receiver_district,receiver_town,receiver_address,oaid,"
    "timeout_action_time,consign_due_time,buyer_memo,seller_memo,orders"
)


def platform_time(moment: datetime) -> str:
    return moment.astimezone(PLATFORM_TZ).strftime(TIME_FORMAT)


class Taobao(PullAdapter):
    kind = "taobao"
    default_base_url = "https://eco.taobao.com/router/rest"
    window_max = timedelta(days=1)
    window_default = timedelta(minutes=30)  # what the platform recommends
    page_size_max = 100
    clock_margin_default = timedelta(minutes=2)
    history_max = timedelta(days=90)  # only the last 3 months of modifications can be asked for
    back_to_front = True  # sorted by modified, descending

    def call(self, *, config: PullConfig, method: str, **business) -> dict:
        params = {
            "method": method,
            "app_key": config.app_key,
            "session": config.access_token,
            "timestamp": platform_time(datetime.now(PLATFORM_TZ)),
            "format": "json",
            "v": "2.0",
            "sign_method": "md5",
            **{key: str(value) for key, value in business.items()},
        }
        answer = md5_form_call(config=config, params=params)
        key = method.removeprefix("taobao.").replace(".", "_") + "_response"
        if not isinstance(answer.get(key), dict):
            raise PullUnavailable(f"{method}: no {key} in the answer")
        return answer[key]

    def _increment(self, *, config, start, end, page_no, page_size, fields, use_has_next) -> dict:
        return self.call(
            config=config,
            method="taobao.trades.sold.increment.get",
            fields=fields,
            start_modified=platform_time(start),
            end_modified=platform_time(end),
            page_no=page_no,
            page_size=page_size,
            use_has_next="true" if use_has_next else "false",
        )

    def window_total(self, *, config: PullConfig, start: datetime, end: datetime) -> int:
        answer = self._increment(
            config=config, start=start, end=end, page_no=1, page_size=1, fields="tid", use_has_next=False
        )
        return count(answer.get("total_results", 0))

    def page(self, *, config: PullConfig, start: datetime, end: datetime, page_no: int) -> PullPage:
        answer = self._increment(
            config=config,
            start=start,
            end=end,
            page_no=page_no,
            page_size=config.page_size,
            fields="tid,modified",
            use_has_next=True,
        )
        listed = (answer.get("trades") or {}).get("trade") or []
        trades = []
        for item in listed:
            detail = self.call(config=config, method="taobao.trade.fullinfo.get", tid=item["tid"], fields=TRADE_FIELDS)
            if not isinstance(detail.get("trade"), dict):
                raise PullUnavailable(f"taobao.trade.fullinfo.get {item['tid']}: no trade in the answer")
            trades.append(detail["trade"])
        return PullPage(orders=trades, has_next=bool(answer.get("has_next")))


# A Taobao channel's mapping until a manager saves its own (orders.channels.mapping): a pull page is
# {"orders": [trade (taobao.trade.fullinfo.get), …]}; amounts in yuan, times Beijing time as text. The receiver
# comes masked (张**, 138****5678) with its OAID, all kept as given; the waybill is ordered by the OAID.
DEFAULT_MAPPING = {
    "orders_path": "orders",
    "fields": {
        "channel_order_no": "tid",
        "ordered_at": "created",
        "buyer_id": "buyer_open_uid",
        "receiver": "receiver_name",
        "receiver_phone": "receiver_mobile",
        "province": "receiver_state",
        "city": "receiver_city",
        "district": "receiver_district",
        "detail": "receiver_address",
        "platform_receiver_id": "oaid",
        "lines": "orders.order",
        "line_sku": "outer_sku_id",
        "line_quantity": "num",
        "line_unit_price": "price",
        "paid_amount": "payment",
        "paid_at": "pay_time",
        "status": "status",
        "modified_at": "modified",
        "platform_ship_by": "consign_due_time",
    },
    "amounts": "yuan",
    "time_format": "text",
    "time_zone": "Asia/Shanghai",
    "status_map": {
        "TRADE_NO_CREATE_PAY": "placed",
        "WAIT_BUYER_PAY": "placed",
        "PAY_PENDING": "placed",
        "WAIT_SELLER_SEND_GOODS": "paid",
        "SELLER_CONSIGNED_PART": "ignored",
        "WAIT_BUYER_CONFIRM_GOODS": "ignored",
        "TRADE_BUYER_SIGNED": "ignored",
        "TRADE_FINISHED": "ignored",
        "PAID_FORBID_CONSIGN": "ignored",
        "TRADE_CLOSED": "cancelled",
        "TRADE_CLOSED_BY_TAOBAO": "cancelled",
    },
}
