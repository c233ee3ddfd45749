"""No field a service owns is writable through an admin form, a history revert, a bulk action or an API serializer.

The walk: every registered admin, as every role, opens the change form of one existing row, then posts it back
with every service-owned field tampered; the row must not change.
"""

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import models
from django.test import RequestFactory
from django.urls import reverse
from rest_framework import serializers
from simple_history.admin import SimpleHistoryAdmin

from config.admin import HistoryAdmin
from logistics.models import WaybillNumberRange
from logistics.selectors import primary_parcel
from logistics.services import waybill_number_range_save, waybill_number_take
from orders import api as orders_api
from orders.drafts import Address
from orders.models import Alert, Order, Source, Status
from orders.roles import ROLES
from orders.services.address import order_change_address
from orders.services.alerts import alert_raise
from orders.services.transitions import order_transition
from rules import api as rules_api
from rules.models import Rule
from rules.services import rule_save
from tests.factories import CarrierFactory, make_order, user_with_role
from tests.orders.admin_forms import field_name, read_form
from tests.warehouse.fulfilment import printed_order
from warehouse import api as warehouse_api
from warehouse.models import Sku, StockLevel, StockMovement, StockReservation, Warehouse
from warehouse.services import breaker_update, reservation_save

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stocked")]

# Written by the service on every save (rule_save counts versions; auto_now stamps).
SAVE_STAMPS = {"version", "updated_at"}
HUB_APPS = {"orders", "rules", "warehouse", "logistics", "reports"}
ADDRESS = {
    "receiver_name": "李四",
    "receiver_phone": "13900001111",
    "province": "江苏",
    "city": "苏州",
    "district": "姑苏区",
    "address_detail": "平江路 8 号",
}


def in_transit_order() -> Order:
    order = printed_order()
    order = order_transition(order=order, transition="pick_up", actor=None, source=Source.SCAN)
    return order_transition(order=order, transition="transit", actor=None, source=Source.CARRIER)


@pytest.fixture
def world(stocked):
    """At least one row of every registered model, made through the services as in production."""
    order = in_transit_order()
    printed_order()
    paid = order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)
    order_change_address(order=paid, address=Address.from_order_fields(ADDRESS), reason="客户来电", actor=None)
    alert_raise(kind=Alert.Kind.OTHER, message="请回访", order=order)
    rule_save(
        rule=Rule(
            kind="tag",
            name="高额订单",
            condition={"all": [{"fact": "paid_amount", "op": "gte", "value": "100"}]},
            action={"tag": "高额"},
        ),
        actor=None,
        reason="test",
    )
    sku = Sku.objects.get(code="MASK-001")
    reservation_save(
        reservation=StockReservation(
            name="VIP 配额", kind=StockReservation.Kind.MEMBER, sku=sku, warehouse=stocked, member_levels=["vip"]
        ),
        quantity=5,
        actor=None,
    )
    breaker_update(backlog=10_000, average_wait_minutes=999)
    carrier = CarrierFactory(code="zhongtong-range", name="中通号段")
    waybill_number_range_save(
        number_range=WaybillNumberRange(carrier=carrier, prefix="ZT", first_number=1, next_number=1, last_number=9),
        actor=None,
    )
    waybill_number_take(carrier=carrier, key=f"{order.number}-1")
    return order


def registered() -> list[tuple[type[models.Model], admin.ModelAdmin]]:
    """Every admin with a table of its own (not django-rq's dashboard stand-in or DRF's token proxy)."""
    return [(m, a) for m, a in admin.site._registry.items() if m._meta.managed and not m._meta.proxy]


def owned_fields(model_admin: admin.ModelAdmin) -> tuple[str, ...]:
    if model_admin.model._meta.app_label in HUB_APPS:
        # Every hub admin states which fields its services own (an empty tuple is a decision too).
        assert hasattr(model_admin, "service_owned_fields"), f"{model_admin} declares no service_owned_fields"
    return tuple(getattr(model_admin, "service_owned_fields", ()))


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def values(obj, names) -> dict:
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    return {name: getattr(fresh, obj._meta.get_field(name).attname) for name in names}


