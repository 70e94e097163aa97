"""Every mechanism end to end through HTTP with the sandbox profile (english and sealed: test_auctions_api),
on PostgreSQL and on the embedded SQLite."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from sqlalchemy import select

from auctions.models import Auction
from tests.support.api import Client
from tests.support.auctions import auction_view, bid, live_auction
from tests.support.flow import wait_status

pytestmark = pytest.mark.databases()


async def _outcome(client: Client, listing_id: int) -> dict[str, Any]:
    async with client.app.state.sessions() as session:
        auction = (
            await session.execute(select(Auction).where(Auction.listing_id == listing_id))
        ).scalar_one()
    assert auction.outcome is not None
    return dict(auction.outcome)


async def _wait_phase(client: Client, listing_id: int, phase: str, timeout: float = 10) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (view := await auction_view(client, listing_id))["phase"] != phase:
        assert loop.time() < deadline, f"phase stayed {view['phase']}"
        await asyncio.sleep(0.05)
    return view


async def test_listing_quote_then_timed_phase(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=2.5, extension=2, method="listing")
    lid = listing["id"]
    assert (await auction_view(client, lid))["phase"] == "quote"
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1010000.00")).status_code == 201
    await _wait_phase(client, lid, "timed")
    timed = await bid(client, alice, lid, "1100000.00")
    assert timed.status_code == 201, timed.text
    await wait_status(client, lid, "closed", timeout=10)
    outcome = await _outcome(client, lid)
    assert outcome["status"] == "sold" and outcome["price"] == 110000000


async def test_dutch_clock_first_acceptance_wins(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=30, extension=1, method="dutch")
    lid = listing["id"]
    await asyncio.sleep(1.2)  # let the clock tick down at least once
    view = await auction_view(client, lid)
    price = view["current_price"]
    assert price is not None and float(price) < 1000000
    accepted = await bid(client, bob, lid, price)
    if accepted.status_code == 422:  # the clock ticked between the read and the accept
        price = (await auction_view(client, lid))["current_price"]
        accepted = await bid(client, bob, lid, price)
    assert accepted.status_code == 201, accepted.text
    await wait_status(client, lid, "closed", timeout=5)
    outcome = await _outcome(client, lid)
    assert outcome["price"] == int(float(price) * 100)
    late = await bid(client, alice, lid, price)
    assert late.status_code == 409


async def test_uniform_price_clears_pro_rata_at_one_price(client: Client) -> None:
    listing, (a, b, c) = await live_auction(
        client,
        3,
        closes_in=3,
        asset_class="emission_right",
        method="uniform_price",
        start_price="100.00",
        increment="1.00",
        deposit="50.00",
    )
    lid = listing["id"]
    for headers, price, quantity in ((a, "120.00", "6.000"), (b, "110.00", "6.000"), (c, "105.00", "3.000")):
        response = await client.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": price, "quantity": quantity},
            headers={**headers, "Idempotency-Key": f"u-{price}"},
        )
        assert response.status_code == 201, response.text
    too_much = await client.post(
        f"/api/v1/auctions/{lid}/bids",
        json={"amount": "130.00", "quantity": "1.000"},
        headers={**a, "Idempotency-Key": "over-share"},
    )
    assert too_much.status_code == 422 and too_much.json()["code"] == "quantity_invalid"
    assert (await client.get(f"/api/v1/auctions/{lid}/bids")).json() == []  # sealed until the close
    await wait_status(client, lid, "closed", timeout=10)
    outcome = await _outcome(client, lid)
    assert outcome["price"] == 10500
    allocations = sorted(w["quantity"] for w in outcome["winners"])
    assert allocations == [500, 6000, 6000]
    assert {w["price"] for w in outcome["winners"]} == {10500}
    assert outcome["statistics"]["volume_sold"] == 12500


async def test_cap_lottery_draws_among_those_who_accept(client: Client) -> None:
    listing, (alice, bob, carol) = await live_auction(
        client,
        3,
        closes_in=20,
        price_cap="1100000.00",
        cap_rule="lottery",
        lottery_window_seconds=2,
        reserve_price="1000000.00",
    )
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1100000.00", nonce=secrets.token_hex(16))).status_code == 201
    view = await _wait_phase(client, lid, "lottery", timeout=3)
    assert view["next_min_bid"] == "1100000.00"
    assert (await bid(client, bob, lid, "1100000.00", nonce=secrets.token_hex(16))).status_code == 201
    await wait_status(client, lid, "closed", timeout=10)
    outcome = await _outcome(client, lid)
    assert outcome["price"] == 110000000
    draw = outcome["draw"]
    assert len(draw["candidates"]) == 2 and outcome["winners"][0]["bidder"] == draw["order"][0]
    import hashlib

    assert hashlib.sha256(bytes.fromhex(draw["seed_hex"])).hexdigest() == listing["seed_commitment"]
    _ = carol
