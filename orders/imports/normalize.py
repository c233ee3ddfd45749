"""Cleaning up one cell value of a legacy file: dates, phones, amounts, quantities, order numbers. Each function
returns the clean value or raises Bad(code, reason) with a reason a clerk understands. Pure."""

import re
import unicodedata
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from orders.phones import is_cn_mobile, is_masked_phone, normalize_phone

SHANGHAI = ZoneInfo("Asia/Shanghai")
EXCEL_EPOCH = datetime(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel's 1900 leap-year bug included)
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
MAX_QUANTITY = 100000
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number


class Bad(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def text(value) -> str:
    """A cell as text: numbers without a trailing .0, datetimes as Excel shows them, NFKC-folded, trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip()


_SCIENTIFIC = re.compile(r"^\d+(?:\.\d+)?[eE]\+?\d+$")


def order_no(value) -> str:
    """An order number as the old system wrote it. Excel turns long numbers into floats (1.23E+18) and keeps 15
    digits of them (the rest become zeros): such a number cannot be repaired, only exported again as text."""
    mangled = Bad("mangled_order_no", mangled_reason())
    if isinstance(value, float):
        if not value.is_integer() or abs(value) >= 10**EXCEL_DIGITS:
            raise mangled
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= 10**EXCEL_DIGITS and str(value).endswith("0"):
            raise mangled
        return str(value)
    result = text(value)
    if _SCIENTIFIC.match(result):
        raise mangled
    if len(result) > 64:
        raise Bad("bad_order_no", _("The order number is longer than 64 characters."))
    return result


def is_long_number(order_no: str) -> bool:
    return order_no.isdigit() and len(order_no) > EXCEL_DIGITS


def looks_rounded(order_no: str) -> bool:
    """A long number whose digits after Excel's 15th are all zeros: rounded by Excel, or by chance (1 in 1,000 for
    three digits). Excel rounds a whole column, so plan.Collector decides by the share of them in the file."""
    return is_long_number(order_no) and set(order_no[EXCEL_DIGITS:]) == {"0"}


def mangled_reason() -> str:
    return _("Excel has rounded this order number; format the column as text and export again.")


_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]+(\d{1,2})\s*[:：时点]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2})(?:\.\d+)?)?\s*秒?\s*分?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\s*(\d{2}):?(\d{2})(?::?(\d{2}))?)?$")
_SERIAL = re.compile(r"^\d{4,5}(?:\.\d+)?$")


def _aware(naive: datetime) -> datetime:
    return naive.replace(tzinfo=SHANGHAI)


def _serial(number: float) -> datetime:
    return _aware(EXCEL_EPOCH + timedelta(days=number))


def moment(value) -> datetime:
    """A date and time, in Asia/Shanghai: real datetimes, 2025/1/5 14:03, 2025-01-05 09:00:00, 2025年1月7日 8:15,
    20250108, Excel serial numbers (45662.5)."""
    bad = Bad(
        "bad_date", _("The date '%(value)s' cannot be read; write it as 2025-01-05 14:03.") % {"value": text(value)}
    )
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI) if value.tzinfo else _aware(value)
    if isinstance(value, date):
        return _aware(datetime.combine(value, time()))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 19000101 <= value <= 21001231 and float(value).is_integer():
            return moment(str(int(value)))
        if 1 <= value < 2958466:  # up to 9999-12-31
            return _serial(float(value))
        raise bad
    raw = text(value)
    match = _DATE.match(raw) or _COMPACT.match(raw)
    if match:
        parts = [int(p) if p else 0 for p in match.groups()]
        try:
            return _aware(datetime(*parts))
        except ValueError as error:
            raise bad from error
    if _SERIAL.match(raw):
        return _serial(float(raw))
    raise bad


def phone(value) -> str:
    """A mobile number: full-width digits, +86, dashes and spaces cleaned; a masked one (138****5678) kept."""
    raw = str(int(value)) if isinstance(value, float) and value.is_integer() else text(value)
    cleaned = normalize_phone(raw)
    if is_cn_mobile(cleaned) or is_masked_phone(cleaned):
        return cleaned
    raise Bad(
        "bad_phone",
        _("The phone '%(value)s' is not a mainland mobile number (11 digits starting with 1, or masked 138****5678).")
        % {"value": raw},
    )


_MONEY_NOISE = re.compile(r"[\s,，¥￥$元]|RMB|CNY", re.IGNORECASE)


def amount(value) -> Decimal:
    """Money: ¥1,299.00, 1299, '1,299.5元' → Decimal with 2 places."""
    bad = Bad(
        "bad_amount", _("The amount '%(value)s' cannot be read as money (e.g. 1299.00).") % {"value": text(value)}
    )
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int | float):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        cleaned = _MONEY_NOISE.sub("", text(value))
        try:
            number = Decimal(cleaned)
        except InvalidOperation as error:
            raise bad from error
    if not number.is_finite() or number < 0 or number > MAX_AMOUNT:
        raise bad
    return number.quantize(CENT, rounding=ROUND_HALF_UP)


_QUANTITY = re.compile(r"^(\d+)(?:\.0+)?\s*(?:件|个|pcs|只|瓶|盒|套|箱)?$", re.IGNORECASE)


def quantity(value) -> int:
    bad = Bad(
        "bad_quantity", _("The quantity '%(value)s' is not a whole number of at least 1.") % {"value": text(value)}
    )
    if isinstance(value, bool):
        raise bad
    if isinstance(value, float):
        if not value.is_integer():
            raise bad
        value = int(value)
    if isinstance(value, int):
        number = value
    else:
        match = _QUANTITY.match(text(value))
        if not match:
            raise bad
        number = int(match.group(1))
    if not 1 <= number <= MAX_QUANTITY:
        raise bad
    return number


def code(value) -> str:
    """A status code or SKU as written (1.0 → '1'), folded and trimmed."""
    return text(value)


_ADDRESS = re.compile(
    r"^(?P<province>北京市?|上海市?|天津市?|重庆市?|.{2,7}?(?:省|自治区|特别行政区))\s*"
    r"(?P<city>.{1,10}?(?:市|自治州|地区|盟))?\s*"
    r"(?P<district>.{1,10}?(?:区|县|市|旗))?\s*(?P<detail>.*)$"
)


def address_split(text: str) -> tuple[str, str, str, str]:
    """浙江省杭州市西湖区文三路1号 → (浙江省, 杭州市, 西湖区, 文三路1号);
    上海市浦东新区… → (上海市, 上海市, 浦东新区, …). Unsplittable text stays whole in the detail."""
    match = _ADDRESS.match(text.strip())
    if not match:
        return "", "", "", text
    province = match["province"]
    city = match["city"] or ""
    if province[:2] in ("北京", "上海", "天津", "重庆"):
        province = province if province.endswith("市") else province + "市"
        if not city:
            city = province
    return province, city, match["district"] or "", match["detail"] or ""
