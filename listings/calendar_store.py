"""The imported calendar years in the database, and this process's copy of them.

:func:`import_year` stores a year read from the State Council's notice
(:mod:`listings.calendar_file`) and audits it in the ``calendar`` stream.
:func:`refresh` keeps the years :mod:`listings.workdays` counts with equal to
the stored ones: it reads the stored version (each year's digest, a few short
rows) and loads the days only when that differs from what the process holds.
Every instance refreshes at start-up and then every :data:`REFRESH_SECONDS`,
so an import made by the command line, or on another instance, is in use
everywhere within that time. Until then an instance without the new year
refuses what needs it (``calendar_not_covered``); it never guesses.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.chain import append, read_snapshot
from exchange.clock import utcnow
from listings import workdays
from listings.calendar_file import CalendarFile
from listings.calendar_models import CalendarDay, CalendarYear
from listings.workdays import YearTable

__all__ = ["CALENDAR_STREAM", "REFRESH_SECONDS", "import_year", "refresh", "stored_tables"]

CALENDAR_STREAM = "calendar"
REFRESH_SECONDS = 5.0

log = logging.getLogger("listings.calendar")


async def import_year(session: AsyncSession, calendar: CalendarFile, actor: str) -> bool:
    """Store ``calendar``'s year in the caller's transaction, replacing an earlier import of it.

    Returns False, storing and auditing nothing, when the year is already
    stored with the same days and the same source.
    """
    table = calendar.table
    digest = table.digest
    row = await session.get(CalendarYear, table.year, with_for_update=True)
    if row is not None and row.digest == digest and row.source == calendar.source:
        return False
    replaced = None if row is None else {"source": row.source, "digest": row.digest}
    await session.execute(delete(CalendarDay).where(CalendarDay.year == table.year))
    if row is None:
        row = CalendarYear(year=table.year)
        session.add(row)
    row.source = calendar.source
    row.digest = digest
    row.imported_at = utcnow()
    row.imported_by = actor
    await session.flush()  # the year before its days: they refer to it
    session.add_all(
        [CalendarDay(day=day, year=table.year, kind="holiday") for day in sorted(table.holidays)]
        + [CalendarDay(day=day, year=table.year, kind="workday") for day in sorted(table.workdays)]
    )
    await session.flush()
    await append(
        session,
        CALENDAR_STREAM,
        actor,
        "calendar.imported",
        {
            "year": table.year,
            "source": calendar.source,
            "digest": digest,
            "holidays": [day.isoformat() for day in sorted(table.holidays)],
            "workdays": [day.isoformat() for day in sorted(table.workdays)],
            "replaced": replaced,
        },
    )
    return True


async def stored_tables(session: AsyncSession) -> list[YearTable]:
    """Every imported year as stored."""
    days: dict[int, dict[str, set[date]]] = defaultdict(lambda: {"holiday": set(), "workday": set()})
    years = (await session.execute(select(CalendarYear.year))).scalars().all()
    for row in (await session.execute(select(CalendarDay))).scalars():
        days[row.year][row.kind].add(row.day)
    return [
        YearTable(year, frozenset(days[year]["holiday"]), frozenset(days[year]["workday"])) for year in years
    ]


async def refresh(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Load the stored years into this process if they changed; True when it loaded them."""
    async with sessions() as session, read_snapshot(session) as snapshot:
        query = select(CalendarYear.year, CalendarYear.digest).order_by(CalendarYear.year)
        stored = tuple((year, digest) for year, digest in (await snapshot.execute(query)).all())
        if stored == workdays.version():
            return False
        tables = await stored_tables(snapshot)
    workdays.install(tables)
    if workdays.version() != stored:
        # Rows edited by hand: the days count as stored, but say so (on every refresh).
        log.error("the stored calendar days do not match their digests: %s", stored)
    log.info("working-day calendar loaded: imported years %s", list(workdays.imported_years()))
    return True
