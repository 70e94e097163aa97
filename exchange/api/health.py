"""``/healthz``: is the database reachable, is Redis, are the timers running, how far the calendar reaches."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from exchange.clock import utcnow
from listings import workdays


class CalendarCoverage(msgspec.Struct):
    last_covered_day: date
    """Working days can be counted up to this day (Asia/Shanghai); later ones are refused."""
    imported_years: list[int]
    """Years imported from the State Council's notice (``exchange calendar import``)."""
    package_years: list[int]
    """First and last year of the ``chinesecalendar`` package's table."""


class Health(msgspec.Struct):
    status: str
    database: dict[str, Any]
    redis: dict[str, Any]
    scheduler: dict[str, Any]
    calendar: CalendarCoverage
    profile: str
    server_time: datetime


def _calendar() -> CalendarCoverage:
    # What this instance counts with; an import reaches it within calendar_store.REFRESH_SECONDS.
    return CalendarCoverage(
        last_covered_day=workdays.last_covered_day(),
        imported_years=list(workdays.imported_years()),
        package_years=list(workdays.package_years()),
    )


async def _database(state: State) -> dict[str, Any]:
    try:
        async with state.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
        return {"ok": True, "dialect": state.engine.dialect.name}
    except Exception as exc:  # health reports failures, it does not raise them
        return {"ok": False, "dialect": state.engine.dialect.name, "error": type(exc).__name__}


async def _redis(state: State) -> dict[str, Any]:
    if state.redis is None:
        return {"ok": True, "configured": False}
    try:
        await asyncio.wait_for(state.redis.ping(), timeout=2)
        return {"ok": True, "configured": True}
    except Exception as exc:
        return {"ok": False, "configured": True, "error": type(exc).__name__}


class HealthController(Controller):
    path = "/healthz"
    tags = ["operations"]

    @get("/", operation_id="health", summary="Liveness and dependencies", cache=False)
    async def health(self, state: State) -> Response[Health]:
        database, redis = await asyncio.gather(_database(state), _redis(state))
        scheduler = state.timers.state()
        ok = database["ok"] and redis["ok"] and scheduler["running"]
        body = Health(
            status="ok" if ok else "degraded",
            database=database,
            redis=redis,
            scheduler=scheduler,
            calendar=_calendar(),
            profile=state.settings.profile,
            server_time=utcnow(),
        )
        return Response(body, status_code=200 if ok else 503)
