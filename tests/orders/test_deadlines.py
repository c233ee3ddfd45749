"""Status-node deadlines: working time on the order's calendar, pauses that keep the time left (several in a
row, no double counting), a changed timeout applying only to orders that enter after it, the order page saying
what the deadline runs on, and the daily check of a year whose holidays are unknown."""

from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import translation

from orders.calendar import TZ
from orders.models import Alert, CalendarDay, NodeClock, Source, Status, StatusNode, WorkCalendar, WorkingHours
from orders.services.allocation import order_allocate_queued
from orders.services.calendars import calendar_warnings, calendar_years_check
from orders.services.deadlines import calendars_forget, deadline_basis_text, deadline_enter, node_settings_forget
from orders.services.transitions import order_transition
from tests.factories import SkuFactory, WarehouseFactory, make_order, stock_in

pytestmark = pytest.mark.django_db


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def calendar_with(name: str, *, default=False, warehouse=None, hours=((0, 5, 9, 18),)) -> WorkCalendar:
    """A calendar with working hours (weekday from, weekday to inclusive, hour from, hour to)."""
    if default:
        calendar = WorkCalendar.objects.get(is_default=True)  # seeded by the migration
        calendar.name = name
        calendar.save()
        calendar.hours.all().delete()
    else:
        calendar = WorkCalendar.objects.create(name=name, warehouse=warehouse)
    for first, last, start, end in hours:
        for day in range(first, last):
            WorkingHours.objects.create(calendar=calendar, weekday=day, start=time(start), end=time(end))
    calendars_forget()
    return calendar


def node_set(status: str, **values) -> StatusNode:
    node = StatusNode.objects.get(status=status)
    for name, value in values.items():
        setattr(node, name, value)
    node.save()
    node_settings_forget()  # as the node admin does: this transaction reads the new settings
    return node


def move(order, to_status: str, now: datetime):
    """What the lifecycle core does on a transition, at a chosen instant."""
    from_status, order.status = order.status, to_status
    deadline_enter(order=order, from_status=from_status, now=now)
    return order


def test_working_time_node_counts_on_the_warehouse_calendar_else_the_default():
    calendar_with("总部", default=True)
    warehouse = WarehouseFactory(code="BJ09")
    calendar_with("北京仓", warehouse=warehouse, hours=((0, 6, 8, 20),))  # Mon–Sat 08:00–20:00
    node_set("allocated", timeout_minutes=120, clock=NodeClock.WORKING)
    order = make_order()
    order.status = Status.ALLOCATING

    move(order, Status.ALLOCATED, at(2026, 11, 20, 17))  # Friday 17:00, no warehouse: the default calendar
    assert order.state_deadline == at(2026, 11, 23, 10)
    assert order.deadline_basis["clock"] == "working" and order.deadline_basis["calendar_name"] == "总部"

    order.status, order.warehouse = Status.ALLOCATING, warehouse
    move(order, Status.ALLOCATED, at(2026, 11, 20, 19))  # the warehouse works Saturdays 08–20
    assert order.state_deadline == at(2026, 11, 21, 9)
    assert order.deadline_basis["calendar_name"] == "北京仓"


def test_a_node_owned_by_a_team_counts_on_the_team_calendar():
    calendar_with("总部", default=True)
    team = calendar_with("仓库班组", hours=((0, 7, 8, 22),))  # every day 08:00–22:00
    team.group = Group.objects.get(name="仓库")
    team.save()
    calendars_forget()
    node_set("allocated", timeout_minutes=60, clock=NodeClock.WORKING, owner_group=team.group)
    order = make_order()
    order.status = Status.ALLOCATING
    move(order, Status.ALLOCATED, at(2026, 11, 21, 21, 30))  # Saturday evening: the team works until 22:00
    assert order.state_deadline == at(2026, 11, 22, 8, 30)
    assert order.deadline_basis["calendar_name"] == "仓库班组"


def test_working_time_over_national_day_and_a_tiaoxiu_saturday():
    calendar_with("总部", default=True)
    node_set("allocated", timeout_minutes=120, clock=NodeClock.WORKING)
    order = make_order()
    order.status = Status.ALLOCATING
    move(order, Status.ALLOCATED, at(2026, 9, 30, 17))
    assert order.state_deadline == at(2026, 10, 8, 10)
    order.status = Status.ALLOCATING
    move(order, Status.ALLOCATED, at(2026, 10, 9, 17))
    assert order.state_deadline == at(2026, 10, 10, 10)  # the 调休 Saturday works


