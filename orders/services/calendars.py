"""Working calendars as people edit them: saving through the admin (the deadlines rebuild their calendars), the
warning about a year whose holidays chinese_calendar does not know, and the daily check that raises it once."""

from datetime import datetime, time

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from orders.calendar import TZ, china_year_known
from orders.models import Alert, PromiseSettings, WorkCalendar, WorkingHours
from orders.selectors import promise_thresholds_forget
from orders.services.alerts import alert_raise
from orders.services.deadlines import calendars_forget

YEAR_UNKNOWN_KEY = "calendar_year_unknown:%d"


def calendar_changed() -> None:
    """A calendar, its working hours or its overrides were saved: deadlines use the new ones from now on (this
    process at once after commit; other processes within deadlines.CALENDAR_TTL seconds)."""
    calendars_forget()
    transaction.on_commit(calendars_forget)


def calendar_save(*, calendar: WorkCalendar) -> WorkCalendar:
    calendar.save()
    calendar_changed()
    return calendar


def calendar_default_ensure() -> WorkCalendar | None:
    """The default calendar (Mon–Fri 09:00–18:00) the migration seeds, made again where there is no calendar at all
    (a database flushed by transactional tests, or set up without migrations' data). Existing calendars are left
    as people edited them."""
    if WorkCalendar.objects.exists():
        return None
    calendar = WorkCalendar.objects.create(name="默认工作日历", is_default=True)
    bulk_create_with_history(
        [WorkingHours(calendar=calendar, weekday=day, start=time(9), end=time(18)) for day in range(5)], WorkingHours
    )
    calendar_changed()
    return calendar


def unknown_years(*, now: datetime | None = None) -> list[int]:
    """This year and the next, where chinese_calendar does not know their holidays yet."""
    year = (now or timezone.now()).astimezone(TZ).year
    return [y for y in (year, year + 1) if not china_year_known(y)]


def calendar_warnings(*, now: datetime | None = None) -> list[str]:
    return [
        _(
            "The public holidays of %(year)d are unknown (chinese-calendar does not have them yet): working time "
            "in %(year)d follows the weekly hours. Please add the holidays and 调休 days as calendar overrides."
        )
        % {"year": year}
        for year in unknown_years(now=now)
        if WorkCalendar.objects.filter(use_china_holidays=True).exists()
    ]


def calendar_years_check(*, now: datetime | None = None) -> list[int]:
    """The daily check: one alert per unknown year (never raised again for that year, even once resolved).
    Returns the years alerted now."""
    raised = []
    if not WorkCalendar.objects.filter(use_china_holidays=True).exists():
        return raised
    for year in unknown_years(now=now):
        key = YEAR_UNKNOWN_KEY % year
        if Alert.objects.filter(dedupe_key=key).exists():
            continue
        alert_raise(
            kind=Alert.Kind.CALENDAR_YEAR_UNKNOWN,
            message=_("The public holidays of %(year)d are unknown: add them and the 调休 days as calendar overrides.")
            % {"year": year},
            dedupe_key=key,
        )
        raised.append(year)
    return raised


def promise_settings() -> PromiseSettings:
    """The one row of promise light thresholds (created with the defaults on first use)."""
    return PromiseSettings.objects.get_or_create(pk=1)[0]


def promise_settings_save(*, settings: PromiseSettings) -> PromiseSettings:
    settings.full_clean()
    settings.save()
    promise_thresholds_forget()
    transaction.on_commit(promise_thresholds_forget)
    return settings
