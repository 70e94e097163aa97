"""``/healthz``: is the database reachable, is Redis, are the timers running."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from exchange.clock import utcnow


class Health(msgspec.Struct):
    status: str
    database: dict[str, Any]
    redis: dict[str, Any]
    scheduler: dict[str, Any]
    profile: str
    server_time: datetime


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
            profile=state.settings.profile,
            server_time=utcnow(),
        )
        return Response(body, status_code=200 if ok else 503)
