"""Working-time arithmetic: pure Python, no ORM (orders/services/deadlines.py builds the calendars from rows).

A `WorkCalendar` knows its working spans per weekday, its day overrides, and China's public holidays and 调休
make-up working days (the `chinese_calendar` package). Which spans a day has, in order of precedence:
1. an override of that date (working with its hours — the standard workday hours when it gives none — or not);
2. a statutory holiday (a day off), or a 调休 make-up day (worked with the standard workday hours);
3. the weekday's spans.
A year `chinese_calendar` does not know yet (it raises NotImplementedError) falls back to rule 1 and 3; the
caller shows a warning for it (`china_year_known`).

Times are Asia/Shanghai wall-clock times; spans are seconds from local midnight. Each day's spans are computed
once per calendar object and kept (sweeps and the paid path call this)."""

import functools
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

TZ = ZoneInfo("Asia/Shanghai")
DAY_SECONDS = 86400
# How far add() looks for working time before it gives up (a calendar without any working hours).
SEARCH_DAYS = 800

Span = tuple[int, int]


@functools.cache
def china_days(year: int) -> tuple[frozenset[date], frozenset[date]] | None:
    """China's statutory days off and 调休 make-up working days of `year`, or None when the package does not
    know that year yet."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return None
    holidays = frozenset(d for d in chinese_calendar.holidays if d.year == year)
    makeup = frozenset(d for d in chinese_calendar.workdays if d.year == year)
    return holidays, makeup


def china_year_known(year: int) -> bool:
    return china_days(year) is not None


def span_of(start: time, end: time) -> Span:
    """A span from wall-clock times; an end of 00:00 means midnight at the end of the day."""
    begin = start.hour * 3600 + start.minute * 60 + start.second
    finish = end.hour * 3600 + end.minute * 60 + end.second or DAY_SECONDS
    return begin, finish


def spans_merge(spans: Iterable[Span]) -> tuple[Span, ...]:
    merged: list[list[int]] = []
    for begin, finish in sorted(s for s in spans if s[1] > s[0]):
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], finish)
        else:
            merged.append([begin, finish])
    return tuple((b, f) for b, f in merged)


class WorkCalendar:
    """`weekly`: weekday (0 = Monday) → spans; `overrides`: date → spans (empty: not a working day, None:
    a working day with the standard workday hours); `china`: whether China's holidays and 调休 apply."""

    def __init__(
        self,
        *,
        weekly: dict[int, Iterable[Span]],
        overrides: dict[date, Iterable[Span] | None] | None = None,
        china: bool = True,
        name: str = "",
    ):
        self.name = name
        self.weekly = {day: spans_merge(weekly.get(day, ())) for day in range(7)}
        self.overrides = {
            day: (None if spans is None else spans_merge(spans)) for day, spans in (overrides or {}).items()
        }
        self.china = china
        # The hours of a standard workday: those of the first weekday (Mon–Fri) that has any.
        self.standard = next((self.weekly[d] for d in range(5) if self.weekly[d]), ())
        self._days: dict[date, tuple[Span, ...]] = {}

    def day_spans(self, day: date) -> tuple[Span, ...]:
        spans = self._days.get(day)
        if spans is None:
            spans = self._days[day] = self._day_spans(day)
        return spans

    def _day_spans(self, day: date) -> tuple[Span, ...]:
        if day in self.overrides:
            spans = self.overrides[day]
            return self.standard if spans is None else spans
        known = china_days(day.year) if self.china else None
        if known is not None:
            holidays, makeup = known
            if day in holidays:
                return ()
            if day in makeup:
                return self.weekly[day.weekday()] or self.standard
        return self.weekly[day.weekday()]

    def add_seconds(self, start: datetime, seconds: float) -> datetime | None:
        """The instant `seconds` of working time after `start` (start itself when seconds ≤ 0 and start is in
        working time, else the next working instant). None when no working time follows within SEARCH_DAYS."""
        local = start.astimezone(TZ)
        day = local.date()
        offset = (local - datetime.combine(day, time(), TZ)).total_seconds()
        left = max(seconds, 0)
        for _ in range(SEARCH_DAYS):
            for begin, finish in self.day_spans(day):
                if finish <= offset:
                    continue
                begin = max(begin, offset)
                if finish - begin >= left and (left > 0 or finish > begin):
                    return datetime.combine(day, time(), TZ) + timedelta(seconds=begin + left)
                left -= finish - begin
            day += timedelta(days=1)
            offset = 0
        return None

    def add_minutes(self, start: datetime, minutes: float) -> datetime | None:
        return self.add_seconds(start, minutes * 60)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds from start to end (negative when end is before start)."""
        if end < start:
            return -self.seconds_between(end, start)
        a, b = start.astimezone(TZ), end.astimezone(TZ)
        day, last = a.date(), b.date()
        total = 0.0
        while day <= last:
            midnight = datetime.combine(day, time(), TZ)
            low = (a - midnight).total_seconds() if day == a.date() else 0
            high = (b - midnight).total_seconds() if day == last else DAY_SECONDS
            for begin, finish in self.day_spans(day):
                total += max(0.0, min(finish, high) - max(begin, low))
            day += timedelta(days=1)
        return total

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return self.seconds_between(start, end) / 60

    def unknown_years(self, start: datetime, end: datetime) -> list[int]:
        """The years between two instants whose holidays the package does not know (the arithmetic used the
        weekly hours and overrides for them)."""
        if not self.china:
            return []
        years = range(start.astimezone(TZ).year, end.astimezone(TZ).year + 1)
        return [y for y in years if not china_year_known(y)]
