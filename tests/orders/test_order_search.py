"""Order search as customer service types it: partial phones and names, not only exact identifiers."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from orders import selectors
from orders.admin import OrderAdmin
from tests.factories import make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]


def order_for(customer_name: str, customer_phone: str, receiver_name: str, receiver_phone: str):
    return make_order(
        customer={"name": customer_name, "phone": customer_phone},
        shipping_address={
            "receiver": receiver_name,
            "phone": receiver_phone,
            "province": "浙江",
            "city": "杭州",
            "detail": "文三路 100 号",
        },
    )


@pytest.fixture
def orders():
    """Three orders whose customers and receivers differ, so each kind of match can be told apart."""
    return {
        "mum": order_for("李四", "13900001111", "李四妈妈", "13712345678"),
        "office": order_for("王五", "13655556666", "赵六", "15800001111"),
        "other": order_for("孙七", "18812340000", "孙七", "18812340000"),
    }


def numbers(ids: list[int], orders: dict) -> set[str]:
    by_pk = {o.pk: key for key, o in orders.items()}
    return {by_pk[pk] for pk in ids}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("1111", {"mum", "office"}),  # mum's customer phone, office's receiver phone
        ("5678", {"mum"}),  # receiver phone only
        ("6666", {"office"}),  # customer phone only
        ("0000", {"other"}),
        ("9999", set()),
    ],
)
def test_order_lookup_ids_last_four_digits_match_customer_or_receiver_phone(orders, q, expected):
    assert numbers(selectors.order_lookup_ids(q=q), orders) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("1371234", {"mum"}),  # receiver phone, 7 leading digits
        ("1390000", {"mum"}),  # customer phone
        ("1365555666", {"office"}),  # 10 digits
        ("1881234", {"other"}),
        ("138123", set()),  # 6 digits are too few to mean a phone
        ("1371235", set()),
    ],
)
def test_order_lookup_ids_leading_digits_match_phone_prefix(orders, q, expected):
    assert numbers(selectors.order_lookup_ids(q=q), orders) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("李四", {"mum"}),  # customer name, and the start of the receiver's
        ("李四妈妈", {"mum"}),  # receiver name
        ("赵六", {"office"}),  # receiver only
        ("王五", {"office"}),  # customer only
        ("孙", {"other"}),  # a prefix
        ("四", set()),  # not the start of any name
    ],
)
def test_order_lookup_ids_name_matches_customer_or_receiver_by_prefix(orders, q, expected):
    assert numbers(selectors.order_lookup_ids(q=q), orders) == expected


def test_order_lookup_ids_newest_first_and_cut_at_limit(orders):
    newer = order_for("李四", "13900001111", "李四", "13900001111")
    assert selectors.order_lookup_ids(q="1111", limit=2) == [newer.pk, orders["office"].pk]


@pytest.mark.parametrize("q", ["1111", "1390000", "李四", "13900001111", "TM-NOPE-1"])
def test_order_lookup_ids_query_count_does_not_grow_with_matches(orders, q, django_assert_num_queries):
    with CaptureQueriesContext(connection) as few:
        selectors.order_lookup_ids(q=q)
    for _ in range(6):
        order_for("李四", "13900001111", "李四", "13900001111")
    with django_assert_num_queries(len(few.captured_queries)):
        ids = selectors.order_lookup_ids(q=q)
    assert len(few.captured_queries) <= 6
    assert len(ids) in (0, 7, 8)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")
@pytest.mark.parametrize(
    ("q", "indexes"),
    [
        ("1111", ["order_receiver_phone_last4", "customer_phone_last4"]),
        ("1390000", ["order_receiver_phone_like", "orders_customer_phone_"]),
        ("李四", ["order_receiver_name_like", "customer_name_like"]),
    ],
)
def test_order_lookup_ids_partial_matches_can_use_their_indexes(orders, q, indexes):
    # given: the queries the search runs for this kind of input (the last two are the partial matches)
    with CaptureQueriesContext(connection) as ctx:
        selectors.order_lookup_ids(q=q)
    partial = [query["sql"] for query in ctx.captured_queries[-2:]]
    # when: PostgreSQL plans them with sequential scans ruled out, as on a million orders
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in partial:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("SET LOCAL enable_seqscan = on")
    # then: each one reads its own index (a LIKE on a plain btree or RIGHT() without its index could not)
    for plan, index in zip(plans, indexes, strict=True):
        assert index in plan, plan


def test_order_list_api_q_finds_by_name_and_last_four_digits(api, orders):
    by_name = api.get("/api/v1/orders/", {"q": "赵六"}).json()
    assert [o["number"] for o in by_name["results"]] == [orders["office"].number]
    by_digits = api.get("/api/v1/orders/", {"q": "5678"}).json()
    assert [o["number"] for o in by_digits["results"]] == [orders["mum"].number]
    lookup = api.get("/api/v1/orders/lookup/", {"q": "1365555"}).json()
    assert [o["number"] for o in lookup] == [orders["office"].number]


def test_order_admin_search_kefu_finds_by_last_four_digits_with_chinese_help(client, kefu, orders):
    client.force_login(kefu)
    page = client.get("/admin/orders/order/", {"q": "6666"})
    assert page.status_code == 200
    html = page.content.decode()
    assert orders["office"].number in html and orders["mum"].number not in html
    with translation.override("zh-hans"):
        help_text = str(OrderAdmin.search_help_text)
    assert "后4位" in help_text and "姓名" in help_text
    assert help_text in html
