"""The calendar file an administrator imports: what it says, and every way it can be wrong."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listings.calendar_file import (
    CalendarFile,
    CalendarFileInvalid,
    parse_calendar,
    render_calendar,
)
from listings.workdays import YearTable
from tests.support.calendar import FIXTURE_2027

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "calendar-2026.csv"
HEADER = "year,2027\nsource,test notice\n"
FIXED = "2027-01-01,holiday\n2027-05-01/2027-05-02,holiday\n2027-10-01/2027-10-03,holiday\n"


def problems(text: str) -> list[str]:
    with pytest.raises(CalendarFileInvalid) as refused:
        parse_calendar(text)
    assert refused.value.code == "calendar_file_invalid"
    return refused.value.problems


def test_a_file_gives_its_holidays_and_weekends_worked() -> None:
    parsed = parse_calendar(FIXTURE_2027)
    table = parsed.table
    assert table.year == 2027 and parsed.source.startswith("TEST FIXTURE")
    assert date(2027, 2, 5) in table.holidays and date(2027, 2, 11) in table.holidays  # a range, inclusive
    assert len(table.holidays) == 1 + 7 + 5 + 7
    assert table.workdays == {date(2027, 2, 14), date(2027, 5, 8), date(2027, 10, 9)}


def test_the_sample_in_docs_is_the_packages_2026_day_for_day() -> None:
    table = parse_calendar(SAMPLE.read_text(encoding="utf-8")).table
    year = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    assert table.holidays == {d for d in year if d in chinese_calendar.holidays}
    assert table.workdays == {d for d in year if d in chinese_calendar.workdays}


def test_layout_does_not_matter_byte_order_mark_comments_quotes_and_order() -> None:
    plain = parse_calendar(HEADER + FIXED)
    shuffled = parse_calendar(
        "\ufeff# a comment\n\n"
        + "2027-10-03,holiday\n2027-10-01 / 2027-10-02 , holiday\n"  # spaces around cells are read away
        + 'year,2027\nsource,"test notice"\n2027-05-02,holiday\n2027-05-01,holiday\n2027-01-01,holiday\n'
    )
    assert shuffled == plain
    assert parse_calendar(HEADER.replace("test notice", '"国办发明电〔2026〕1号, 附件"') + FIXED).source == (
        "国办发明电〔2026〕1号, 附件"
    )


def test_every_problem_is_reported_with_its_line() -> None:
    text = (
        "year,2027\n"  # 1
        "source,test notice\n"  # 2
        "2027-13-01,holiday\n"  # 3: not a date
        "2027-02-11/2027-02-05,holiday\n"  # 4: reversed
        "2028-01-01,holiday\n"  # 5: another year
        "2027-02-15,workday\n"  # 6: a Monday worked "instead"
        "2027-02-14,day off\n"  # 7: unknown kind
        "2027-01-01,holiday\n"  # 8
        "2026-12-31/2027-01-01,holiday\n"  # 9: starts in another year
        "2027-01-01,workday\n"  # 10: listed twice (and on a Friday)
        "2027-05-01,holiday,劳动节\n"  # 11: a third cell
        "year,2028\n"  # 12: a second year
        "2027-10-01/2027-10-03,holiday\n"  # 13
    )
    found = problems(text)
    assert found == [
        "line 11: expected 'DATE,KIND', 'year,YYYY' or 'source,TEXT'",
        "line 12: a second 'year' line; one file holds one year",
        "line 3: '2027-13-01' is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD/YYYY-MM-DD)",
        "line 4: the range 2027-02-11/2027-02-05 ends before it starts",
        "line 5: 2028-01-01 is outside 2027, the year of this file",
        "line 6: 2027-02-15 is a Monday; an adjusted working day (调休) is a Saturday or Sunday",
        "line 7: kind 'day off' is not one of holiday, workday",
        "line 9: 2026-12-31/2027-01-01 is outside 2027, the year of this file",
        "line 10: 2027-01-01 is already listed on line 8",
        "2027-05-01 is not listed as a holiday; 全国年节及纪念日放假办法 art. 2 makes it one every year",
        "2027-05-02 is not listed as a holiday; 全国年节及纪念日放假办法 art. 2 makes it one every year",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("source,x\n" + FIXED, "no 'year,YYYY' line"),
        ("year,2027\n" + FIXED, "no 'source,TEXT' line naming the notice"),
        ("year,2024\nsource,x\n", "line 1: the year must be a number from 2025 to 2100"),
        ("year,二〇二七\nsource,x\n", "line 1: the year must be a number from 2025 to 2100"),
        ("year,2027,2028\nsource,x\n" + FIXED, "line 1: the year must be a number from 2025 to 2100"),
        ("year,2027\nsource, \n" + FIXED, "line 2: the source names the notice in 1 to 200 characters"),
        (
            "year,2027\nsource," + "x" * 201 + "\n" + FIXED,
            "line 2: the source names the notice in 1 to 200 characters",
        ),
        (
            HEADER + "2027-01-01,holiday\n",
            "2027-10-03 is not listed as a holiday; 全国年节及纪念日放假办法 art. 2 makes it one every year",
        ),
        (
            HEADER + FIXED + "2027-10-02/2027-10-07,holiday\n",
            "line 6: 2027-10-02 is already listed on line 5",
        ),
    ],
)
def test_one_problem_each(text: str, problem: str) -> None:
    assert problem in problems(text)


@st.composite
def year_tables(draw: st.DrawFn) -> YearTable:
    year = draw(st.integers(min_value=2025, max_value=2100))
    days = [date(year, 1, 1) + timedelta(days=i) for i in range(366)]
    days = [d for d in days if d.year == year]
    fixed = {date(year, m, d) for m, d in ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))}
    holidays = fixed | draw(st.sets(st.sampled_from(days), max_size=40))
    weekends = [d for d in days if d.weekday() >= 5 and d not in holidays]
    workdays = draw(st.sets(st.sampled_from(weekends), max_size=10))
    return YearTable(year, frozenset(holidays), frozenset(workdays))


@settings(max_examples=200, deadline=None)
@given(
    table=year_tables(),
    source=st.text(
        st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=60
    ).filter(lambda s: s.strip() == s and s[0] != "#"),
)
def test_a_rendered_year_reads_back_the_same(table: YearTable, source: str) -> None:
    calendar = CalendarFile(table, source)
    assert parse_calendar(render_calendar(calendar)) == calendar