def tampered(obj, name: str):
    """A value for `name` different from the stored one, as a form would post it (None: leave it out)."""
    field = obj._meta.get_field(name)
    current = getattr(obj, field.attname)
    if field.choices:
        return next(str(v) for v, _ in field.flatchoices if v != current and v not in ("", None))
    if isinstance(field, models.BooleanField):
        return None if current else "on"
    if isinstance(field, models.ForeignKey):
        other = field.related_model._default_manager.exclude(pk=current).values_list("pk", flat=True).first()
        return str(other) if other is not None else str(current)
    if isinstance(field, (models.IntegerField, models.DecimalField)):
        return str((current or 0) + 1000)
    if isinstance(field, models.DateTimeField):
        return "2001-02-03 04:05:06"
    if isinstance(field, models.JSONField):
        return '["tampered"]'
    return "tampered-1"[: field.max_length or 100]


def tamper(data: dict, obj, names) -> dict:
    data = dict(data)
    for name in names:
        if name not in {f.name for f in obj._meta.fields}:
            continue
        value = tampered(obj, name)
        if isinstance(obj._meta.get_field(name), models.DateTimeField):
            data[f"{name}_0"], data[f"{name}_1"] = value.split(" ")
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


@pytest.mark.parametrize("role", list(ROLES))
def test_admin_change_forms_every_role_cannot_write_service_owned_fields(client, world, role):
    # given: a user of this role and one row of every registered model
    user = user_with_role(role)
    client.force_login(user)
    walked = 0
    for model, model_admin in registered():
        owned = owned_fields(model_admin)
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        url = change_url(obj)
        # when: the role opens the change form
        page = client.get(url)
        assert page.status_code in (200, 302, 403), f"{role} {url}: {page.status_code}"
        data = {}
        if page.status_code == 200:
            walked += 1
            data, editable = read_form(page.content.decode(), f"{model._meta.model_name}_form")
            # then: no service-owned field is an input
            shown = {field_name(n) for n in editable}
            assert not shown & set(owned), f"{role} can edit {shown & set(owned)} of {model._meta.label}"
        # and posting the form back with every service-owned field changed changes none of them
        before = values(obj, [n for n in owned if n in {f.name for f in model._meta.fields}])
        forged = tamper(data, obj, before)
        client.post(url, forged)
        after = values(obj, before)
        for name in before:
            if name in SAVE_STAMPS:  # the service itself moves these on a save; never to the forged value
                assert str(after[name]) != forged.get(name), f"{role} forged {model._meta.label}.{name}"
            else:
                assert after[name] == before[name], f"{role} changed {model._meta.label}.{name}"
    assert walked >= 5, f"{role} opened only {walked} change forms"


def test_every_history_admin_refuses_revert(client, world, django_user_model):
    """simple-history's version page saves the whole old row; every admin with history must refuse it."""
    root = django_user_model.objects.create_superuser("root", password="pw-12345")
    client.force_login(root)
    checked = []
    for model, model_admin in registered():
        if not isinstance(model_admin, SimpleHistoryAdmin):
            continue
        assert isinstance(model_admin, HistoryAdmin), f"{model._meta.label}: use config.admin.HistoryAdmin"
        obj = model._default_manager.order_by("pk").first()
        if obj is None or not obj.history.exists():
            continue
        oldest = obj.history.order_by("history_id").first()
        fields = [f.name for f in model._meta.concrete_fields]
        before = values(obj, fields)
        data, _ = read_form(client.get(change_url(obj)).content.decode(), f"{model._meta.model_name}_form")
        url = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_simple_history", args=[obj.pk, oldest.pk]
        )
        response = client.post(url, data)
        assert response.status_code == 302
        assert values(obj, fields) == before, f"revert changed {model._meta.label}"
        history_page = client.get(response["Location"])
        assert history_page.status_code == 200
        checked.append(model._meta.label)
    assert {"orders.Order", "rules.Rule", "warehouse.AllocationSettings", "orders.StatusNode"} <= set(checked)


