"""A sold listing whose result is under 公示, for the objection tests (sandbox: working days are seconds)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from exchange.clock import utcnow
from exchange.db import unit_of_work
from listings.models import Listing
from settlement.lines import load_settlement
from settlement.settlement_models import Settlement
from tests.support.api import Client, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import wait_status

SELLER = {"seller_name": "苏州市自然资源和规划局", "seller_contact": "王科长 0512-68880000"}
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def settlement_of(client: Client, listing_id: int) -> Settlement | None:
    async with client.app.state.sessions() as session:
        return await load_settlement(session, listing_id)


async def wait_settlement(client: Client, listing_id: int, *statuses: str, timeout: float = 15) -> Settlement:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await settlement_of(client, listing_id)
        if found is not None and (not statuses or found.status in statuses):
            return found
        assert loop.time() < deadline, f"the settlement of {listing_id} never reached {statuses}: {found}"
        await asyncio.sleep(0.05)


async def sold_in_publicity(
    client: Client, *, publicity: int = 240, **body: Any
) -> tuple[int, dict[str, str], dict[str, str]]:
    """(listing id, the winner's headers, an operator's) of a land sale whose result is on display
    for ``publicity`` seconds (the sandbox counts the listing's working days as seconds)."""
    listing, (winner, _other) = await live_auction(
        client, 2, closes_in=4, publicity_working_days=publicity, **body
    )
    lid = int(listing["id"])
    async with unit_of_work(client.app.state.sessions) as session:  # the seller, as the operator entered it
        row = await session.get(Listing, lid)
        assert row is not None
        row.seller_name, row.seller_contact = SELLER["seller_name"], SELLER["seller_contact"]
    assert (await bid(client, winner, lid, "1200000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    await wait_settlement(client, lid, "publicity")
    return lid, winner, await staff(client, "operator")


async def set_publicity_end(client: Client, listing_id: int, ends_at: datetime) -> None:
    """Move the end of the 公示 (a test cannot wait working days)."""
    async with unit_of_work(client.app.state.sessions) as session:
        settlement = await load_settlement(session, listing_id)
        assert settlement is not None
        settlement.publicity_ends_at = ends_at


def ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)
