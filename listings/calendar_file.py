"""The file an administrator imports a year of the State Council's holiday notice from.

A small CSV file (UTF-8, a byte-order mark is allowed), one year per file::

    # 国务院办公厅关于2027年部分节假日安排的通知
    year,2027
    source,国办发明电〔2026〕N号
    2027-01-01,holiday
    2027-02-05/2027-02-11,holiday
    2027-02-14,workday

- ``year,YYYY`` and ``source,TEXT`` (the notice's name or number) once each;
- then one row per day or per inclusive range ``START/END`` (ISO 8601), of
  kind ``holiday`` (a day off: the festival and the days around it the notice
  gives, weekends included) or ``workday`` (a Saturday or Sunday worked
  instead, 调休);
- every other day follows the week: Monday to Friday worked, weekends off;
- blank lines and lines starting with ``#`` are ignored.

Every problem is reported with its line, all of them at once
(:class:`CalendarFileInvalid`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from exchange.errors import Unprocessable
from listings.workdays import YearTable

__all__ = ["FIRST_YEAR", "CalendarFile", "CalendarFileInvalid", "parse_calendar", "render_calendar"]

# The holidays fixed by date in 全国年节及纪念日放假办法 art. 2, as revised with
# effect from 2025-01-01 (新年 1 January; 劳动节 1-2 May; 国庆节 1-3 October). Every
# notice gives them, so a file without one of them is not that notice. The lunar
# festivals move, and only the notice says where.
_FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))
FIRST_YEAR = 2025
"""The first year under the revised holiday rules the file is checked against."""
LAST_YEAR = 2100
MAX_SOURCE = 200
KINDS = ("holiday", "workday")


class CalendarFileInvalid(Unprocessable):
    """A calendar file that is not a year of the notice; ``problems`` lists every reason."""

    code = "calendar_file_invalid"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class CalendarFile:
    table: YearTable
    source: str


def parse_calendar(text: str) -> CalendarFile:
    """The year a calendar file gives, or :class:`CalendarFileInvalid` with every problem in it."""
    problems: list[str] = []
    headers: dict[str, tuple[int, list[str]]] = {}  # "year" and "source": their line and cells
    rows: list[tuple[int, str, str]] = []  # day rows, read once the year is known
    for number, row in _rows(text):
        head = row[0].strip()
        if head in ("year", "source"):
            if head in headers:
                problems.append(f"line {number}: a second '{head}' line; one file holds one year")
            else:
                headers[head] = (number, row[1:])
        elif len(row) == 2:
            rows.append((number, head, row[1].strip()))
        else:
            problems.append(f"line {number}: expected 'DATE,KIND', 'year,YYYY' or 'source,TEXT'")
    year = _read_year(headers.get("year"), problems)
    source = _read_source(headers.get("source"), problems)
    kinds: dict[date, tuple[str, int]] = {}  # each day's kind and the line that gave it
    for number, when, kind in rows:
        days = _read_days(number, when, year, problems)
        if kind not in KINDS:
            problems.append(f"line {number}: kind {kind!r} is not one of {', '.join(KINDS)}")
            continue
        for day in days:
            _record(number, day, kind, kinds, problems)
    if year is not None:
        for month, day_of_month in _FIXED_HOLIDAYS:
            fixed = date(year, month, day_of_month)
            if kinds.get(fixed, ("",))[0] != "holiday":
                problems.append(
                    f"{fixed} is not listed as a holiday; 全国年节及纪念日放假办法 art. 2 makes it one every year"
                )
    if problems:
        raise CalendarFileInvalid(problems)
    assert year is not None and source is not None
    table = YearTable(
        year,
        holidays=frozenset(d for d, (kind, _) in kinds.items() if kind == "holiday"),
        workdays=frozenset(d for d, (kind, _) in kinds.items() if kind == "workday"),
    )
    return CalendarFile(table, source)


def render_calendar(calendar: CalendarFile) -> str:
    """The file of ``calendar``, one row per day: ``parse_calendar(render_calendar(c)) == c``."""
    table = calendar.table
    lines = [f"year,{table.year}", _csv_row(["source", calendar.source])]
    days = sorted([(d, "holiday") for d in table.holidays] + [(d, "workday") for d in table.workdays])
    lines += [f"{day.isoformat()},{kind}" for day, kind in days]
    return "\n".join(lines) + "\n"


def _rows(text: str) -> list[tuple[int, list[str]]]:
    lines = text.removeprefix("\ufeff").splitlines()
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found.append((number, next(csv.reader([line]))))
    return found


def _read_year(line: tuple[int, list[str]] | None, problems: list[str]) -> int | None:
    if line is None:
        problems.append("no 'year,YYYY' line")
        return None
    number, cells = line
    text = cells[0].strip() if len(cells) == 1 else ""
    if not (text.isascii() and text.isdigit()) or not FIRST_YEAR <= int(text) <= LAST_YEAR:
        problems.append(f"line {number}: the year must be a number from {FIRST_YEAR} to {LAST_YEAR}")
        return None
    return int(text)


def _read_source(line: tuple[int, list[str]] | None, problems: list[str]) -> str | None:
    if line is None:
        problems.append("no 'source,TEXT' line naming the notice")
        return None
    number, cells = line
    text = ",".join(cells).strip()  # an unquoted comma in the notice's name is part of it
    if not text or len(text) > MAX_SOURCE:
        problems.append(f"line {number}: the source names the notice in 1 to {MAX_SOURCE} characters")
        return None
    return text


def _read_days(number: int, when: str, year: int | None, problems: list[str]) -> list[date]:
    first_text, ranged, last_text = (part.strip() for part in when.partition("/"))
    try:
        first = date.fromisoformat(first_text)
        last = date.fromisoformat(last_text) if ranged else first
    except ValueError:
        problems.append(
            f"line {number}: {when!r} is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD/YYYY-MM-DD)"
        )
        return []
    if last < first:
        problems.append(f"line {number}: the range {when} ends before it starts")
        return []
    if year is not None and (first.year != year or last.year != year):
        problems.append(f"line {number}: {when} is outside {year}, the year of this file")
        return []
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _record(
    number: int, day: date, kind: str, kinds: dict[date, tuple[str, int]], problems: list[str]
) -> None:
    earlier = kinds.get(day)
    if earlier is not None:
        problems.append(f"line {number}: {day} is already listed on line {earlier[1]}")
        return
    if kind == "workday" and day.weekday() < 5:
        problems.append(
            f"line {number}: {day} is a {day:%A}; an adjusted working day (调休) is a Saturday or Sunday"
        )
        return
    kinds[day] = (kind, number)


def _csv_row(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()
