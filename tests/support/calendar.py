"""Calendars invented for the tests. None of them is a State Council notice.

The exchange refuses to count working days in a year no holiday table covers,
and the chinesecalendar package ends with 2026. The suite still needs later
years (a land sale closing today owes its balance in a year), so it imports
invented ones, clearly marked as such in their ``source``:

- :func:`invented_years`: every year after the package's table up to two
  years from now, with only the holidays fixed by date in 全国年节及纪念日放假办法
  and no weekend worked. The ``test_calendar`` fixtures install or store them.
- :data:`FIXTURE_2027`: a 2027 file with a week-long Spring Festival and
  weekends worked, for the tests that show an import being honoured.
"""

from __future__ import annotations

from datetime import date

from exchange.clock import utcnow
from exchange.db import create_engine, session_factory, unit_of_work
from exchange.settings import DatabaseSettings
from listings import workdays
from listings.calendar_file import FIRST_YEAR, CalendarFile, parse_calendar
from listings.calendar_store import import_year
from listings.workdays import YearTable

INVENTED = "TEST FIXTURE - invented for the tests, not a State Council notice"

FIXTURE_2027 = f"""\
# {INVENTED}.
# Shaped like a notice: a Spring Festival week (Fri 5 - Thu 11 Feb) with
# Sunday 14 Feb worked, May Day and National Day weeks with a Saturday worked.
year,2027
source,{INVENTED}
2027-01-01,holiday
2027-02-05/2027-02-11,holiday
2027-02-14,workday
2027-05-01/2027-05-05,holiday
2027-05-08,workday
2027-10-01/2027-10-07,holiday
2027-10-09,workday
"""


def fixture_2027() -> CalendarFile:
    return parse_calendar(FIXTURE_2027)


def invented_year(year: int) -> YearTable:
    fixed = [(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)]
    return YearTable(year, frozenset(date(year, m, d) for m, d in fixed), frozenset())


def invented_years() -> list[YearTable]:
    _, last = workdays.package_years()
    return [invented_year(year) for year in range(max(last + 1, FIRST_YEAR), utcnow().year + 3)]


async def store_invented_years(database: DatabaseSettings) -> None:
    """Import :func:`invented_years` into ``database`` as ``exchange calendar import`` would."""
    engine = create_engine(database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            for table in invented_years():
                await import_year(session, CalendarFile(table, INVENTED), actor="test")
    finally:
        await engine.dispose()
