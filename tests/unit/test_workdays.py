"""Working days on the Chinese calendar: the package's table, imported years, and no guessing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listings import workdays
from listings.workdays import (
    CalendarNotCovered,
    YearTable,
    add_working_days,
    covered,
    imported_years,
    install,
    is_working_day,
    last_covered_day,
    local_date,
    package_years,
    working_days_between,
)
from tests.support.calendar import fixture_2027

FIRST, LAST = package_years()


@pytest.fixture(autouse=True)
def nothing_imported() -> Iterator[None]:
    # The imported years are process state (an app of an earlier test may have loaded some).
    install(())
    yield
    install(())


def test_the_package_covers_2026_and_nothing_later() -> None:
    assert LAST == 2026, "a new chinesecalendar: check the tests that rely on 2027 being uncovered"
    assert covered(2026) and not covered(2027)
    assert last_covered_day() == date(2026, 12, 31)
    assert imported_years() == ()


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


def test_a_year_no_table_covers_is_refused_not_guessed() -> None:
    # 2027-01-01 is a Friday: a holiday in every notice, a working day to a Monday-to-Friday guess.
    with pytest.raises(CalendarNotCovered) as refused:
        is_working_day(date(2027, 1, 1))
    assert refused.value.code == "calendar_not_covered" and refused.value.status == 422
    assert refused.value.year == 2027 and "2027" in refused.value.detail
    assert refused.value.extra == {"year": 2027}
    # The first day of the walk that needs 2027 stops it, whichever function walks.
    with pytest.raises(CalendarNotCovered, match="2027"):
        add_working_days(date(2026, 12, 28), 5)
    with pytest.raises(CalendarNotCovered, match="2027"):
        working_days_between(date(2026, 12, 30), date(2027, 1, 4))
    with pytest.raises(CalendarNotCovered, match="2027"):
        working_days_between(date(2027, 1, 4), date(2026, 12, 30))
    with pytest.raises(CalendarNotCovered, match=str(FIRST - 1)):
        add_working_days(date(FIRST, 1, 5), -5)
    # What stays inside the table is answered.
    assert add_working_days(date(2026, 12, 24), 5) == date(2026, 12, 31)


def test_the_issues_example_spring_festival_2027() -> None:
    """A 10-WD period from 2027-02-01: Monday to Friday would end it on Feb 15, a week early."""
    with pytest.raises(CalendarNotCovered):
        add_working_days(date(2027, 2, 1), 10)
    install([fixture_2027().table])
    assert imported_years() == (2027,)
    assert last_covered_day() == date(2027, 12, 31)
    # Feb 2-4, then the holiday week Feb 5-11, Fri 12, Sunday 14 worked, Feb 15-19.
    assert add_working_days(date(2027, 2, 1), 10) == date(2027, 2, 19)
    assert is_working_day(date(2027, 2, 14)) and not is_working_day(date(2027, 2, 8))
    assert working_days_between(date(2026, 12, 31), date(2027, 1, 4)) == 1  # New Year's Day is off


def test_an_imported_year_replaces_the_packages_table_entirely() -> None:
    # A made-up 2026: no holidays at all, Saturday 2026-10-10 not worked.
    install([YearTable(2026, frozenset(), frozenset())])
    assert is_working_day(date(2026, 10, 1))  # a Thursday, now an ordinary one
    assert not is_working_day(date(2026, 10, 10))
    assert is_working_day(date(2025, 10, 1)) is False  # 2025 still comes from the package
    install(())
    assert not is_working_day(date(2026, 10, 1))


def test_install_replaces_every_earlier_import() -> None:
    install([fixture_2027().table, YearTable(2029, frozenset(), frozenset())])
    assert imported_years() == (2027, 2029)
    assert last_covered_day() == date(2027, 12, 31), "2028 is missing, so the run ends with 2027"
    install([YearTable(2029, frozenset(), frozenset())])
    assert imported_years() == (2029,) and not covered(2027)
    assert workdays.version() == ((2029, YearTable(2029, frozenset(), frozenset()).digest),)


def test_a_year_table_keeps_its_days_in_its_year_and_its_shape() -> None:
    with pytest.raises(ValueError, match="another year"):
        YearTable(2027, frozenset({date(2028, 1, 1)}), frozenset())
    with pytest.raises(ValueError, match="both"):
        YearTable(2027, frozenset({date(2027, 2, 14)}), frozenset({date(2027, 2, 14)}))
    with pytest.raises(ValueError, match="Saturday or a Sunday"):
        YearTable(2027, frozenset(), frozenset({date(2027, 2, 15)}))


def package_table(year: int) -> YearTable:
    """The package's own year as an imported table."""
    days = [date(year, 1, 1) + timedelta(days=i) for i in range(366)]
    days = [d for d in days if d.year == year]
    return YearTable(
        year,
        frozenset(d for d in days if d in chinese_calendar.holidays),
        frozenset(d for d in days if d in chinese_calendar.workdays),
    )


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_packages_year_imported_counts_exactly_as_the_package(year: int) -> None:
    days = [d for d in (date(year, 1, 1) + timedelta(days=i) for i in range(366)) if d.year == year]
    expected = [is_working_day(d) for d in days]
    install([package_table(year)])
    assert [is_working_day(d) for d in days] == expected


