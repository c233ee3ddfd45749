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
# A platform-encrypted value (PDD ~AgAAAA…~, Douyin $…$ / #…#, search index and key version inside): ciphertext
# between the same marker at both ends. It is kept exactly as given (the waybill is ordered by it at the platform),
# never validated as a phone: it ends in its marker, so no typed phone, prefix or last-4 digits can ever match it.
ENCRYPTED_RE = re.compile(r"^([~#$])[A-Za-z0-9+/=_\-*~#$]{1,253}\1$")
PLATFORM_PHONE_MAX = 255  # the column width for phones a platform may send encrypted

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―()]+")
_COUNTRY = re.compile(r"^(?:\+86|0086|86)(?=1\d{10}$|1\d\d\*{4}\d{4}$)")

MESSAGE = _("Enter a mainland China mobile number: 11 digits starting with 1 (e.g. 13812345678).")
cn_mobile_validator = RegexValidator(CN_MOBILE_RE.pattern, MESSAGE)
# Receiver phones may come masked from a platform; a customer's phone (their identity) may not.
receiver_phone_validator = RegexValidator(rf"^{_HEAD}\d(?:\d{{4}}|\*{{4}})\d{{4}}$", MESSAGE)
# A phone as a platform gave it: a mobile number, a masked one, or encrypted (the receiver of a PDD / Douyin order,
# and the buyer of such an order, whose customer row is then keyed by platform buyer).
PLATFORM_MESSAGE = _(
    "Enter a mainland China mobile number (e.g. 13812345678), or the phone as the platform masked (138****5678) or "
    "encrypted it."
)
platform_phone_validator = RegexValidator(
    rf"^(?:{_HEAD}\d(?:\d{{4}}|\*{{4}})\d{{4}}|{ENCRYPTED_RE.pattern[1:-1]})$", PLATFORM_MESSAGE
)


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


def is_encrypted_value(text: str) -> bool:
    """A platform's ciphertext (ENCRYPTED_RE): kept as given, matches no typed phone."""
    return bool(ENCRYPTED_RE.match(text))
