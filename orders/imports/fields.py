"""The order fields a column of a legacy file can be mapped to, with their labels and the Chinese header names
the usual exports (Taobao, PDD, Douyin, JD, old ERPs) give them. Pure."""

import hashlib
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    key: str
    zh: str
    en: str
    required: bool = False
    synonyms: tuple[str, ...] = ()
    kind: str = "text"  # text | order_no | phone | datetime | amount | quantity | status | sku

    @property
    def label(self) -> str:
        return f"{self.zh} {self.en}"


FIELDS: tuple[Field, ...] = (
    Field(
        "channel_order_no",
        "订单编号",
        "Order number",
        True,
        (
            "订单编号",
            "订单号",
            "主订单编号",
            "订单id",
            "平台订单号",
            "原始单号",
            "外部订单号",
            "交易编号",
            "order no",
            "order id",
        ),
        "order_no",
    ),
    Field(
        "buyer_id",
        "买家会员名",
        "Buyer id",
        False,
        ("买家会员名", "买家昵称", "买家账号", "买家id", "会员名", "客户账号", "buyer", "buyer id"),
    ),
    Field(
        "receiver",
        "收货人姓名",
        "Receiver",
        True,
        ("收货人姓名", "收货人", "收件人", "收件人姓名", "联系人", "receiver", "consignee"),
    ),
    Field(
        "phone",
        "联系手机",
        "Mobile phone",
        True,
        (
            "联系手机",
            "手机",
            "手机号",
            "手机号码",
            "收货人手机",
            "收件人手机",
            "联系电话",
            "电话",
            "收货人电话",
            "phone",
            "mobile",
        ),
        "phone",
    ),
    Field(
        "address", "收货地址", "Address", True, ("收货地址", "详细地址", "收件地址", "地址", "收货人地址", "address")
    ),
    Field("province", "省份", "Province", False, ("省份", "省", "收货省份", "province")),
    Field("city", "城市", "City", False, ("城市", "市", "收货城市", "city")),
    Field("district", "区县", "District", False, ("区县", "区", "县", "收货区县", "district")),
    Field(
        "sku",
        "商品编码",
        "SKU",
        True,
        (
            "商品编码",
            "商家编码",
            "sku编码",
            "sku",
            "货号",
            "商品货号",
            "规格编码",
            "商家sku",
            "商品sku",
            "外部编码",
            "商品编号",
        ),
        "sku",
    ),
    Field(
        "quantity", "数量", "Quantity", True, ("数量", "购买数量", "商品数量", "件数", "qty", "quantity"), "quantity"
    ),
    Field(
        "unit_price",
        "单价",
        "Unit price",
        True,
        ("单价", "商品单价", "价格", "商品价格", "售价", "unit price", "price"),
        "amount",
    ),
    Field(
        "paid_amount",
        "实付金额",
        "Paid amount",
        False,
        ("实付金额", "买家实付金额", "实收金额", "支付金额", "订单金额", "实付款", "paid amount"),
        "amount",
    ),
    Field(
        "status", "订单状态", "Order status", True, ("订单状态", "状态", "交易状态", "订单状态码", "status"), "status"
    ),
    Field(
        "tracking_number",
        "物流单号",
        "Tracking number",
        False,
        ("物流单号", "运单号", "快递单号", "运单编号", "tracking no"),
    ),
    Field("carrier", "快递公司", "Carrier", False, ("快递公司", "物流公司", "承运商", "快递", "carrier")),
    Field(
        "ordered_at",
        "下单时间",
        "Ordered at",
        True,
        ("下单时间", "订单创建时间", "创建时间", "订单时间", "拍下时间", "下单日期", "ordered at", "created"),
        "datetime",
    ),
    Field("paid_at", "付款时间", "Paid at", False, ("付款时间", "支付时间", "订单付款时间", "paid at"), "datetime"),
    Field("note", "备注", "Note", False, ("备注", "买家留言", "卖家备注", "订单备注", "note", "remark")),
)
FIELDS_BY_KEY = {f.key: f for f in FIELDS}
REQUIRED = tuple(f.key for f in FIELDS if f.required)
# The fields that belong to an order line (a row each); the rest belong to the order and repeat on each row.
LINE_FIELDS = ("sku", "quantity", "unit_price")

_SPACES = re.compile(r"[\s:：*（）()\[\]【】]+")


def header_normalize(text) -> str:
    """A header cell as compared: full-width folded (NFKC), lower case, spaces, colons, brackets and stars gone."""
    if text is None:
        return ""
    return _SPACES.sub("", unicodedata.normalize("NFKC", str(text))).lower()


_SYNONYMS: dict[str, str] = {}
for _field in FIELDS:
    for _name in (_field.zh, *_field.synonyms):
        _SYNONYMS.setdefault(header_normalize(_name), _field.key)


def field_for_header(text) -> str | None:
    """The field a header names (exact synonym), else None."""
    return _SYNONYMS.get(header_normalize(text))


def mapping_suggest(headers: list[str]) -> dict[str, int]:
    """{field key: column index} from the header names; the first column naming a field wins."""
    mapping: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = field_for_header(header)
        if key is not None and key not in mapping:
            mapping[key] = index
    return mapping


def header_key(headers: list[str]) -> str:
    """The template key of a header list: its normalized names, joined, hashed (ImportTemplate.header_key)."""
    return hashlib.sha256("\x1f".join(header_normalize(h) for h in headers).encode()).hexdigest()
