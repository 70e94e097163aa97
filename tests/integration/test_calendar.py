"""A calendar that never guesses: 2027 refused until its notice is imported, then honoured.

This module starts every test without the invented years the suite otherwise
imports (``tests/support/calendar.py``), so 2027 is covered by nothing, as it
is in production until an administrator imports the State Council's notice.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import delete, func, select

from exchange.app import create_app
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.db import create_engine, session_factory, unit_of_work
from exchange.settings import DatabaseSettings, Settings
from listings.calendar_models import CalendarDay, CalendarYear
from listings.workdays import SHANGHAI
from tests.integration.test_web_console import logged_in_staff
from tests.support.api import Client, staff
from tests.support.calendar import FIXTURE_2027
from tests.support.listings import listing_body
from tests.support.server import EXCHANGE

pytestmark = pytest.mark.databases()


@pytest.fixture
def _english(client: Client) -> None:
    """The details asserted here are the domain's English sentences (``Accept-Language: en``)."""
    client.headers["Accept-Language"] = "en"


async def forget_imports(database: DatabaseSettings) -> None:
    engine = create_engine(database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            await session.execute(delete(CalendarDay))
            await session.execute(delete(CalendarYear))
    finally:
        await engine.dispose()


@pytest.fixture
async def app(db: str, settings: Settings) -> Litestar:
    await forget_imports(settings.database)
    return create_app(settings)


def exchange(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXCHANGE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def import_file(env: dict[str, str], tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    file = tmp_path / "calendar.csv"
    file.write_text(text, encoding="utf-8")
    return exchange(env, tmp_path, "calendar", "import", str(file))


async def coverage(client: Client) -> dict[str, Any]:
    health = await client.get("/healthz")
    assert health.status_code == 200, health.text
    return dict(health.json()["calendar"])


async def wait_for_coverage(client: Client, last_day: str, timeout: float = 15) -> dict[str, Any]:
    """An import by another process reaches this instance at its next refresh."""
    deadline = time.monotonic() + timeout
    while (found := await coverage(client))["last_covered_day"] != last_day:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.2)
    return found


def shanghai(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).isoformat()


def land_listing(opens: date, closes: date) -> dict[str, Any]:
    """A land 挂牌 announced now, bidding from ``opens`` 09:00 to ``closes`` 15:00 (Shanghai)."""
    now = utcnow()
    schedule = {
        "announce_at": now.isoformat(),
        "registration_opens_at": (now + timedelta(days=1)).isoformat(),
        "registration_closes_at": shanghai(opens - timedelta(days=3), 17),
        "bidding_opens_at": shanghai(opens, 9),
        "bidding_closes_at": shanghai(closes, 15),
        "extension_seconds": 300,
    }
    return listing_body("land_use_right", "listing", schedule=schedule)


@pytest.mark.usefixtures("_english")
async def test_a_2027_listing_period_is_refused_until_2027_is_imported_then_counted_with_it(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    operator = await staff(client, "operator")
    assert await coverage(client) == {
        "last_covered_day": "2026-12-31",
        "imported_years": [],
        "package_years": [2004, 2026],
    }
    # 10 WD from Monday 2027-02-01: a Monday-to-Friday guess ends them on 02-15, so 02-16 "passes".
    created = await client.post(
        "/api/v1/listings", json=land_listing(date(2027, 2, 1), date(2027, 2, 16)), headers=operator
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/listings/{created.json()['id']}"

    refused = await client.post(f"{url}/publish", headers=operator)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "calendar_not_covered"
    assert ("schedule.bidding_closes_at", "calendar_not_covered") in [
        (e["field"], e["code"]) for e in problem["errors"]
    ]
    assert {e["code"] for e in problem["errors"]} == {"calendar_not_covered"}
    assert "2027" in problem["detail"] and "exchange calendar import" in problem["detail"]
    assert (await client.get(url, headers=operator)).json()["status"] == "draft"

    done = import_file(env, tmp_path, FIXTURE_2027)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 2027 from ")
    assert "20 holidays, 3 weekend days worked" in done.stdout
    assert (await wait_for_coverage(client, "2027-12-31"))["imported_years"] == [2027]

    # The imported Spring Festival week (02-05..02-11, Sunday 02-14 worked) moves the tenth WD to 02-19.
    short = await client.post(f"{url}/publish", headers=operator)
    assert short.status_code == 422, short.text
    assert short.json()["code"] == "listing_period_too_short"
    assert "the earliest closing date is 2027-02-19" in short.json()["detail"]

    moved = await client.patch(
        url,
        json={"schedule": land_listing(date(2027, 2, 1), date(2027, 2, 19))["schedule"]},
        headers=operator,
    )
    assert moved.status_code == 200, moved.text
    published = await client.post(f"{url}/publish", headers=operator)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "announced"


@pytest.mark.usefixtures("_english")
async def test_a_lead_into_an_uncovered_year_is_refused_and_a_short_one_still_refused_as_short(
    client: Client,
) -> None:
    operator = await staff(client, "operator")
    # A mining right needs 20 WD of notice; from today they run into 2027.
    body = listing_body(
        "mining_right", "english", schedule=land_listing(date(2027, 1, 25), date(2027, 1, 26))["schedule"]
    )
    created = (await client.post("/api/v1/listings", json=body, headers=operator)).json()
    refused = await client.post(f"/api/v1/listings/{created['id']}/publish", headers=operator)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "calendar_not_covered"
    assert refused.json()["errors"][0]["field"] == "schedule.bidding_opens_at"
    assert "2027" in refused.json()["errors"][0]["message"]

    # Opening on 2026-12-21 is decided without 2027: fewer than 20 WD whatever 2027 holds.
    body["schedule"] = land_listing(date(2026, 12, 21), date(2026, 12, 22))["schedule"]
    created = (await client.post("/api/v1/listings", json=body, headers=operator)).json()
    short = await client.post(f"/api/v1/listings/{created['id']}/publish", headers=operator)
    assert short.status_code == 422, short.text
    assert short.json()["code"] == "announcement_lead_too_short"
    assert "the earliest opening date falls in 2027" in short.json()["detail"]


async def test_import_is_checked_audited_and_idempotent(
    client: Client, env: dict[str, str], tmp_path: Path, settings: Settings
) -> None:
    bad = import_file(env, tmp_path, FIXTURE_2027.replace("2027-02-14,workday", "2027-02-15,workday"))
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.count("\n") == 1, "one line, no traceback"
    assert bad.stderr.startswith("Error: calendar_file_invalid: ")
    assert "2027-02-15 is a Monday" in bad.stderr

    first = import_file(env, tmp_path, FIXTURE_2027)
    assert first.returncode == 0, first.stderr
    again = import_file(env, tmp_path, "# reordered, same days\n" + FIXTURE_2027)
    assert again.returncode == 0, again.stderr
    assert "already imported from this notice" in again.stdout

    corrected = FIXTURE_2027.replace("2027-10-09,workday", "2027-10-10,workday")
    replaced = import_file(env, tmp_path, corrected)
    assert replaced.returncode == 0, replaced.stderr

    auditor = await staff(client, "auditor")
    stream = (await client.get("/api/v1/audit/calendar", headers=auditor)).json()
    entries = [e for e in stream if e["actor"] == "cli"]  # the suite's invented years were imported first
    assert [e["action"] for e in entries] == ["calendar.imported"] * 2
    first_entry, second_entry = (e["payload"] for e in entries)
    assert first_entry["year"] == 2027 and first_entry["replaced"] is None
    assert "2027-02-05" in first_entry["holidays"] and first_entry["workdays"] == [
        "2027-02-14",
        "2027-05-08",
        "2027-10-09",
    ]
    assert second_entry["replaced"] == {"source": first_entry["source"], "digest": first_entry["digest"]}
    assert "2027-10-10" in second_entry["workdays"] and "2027-10-09" not in second_entry["workdays"]

    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session:
            days = (await session.execute(select(func.count()).select_from(CalendarDay))).scalar_one()
            audited = (
                await session.execute(
                    select(func.count()).where(AuditEntry.stream == "calendar", AuditEntry.actor == "cli")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert days == 23 and audited == 2


def test_the_command_explains_itself(tmp_path: Path, env: dict[str, str]) -> None:
    shown = exchange(env, tmp_path, "calendar", "import", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for words in ("State Council", "year,YYYY", "source,TEXT", "DATE,holiday", "DATE,workday", "audited"):
        assert words in text
    missing = exchange(env, tmp_path, "calendar", "import", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


async def test_the_console_shows_how_far_the_calendar_reaches(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    await logged_in_staff(client, "operator")
    page = (await client.get("/console")).text
    assert '<time datetime="2026-12-31" data-last-covered-day>2026-12-31</time>' in page
    assert 'data-calendar-missing="2027"' in page and "尚未导入 2027 年的节假日安排" in page

    assert import_file(env, tmp_path, FIXTURE_2027).returncode == 0
    await wait_for_coverage(client, "2027-12-31")
    page = (await client.get("/console")).text
    assert '<time datetime="2027-12-31" data-last-covered-day>2027-12-31</time>' in page
    assert "data-calendar-missing" not in page
    assert "已导入年份：2027" in page
