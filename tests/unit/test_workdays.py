"""Working days on the Chinese calendar: the package's table, the convention, the fallback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listings import workdays
from listings.workdays import (
    add_working_days,
    calendar_note,
    calendar_notes,
    covered,
    covered_years,
    is_working_day,
    local_date,
    working_days_between,
)

UNCOVERED = 2031


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    # The once-per-year warning is process state; each test starts clean.
    workdays._warned_years.clear()
    yield
    workdays._warned_years.clear()


def test_2026_is_covered_and_2031_is_not() -> None:
    first, last = covered_years()
    assert first <= 2026 <= last
    assert covered(2026)
    assert not covered(UNCOVERED)
    assert calendar_note(2026) is None


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 18), True),  # Friday
        (date(2026, 9, 19), False),  # Saturday
        (date(2026, 9, 20), True),  # Sunday, adjusted working day (调休) for National Day
        (date(2026, 9, 25), False),  # Friday, Mid-Autumn Festival
        (date(2026, 9, 30), True),
        (date(2026, 10, 1), False),  # National Day holiday, Thu 1 .. Wed 7
        (date(2026, 10, 5), False),  # a Monday inside the holiday
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday, adjusted working day
        (date(2026, 10, 11), False),
    ],
)
def test_national_day_2026_from_the_package(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_add_working_days_across_national_day_2026() -> None:
    # Sep 30 (Wed) -> the holiday week is skipped, Saturday Oct 10 counts.
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert add_working_days(date(2026, 9, 30), 4) == date(2026, 10, 12)
    assert add_working_days(date(2026, 10, 8), -1) == date(2026, 9, 30)
    # Friday Sep 18 -> Sunday Sep 20 is the next working day.
    assert add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)
    assert add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_working_days_between_is_half_open() -> None:
    # (Sep 30, Oct 8]: only Oct 8; the start day never counts, the end day does.
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1
    assert working_days_between(date(2026, 10, 1), date(2026, 10, 7)) == 0
    assert working_days_between(date(2026, 9, 14), date(2026, 10, 16)) == 20
    assert working_days_between(date(2026, 10, 16), date(2026, 9, 14)) == -20
    assert working_days_between(date(2026, 10, 8), date(2026, 10, 8)) == 0


def test_aware_datetimes_are_read_in_shanghai() -> None:
    # 2026-09-30 17:00 UTC is already Oct 1, 01:00 in Shanghai: a holiday.
    moment = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    assert local_date(moment) == date(2026, 10, 1)
    assert not is_working_day(moment)
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 9, 30, 17, 0))


def test_uncovered_year_falls_back_to_monday_to_friday(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="listings.workdays")
    # 2031-01-01 is a Wednesday: a holiday in every real calendar, but the
    # table for 2031 does not exist yet, so Monday–Friday is all we may assume.
    assert is_working_day(date(2031, 1, 1))
    assert not is_working_day(date(2031, 1, 4))  # Saturday
    assert add_working_days(date(2031, 1, 3), 1) == date(2031, 1, 6)
    assert working_days_between(date(2031, 1, 5), date(2031, 1, 12)) == 5
    warnings = [r for r in caplog.records if r.name == "listings.workdays"]
    assert len(warnings) == 1, "warned once per year, not once per day"
    assert "calendar for 2031 not published yet; Monday–Friday assumed" in warnings[0].message
    assert calendar_note(UNCOVERED) == ("calendar for 2031 not published yet; Monday–Friday assumed")
    assert calendar_notes(date(2030, 12, 1), date(2031, 2, 1)) == [
        "calendar for 2030 not published yet; Monday–Friday assumed",
        "calendar for 2031 not published yet; Monday–Friday assumed",
    ]
    assert calendar_notes(date(2026, 9, 1), date(2026, 10, 31)) == []


def test_years_before_the_table_are_not_called_unpublished() -> None:
    first, _ = covered_years()
    note = calendar_note(first - 1)
    assert note is not None and "not available" in note


days = st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=days, n=st.integers(min_value=0, max_value=120))
def test_add_then_count_round_trips(start: date, n: int) -> None:
    end = add_working_days(start, n)
    assert working_days_between(start, end) == n
    if n > 0:
        # ... and it is the earliest such date, itself a working day.
        assert is_working_day(end)
        assert working_days_between(start, end - timedelta(days=1)) == n - 1


@settings(max_examples=300, deadline=None)
@given(start=days, n=st.integers(min_value=1, max_value=120))
def test_negative_counts_step_back_over_working_days(start: date, n: int) -> None:
    earlier = add_working_days(start, -n)
    assert is_working_day(earlier)
    # Exactly n working days lie in [earlier, start): the mirror of (start, end].
    assert working_days_between(earlier - timedelta(days=1), start - timedelta(days=1)) == n
    if is_working_day(start):
        assert add_working_days(earlier, n) == start


@settings(max_examples=300, deadline=None)
@given(a=days, b=days, c=days)
def test_counts_add_up_and_are_antisymmetric(a: date, b: date, c: date) -> None:
    assert working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)
    assert working_days_between(a, b) == -working_days_between(b, a)
    span = abs((b - a).days)
    assert 0 <= abs(working_days_between(a, b)) <= span
