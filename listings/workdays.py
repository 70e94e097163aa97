"""Working-day arithmetic on the Chinese calendar (工作日), in Asia/Shanghai dates.

Which days are working days comes from the State Council's notice published
each winter for the next year (statutory holidays and the weekends worked
instead, 调休). Two tables hold it:

- a year imported from the notice (``exchange calendar import``; stored by
  :mod:`listings.calendar_store`, which hands every stored year to
  :func:`install`). An imported year replaces everything else for that year;
- otherwise the ``chinesecalendar`` package (import name ``chinese_calendar``)
  for the years it ships.

A day that neither covers is never guessed at: every function that would
have to read it raises :class:`CalendarNotCovered`, naming the year. The
imported years live in this process's memory, so the functions stay pure and
synchronous; keeping them equal to the database is the store's job.

Convention (one for the whole code base): a period *from* ``start`` *to*
``end`` counts the days in the half-open interval ``(start, end]`` -- the
start day is not counted, the end day is (Civil Code art. 201: "开始的当日不计
入，自下一日开始计算"). Hence ``working_days_between(d, add_working_days(d, n))
== n`` and ``(end - start).days`` is the calendar-day count of the same
interval, so calendar-day and working-day rules read the same way.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import chinese_calendar

from exchange.errors import Unprocessable

__all__ = [
    "SHANGHAI",
    "CalendarNotCovered",
    "YearTable",
    "add_working_days",
    "covered",
    "imported_years",
    "install",
    "is_working_day",
    "last_covered_day",
    "local_date",
    "package_years",
    "version",
    "working_day_on_or_after",
    "working_days_between",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")

_ONE_DAY = timedelta(days=1)
# The package raises NotImplementedError outside the years its table spans;
# its own bounds are derived from the holiday table, so derive ours the same way.
_FIRST_YEAR: int = min(chinese_calendar.holidays).year
_LAST_YEAR: int = max(chinese_calendar.holidays).year


class CalendarNotCovered(Unprocessable):
    """A working-day count needs a day of a year no holiday table covers."""

    code = "calendar_not_covered"

    def __init__(self, day: date) -> None:
        super().__init__(
            f"working days in {day.year} cannot be counted: no holiday schedule for {day.year} "
            f"has been imported (the State Council's notice for {day.year}; an administrator "
            "imports it with `exchange calendar import`)",
            year=day.year,
        )
        self.day = day
        self.year = day.year


@dataclass(frozen=True, slots=True)
class YearTable:
    """One year of the State Council's notice: its holidays and the weekends worked (调休)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]

    def __post_init__(self) -> None:
        if any(d.year != self.year for d in self.holidays | self.workdays):
            raise ValueError(f"a day of the {self.year} table lies in another year")
        if self.holidays & self.workdays:
            raise ValueError("a day cannot be both a holiday and a working day")
        if any(d.weekday() < 5 for d in self.workdays):
            raise ValueError("an adjusted working day (调休) is a Saturday or a Sunday")

    def is_working_day(self, d: date) -> bool:
        if d in self.holidays:
            return False
        return d in self.workdays or d.weekday() < 5

    @property
    def digest(self) -> str:
        """SHA-256 of the table's content, the same however the file that gave it was laid out."""
        rows = [
            f"year,{self.year}",
            *(f"{d.isoformat()},holiday" for d in sorted(self.holidays)),
            *(f"{d.isoformat()},workday" for d in sorted(self.workdays)),
        ]
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()


# Replaced whole by install(), never changed in place: a reader sees the old
# tables or the new ones, never a mixture.
_imported: Mapping[int, YearTable] = MappingProxyType({})
_version: tuple[tuple[int, str], ...] = ()


def install(tables: Iterable[YearTable]) -> None:
    """Make ``tables`` the imported years of this process, replacing every earlier one."""
    global _imported, _version
    by_year = {table.year: table for table in tables}
    _imported = MappingProxyType(by_year)
    _version = tuple((year, by_year[year].digest) for year in sorted(by_year))


def version() -> tuple[tuple[int, str], ...]:
    """``(year, digest)`` of every imported year, in order: what the store compares with its rows."""
    return _version


def imported_years() -> tuple[int, ...]:
    return tuple(sorted(_imported))


def package_years() -> tuple[int, int]:
    """First and last year (inclusive) of the installed package's table."""
    return _FIRST_YEAR, _LAST_YEAR


def covered(year: int) -> bool:
    """Whether some table says which days of ``year`` are working days."""
    return year in _imported or _FIRST_YEAR <= year <= _LAST_YEAR


def last_covered_day() -> date:
    """The last day of the unbroken run of covered years that starts with the package's first."""
    year = _FIRST_YEAR
    while covered(year + 1):
        year += 1
    return date(year, 12, 31)


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware datetime.

    Naive datetimes are refused: guessing their zone is how a deadline ends
    up eight hours off.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}; an offset is required")
    return moment.astimezone(SHANGHAI).date()


def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day (aware datetimes are read in Asia/Shanghai).

    Raises :class:`CalendarNotCovered` for a day of a year no table covers.
    """
    d = _as_date(d)
    table = _imported.get(d.year)
    if table is not None:
        return table.is_working_day(d)
    if _FIRST_YEAR <= d.year <= _LAST_YEAR:
        return _package_says_working(d)
    raise CalendarNotCovered(d)


def working_day_on_or_after(d: date) -> date:
    """``d`` if it is a working day, else the next one (Civil Code art. 203: a period whose
    last day is a holiday ends on the day after the holiday)."""
    current = _as_date(d)
    while not is_working_day(current):
        current += _ONE_DAY
    return current


def add_working_days(d: date, n: int) -> date:
    """The ``n``-th working day after ``d``; for negative ``n`` the ``|n|``-th before it.

    ``n == 0`` returns ``d`` itself, working day or not. For ``n >= 1`` the
    result is the earliest ``e`` with ``working_days_between(d, e) == n``;
    for ``n <= -1`` it is a working day ``e`` with exactly ``|n|`` working
    days in ``[e, d)``. Raises :class:`CalendarNotCovered` at the first day
    of the walk that no table covers.
    """
    current = _as_date(d)
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        current += step
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days in the half-open interval ``(start, end]``.

    Negative when ``end`` is before ``start`` (minus the working days in
    ``(end, start]``), so the function is antisymmetric. Raises
    :class:`CalendarNotCovered` when a day of the interval is not covered.
    """
    start, end = _as_date(start), _as_date(end)
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    while current < end:
        current += _ONE_DAY
        if is_working_day(current):
            count += 1
    return count


@functools.cache
def _package_says_working(d: date) -> bool:
    # The package rescans its whole table for its year bounds on every call;
    # caching (at most ~365 entries per covered year) keeps long spans fast.
    return bool(chinese_calendar.is_workday(d))


def _as_date(d: date) -> date:
    # datetime is a subclass of date: read it in Shanghai instead of silently
    # dropping the time and zone.
    if isinstance(d, datetime):
        return local_date(d)
    return d
