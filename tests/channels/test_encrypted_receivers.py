"""Encrypted platform receivers (PDD ~…~, Douyin $…$ / #…#): kept exactly as the platform gave them, never a
match for a phone somebody types (order search, the tracking page), while real phones stay validated."""

import pytest
from django.core.exceptions import ValidationError

from logistics.selectors import mask_name, mask_phone, tracking_order_find
from orders import selectors
from orders.models import Customer
from orders.phones import is_encrypted_value, platform_phone_validator
from orders.services.channel_intake import Outcome
from tests.channels.reports import channel_no, report, take

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

# Digits inside the ciphertext, as real ones have: its last 4 characters are still not 4 digits.
PHONE = "~AgAAAAHO2lX8aXtIBwCGbh3T12345678~" + "A" * 120 + "~1~"
DOUYIN_PHONE = "$D+XmWu3Pp/9b12345678=$AgbPq1k2$1$$"


@pytest.mark.parametrize("value", [PHONE, DOUYIN_PHONE, "#EncRecv#"])
def test_an_encrypted_value_is_a_platform_phone(value):
    assert is_encrypted_value(value)
    platform_phone_validator(value)  # does not raise


@pytest.mark.parametrize("value", ["1381234567", "23812345678", "~abc#", "~~", "~abc def~", "abc"])
def test_anything_else_that_is_no_phone_is_refused(value):
    with pytest.raises(ValidationError):
        platform_phone_validator(value)


def test_encrypted_receiver_and_buyer_are_kept_and_the_buyer_keyed_by_platform_buyer():
    result = take(report(channel_no(), channel="pdd", buyer_phone=PHONE, receiver_phone=PHONE, buyer_id="pdd-b1"))

    assert result.outcome == Outcome.CREATED, result.reason
    order = result.order
    assert order.receiver_phone == PHONE and order.receiver_encrypted
    assert order.customer.phone == PHONE and order.customer.platform_buyer == "pdd:pdd-b1"
    # a second order of the same platform buyer is the same customer; ciphertext names nobody else
    again = take(report(channel_no(), channel="pdd", buyer_phone=PHONE, receiver_phone=PHONE, buyer_id="pdd-b1"))
    assert again.order.customer_id == order.customer_id
    assert Customer.objects.filter(phone=PHONE).count() == 1


def test_a_garbled_phone_is_still_rejected_with_its_field():
    result = take(report(channel_no(), channel="pdd", receiver_phone="1381234"))

    assert result.outcome == Outcome.REJECTED and result.extra == {"field": "shipping_address.phone"}
    result = take(report(channel_no(), channel="pdd", buyer_phone="not a phone"))
    assert result.outcome == Outcome.REJECTED and result.extra == {"field": "customer.phone"}


def test_no_typed_phone_finds_an_encrypted_receiver_in_search_or_on_the_tracking_page():
    encrypted = take(report(channel_no(), channel="pdd", buyer_phone=PHONE, receiver_phone=PHONE)).order
    plain = take(report(channel_no(), channel="tmall", buyer_phone="13912345678", receiver_phone="13912345678")).order

    # search: last 4 digits and leading digits find the real phone only (the ciphertext's digits are no phone)
    assert selectors.order_lookup_ids(q="5678") == [plain.pk]
    assert selectors.order_lookup_ids(q="1234567") == []
    assert encrypted.pk not in selectors.order_lookup_ids(q="13912345678")
    # the tracking page: the number and the "last 4" of the ciphertext do not open it; a real phone's do
    assert tracking_order_find(number=encrypted.number, last4=PHONE[-4:]) is None
    assert tracking_order_find(number=encrypted.number, last4="5678") is None
    assert tracking_order_find(number=plain.number, last4="5678") == plain
    # and the masked phone the page shows is nothing rather than ciphertext
    assert mask_phone(encrypted.receiver_phone) == "" and mask_phone(plain.receiver_phone) == "139****5678"
    assert mask_name("~AgAAAAEncryptedName~") == "" and mask_name("张三") == "张*"