def test_history_revert_in_transit_order_post_changes_nothing(client, yunying):
    # given: an order in transit, whose first history row is 已下单 / unpaid without warehouse or parcel
    order = in_transit_order()
    events = order.events.count()
    levels = list(StockLevel.objects.values_list("on_hand", "locked", "reserved"))
    first = order.history.order_by("history_id").first()
    assert first.status == Status.PLACED
    client.force_login(yunying)
    data, _ = read_form(client.get(change_url(order)).content.decode(), "order_form")
    url = reverse("admin:orders_order_simple_history", args=[order.pk, first.history_id])
    # when: the history page's revert is posted
    response = client.post(url, data, follow=True)
    # then: nothing changed, and the page says why
    order.refresh_from_db()
    assert (order.status, order.payment_status) == (Status.IN_TRANSIT, Order.PaymentStatus.PAID)
    assert order.warehouse is not None and order.carrier is not None and primary_parcel(order=order) is not None
    assert order.events.count() == events
    assert list(StockLevel.objects.values_list("on_hand", "locked", "reserved")) == levels
    said = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "还原" in said and "没有任何更改" in said
    # and the version page offers no revert: it leads back to the readable list
    page = client.get(url)
    assert page.status_code == 302 and page["Location"].endswith(f"/orders/order/{order.pk}/history/")
    listing = client.get(page["Location"]).content.decode()
    assert "已下单" in listing and 'name="_save"' not in listing


def test_order_form_kefu_address_carrier_and_tags_of_printed_order_are_not_saved(client, kefu):
    # given: a printed order, and customer service on its page
    order = printed_order()
    owned = ["city", "address_detail", "carrier", "warehouse", "tags", "priority"]
    before = values(order, owned)
    parcel = primary_parcel(order=order)
    CarrierFactory(code="yuantong", name="圆通")
    Warehouse.objects.create(code="BJ01", name="北京仓")
    client.force_login(kefu)
    html = client.get(change_url(order)).content.decode()
    data, editable = read_form(html, "order_form")
    # when: the form is posted with a new address, another parcel and other tags and priority
    data.update(city="苏州", address_detail="平江路 8 号", tracking_number="YT999", tags='["x"]', priority="2")
    data.update(carrier=str(order.carrier_id + 1), warehouse=str(Warehouse.objects.get(code="BJ01").pk))
    client.post(change_url(order), data)
    # then: nothing of it is saved (the tracking number is the registry's: the same parcel, no new one)
    assert values(order, before) == before
    assert primary_parcel(order=order) == parcel and order.shipments.count() == 1
    # and the form shows them read-only, offering the service buttons instead
    assert not (set(owned) | {"tracking_number"}) & editable
    assert parcel.tracking_number in html
    for name in ("address", "priority", "tags"):
        assert reverse(f"admin:orders_order_{name}", args=[order.pk]) in html


def test_order_form_invoice_title_saves_through_service_with_actor_and_timeline(client, kefu):
    order = printed_order()
    client.force_login(kefu)
    data, editable = read_form(client.get(change_url(order)).content.decode(), "order_form")
    assert "invoice_title" in editable and "promised_ship_by_0" in editable
    data["invoice_title"] = "杭州某某科技有限公司"
    response = client.post(change_url(order), data)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.invoice_title == "杭州某某科技有限公司"
    assert order.history.first().history_user == kefu
    event = order.events.order_by("-id").first()
    assert event.actor == kefu and "杭州某某科技有限公司" in event.reason
    assert event.data["invoice_title"] == {"old": "", "new": "杭州某某科技有限公司"}


def test_order_form_in_transit_order_promised_ship_by_is_read_only(client, kefu):
    order = in_transit_order()
    client.force_login(kefu)
    _, editable = read_form(client.get(change_url(order)).content.decode(), "order_form")
    assert "invoice_title" in editable
    assert not {"promised_ship_by_0", "promised_ship_by_1"} & editable