# -- properties, over the package's years and an imported one ---------------------------------

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 12, 31))
FIXTURE_2027 = fixture_2027().table


@settings(max_examples=300, deadline=None)
@given(start=days, n=st.integers(min_value=0, max_value=120))
def test_add_then_count_round_trips(start: date, n: int) -> None:
    install([FIXTURE_2027])
    try:
        end = add_working_days(start, n)
    except CalendarNotCovered as gap:
        assert gap.year == 2028
        return
    assert working_days_between(start, end) == n
    if n > 0:
        # ... and it is the earliest such date, itself a working day.
        assert is_working_day(end)
        assert working_days_between(start, end - timedelta(days=1)) == n - 1


@settings(max_examples=300, deadline=None)
@given(start=days, n=st.integers(min_value=1, max_value=120))
def test_negative_counts_step_back_over_working_days(start: date, n: int) -> None:
    install([FIXTURE_2027])
    earlier = add_working_days(start, -n)
    assert is_working_day(earlier)
    # Exactly n working days lie in [earlier, start): the mirror of (start, end].
    assert working_days_between(earlier - timedelta(days=1), start - timedelta(days=1)) == n
    if is_working_day(start):
        assert add_working_days(earlier, n) == start


@settings(max_examples=300, deadline=None)
@given(a=days, b=days, c=days)
def test_counts_add_up_and_are_antisymmetric(a: date, b: date, c: date) -> None:
    install([FIXTURE_2027])
    assert working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)
    assert working_days_between(a, b) == -working_days_between(b, a)
    span = abs((b - a).days)
    assert 0 <= abs(working_days_between(a, b)) <= span


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2029, 12, 31)),
    span=st.integers(min_value=0, max_value=400),
    imported=st.sets(st.integers(min_value=2027, max_value=2029)),
)
def test_an_answer_needs_every_day_it_reads_to_be_covered(start: date, span: int, imported: set[int]) -> None:
    """Answered exactly when every day of (start, end] is covered; else refused naming the first gap."""
    install([YearTable(year, frozenset({date(year, 1, 1)}), frozenset()) for year in imported])
    end = start + timedelta(days=span)
    read = [start + timedelta(days=i) for i in range(1, span + 1)]
    gaps = [d.year for d in read if not covered(d.year)]
    if not gaps:
        assert working_days_between(start, end) == sum(map(is_working_day, read))
        return
    with pytest.raises(CalendarNotCovered) as refused:
        working_days_between(start, end)
    assert refused.value.year == gaps[0]
    with pytest.raises(CalendarNotCovered):
        add_working_days(start, span)  # at least as many days are read as in (start, end]
