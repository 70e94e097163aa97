"""A storm of closes: many english lots sharing one deadline each close exactly once, never early,
with the moment of the close's commit recorded, and their settlement follows (issue 19).

A second clock on the same database (another instance, in effect) sweeps the same lots at the
deadline, so each lot is fired by two instances at once: the row lock and the state check decide.
How late the closes are is measured by ``bench/storm.py``, not here.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from auctions.models import Auction, AuctionEvent
from auctions.timing import AuctionClock
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.scheduling import Timers
from settlement import closing
from settlement.settlement_models import Settlement, SettlementLine
from tests.support.api import Client, bidder, staff
from tests.support.auctions import bid
from tests.support.bank import deliver, notice
from tests.support.flow import PAUSE, apply, decide, open_registration

pytestmark = pytest.mark.databases()

LOTS = 12  # closed in batches by this app, while a second clock sweeps the same lots at the deadline
RESERVE = "1100000.00"  # tests.support.listings: a land lot below its reserve fails


async def _qualify(
    client: Client, operator: dict[str, str], listing_id: int, headers: dict[str, str]
) -> None:
    application = await apply(client, listing_id, headers)
    await decide(client, operator, application["id"])
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text


async def _to_bidding(
    client: Client, operator: dict[str, str], listing: dict[str, Any], deadline: datetime
) -> None:
    """中止, then 恢复 with bidding opening in a moment and closing at the shared ``deadline``."""
    listing_id = listing["id"]
    paused = await client.post(f"/api/v1/listings/{listing_id}/suspend", json=PAUSE, headers=operator)
    assert paused.status_code == 200, paused.text
    opens = datetime.fromisoformat(listing["schedule"]["registration_opens_at"])
    closes = max(utcnow() + timedelta(seconds=0.2), opens + timedelta(seconds=1.05))
    schedule = {
        **listing["schedule"],
        "registration_closes_at": closes.isoformat(),
        "bidding_opens_at": (closes + timedelta(seconds=0.2)).isoformat(),
        "bidding_closes_at": deadline.isoformat(),
        "extension_seconds": 1,
    }
    resumed = await client.post(
        f"/api/v1/listings/{listing_id}/resume", json={"schedule": schedule}, headers=operator
    )
    assert resumed.status_code == 200, resumed.text


async def _wait(client: Client, predicate: Any, what: str, timeout: float = 90) -> None:
    loop = asyncio.get_running_loop()
    limit = loop.time() + timeout
    while True:
        async with client.app.state.sessions() as session:
            if await predicate(session):
                return
        assert loop.time() < limit, what
        await asyncio.sleep(0.1)


async def test_lots_sharing_a_deadline_close_once_never_early_and_settle(client: Client) -> None:
    operator = await staff(client, "operator")
    gate = asyncio.Semaphore(6)

    async def opened() -> dict[str, Any]:
        async with gate:
            return await open_registration(client, operator, closes=600, bidding=601, bidding_closes=900)

    listings = list(await asyncio.gather(*(opened() for _ in range(LOTS))))
    ids = [listing["id"] for listing in listings]
    alice, bob = await bidder(client), await bidder(client)

    async def qualified(listing_id: int) -> None:
        async with gate:
            await _qualify(client, operator, listing_id, alice)
            await _qualify(client, operator, listing_id, bob)

    await asyncio.gather(*(qualified(i) for i in ids))

    # room for every lot to reach bidding and take its bid before the soft-close window
    deadline = (utcnow() + timedelta(seconds=4 + 0.25 * LOTS)).replace(microsecond=0)

    async def bidding(listing: dict[str, Any]) -> None:
        async with gate:
            await _to_bidding(client, operator, listing, deadline)

    await asyncio.gather(*(bidding(listing) for listing in listings))

    async def all_open(session: Any) -> bool:
        query = select(func.count()).where(Auction.listing_id.in_(ids), Auction.status == "open")
        return int(await session.scalar(query)) == LOTS

    await _wait(client, all_open, "not every lot reached bidding")
    sold = ids[::2]  # the others get no bid and fail
    for n, listing_id in enumerate(sold):
        placed = await bid(client, (alice, bob)[n % 2], listing_id, RESERVE)
        assert placed.status_code == 201, placed.text
        await asyncio.sleep(0.06)  # two bidders within their 10 bids/s

    # another instance's clock: at the deadline it sweeps the same lots as this app's own timers
    app_state = client.app.state
    other = AuctionClock(
        app_state.sessions,
        Timers(),
        partial(_ignore),
        app_state.listing_hooks.deposit_paid,
        on_closed=partial(closing.settle_listing, app_state.sessions, app_state.settings.settlement),
    )
    await asyncio.sleep(max(0.0, (deadline - utcnow()).total_seconds()))
    await other.sweep()

    async def all_settled(session: Any) -> bool:
        query = select(func.count()).select_from(Settlement).where(Settlement.listing_id.in_(ids))
        return int(await session.scalar(query)) == LOTS

    await _wait(client, all_settled, "not every lot was settled")

    async with app_state.sessions() as session:
        auctions = {
            a.listing_id: a
            for a in (await session.execute(select(Auction).where(Auction.listing_id.in_(ids)))).scalars()
        }
        closing_events = dict(
            (
                await session.execute(
                    select(AuctionEvent.listing_id, func.count())
                    .where(AuctionEvent.listing_id.in_(ids), AuctionEvent.kind.in_(("closed", "failed")))
                    .group_by(AuctionEvent.listing_id)
                )
            ).all()
        )
        audited = dict(
            (
                await session.execute(
                    select(AuditEntry.stream, func.count())
                    .where(
                        AuditEntry.stream.in_([f"listing:{i}" for i in ids]),
                        AuditEntry.action.in_(("auction.closed", "auction.failed")),
                    )
                    .group_by(AuditEntry.stream)
                )
            ).all()
        )
        settlements = {
            s.listing_id: s
            for s in (
                await session.execute(select(Settlement).where(Settlement.listing_id.in_(ids)))
            ).scalars()
        }
        lines = dict(
            (
                await session.execute(
                    select(SettlementLine.listing_id, func.count())
                    .where(SettlementLine.listing_id.in_(ids))
                    .group_by(SettlementLine.listing_id)
                )
            ).all()
        )

    for listing_id in ids:
        auction = auctions[listing_id]
        won = listing_id in sold
        assert auction.status == ("closed" if won else "failed"), (listing_id, auction.status)
        assert closing_events.get(listing_id) == 1, (listing_id, closing_events.get(listing_id))
        assert audited.get(f"listing:{listing_id}") == 1, listing_id
        assert auction.closed_at is not None and auction.closed_at >= deadline, (
            listing_id,
            auction.closed_at,
        )
        assert auction.close_committed_at is not None, listing_id
        assert auction.close_committed_at >= auction.closed_at, (
            listing_id,
            auction.closed_at,
            auction.close_committed_at,
        )
        settlement = settlements[listing_id]
        assert settlement.outcome == ("sold" if won else "failed"), (listing_id, settlement.outcome)
        assert lines.get(listing_id, 0) == (1 if won else 0), listing_id

    view = (await client.get(f"/api/v1/auctions/{sold[0]}")).json()
    assert view["status"] == "closed"
    committed = datetime.fromisoformat(view["close_committed_at"])
    assert committed == auctions[sold[0]].close_committed_at
    assert datetime.fromisoformat(view["closed_at"]) <= committed


async def _ignore(listing_id: int, events: Any) -> None:
    """The second clock's watchers: none (this app's own broadcasts are not under test)."""
