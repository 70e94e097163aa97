"""Working-day arithmetic on the Chinese calendar (工作日), in Asia/Shanghai dates.

The table of statutory holidays and adjusted working weekends (调休) comes from
the ``chinesecalendar`` package (import name ``chinese_calendar``), which
follows the State Council notice published each winter for the next year. A
year the package does not cover yet is not guessed at: it is treated as
Monday to Friday, a warning is logged once per year, and
:func:`calendar_note` gives the sentence validation messages append.

Convention (one for the whole code base): a period *from* ``start`` *to*
``end`` counts the days in the half-open interval ``(start, end]`` -- the
start day is not counted, the end day is (Civil Code art. 201: "开始的当日不计
入，自下一日开始计算"). Hence ``working_days_between(d, add_working_days(d, n))
== n`` and ``(end - start).days`` is the calendar-day count of the same
interval, so calendar-day and working-day rules read the same way.
"""

from __future__ import annotations

import functools
import logging
import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "SHANGHAI",
    "add_working_days",
    "calendar_note",
    "calendar_notes",
    "covered",
    "covered_years",
    "is_working_day",
    "local_date",
    "working_days_between",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")

logger = logging.getLogger("listings.workdays")

_ONE_DAY = timedelta(days=1)
# The package raises NotImplementedError outside the years its table spans;
# its own bounds are derived from the holiday table, so derive ours the same way.
_FIRST_YEAR: int = min(chinese_calendar.holidays).year
_LAST_YEAR: int = max(chinese_calendar.holidays).year

_warned_years: set[int] = set()
_warned_lock = threading.Lock()


def covered_years() -> tuple[int, int]:
    """First and last year (inclusive) of the installed holiday table."""
    return _FIRST_YEAR, _LAST_YEAR


def covered(year: int) -> bool:
    """Whether the installed calendar has the holiday table of ``year``."""
    return _FIRST_YEAR <= year <= _LAST_YEAR


def calendar_note(year: int) -> str | None:
    """The sentence a validation message appends when ``year`` is assumed Mon–Fri."""
    if covered(year):
        return None
    if year > _LAST_YEAR:
        return f"calendar for {year} not published yet; Monday–Friday assumed"
    return f"calendar for {year} not available; Monday–Friday assumed"


def calendar_notes(start: date, end: date) -> list[str]:
    """Notes for every uncovered year touched by the dates between start and end."""
    lo, hi = sorted((_as_date(start), _as_date(end)))
    notes = (calendar_note(year) for year in range(lo.year, hi.year + 1))
    return [note for note in notes if note is not None]


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware datetime.

    Naive datetimes are refused: guessing their zone is how a deadline ends
    up eight hours off.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}; an offset is required")
    return moment.astimezone(SHANGHAI).date()


def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day (aware datetimes are read in Asia/Shanghai)."""
    d = _as_date(d)
    if covered(d.year):
        return _table_says_working(d)
    _warn_uncovered(d.year)
    return d.weekday() < 5


def add_working_days(d: date, n: int) -> date:
    """The ``n``-th working day after ``d``; for negative ``n`` the ``|n|``-th before it.

    ``n == 0`` returns ``d`` itself, working day or not. For ``n >= 1`` the
    result is the earliest ``e`` with ``working_days_between(d, e) == n``;
    for ``n <= -1`` it is a working day ``e`` with exactly ``|n|`` working
    days in ``[e, d)``.
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
    ``(end, start]``), so the function is antisymmetric.
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
def _table_says_working(d: date) -> bool:
    # The package rescans its whole table for its year bounds on every call;
    # caching (at most ~365 entries per covered year) keeps long spans fast.
    return bool(chinese_calendar.is_workday(d))


def _as_date(d: date) -> date:
    # datetime is a subclass of date: read it in Shanghai instead of silently
    # dropping the time and zone.
    if isinstance(d, datetime):
        return local_date(d)
    return d


def _warn_uncovered(year: int) -> None:
    with _warned_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    first, last = covered_years()
    logger.warning(
        "%s (chinesecalendar covers %d-%d; upgrade the package once the State Council notice is out)",
        calendar_note(year),
        first,
        last,
    )
