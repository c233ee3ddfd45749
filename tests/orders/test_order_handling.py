"""Priority, tags and the free details of an order change only through orders/services/handling.py."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from config.exceptions import Conflict, Forbidden, InvalidInput
from orders.models import Order, OrderEvent, Source
from orders.services.handling import order_set_details, order_set_priority, order_set_tags
from orders.services.transitions import order_transition
from tests.factories import make_order
from tests.orders.admin_forms import read_form
from tests.orders.test_admin_service_owned import in_transit_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]


def paid_order() -> Order:
    return order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)


def notes(order: Order):
    return order.events.filter(kind=OrderEvent.Kind.NOTE)


def test_order_set_priority_with_reason_records_history_and_one_event(kefu):
    order = paid_order()
    order = order_set_priority(order=order, priority=Order.Priority.URGENT, actor=kefu, reason="VIP 客户催单")
    order.refresh_from_db()
    assert order.priority == Order.Priority.URGENT
    record = order.history.first()
    assert record.history_user == kefu and "VIP 客户催单" in record.history_change_reason
    (event,) = notes(order)
    assert event.actor == kefu and event.source == Source.ADMIN
    assert "普通 → 紧急" in event.reason and "VIP 客户催单" in event.reason
    assert event.data == {"priority": {"old": 0, "new": 2}}


@pytest.mark.parametrize(("priority", "reason", "field"), [(2, "  ", "reason"), (7, "加急", "priority")])
def test_order_set_priority_bad_input_is_refused_naming_the_field(kefu, priority, reason, field):
    order = paid_order()
    with pytest.raises(InvalidInput) as refused:
        order_set_priority(order=order, priority=priority, actor=kefu, reason=reason)
    assert refused.value.extra["field"] == field
    order.refresh_from_db()
    assert order.priority == Order.Priority.NORMAL and not notes(order).exists()


def test_order_set_priority_delivered_or_legacy_order_is_refused(kefu):
    delivered = order_transition(order=in_transit_order(), transition="deliver", actor=None, source=Source.CARRIER)
    with pytest.raises(Conflict):
        order_set_priority(order=delivered, priority=2, actor=kefu, reason="晚了")
    legacy = paid_order()
    Order.objects.filter(pk=legacy.pk).update(is_legacy=True)
    with pytest.raises(Conflict):
        order_set_priority(order=legacy, priority=2, actor=kefu, reason="旧单")
    with pytest.raises(Conflict):
        order_set_tags(order=legacy, tags=["旧"], actor=kefu)
    assert Order.objects.get(pk=legacy.pk).priority == Order.Priority.NORMAL


def test_order_set_priority_without_change_permission_is_forbidden(caiwu):
    order = paid_order()
    with pytest.raises(Forbidden):
        order_set_priority(order=order, priority=2, actor=caiwu, reason="财务要求")
    assert Order.objects.get(pk=order.pk).priority == Order.Priority.NORMAL


def test_order_set_tags_adds_and_removes_with_one_event(kefu):
    order = make_order(tags=["高意向", "复购"])
    order = order_set_tags(order=order, tags=["高意向", "加急", "加急", " 回访 "], actor=kefu, reason="客户来电")
    order.refresh_from_db()
    assert order.tags == ["高意向", "加急", "回访"]
    (event,) = notes(order)
    assert event.data["tags"]["added"] == ["加急", "回访"] and event.data["tags"]["removed"] == ["复购"]
    assert "高意向、复购 → 高意向、加急、回访" in event.reason
    assert order.history.first().history_user == kefu


def test_order_set_tags_too_long_tag_is_refused_naming_the_field(kefu):
    order = make_order()
    with pytest.raises(InvalidInput) as refused:
        order_set_tags(order=order, tags=["x" * 33], actor=kefu)
    assert refused.value.extra["field"] == "tags"
    assert Order.objects.get(pk=order.pk).tags == []


def test_order_set_details_in_transit_promised_ship_by_is_refused_invoice_title_allowed(kefu):
    order = in_transit_order()
    with pytest.raises(Conflict) as refused:
        order_set_details(
            order=order, invoice_title="", promised_ship_by=timezone.now() + timedelta(days=1), actor=kefu
        )
    assert refused.value.extra["field"] == "promised_ship_by"
    order = order_set_details(order=order, invoice_title="某某公司", promised_ship_by=None, actor=kefu)
    assert Order.objects.get(pk=order.pk).invoice_title == "某某公司"


def test_admin_priority_page_kefu_sets_priority_and_caiwu_is_refused(client, kefu, caiwu):
    order = paid_order()
    url = reverse("admin:orders_order_priority", args=[order.pk])
    client.force_login(caiwu)
    order_page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'id="oh-set-priority"' not in order_page
    assert client.post(url, {"priority": "2", "reason": "x"}).status_code == 403
    client.force_login(kefu)
    page = client.get(url)
    assert page.status_code == 200 and "设置优先级" in page.content.decode()
    refused = client.post(url, {"priority": "2", "reason": ""})
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    assert client.post(url, {"priority": "2", "reason": "VIP"}).status_code == 302
    assert Order.objects.get(pk=order.pk).priority == Order.Priority.URGENT


def test_admin_tags_page_kefu_removes_one_and_adds_two(client, kefu):
    order = make_order(tags=["高意向", "复购"])
    url = reverse("admin:orders_order_tags", args=[order.pk])
    client.force_login(kefu)
    data, editable = read_form(client.get(url).content.decode(), "tags-form")
    assert data["keep"] == ["高意向", "复购"] and {"keep", "add", "reason"} <= editable
    response = client.post(url, {"keep": ["复购"], "add": "加急，回访", "reason": ""})
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).tags == ["复购", "加急", "回访"]
    assert notes(order).count() == 1
