"""Ledger invariants after the close of the mechanisms test_settlement does not drive.

English, sealed and uniform price are in test_settlement.py; here the
listing method (挂牌, quote then timed phase), the descending clock and the
price-cap lottery. Each closes through HTTP, the app settles it, and
:func:`tests.support.settlement.check_close` checks the ledger: balanced,
the winner charged exactly price + fee, every loser's deposit released with
a refund due five working days later. The dutch close also checks that its
documents, never issued by this app, are all issued by one catch-up.
"""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from auctions.models import Auction
from documents.models import Document
from exchange.db import unit_of_work
from listings.applications_models import Application
from settlement import closing
from settlement.settlement_models import Settlement
from tests.support.api import Client
from tests.support.auctions import auction_view, bid, live_auction
from tests.support.flow import wait_status
from tests.support.settlement import check_close, user_id


async def _settled(client: Client, listing_id: int) -> Settlement:
    """The listing's settlement (the app settles at the close; settling again returns the same one)."""
    async with unit_of_work(client.app.state.sessions) as session:
        settlement = await closing.settle(session, listing_id, client.app.state.settings.settlement)
    assert settlement is not None and settlement.outcome == "sold"
    # confirmed at once (no 公示 in the sandbox): land waits for its contract, the others owe now
    assert settlement.status in ("awaiting_contract", "pending_payment")
    return settlement


async def _outcome(client: Client, listing_id: int) -> dict[str, Any]:
    async with client.app.state.sessions() as session:
        auction = await session.get(Auction, listing_id)
    assert auction is not None and auction.outcome is not None
    return dict(auction.outcome)


async def _wait_phase(client: Client, listing_id: int, phase: str, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (view := await auction_view(client, listing_id))["phase"] != phase:
        assert loop.time() < deadline, f"phase stayed {view['phase']}"
        await asyncio.sleep(0.05)


async def test_listing_method_close(client: Client) -> None:
    listing, (alice, bob, carol) = await live_auction(client, 3, closes_in=2.5, extension=2, method="listing")
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1010000.00")).status_code == 201
    await _wait_phase(client, lid, "timed")
    assert (await bid(client, alice, lid, "1100000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    await _settled(client, lid)
    async with client.app.state.sessions() as session:
        lines = await check_close(session, lid, {await user_id(client, alice): 110_000_000})
    assert {await user_id(client, h) for h in (bob, carol)}.isdisjoint(lines)


async def test_dutch_close(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=30, extension=1, method="dutch")
    lid = listing["id"]
    await asyncio.sleep(1.2)  # let the clock tick down at least once
    price = (await auction_view(client, lid))["current_price"]
    accepted = await bid(client, bob, lid, price)
    if accepted.status_code == 422:  # the clock ticked between the read and the accept
        price = (await auction_view(client, lid))["current_price"]
        accepted = await bid(client, bob, lid, price)
    assert accepted.status_code == 201, accepted.text
    await wait_status(client, lid, "closed", timeout=10)
    fen = int(Decimal(price) * 100)
    assert fen < 100_000_000 and (await _outcome(client, lid))["price"] == fen
    settlement = await _settled(client, lid)
    assert settlement.price == fen
    async with client.app.state.sessions() as session:
        lines = await check_close(session, lid, {await user_id(client, bob): fen})
    assert await user_id(client, alice) not in lines

    # This app issues no documents (as if it crashed after the close): the catch-up
    # of the next start issues every one of them, once.
    issuer = client.app.state.document_issuer
    assert await issuer.catch_up() == 5
    assert await issuer.catch_up() == 0
    async with client.app.state.sessions() as session:
        documents = (
            (await session.execute(select(Document).where(Document.listing_id == lid))).scalars().all()
        )
    owners = {d.kind: d.owner_id for d in documents}
    assert len(documents) == len(owners) == 5
    assert owners["confirmation"] == await user_id(client, bob)
    assert owners["refund_notice"] == await user_id(client, alice)


async def test_price_cap_lottery_close(client: Client) -> None:
    listing, heads = await live_auction(
        client,
        3,
        closes_in=20,
        price_cap="1100000.00",
        cap_rule="lottery",
        lottery_window_seconds=2,
        reserve_price="1000000.00",
    )
    lid = listing["id"]
    alice, bob, _carol = heads
    assert (await bid(client, alice, lid, "1100000.00", nonce=secrets.token_hex(16))).status_code == 201
    await _wait_phase(client, lid, "lottery", timeout=3)
    assert (await bid(client, bob, lid, "1100000.00", nonce=secrets.token_hex(16))).status_code == 201
    await wait_status(client, lid, "closed", timeout=10)
    outcome = await _outcome(client, lid)
    draw = outcome["draw"]
    assert len(draw["candidates"]) == 2 and outcome["winners"][0]["bidder"] == draw["order"][0]
    await _settled(client, lid)
    async with client.app.state.sessions() as session:
        winner = (
            await session.execute(
                select(Application.bidder_id).where(
                    Application.listing_id == lid, Application.bid_number == draw["order"][0]
                )
            )
        ).scalar_one()
        # drawn among the two who accepted the cap; the other entrant and carol are refunded
        lines = await check_close(session, lid, {winner: 110_000_000})
    assert winner in {await user_id(client, h) for h in (alice, bob)} and len(lines) == 1
