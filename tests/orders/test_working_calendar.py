"""Working-time arithmetic (orders/calendar.py, no database): nights, weekends, 国庆, a 调休 Saturday, overrides,
several spans a day, the year boundary into a year chinese_calendar does not know."""

from datetime import date, datetime, time

from orders.calendar import TZ, WorkCalendar, china_year_known, span_of

OFFICE = {day: [span_of(time(9), time(18))] for day in range(5)}  # Mon–Fri 09:00–18:00


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_add_over_a_night():
    calendar = WorkCalendar(weekly=OFFICE)
    # Monday 2026-11-16 17:00 + 2 h: one hour today, one tomorrow morning
    assert calendar.add_minutes(at(2026, 11, 16, 17), 120) == at(2026, 11, 17, 10)
    assert calendar.minutes_between(at(2026, 11, 16, 17), at(2026, 11, 17, 10)) == 120


def test_add_over_a_weekend_and_before_opening():
    calendar = WorkCalendar(weekly=OFFICE)
    assert calendar.add_minutes(at(2026, 11, 20, 17, 30), 60) == at(2026, 11, 23, 9, 30)  # Fri → Mon
    assert calendar.add_minutes(at(2026, 11, 21, 23), 30) == at(2026, 11, 23, 9, 30)  # Saturday night → Mon
    assert calendar.minutes_between(at(2026, 11, 20, 17), at(2026, 11, 23, 10)) == 120


def test_add_over_national_day_holiday():
    calendar = WorkCalendar(weekly=OFFICE)
    # 2026-10-01..07 are days off (国庆), Thursday 10-08 is the next workday
    assert calendar.add_minutes(at(2026, 9, 30, 17), 120) == at(2026, 10, 8, 10)
    assert calendar.minutes_between(at(2026, 9, 30, 17), at(2026, 10, 9, 10)) == 60 + 540 + 60


def test_a_tiaoxiu_saturday_is_a_workday():
    calendar = WorkCalendar(weekly=OFFICE)
    # Saturday 2026-10-10 is a 调休 make-up workday: standard hours
    assert calendar.day_spans(date(2026, 10, 10)) == ((9 * 3600, 18 * 3600),)
    assert calendar.add_minutes(at(2026, 10, 9, 17), 120) == at(2026, 10, 10, 10)
    # …and an ordinary Saturday is not
    assert calendar.add_minutes(at(2026, 10, 16, 17), 120) == at(2026, 10, 19, 10)


def test_china_holidays_can_be_switched_off():
    calendar = WorkCalendar(weekly=OFFICE, china=False)
    assert calendar.add_minutes(at(2026, 9, 30, 17), 120) == at(2026, 10, 1, 10)


def test_overrides_win_over_weekly_hours_and_holidays():
    calendar = WorkCalendar(
        weekly=OFFICE,
        overrides={
            date(2026, 11, 23): [],  # a Monday off (company trip)
            date(2026, 10, 2): [span_of(time(10), time(12))],  # a holiday worked 10–12
            date(2026, 11, 28): None,  # a Saturday worked with the standard hours
        },
    )
    assert calendar.add_minutes(at(2026, 11, 20, 17, 30), 60) == at(2026, 11, 24, 9, 30)
    assert calendar.add_minutes(at(2026, 9, 30, 17), 120) == at(2026, 10, 2, 11)
    assert calendar.add_minutes(at(2026, 11, 27, 17), 120) == at(2026, 11, 28, 10)


def test_several_spans_a_day_and_saturday_morning():
    weekly = {day: [span_of(time(9), time(12)), span_of(time(13), time(18))] for day in range(5)}
    weekly[5] = [span_of(time(9), time(12))]
    calendar = WorkCalendar(weekly=weekly)
    assert calendar.add_minutes(at(2026, 11, 16, 11, 30), 60) == at(2026, 11, 16, 13, 30)  # lunch skipped
    assert calendar.add_minutes(at(2026, 11, 20, 17), 120) == at(2026, 11, 21, 10)  # Saturday morning
    assert calendar.add_minutes(at(2026, 11, 21, 11), 120) == at(2026, 11, 23, 10)


def test_year_boundary_into_a_year_the_package_does_not_know():
    calendar = WorkCalendar(weekly=OFFICE)
    assert china_year_known(2026) and not china_year_known(2027)
    # no crash: 2027 follows the weekly hours (Friday 2027-01-01 counts as a workday until an override says not)
    assert calendar.add_minutes(at(2026, 12, 31, 17), 120) == at(2027, 1, 1, 10)
    assert calendar.minutes_between(at(2026, 12, 31, 17), at(2027, 1, 4, 10)) == 60 + 540 + 60
    assert calendar.unknown_years(at(2026, 12, 31), at(2027, 1, 4)) == [2027]
    fixed = WorkCalendar(weekly=OFFICE, overrides={date(2027, 1, 1): []})
    assert fixed.add_minutes(at(2026, 12, 31, 17), 120) == at(2027, 1, 4, 10)


def test_edges_zero_negative_and_no_working_time():
    calendar = WorkCalendar(weekly=OFFICE)
    assert calendar.add_minutes(at(2026, 11, 16, 20), 0) == at(2026, 11, 17, 9)  # next working instant
    assert calendar.minutes_between(at(2026, 11, 17, 10), at(2026, 11, 16, 17)) == -120
    assert WorkCalendar(weekly={}).add_minutes(at(2026, 11, 16, 9), 60) is None