def test_an_override_day_off_moves_the_deadline():
    calendar = calendar_with("总部", default=True)
    CalendarDay.objects.create(calendar=calendar, date=datetime(2026, 11, 23).date(), is_working=False, note="团建")
    calendars_forget()
    node_set("allocated", timeout_minutes=60, clock=NodeClock.WORKING)
    order = make_order()
    order.status = Status.ALLOCATING
    move(order, Status.ALLOCATED, at(2026, 11, 20, 17, 30))
    assert order.state_deadline == at(2026, 11, 24, 9, 30)


def test_pause_and_resume_twice_without_double_counting():
    node_set("allocated", timeout_minutes=240, clock=NodeClock.CLOCK, pause_states=[Status.ON_HOLD])
    node_set("on_hold", timeout_minutes=120)
    order = make_order()
    order.status = Status.ALLOCATING
    t0 = at(2026, 11, 16, 9)
    move(order, Status.ALLOCATED, t0)
    assert order.state_deadline == t0 + timedelta(minutes=240)

    move(order, Status.ON_HOLD, t0 + timedelta(minutes=60))  # 180 min left
    assert order.state_deadline == t0 + timedelta(minutes=180)  # the hold's own deadline (120 min)
    assert order.deadline_basis["paused"]["remaining"] == 180 * 60
    move(order, Status.ALLOCATED, t0 + timedelta(minutes=120))  # released after 60 min
    assert order.state_deadline == t0 + timedelta(minutes=300)
    assert order.deadline_basis["paused_seconds"] == 3600 and "paused" not in order.deadline_basis

    move(order, Status.ON_HOLD, t0 + timedelta(minutes=180))  # 120 min left
    move(order, Status.ALLOCATED, t0 + timedelta(minutes=300))  # held another 120 min
    assert order.state_deadline == t0 + timedelta(minutes=420)  # 240 min of work + 180 min paused
    assert order.deadline_basis["paused_seconds"] == 3 * 3600


def test_pause_in_working_time_keeps_working_minutes_left():
    calendar_with("总部", default=True)
    node_set("allocated", timeout_minutes=120, clock=NodeClock.WORKING, pause_states=[Status.ON_HOLD])
    order = make_order()
    order.status = Status.ALLOCATING
    move(order, Status.ALLOCATED, at(2026, 11, 16, 17))  # deadline Tue 10:00
    move(order, Status.ON_HOLD, at(2026, 11, 16, 17, 30))  # 90 working minutes left
    move(order, Status.ALLOCATED, at(2026, 11, 18, 15))  # released Wednesday 15:00
    assert order.state_deadline == at(2026, 11, 18, 16, 30)


def test_leaving_for_a_state_that_does_not_pause_drops_the_pause():
    node_set("allocated", timeout_minutes=240, pause_states=[Status.ON_HOLD])
    order = make_order()
    order.status = Status.ALLOCATING
    t0 = at(2026, 11, 16, 9)
    move(order, Status.ALLOCATED, t0)
    move(order, Status.ON_HOLD, t0 + timedelta(minutes=60))
    move(order, Status.CANCELLED, t0 + timedelta(minutes=90))
    assert order.deadline_basis == {} and order.state_deadline is None


def test_a_changed_timeout_applies_to_orders_that_enter_after_the_change():
    node_set("allocated", timeout_minutes=240, pause_states=[Status.ON_HOLD])
    t0 = at(2026, 11, 16, 9)
    waiting = make_order()
    waiting.status = Status.ALLOCATING
    move(waiting, Status.ALLOCATED, t0)
    move(waiting, Status.ON_HOLD, t0 + timedelta(minutes=60))

    node_set("allocated", timeout_minutes=30)
    move(waiting, Status.ALLOCATED, t0 + timedelta(minutes=90))  # resumes on the 240 it entered with
    assert waiting.state_deadline == t0 + timedelta(minutes=90 + 180)
    assert waiting.deadline_basis["minutes"] == 240

    newcomer = make_order()
    newcomer.status = Status.ALLOCATING
    move(newcomer, Status.ALLOCATED, t0 + timedelta(minutes=90))
    assert newcomer.state_deadline == t0 + timedelta(minutes=120)
    assert newcomer.deadline_basis["minutes"] == 30