def test_history_page_caiwu_sees_users_as_text_and_admin_as_links(client, caiwu, kefu, django_user_model):
    order = order_transition(order=make_order(), transition="pay", actor=None, source=Source.API)
    order_change_address(order=order, address=Address.from_order_fields(ADDRESS), reason="客户来电", actor=kefu)
    url = reverse("admin:orders_order_history", args=[order.pk])
    user_link = reverse("admin:auth_user_change", args=[kefu.pk])
    client.force_login(caiwu)
    page = client.get(url).content.decode()
    assert client.get(url).status_code == 200
    assert "kefu" in page and user_link not in page
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-12345"))
    assert user_link in client.get(url).content.decode()


# --- bulk actions: each one reviewed to call a service; a new one must be added here after review ---
REVIEWED_ACTIONS = {
    # print_pick_list: a redirect to the pick list page, writes nothing; release_holds: order_transition per
    # order; acknowledge_alerts: alert_acknowledge per open alert of the selected orders
    # get_waybills_and_print: orders_waybills_obtain (order_waybill_obtain per order), then a link to the label PDF
    "orders.Order": {"print_pick_list", "get_waybills_and_print", "release_holds", "acknowledge_alerts"},
    "orders.Alert": {"acknowledge"},  # alert_acknowledge
    "orders.AddressChange": {"intercepted", "intercept_failed"},  # address_change_resolve
    "rules.Rule": {"switch_on", "switch_off"},  # rule_save
    "warehouse.StockReservation": {"end_quotas"},  # reservation_end
    "logistics.Shipment": {"retry_waybill_cancel"},  # waybills_cancel_retry (only cancel_failed ones)
    "orders.OutboxMessage": {"retry"},  # outbox_messages_retry (重新推送, only dead letters)
    "orders.Notification": {"retry"},  # notifications_retry (重新发送, only dead rows)
    "orders.InboxDelivery": {"replay"},  # inbox_delivery_replay (its rejected orders, via=replay)
    "orders.IntakeRecord": {"replay"},  # inbox_delivery_replay of the record's one order
}
# Actions that write nothing, offered on many lists: 导出所选 (config.admin_export.XlsxExportMixin, a download).
READ_ONLY_ACTIONS = {"export_selected_xlsx"}


def test_bulk_actions_are_only_the_reviewed_service_calls(django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-12345")
    request = RequestFactory().get("/admin/")
    request.user = root
    for model, model_admin in registered():
        if model._meta.app_label not in HUB_APPS:
            continue
        actions = set(model_admin.get_actions(request)) - READ_ONLY_ACTIONS
        # delete_selected deletes rows without any service: only plain master data may keep it
        assert actions - {"delete_selected"} == REVIEWED_ACTIONS.get(model._meta.label, set()), model._meta.label
        if owned_fields(model_admin):
            assert "delete_selected" not in actions, f"{model._meta.label} can be bulk-deleted"


def test_api_serializers_have_no_writable_service_owned_fields():
    owned = {m: set(owned_fields(a)) for m, a in registered()}
    checked = 0
    for module in (orders_api, rules_api, warehouse_api):
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, serializers.ModelSerializer)):
                continue
            model = value.Meta.model
            writable = {name for name, f in value().fields.items() if not f.read_only}
            # An *Out serializer is only ever rendered; an *In one must not take what services own.
            if value.__name__.endswith("Out"):
                continue
            checked += 1
            assert not writable & owned.get(model, set()), f"{value.__name__} writes {writable & owned[model]}"
    assert checked >= 1  # rules.api.RuleIn
    intake = set(orders_api.OrderIn().fields)  # creates through order_create; there is no order update API
    assert not {"status", "payment_status", "warehouse", "carrier", "tracking_number"} & intake


def test_registered_hub_admins_declare_service_owned_fields():
    for model, model_admin in registered():
        owned_fields(model_admin)
        for name in owned_fields(model_admin):
            model._meta.get_field(name)  # a typo would silently leave a field writable
    assert {"status", "priority", "tags"} <= set(owned_fields(admin.site._registry[Order]))
    # the tracking number is the parcel registry's: shown read-only, never a field of the order's form
    assert "tracking_number" in admin.site._registry[Order].readonly_fields
    assert {"on_hand", "locked"} <= set(owned_fields(admin.site._registry[StockLevel]))
    assert {"on_hand_delta", "order"} <= set(owned_fields(admin.site._registry[StockMovement]))
