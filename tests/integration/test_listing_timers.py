"""Timers walk a published listing through its phases on time, across restarts and instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from exchange.app import create_app
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.settings import Settings
from tests.support.api import Client, staff
from tests.support.flow import publish_in_time
from tests.support.listings import listing_body, sandbox_schedule


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(replace(settings, profile="sandbox"))) as client:
        yield client


async def _publish(client: Client, **offsets: float) -> tuple[int, datetime]:
    """Publish a sandbox listing whose phases start at these offsets (seconds) from now."""
    operator = await staff(client, "operator")
    schedule = sandbox_schedule(utcnow(), **offsets)
    created = await client.post("/api/v1/listings", json=listing_body(schedule=schedule), headers=operator)
    assert created.status_code == 201, created.text
    listing_id = int(created.json()["id"])
    # a loaded machine may pass the first date before publishing: the dates then move as a whole
    published = await publish_in_time(
        client, listing_id, operator, lambda: sandbox_schedule(utcnow(), **offsets)
    )
    opens = datetime.fromisoformat(published["schedule"]["registration_opens_at"])
    return listing_id, opens - timedelta(seconds=offsets["registration"])


async def _status(client: Client, listing_id: int) -> str:
    return str((await client.get(f"/api/v1/listings/{listing_id}")).json()["status"])


# With nobody qualified the auction fails the moment bidding opens (流拍), so
# "bidding opened" shows as failed here; the phase entries prove the passage.
BIDDING_OVER = "failed"


async def _wait_for(client: Client, listing_id: int, status: str, timeout: float) -> float:
    """Seconds waited until the listing reached ``status``."""
    started = asyncio.get_running_loop().time()
    while await _status(client, listing_id) != status:
        assert asyncio.get_running_loop().time() - started < timeout, f"never reached {status}"
        await asyncio.sleep(0.05)
    return asyncio.get_running_loop().time() - started


async def _phase_entries(client: Client, listing_id: int) -> list[dict[str, Any]]:
    async with client.app.state.sessions() as session:
        query = select(AuditEntry).where(
            AuditEntry.stream == f"listing:{listing_id}", AuditEntry.action == "listing.phase"
        )
        return [e.payload for e in (await session.execute(query.order_by(AuditEntry.seq))).scalars()]


async def test_phases_on_time(db: str, settings: Settings) -> None:
    async with running(settings) as client:
        listing_id, t0 = await _publish(client, registration=1.5, registration_closes=2.5, bidding=3)
        assert await _status(client, listing_id) == "announced"
        await _wait_for(client, listing_id, "registration", timeout=3)
        assert utcnow() >= t0 + timedelta(seconds=1.5)
        await _wait_for(client, listing_id, BIDDING_OVER, timeout=3)
        assert utcnow() >= t0 + timedelta(seconds=3)
        # Not one second early, and not much late: the timer fired, not only the sweep.
        assert utcnow() - (t0 + timedelta(seconds=3)) < timedelta(seconds=1)
        assert await _phase_entries(client, listing_id) == [
            {"from": "announced", "to": "registration"},
            {"from": "registration", "to": "bidding"},
        ]


async def test_restart_in_the_middle(db: str, settings: Settings) -> None:
    async with running(settings) as first:
        listing_id, t0 = await _publish(first, registration=1, registration_closes=2, bidding=4)
        await _wait_for(first, listing_id, "registration", timeout=3)
    # The first instance is gone (its timers with it); a new one re-arms from the database.
    async with running(settings) as second:
        await _wait_for(second, listing_id, BIDDING_OVER, timeout=5)
        assert utcnow() >= t0 + timedelta(seconds=4)
        assert len(await _phase_entries(second, listing_id)) == 2


async def test_a_boundary_passed_while_down_is_caught_up_at_start(db: str, settings: Settings) -> None:
    async with running(settings) as first:
        listing_id, _ = await _publish(first, registration=1, registration_closes=2, bidding=2)
    await asyncio.sleep(2.2)
    async with running(settings) as second:
        await _wait_for(second, listing_id, BIDDING_OVER, timeout=3)
        assert [e["to"] for e in await _phase_entries(second, listing_id)] == ["registration", "bidding"]


async def test_two_instances_perform_each_transition_once(db: str, settings: Settings) -> None:
    async with running(settings) as one, running(settings) as two:
        listing_id, _ = await _publish(one, registration=1, registration_closes=2, bidding=2)
        # The second instance learns of the listing the way a restarted one would.
        await two.app.state.lifecycle.rearm_all()
        await _wait_for(two, listing_id, BIDDING_OVER, timeout=10)
        await asyncio.sleep(1.2)  # let both sweeps run over it again
        assert [e["to"] for e in await _phase_entries(one, listing_id)] == ["registration", "bidding"]


async def test_hooks_run_once_when_bidding_opens(db: str, settings: Settings) -> None:
    opened: list[int] = []

    async def hook(session: Any, listing: Any, now: Any) -> None:
        opened.append(listing.id)

    async with running(settings) as one, running(settings) as two:
        for app in (one.app, two.app):
            app.state.listing_hooks.on_bidding_open.append(hook)
        listing_id, _ = await _publish(one, registration=0.5, registration_closes=1.5, bidding=1.5)
        await two.app.state.lifecycle.rearm_all()
        await _wait_for(one, listing_id, BIDDING_OVER, timeout=4)
        await asyncio.gather(
            one.app.state.lifecycle.advance(listing_id), two.app.state.lifecycle.advance(listing_id)
        )
        assert opened == [listing_id]