@pytest.mark.usefixtures("stocked")
def test_hold_and_release_through_the_lifecycle_resume_the_node_clock(client, kefu):
    node_set("allocated", timeout_minutes=600, pause_states=[Status.ON_HOLD])
    order = make_order()
    for name, changes in [("pay", {}), ("start_allocation", {}), ("allocate", {"warehouse": "SH01"})]:
        order = order_transition(order=order, transition=name, actor=None, source=Source.SYSTEM, changes=changes)
    first_deadline = order.state_deadline
    order = order_transition(order=order, transition="hold", actor=kefu, source=Source.ADMIN, reason="核对地址")
    order.refresh_from_db()
    assert order.deadline_basis["paused"]["node"] == "allocated"

    client.force_login(kefu)
    with translation.override("zh-hans"):
        page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "已暂停" in page and "仓单已生成" in page  # the paused node and what is left

    order = order_transition(order=order, transition="release", actor=kefu, source=Source.ADMIN)
    order.refresh_from_db()
    assert order.status == Status.ALLOCATED
    # the time left continues: the new deadline is the old one moved by the (short) time on hold
    assert first_deadline <= order.state_deadline < first_deadline + timedelta(minutes=5)
    with translation.override("zh-hans"):
        text = deadline_basis_text(order)
    assert text.startswith("按 600 分钟（自然时间）计时，已暂停")


def test_order_page_names_working_time_and_calendar():
    calendar_with("总部", default=True)
    node_set("allocated", timeout_minutes=120, clock=NodeClock.WORKING)
    order = make_order()
    order.status = Status.ALLOCATING
    move(order, Status.ALLOCATED, at(2026, 11, 16, 9))
    with translation.override("zh-hans"):
        assert deadline_basis_text(order) == "按 120 分钟（工作时间, 日历 总部）计时，已暂停 0 分钟。"


def test_unknown_year_warns_and_alerts_once(client, kefu, yunying):
    now = at(2026, 12, 1, 9)
    with translation.override("zh-hans"):
        assert calendar_warnings(now=now)[0].startswith("2027 年法定节假日未知")
    assert calendar_years_check(now=now) == [2027]
    assert calendar_years_check(now=now) == []  # once
    alert = Alert.objects.get(kind=Alert.Kind.CALENDAR_YEAR_UNKNOWN)
    assert alert.owner_group.name == "运营主管" and alert.dedupe_key == "calendar_year_unknown:2027"
    alert.resolved_at = now
    alert.save()
    assert calendar_years_check(now=now) == []  # never again for that year
    assert calendar_years_check(now=at(2026, 6, 1)) == []  # already alerted for 2027

    client.force_login(kefu)
    with translation.override("zh-hans"):
        home = client.get("/admin/").content.decode()
        calendars = client.get("/admin/orders/workcalendar/").content.decode()
    assert "年法定节假日未知" in home and "年法定节假日未知" in calendars


def test_the_allocation_job_pauses_the_allocating_clock_when_it_holds_for_stock(stocked, manual_allocation):
    """The job's one lock read brings the node settings (SQL JSON objects): its stock hold pauses 'allocating'."""
    manual_allocation.auto_allocate = True
    manual_allocation.save()
    stock_in(SkuFactory(code="RARE-1", name="限量礼盒"), stocked, 1)
    calendar_with("总部", default=True)
    node_set("allocating", timeout_minutes=90, clock=NodeClock.WORKING, pause_states=[Status.ON_HOLD])
    order = make_order(lines=[{"sku": "RARE-1", "quantity": 3, "unit_price": "50.00"}])
    order = order_transition(order=order, transition="pay", actor=None, source=Source.API)
    order.refresh_from_db()
    assert order.status == Status.ALLOCATING and order.deadline_basis["clock"] == "working"
    assert order_allocate_queued(order_id=order.pk) == "held"
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD
    paused = order.deadline_basis["paused"]
    assert paused["node"] == "allocating" and paused["basis"]["minutes"] == 90 and paused["remaining"] <= 90 * 60
