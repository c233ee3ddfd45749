"""The customer's public tracking page /track/: lookup, masking, rate limit, signed links."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import timezone

from logistics.models import Shipment, TrackingEvent
from logistics.selectors import tracking_link_token
from logistics.services import shipment_register
from logistics.views import NOT_FOUND, TOO_MANY
from orders.models import Source, Status
from orders.services.transitions import order_transition
from tests.factories import CarrierFactory, make_order

pytestmark = pytest.mark.django_db

URL = "/track/"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">')


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def shipped_order(*, tracking_number="SF1234567890", stalled=False, **payload):
    order = make_order(**payload)
    shipment = Shipment.objects.create(
        order=order,
        channel=order.channel,
        carrier=CarrierFactory(),
        tracking_number=tracking_number,
        stalled_since=timezone.now() - timedelta(hours=40) if stalled else None,
    )
    now = timezone.now()
    for minutes, description, location in (
        (300, "快递员已揽收", "杭州"),
        (120, "快件已到达上海转运中心", "上海"),
        (30, "快件正在派送中", "上海浦东"),
    ):
        TrackingEvent.objects.create(
            shipment=shipment,
            occurred_at=now - timedelta(minutes=minutes),
            description=description,
            location=location,
            fingerprint=f"{tracking_number}-{minutes}",
            received_via="poll",
            raw={},
        )
    return order


def post(client: Client, number: str, last4: str, ip: str = "10.0.0.1"):
    return client.post(URL, {"number": number, "last4": last4}, REMOTE_ADDR=ip)


def test_track_get_shows_bilingual_mobile_form(client):
    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert 'name="viewport"' in html
    assert "订单号或运单号" in html and "Order or tracking number" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "客服热线 400-000-0000" in html


def test_track_post_by_order_number_and_last4_shows_order(client):
    # given
    order = shipped_order()

    # when: lower case, surrounding spaces
    response = post(client, f"  {order.number.lower()} ", "5678")

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert order.number in html
    assert "已下单" in html  # placed: the StatusNode's customer label
    assert "顺丰速运" in html and "SF1234567890" in html
    assert html.index("快件正在派送中") < html.index("快件已到达上海转运中心") < html.index("快递员已揽收")
    assert "上海浦东" in html


def test_track_post_by_shipment_tracking_number_shows_order(client):
    order = shipped_order(tracking_number="YT9876543210")

    response = post(client, "yt 9876 5432 10", "5678")

    assert response.status_code == 200
    assert order.number in response.content.decode()


def test_track_post_by_number_registered_before_printing_shows_order(client):
    # a number enters the registry as soon as it exists (here: typed for an order not yet printed)
    order = make_order()
    shipment_register(order=order, carrier=CarrierFactory(), tracking_number="ZT555000111", source="manual")

    response = post(client, "ZT555000111", "5678")

    assert response.status_code == 200
    assert order.number in response.content.decode()


def test_track_post_wrong_number_and_wrong_phone_answer_identically(client):
    order = shipped_order()

    wrong_number = post(client, "OH00000000NOPE", "5678")
    wrong_phone = post(client, order.number, "0000")

    assert wrong_number.status_code == wrong_phone.status_code == 404
    body_a = CSRF_INPUT.sub("", wrong_number.content.decode())
    body_b = CSRF_INPUT.sub("", wrong_phone.content.decode())
    assert body_a == body_b
    assert NOT_FOUND in body_a
    assert order.number not in body_a


def test_track_post_wrong_number_and_wrong_phone_run_the_same_queries(client, django_assert_num_queries):
    order = shipped_order()

    # The two lookups, then the day's lookup counter (one upsert, the same whatever the answer).
    with django_assert_num_queries(3):
        assert post(client, "OH00000000NOPE", "5678").status_code == 404
    with django_assert_num_queries(3):
        assert post(client, order.number, "0000").status_code == 404


def test_track_post_malformed_last4_is_refused(client):
    order = shipped_order()

    response = post(client, order.number, "56a8")

    assert response.status_code == 400
    assert order.number not in response.content.decode()


def test_track_post_eleventh_attempt_from_same_ip_is_429(client):
    order = shipped_order()
    for i in range(10):
        assert post(client, f"OH-NOPE-{i}", "1234", ip="10.1.1.1").status_code == 404

    response = post(client, order.number, "5678", ip="10.1.1.1")

    assert response.status_code == 429
    assert TOO_MANY in response.content.decode()
    assert order.number not in response.content.decode()
    # another client is not affected
    assert post(client, order.number, "5678", ip="10.1.1.2").status_code == 200


def test_track_post_eleventh_attempt_on_same_number_from_other_ips_is_429(client):
    order = shipped_order()
    assert post(client, order.number, "5678", ip="10.2.0.1").status_code == 200  # successes count too
    for i in range(9):
        assert post(client, order.number, f"{i:04d}", ip=f"10.2.1.{i}").status_code == 404

    response = post(client, f" {order.number.lower()} ", "5678", ip="10.2.2.2")

    assert response.status_code == 429
    assert TOO_MANY in response.content.decode()
    # another number from the same new IP is not affected
    assert post(client, "OH-OTHER", "1234", ip="10.2.2.3").status_code == 404


def test_track_order_page_masks_receiver(client):
    order = shipped_order()

    html = post(client, order.number, "5678").content.decode()

    assert "张*" in html
    assert "张三" not in html
    assert "138****5678" in html
    assert "13812345678" not in html
    assert "浙江杭州西湖区" in html
    assert "文三路" not in html


def test_track_order_page_has_no_database_ids(client):
    # given: ids far from any digits the page shows otherwise
    with connection.cursor() as cursor:
        for table in ("orders_order", "logistics_shipment", "logistics_trackingevent"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT last_value FROM pg_sequences WHERE sequencename = '{table}_id_seq') + 987654321)"
            )
    order = shipped_order()
    shipment = order.shipments.get()
    ids = [order.pk, shipment.pk, *shipment.events.values_list("pk", flat=True)]
    assert min(ids) > 987654321

    html = post(client, order.number, "5678").content.decode()
    link_html = client.get(f"/track/o/{tracking_link_token(order)}/").content.decode()

    for pk in ids:
        assert str(pk) not in html
        assert str(pk) not in link_html


def test_track_link_with_valid_token_shows_order(client):
    order = shipped_order()
    token = tracking_link_token(order)

    response = client.get(f"/track/o/{token}/")

    assert response.status_code == 200
    assert order.number in response.content.decode()
    assert "138****5678" in response.content.decode()


def test_track_link_with_tampered_token_is_404_with_form(client):
    order = shipped_order()
    token = tracking_link_token(order)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    for bad in (tampered, "nonsense", "e30:1abc:xyz"):
        response = client.get(f"/track/o/{bad}/")
        assert response.status_code == 404
        html = response.content.decode()
        assert NOT_FOUND in html
        assert 'id="track-form"' in html
        assert order.number not in html


def test_track_order_page_shows_stall_notice_when_stalled(client):
    stalled = shipped_order(tracking_number="SF1111111111", stalled=True)
    moving = shipped_order(tracking_number="SF2222222222")
    notice = "物流信息暂未更新，我们已联系快递公司核实"

    assert notice in post(client, stalled.number, "5678").content.decode()
    assert notice not in post(client, moving.number, "5678").content.decode()


def test_track_order_page_timeline_ticks_done_and_highlights_current(client):
    order = make_order()
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)

    html = post(client, order.number, "5678").content.decode()

    assert re.search(r'<li class="done" data-status="placed"[^>]*>已下单</li>', html)
    assert re.search(r'<li class="current" data-status="paid" aria-current="step">付款成功</li>', html)
    assert re.search(r'<li class="todo" data-status="delivered"[^>]*>已签收</li>', html)


def test_track_order_page_side_exit_shows_node_label_and_message(client):
    order = make_order()
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    order = order_transition(order=order, transition="cancel", actor=None, source=Source.ADMIN, reason="客户要求")
    assert order.status == Status.CANCELLED

    html = post(client, order.number, "5678").content.decode()

    assert '<p class="status-now" id="status-label">已取消</p>' in html
    assert "订单已取消。" in html
    assert re.search(r'<li class="done" data-status="paid"[^>]*>付款成功</li>', html)
    assert 'class="current"' not in html


def test_track_lookup_and_page_run_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    order = shipped_order()
    for n in range(3):
        Shipment.objects.create(
            order=order, channel=order.channel, carrier=CarrierFactory(), tracking_number=f"SF900000000{n}"
        )

    # Each with the day's lookup counter (one upsert).
    with django_assert_max_num_queries(6):
        response = post(client, order.number, "5678")
    assert response.status_code == 200
    with django_assert_max_num_queries(6):
        assert client.get(f"/track/o/{tracking_link_token(order)}/").status_code == 200


def test_track_order_page_shows_one_step_for_nodes_sharing_a_label(client):
    # given: allocating and allocated both read 备货中 for the customer (default node settings)
    order = make_order()
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    order = order_transition(order=order, transition="start_allocation", actor=None, source=Source.SYSTEM)

    html = post(client, order.number, "5678").content.decode()

    assert html.count(">备货中</li>") == 1
    assert re.search(r'<li class="current" data-status="allocating" aria-current="step">备货中</li>', html)


def test_track_order_page_shows_expected_delivery_from_first_event_and_carrier_days(client):
    order = shipped_order(tracking_number="SF3333333333")
    first = timezone.localtime(timezone.now() - timedelta(minutes=300)).date()
    expected = first + timedelta(days=3)  # the carrier's usual 3 days
    html = post(client, order.number, "5678").content.decode()
    assert f"{expected:%Y-%m-%d}" in html and "预计送达" in html
    Shipment.objects.filter(tracking_number="SF3333333333").update(is_finished=True)
    assert "预计送达" not in post(client, order.number, "5678").content.decode()
