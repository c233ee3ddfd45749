"""Cross-channel duplicates (疑似重复), and one intake path for every door: the check runs in order_create."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from orders.drafts import ChannelEvent
from orders.models import Customer, DuplicateSettings, Order, Source, Status
from orders.services.channel_intake import Outcome
from orders.services.duplicates import duplicate_settings, duplicate_settings_save, duplicate_twin_find
from orders.services.transitions import order_transition
from tests.channels.reports import T0, channel_no, later, report, take
from tests.factories import SkuFactory, order_payload
from warehouse.models import SkuAlias

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]


def settings(**values):
    row = DuplicateSettings.objects.get_or_create(pk=1)[0]
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    return duplicate_settings_save(settings=row, actor=None)


def test_same_buyer_and_skus_on_another_channel_within_the_window_is_held_next_to_its_twin():
    first = take(report(channel_no())).order
    second = take(report(channel_no(), channel="douyin", ordered_at=later(60)), name="抖音小店")
    assert second.outcome == Outcome.DUPLICATE and second.extra == {"duplicate_of": first.number}
    order = second.order
    order.refresh_from_db()
    assert (order.status, order.hold_kind, order.duplicate_of_id) == (Status.ON_HOLD, "duplicate", first.pk)
    assert "疑似重复" in order.status_reason and first.number in order.status_reason
    hold = order.events.get(transition="hold")
    assert first.number in hold.reason and "天猫旗舰店" in hold.reason
    # the twin is untouched; releasing the duplicate is the normal release
    first.refresh_from_db()
    assert first.status == Status.PLACED and first.duplicate_of_id is None
    order = order_transition(order=order, transition="release", actor=None, source=Source.ADMIN)
    assert (order.status, order.hold_kind) == (Status.PLACED, "")


def test_paid_duplicate_is_held_after_its_payment():
    first = take(report(channel_no())).order
    second = take(report(channel_no(), channel="douyin", paid="198.00")).order
    second.refresh_from_db()
    assert (second.status, second.resume_status, second.payment_status) == (Status.ON_HOLD, Status.PAID, "paid")
    assert second.duplicate_of_id == first.pk


def test_an_api_order_is_checked_too(api):
    first = take(report(channel_no(), channel="douyin")).order
    response = api.post("/api/v1/orders/", order_payload(), format="json")  # tmall, 13812345678, MASK-001
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert (order.status, order.duplicate_of_id) == (Status.ON_HOLD, first.pk)


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ({"channel": "tmall"}, "same channel"),
        ({"channel": "douyin", "ordered_at": T0 + timedelta(hours=25)}, "outside the window"),
        ({"channel": "douyin", "buyer_phone": "13900000000"}, "another buyer"),
        ({"channel": "douyin", "lines": (("SAMPLE-3", 2, "99.00"),)}, "other SKUs"),
    ],
)
def test_not_a_duplicate(second, why):
    SkuFactory(code="SAMPLE-3")
    take(report(channel_no()))
    result = take(report(channel_no(), **second))
    assert result.outcome == Outcome.CREATED, why
    assert result.order.status == Status.PLACED and result.order.duplicate_of_id is None


def test_a_closed_twin_does_not_count():
    first = take(report(channel_no())).order
    order_transition(order=first, transition="cancel", actor=None, source=Source.ADMIN, reason="测试")
    assert take(report(channel_no(), channel="douyin")).outcome == Outcome.CREATED


def test_switched_off_and_other_windows():
    take(report(channel_no()))
    settings(enabled=False)
    assert take(report(channel_no(), channel="douyin")).outcome == Outcome.CREATED
    settings(enabled=True, window_hours=48)
    far = take(report(channel_no(), channel="pdd", ordered_at=T0 + timedelta(hours=30)))
    assert far.outcome == Outcome.DUPLICATE


def test_match_on_receiver_phone_and_address():
    settings(match_fields=["receiver_phone", "receiver_address"])
    take(report(channel_no(), buyer_phone="13700000001", lines=(("MASK-001", 1, "99.00"),)))
    other_sku = take(report(channel_no(), channel="douyin", buyer_phone="13700000002"))
    assert other_sku.outcome == Outcome.DUPLICATE  # SKUs and buyer are not among the match fields
    moved = take(report(channel_no(), channel="pdd", detail="文三路 999 号"))
    assert moved.outcome == Outcome.CREATED


def test_settings_need_a_phone_among_the_match_fields():
    with pytest.raises(ValidationError) as raised:
        settings(match_fields=["sku_set"])
    assert "match_fields" in raised.value.message_dict


def test_masked_phones_are_no_evidence_of_a_match():
    """Platforms mask the middle digits and many buyers share a mask: a masked buyer or receiver phone never
    makes two orders twins, even with the same SKUs (nor the same address, when that is a match field)."""
    take(report(channel_no(), buyer_phone="138****5678", buyer_id="tm-buyer"))
    masked = take(report(channel_no(), channel="douyin", buyer_phone="138****5678", buyer_id="dy-buyer"))
    assert masked.outcome == Outcome.CREATED
    settings(match_fields=["receiver_phone", "receiver_address", "sku_set"])
    take(report(channel_no(), channel="jd", receiver_phone="139****0000"))
    again = take(report(channel_no(), channel="pdd", receiver_phone="139****0000"))
    assert again.outcome == Outcome.CREATED and again.order.duplicate_of_id is None


def test_exact_replay_is_never_its_own_duplicate():
    no = channel_no()
    take(report(no))
    take(report(channel_no(), channel="douyin"))
    replay = take(report(no))
    assert replay.outcome == Outcome.UNCHANGED and replay.order.duplicate_of_id is None


def test_the_check_is_one_query(django_assert_num_queries):
    first = take(report(channel_no())).order
    second = take(report(channel_no(), channel="douyin")).order
    second = Order.objects.select_related("customer").get(pk=second.pk)
    row = duplicate_settings()
    with django_assert_num_queries(1):
        twin = duplicate_twin_find(order=second, settings=row)
    assert twin.pk == first.pk


# --- one path for every door: customers, aliases, phones, deadlines ----------------------------------------


def test_masked_buyers_are_one_customer_per_platform_buyer_never_merged():
    a = take(report(channel_no(), buyer_phone="138****5678", buyer_id="buyer-a")).order
    b = take(report(channel_no(), buyer_phone="138****5678", buyer_id="buyer-b")).order
    a_again = take(report(channel_no(), buyer_phone="138****5678", buyer_id="buyer-a")).order
    no_id_1 = take(report(channel_no(), buyer_phone="", buyer_id="")).order
    no_id_2 = take(report(channel_no(), buyer_phone="", buyer_id="")).order
    assert a.customer_id == a_again.customer_id
    assert len({a.customer_id, b.customer_id, no_id_1.customer_id, no_id_2.customer_id}) == 4
    customer = Customer.objects.get(pk=a.customer_id)
    assert (customer.phone, customer.platform_buyer) == ("138****5678", "tmall:buyer-a")
    # the same masked buyer id on another channel is another buyer
    other = take(report(channel_no(), channel="douyin", buyer_phone="138****5678", buyer_id="buyer-a")).order
    assert other.customer_id != a.customer_id


def test_real_phone_customers_stay_one_row_across_doors(api):
    channel = take(report(channel_no(), buyer_phone="+86 139-1111-2222", channel="douyin")).order
    payload = order_payload(customer={"name": "张三", "phone": "13911112222"})
    api_order = Order.objects.get(number=api.post("/api/v1/orders/", payload, format="json").json()["number"])
    assert channel.customer_id == api_order.customer_id
    assert Customer.objects.get(pk=channel.customer_id).phone == "13911112222"


def test_one_path_aliases_full_width_phones_masked_receivers_and_ship_by():
    SkuAlias.objects.create(sku=SkuFactory(code="MASK-001"), alias="tm-mask-sku")
    ship_by = later(48 * 60)
    r = report(
        channel_no(),
        lines=(("tm-mask-sku", 1, "99.00"),),
        buyer_phone="＋８６ １３８-００００-１１１１",
        receiver_phone="+86 138****1111",
        platform_ship_by=ship_by,
    )
    order = take(r).order
    order.refresh_from_db()
    assert order.lines.get().sku.code == "MASK-001"
    assert order.customer.phone == "13800001111" and order.receiver_phone == "138****1111"
    assert order.platform_ship_by == ship_by


def test_refund_report_on_a_held_duplicate_alerts_instead_of_a_second_hold():
    take(report(channel_no()))
    no = channel_no()
    take(report(no, channel="douyin"))
    result = take(report(no, channel="douyin", event=ChannelEvent.REFUND_REQUESTED, modified=later(5)))
    assert result.outcome == Outcome.UPDATED
    assert result.order.status == Status.ON_HOLD and result.order.alerts.count() == 1


def test_the_settings_row_is_read_once_per_process_and_seen_at_once_when_saved_here(django_assert_num_queries):
    first = take(report(channel_no())).order
    duplicate_settings()  # read (and kept) by the first new order's check
    second = take(report(channel_no(), channel="douyin")).order
    second = Order.objects.select_related("customer").get(pk=second.pk)
    with django_assert_num_queries(1):  # the twin query only: the row is this process's copy
        assert duplicate_twin_find(order=second).pk == first.pk

    # saved here (the admin's form calls the service): the next order sees it at once
    settings(enabled=False)
    assert take(report(channel_no(), channel="jd", ordered_at=later(5)), name="京东").outcome == Outcome.CREATED

    # changed by another process: seen here once the copy is older than DUPLICATE_SETTINGS_CACHE_SECONDS
    DuplicateSettings.objects.filter(pk=1).update(enabled=True)  # as another process's save
    assert not duplicate_settings().enabled
    with override_settings(DUPLICATE_SETTINGS_CACHE_SECONDS=0):
        assert duplicate_settings().enabled
