"""Day counting: the only place in the project that does date arithmetic (CASES.md §3).

Working days come from the official mainland calendar (the `chinesecalendar` package,
调休 included) or from user calendar files that add or override years. For a year nobody
supplied, weekends-only is used and every answer that touched such a year is flagged
provisional, so findings can say so instead of silently guessing.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import yaml

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Shifted:
    """A date computed by the calendar, with whether an unpublished year was consulted."""

    date: dt.date
    provisional_years: frozenset[int] = frozenset()

    @property
    def provisional(self) -> bool:
        return bool(self.provisional_years)


@dataclass(frozen=True)
class YearOverride:
    """A user-supplied year: its holidays and its adjusted working weekend days (调休)."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]


@dataclass(eq=False)  # identity equality, matching the identity hash the day caches key on
class Calendar:
    """The working-day calendar used by every engine.

    `weekend_rollover`: Civil Code art. 203 moves a period's last day off a rest day; courts
    count weekends as rest days, which is the default. Set False to roll only off
    statutory holidays.
    """

    overrides: dict[int, YearOverride] = field(default_factory=dict)
    weekend_rollover: bool = True

    # --- what a single day is -------------------------------------------------------
    def is_official_year(self, year: int) -> bool:
        return year in self.overrides or _package_knows(year)

    def is_workday(self, day: dt.date) -> bool:
        return _is_workday(self, day)

    def is_rest_for_rollover(self, day: dt.date) -> bool:
        """Whether art. 203 moves a last day that falls on `day`."""
        if self.weekend_rollover:
            return not self.is_workday(day)
        return self.is_statutory_holiday(day)

    def is_statutory_holiday(self, day: dt.date) -> bool:
        override = self.overrides.get(day.year)
        if override is not None:
            return day in override.holidays
        if _package_knows(day.year):
            return _package_holiday_name(day) is not None
        return False

    # --- periods and shifts (CASES.md §3) --------------------------------------------
    def days_after(self, start: dt.date, n: int) -> Shifted:
        """Last day of an N-day period from `start` (art. 201), rolled off rest days (art. 203)."""
        day = start + dt.timedelta(days=n)
        years = {start.year, day.year}
        while self.is_rest_for_rollover(day):
            day += ONE_DAY
            years.add(day.year)
        return Shifted(day, self._unofficial(years))

    def calendar_days_after(self, start: dt.date, n: int) -> Shifted:
        """Plain calendar arithmetic, for the rare rule that fixes an exact date."""
        return Shifted(start + dt.timedelta(days=n))

    def workdays_after(self, anchor: dt.date, n: int) -> Shifted:
        """The n-th working day strictly after `anchor` (n = 0: `anchor` itself)."""
        day, years = anchor, {anchor.year}
        remaining = n
        while remaining > 0:
            day += ONE_DAY
            years.add(day.year)
            if self.is_workday(day):
                remaining -= 1
        return Shifted(day, self._unofficial(years))

    def workdays_before(self, anchor: dt.date, n: int) -> Shifted:
        """The n-th working day counted back, strictly before `anchor`."""
        day, years = anchor, {anchor.year}
        remaining = n
        while remaining > 0:
            day -= ONE_DAY
            years.add(day.year)
            if self.is_workday(day):
                remaining -= 1
        return Shifted(day, self._unofficial(years))

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]."""
        count, day = 0, start
        while day < end:
            day += ONE_DAY
            if self.is_workday(day):
                count += 1
        return count

    # --- the same shifts for every day of a range at once (tables of the column-wise and z3 engines) ---
    def days_after_each(self, first: dt.date, last: dt.date, n: int) -> list[dt.date]:
        """`days_after(start, n).date` for every start in [first, last]: the period ends, each rolled
        off rest days by one backward pass over the days they fall on."""
        ends = _days(first + dt.timedelta(days=n), last + dt.timedelta(days=n))
        rolled = ends[-1]
        while self.is_rest_for_rollover(rolled):
            rolled += ONE_DAY
        result = []
        for day in reversed(ends):
            rolled = rolled if self.is_rest_for_rollover(day) else day
            result.append(rolled)
        return result[::-1]

    def workdays_after_each(self, first: dt.date, last: dt.date, n: int) -> list[dt.date]:
        """`workdays_after(anchor, n).date` for every anchor in [first, last]."""
        if n == 0:
            return _days(first, last)
        found: list[dt.date] = []  # the working days after `first`, up to n past `last`
        day, beyond = first, 0
        while beyond < n:
            day += ONE_DAY
            if self.is_workday(day):
                found.append(day)
                beyond += day > last
        return [found[bisect.bisect_right(found, anchor) + n - 1] for anchor in _days(first, last)]

    def workdays_before_each(self, first: dt.date, last: dt.date, n: int) -> list[dt.date]:
        """`workdays_before(anchor, n).date` for every anchor in [first, last]."""
        if n == 0:
            return _days(first, last)
        found: list[dt.date] = []  # the working days before `last`, down to n before `first`, latest first
        day, beyond = last, 0
        while beyond < n:
            day -= ONE_DAY
            if self.is_workday(day):
                found.append(day)
                beyond += day < first
        found.reverse()
        return [found[bisect.bisect_left(found, anchor) - n] for anchor in _days(first, last)]

    def next_workday(self, day: dt.date) -> dt.date:
        """`day` itself when it is a working day, else the first working day after it."""
        while not self.is_workday(day):
            day += ONE_DAY
        return day

    def unofficial_years(self, *days: dt.date) -> frozenset[int]:
        return self._unofficial({d.year for d in days})

    def _unofficial(self, years: set[int]) -> frozenset[int]:
        return frozenset(y for y in years if not self.is_official_year(y))


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _is_plain_weekend(day: dt.date) -> bool:
    return day.weekday() >= 5


def _package_holiday_name(day: dt.date) -> str | None:
    on_holiday, name = chinese_calendar.get_holiday_detail(day)
    return name if on_holiday else None


@lru_cache(maxsize=64)
def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=1 << 16)
def _is_workday(calendar: Calendar, day: dt.date) -> bool:
    override = calendar.overrides.get(day.year)
    if override is not None:
        if day in override.workdays:
            return True
        if day in override.holidays:
            return False
        return not _is_plain_weekend(day)
    if _package_knows(day.year):
        return chinese_calendar.is_workday(day)
    return not _is_plain_weekend(day)


# --- user calendar files ----------------------------------------------------------------
class CalendarFileError(ValueError):
    pass


def load_calendar_file(path: Path) -> list[YearOverride]:
    """Read a user calendar file.

    ```yaml
    years:
      - year: 2027
        holidays: [2027-01-01, {from: 2027-02-05, to: 2027-02-11}]
        workdays: [2027-02-14]        # adjusted working weekend days (调休)
    ```
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CalendarFileError(f"{path}: cannot read calendar file: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("years"), list):
        raise CalendarFileError(f"{path}: expected a mapping with a `years:` list")
    result = []
    for entry in doc["years"]:
        try:
            year = int(entry["year"])
            holidays = frozenset(_expand_days(entry.get("holidays", [])))
            workdays = frozenset(_expand_days(entry.get("workdays", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise CalendarFileError(f"{path}: bad year entry {entry!r}: {exc}") from exc
        stray = [d for d in holidays | workdays if d.year != year]
        if stray:
            raise CalendarFileError(f"{path}: year {year} lists dates of another year: {sorted(stray)[0]}")
        result.append(YearOverride(year, holidays, workdays))
    return result


def _expand_days(items: list) -> list[dt.date]:
    days: list[dt.date] = []
    for item in items:
        if isinstance(item, dict):
            first, last = _as_date(item["from"]), _as_date(item["to"])
            if last < first:
                raise ValueError(f"range ends before it starts: {item}")
            while first <= last:
                days.append(first)
                first += ONE_DAY
        else:
            days.append(_as_date(item))
    return days


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def build_calendar(files: list[Path] | None = None, weekend_rollover: bool = True) -> Calendar:
    overrides: dict[int, YearOverride] = {}
    for path in files or []:
        for year in load_calendar_file(path):
            overrides[year.year] = year
    return Calendar(overrides=overrides, weekend_rollover=weekend_rollover)


DEFAULT_CALENDAR = Calendar()
