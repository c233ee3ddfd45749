import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order, Source, StatusNode
from orders.services.alerts import alert_raise
from orders.services.transitions import order_transition
from tests.factories import make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

CHANGELIST = reverse("admin:orders_order_changelist")


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def paid_order(**kw) -> Order:
    return order_transition(order=make_order(**kw), transition="pay", actor=None, source=Source.API)


def test_changelist_query_count_does_not_grow_with_orders(client, kefu, django_assert_max_num_queries):
    client.force_login(kefu)
    for _ in range(3):
        paid_order()
    with CaptureQueriesContext(connection) as few:
        assert client.get(CHANGELIST).status_code == 200
    for _ in range(25):
        paid_order()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.content.count(b'class="oh-status') == 28


@pytest.mark.parametrize("field", ["number", "channel_order_no", "phone"])
def test_changelist_search_finds_by_identifier(client, kefu, field):
    client.force_login(kefu)
    order = make_order(customer={"name": "赵六", "phone": "13512345678"})
    other = make_order()
    q = {"number": order.number, "channel_order_no": order.channel_order_no, "phone": "13512345678"}[field]
    response = client.get(CHANGELIST, {"q": q})
    assert order.number.encode() in response.content
    assert other.number.encode() not in response.content


def test_changelist_filters_render(client, kefu):
    client.force_login(kefu)
    paid_order()
    for params in [
        {"status__exact": "paid"},
        {"overdue": "yes"},
        {"priority__exact": "2"},
        {"channel__id__exact": "1"},
    ]:
        assert client.get(CHANGELIST, params).status_code == 200


def test_change_page_shows_node_settings_timeline_and_only_allowed_buttons(client, kefu, django_assert_max_num_queries):
    client.force_login(kefu)
    order = paid_order()
    with django_assert_max_num_queries(40):
        response = client.get(change_url(order))
    html = response.content.decode()
    assert response.status_code == 200
    assert "oh-timeline" in html and "支付已校验" in html
    assert "付款成功" in html  # the customer-facing label from the node settings
    assert 'data-transition="hold"' in html and 'data-transition="cancel"' in html
    assert 'data-transition="start_allocation"' not in html  # warehouse's step, not customer service's
    assert 'data-transition="pay"' not in html


def test_admin_transition_button_moves_order_and_records_actor(client, kefu):
    client.force_login(kefu)
    order = paid_order()
    url = reverse("admin:orders_order_transition", args=[order.pk])
    response = client.post(url, {"transition": "hold", "reason": "地址待确认"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "on_hold"
    event = order.events.order_by("-id").first()
    assert (event.actor, event.source, event.reason) == (kefu, "admin", "地址待确认")


def test_admin_refused_transition_shows_the_reason_and_changes_nothing(client, kefu):
    client.force_login(kefu)
    order = paid_order()
    url = reverse("admin:orders_order_transition", args=[order.pk])
    response = client.post(url, {"transition": "hold", "reason": ""}, follow=True)
    messages = [str(m) for m in get_messages(response.wsgi_request)] or [response.content.decode()]
    assert any("原因" in m for m in messages)
    order.refresh_from_db()
    assert order.status == "paid"
    assert client.get(url).status_code == 405


def test_status_cannot_be_changed_through_the_form(client, yunying):
    client.force_login(yunying)
    order = paid_order()
    response = client.get(change_url(order))
    assert b'name="status"' not in response.content


def test_orders_cannot_be_deleted_even_by_superuser(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw-12345")
    client.force_login(admin)
    order = make_order()
    response = client.post(reverse("admin:orders_order_delete", args=[order.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()


def test_legacy_order_page_is_read_only(client, yunying):
    client.force_login(yunying)
    order = make_order()
    Order.objects.filter(pk=order.pk).update(is_legacy=True)
    html = client.get(change_url(order)).content.decode()
    assert 'name="receiver_name"' not in html
    assert "data-transition=" not in html


def test_node_settings_editable_by_manager_not_by_customer_service(client, kefu, yunying):
    node = StatusNode.objects.get(status="paid")
    url = reverse("admin:orders_statusnode_change", args=[node.pk])
    client.force_login(kefu)
    assert client.post(url, {"status": "paid", "timeout_minutes": 5, "customer_label": "x"}).status_code == 403
    client.force_login(yunying)
    data = {
        "status": "paid",
        "timeout_minutes": "90",
        "clock": "clock",  # issue 13: clock or working time (the select always posts one)
        "customer_label": "付款成功",
        "customer_message": "",
        "escalations-TOTAL_FORMS": "0",
        "escalations-INITIAL_FORMS": "0",
    }
    assert client.post(url, data).status_code == 302
    node.refresh_from_db()
    assert node.timeout_minutes == 90
    assert node.history.first().history_user == yunying


def test_admin_home_shows_open_alerts(client, kefu):
    client.force_login(kefu)
    order = make_order()
    alert_raise(kind="stock_shortfall", message="MASK-001 缺货 3 件", order=order, owner_group=kefu.groups.get())
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="open-alerts"' in html and "MASK-001 缺货 3 件" in html and order.number in html


@pytest.mark.parametrize(
    "name",
    [
        "orders_channel",
        "orders_customer",
        "orders_statusnode",
        "orders_alert",
        "warehouse_sku",
        "warehouse_warehouse",
        "logistics_carrier",
    ],
)
def test_other_admin_lists_render(client, django_user_model, name):
    client.force_login(django_user_model.objects.create_superuser("root2", password="pw-12345"))
    make_order()
    assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_pages_are_chinese_first_even_for_english_browsers_and_english_is_selectable(client, kefu):
    client.force_login(kefu)
    zh = client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "选择 订单 来修改" in zh
    client.post(reverse("set_language"), {"language": "en", "next": CHANGELIST})
    en = client.get(CHANGELIST).content.decode()
    assert "Select order to change" in en
    assert "选择 订单 来修改" not in en
