"""The one phone rule: how a phone number is cleaned up and what counts as a mainland China mobile number.

Every door (API, admin address change, import, channel adapters, the demo, order search) goes through here,
so there is one regex for a CN mobile number in the code. Pure: no ORM.
"""

import re
import unicodedata

from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

_HEAD = r"1[3-9]"  # mainland mobile numbers start 13x … 19x
CN_MOBILE_RE = re.compile(rf"^{_HEAD}\d{{9}}$")
# The first 7 to 10 digits of a mobile number (order search by a phone's prefix).
CN_MOBILE_PREFIX_RE = re.compile(rf"^{_HEAD}\d{{5,8}}$")
# A platform-masked phone (Taobao, Douyin … hide the middle digits): 138****5678. The last 4 digits are real,
# so the tracking page check and the last-4 search still work; it is kept as given, never "repaired".
MASKED_RE = re.compile(rf"^{_HEAD}\d\*{{4}}\d{{4}}$")
LAST4_RE = re.compile(r"^\d{4}$")

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―()]+")
_COUNTRY = re.compile(r"^(?:\+86|0086|86)(?=1\d{10}$|1\d\d\*{4}\d{4}$)")

MESSAGE = _("Enter a mainland China mobile number: 11 digits starting with 1 (e.g. 13812345678).")
cn_mobile_validator = RegexValidator(CN_MOBILE_RE.pattern, MESSAGE)
# Receiver phones may come masked from a platform; a customer's phone (their identity) may not.
receiver_phone_validator = RegexValidator(rf"^{_HEAD}\d(?:\d{{4}}|\*{{4}})\d{{4}}$", MESSAGE)


def normalize_phone(text: str) -> str:
    """Full-width digits → ASCII, spaces / dashes / brackets dropped, +86 / 0086 / 86 in front dropped.

    '＋８６ １３８-１２３４-５６７８' → '13812345678'; '138****5678' stays as it is. Anything else comes back
    cleaned but unvalidated: the validators say whether it is a phone.
    """
    text = unicodedata.normalize("NFKC", str(text or "")).strip()
    text = _SEPARATORS.sub("", text)
    return _COUNTRY.sub("", text)


def is_cn_mobile(text: str) -> bool:
    return bool(CN_MOBILE_RE.match(text))


def is_masked_phone(text: str) -> bool:
    return bool(MASKED_RE.match(text))
