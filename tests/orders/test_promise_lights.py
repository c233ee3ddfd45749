"""Promise lights: green / yellow / red from the earlier of the seller's promise and the platform's ship-by
deadline, thresholds from PromiseSettings; computed in SQL for the order list, its filter and the admin home
counters; on the order page and in the API; the settings and calendars pages as 客服 (view) and 运营主管 (edit)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from orders import selectors
from orders.models import NodeClock, Order, PromiseSettings, Status, StatusNode, WorkCalendar
from orders.services.calendars import promise_settings, promise_settings_save
from tests.factories import make_order, order_payload

pytestmark = pytest.mark.django_db


def order_at(status: str, *, promised=None, platform=None) -> Order:
    order = make_order(
        promised_ship_by=promised and promised.isoformat(), platform_ship_by=platform and platform.isoformat()
    )
    # Test set-up only: put the order straight into the status the light depends on.
    Order.objects.filter(pk=order.pk).update(status=status)
    return order


def lights(now) -> dict[str, str]:
    qs = selectors.with_promise_light(Order.objects.all(), now=now)
    return dict(qs.values_list("number", "promise_light"))


@pytest.fixture
def cases():
    now = timezone.now().replace(microsecond=0)
    h = timedelta(hours=1)
    return now, {
        "none": order_at(Status.PAID),
        "green": order_at(Status.PAID, promised=now + 10 * h),
        "yellow_printed": order_at(Status.PRINTED, promised=now + 1 * h),  # printed: < 2 h is only yellow
        "yellow_paid": order_at(Status.PAID, promised=now + 5 * h),
        "red_not_printed": order_at(Status.ALLOCATED, platform=now + 1 * h),
        "red_late": order_at(Status.PRINTED, promised=now - 1 * h),
        "earliest_drives": order_at(Status.PAID, promised=now + 10 * h, platform=now + 3 * h),
        "shipped": order_at(Status.PICKED_UP, promised=now - 1 * h),
        "cancelled": order_at(Status.CANCELLED, promised=now - 1 * h),
    }


def test_each_light_in_sql_and_in_memory_agree(cases):
    now, orders = cases
    expected = {
        "none": "",
        "green": "green",
        "yellow_printed": "yellow",
        "yellow_paid": "yellow",
        "red_not_printed": "red",
        "red_late": "red",
        "earliest_drives": "yellow",
        "shipped": "green",
        "cancelled": "",
    }
    got = lights(now)
    assert {name: got[order.number] for name, order in orders.items()} == expected
    for name, order in orders.items():
        order.refresh_from_db()
        assert selectors.promise_light_of(order, now=now) == expected[name], name
    assert selectors.promise_light_counts(now=now) == {"green": 1, "yellow": 3, "red": 2}


def test_thresholds_are_settings(cases):
    now, orders = cases
    settings = promise_settings()
    settings.yellow_hours, settings.red_hours = 12, 6
    promise_settings_save(settings=settings)
    got = lights(now)
    assert got[orders["green"].number] == "yellow"  # 10 h left < 12 h
    assert got[orders["yellow_paid"].number] == "red"  # 5 h left < 6 h, not printed
    assert got[orders["yellow_printed"].number] == "yellow"
    settings.red_hours = 20
    with pytest.raises(ValidationError) as refused:
        promise_settings_save(settings=settings)
    assert "red_hours" in refused.value.message_dict
    assert PromiseSettings.objects.get().red_hours == 6  # nothing saved


def test_order_list_column_filter_and_fixed_query_count(client, kefu, cases, django_assert_num_queries):
    now, orders = cases
    client.force_login(kefu)
    client.get("/admin/orders/order/")  # warm the session and permission caches
    # session, user, permissions, channels and warehouses (filters), count, the page of orders with their lights,
    # the date hierarchy's two reads: the lights are part of the statements, not a read per row
    with django_assert_num_queries(9):
        page = client.get("/admin/orders/order/?promise=red").content.decode()
    assert orders["red_not_printed"].number in page and orders["red_late"].number in page
    assert orders["green"].number not in page and orders["yellow_paid"].number not in page
    assert 'data-light="red"' in page
    for _ in range(5):
        order_at(Status.PAID, promised=now - timedelta(hours=3))
    with django_assert_num_queries(9):  # more red orders, the same statements
        page = client.get("/admin/orders/order/?promise=red").content.decode()
    assert page.count('data-light="red"') == 7


def test_order_page_home_counters_and_api(client, api, kefu, cases):
    _now, orders = cases
    client.force_login(kefu)
    with translation.override("zh-hans"):
        page = client.get(f"/admin/orders/order/{orders['red_late'].pk}/change/").content.decode()
        home = client.get("/admin/").content.decode()
    assert 'data-light="red"' in page and "红灯" in page
    assert 'href="/admin/orders/order/?promise=red"' in home
    assert 'data-light="red"><th scope="row"><a href="/admin/orders/order/?promise=red">' in home

    detail = api.get(f"/api/v1/orders/{orders['yellow_paid'].number}/").json()
    assert detail["promise_light"] == "yellow"
    listed = {row["number"]: row["promise_light"] for row in api.get("/api/v1/orders/?page_size=50").json()["results"]}
    assert listed[orders["red_late"].number] == "red" and listed[orders["none"].number] == ""


def test_created_order_answer_carries_its_light(api):
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    response = api.post("/api/v1/orders/", order_payload(promised_ship_by=soon), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["promise_light"] == "red"  # 1 h left, not printed


def test_customer_service_views_calendars_and_settings_read_only(client, kefu):
    client.force_login(kefu)
    calendar = WorkCalendar.objects.get(is_default=True)
    page = client.get(f"/admin/orders/workcalendar/{calendar.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    settings = promise_settings()
    page = client.get(f"/admin/orders/promisesettings/{settings.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/orders/workcalendar/{calendar.pk}/change/", {"name": "x"}).status_code == 403


def test_manager_edits_calendar_override_settings_and_node_clock(client, yunying):
    client.force_login(yunying)
    calendar = WorkCalendar.objects.get(is_default=True)
    hours = list(calendar.hours.all())
    data = {
        "name": calendar.name,
        "is_default": "on",
        "use_china_holidays": "on",
        "hours-TOTAL_FORMS": str(len(hours)),
        "hours-INITIAL_FORMS": str(len(hours)),
        "days-TOTAL_FORMS": "1",
        "days-INITIAL_FORMS": "0",
        "days-0-date": "2027-01-01",
        "days-0-is_working": "",
        "days-0-note": "元旦",
    }
    for i, row in enumerate(hours):
        data.update(
            {
                f"hours-{i}-id": row.pk,
                f"hours-{i}-calendar": calendar.pk,
                f"hours-{i}-weekday": row.weekday,
                f"hours-{i}-start": "09:00",
                f"hours-{i}-end": "18:00",
            }
        )
    response = client.post(f"/admin/orders/workcalendar/{calendar.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    override = calendar.days.get()
    assert (str(override.date), override.is_working, override.history.get().history_user) == (
        "2027-01-01",
        False,
        yunying,
    )

    # an override with hours on a day off is refused, nothing saved
    data.update({"days-TOTAL_FORMS": "2", "days-INITIAL_FORMS": "1", "days-0-id": override.pk})
    data.update(
        {"days-0-calendar": calendar.pk, "days-1-date": "2027-01-02", "days-1-start": "10:00", "days-1-end": "12:00"}
    )
    with translation.override("zh-hans"):
        response = client.post(f"/admin/orders/workcalendar/{calendar.pk}/change/", data)
    assert response.status_code == 200 and "填写了工作时间的日期必须是工作日" in response.content.decode()
    assert calendar.days.count() == 1

    settings = promise_settings()
    response = client.post(f"/admin/orders/promisesettings/{settings.pk}/change/", {"yellow_hours": 8, "red_hours": 3})
    assert response.status_code == 302
    assert PromiseSettings.objects.get().yellow_hours == 8

    node = StatusNode.objects.get(status="allocated")
    response = client.post(
        f"/admin/orders/statusnode/{node.pk}/change/",
        {
            "timeout_minutes": 120,
            "clock": NodeClock.WORKING,
            "calendar": calendar.pk,
            "pause_states": ["on_hold", "exception"],
            "customer_label": node.customer_label,
            "customer_message": node.customer_message,
            "escalations-TOTAL_FORMS": "0",
            "escalations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    node.refresh_from_db()
    assert (node.clock, node.calendar, node.pause_states) == ("working", calendar, ["on_hold", "exception"])
