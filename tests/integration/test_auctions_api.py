"""The auction engine end to end through HTTP, on PostgreSQL and on the embedded SQLite: bids,
extensions, closes, races."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select

from auctions.models import AuctionEvent, BidRow
from exchange.clock import utcnow
from tests.support.api import Client, bidder, staff
from tests.support.auctions import auction_view as _auction
from tests.support.auctions import bid as _bid
from tests.support.auctions import live_auction as _live_auction
from tests.support.flow import (
    apply,
    open_registration,
    qualified_bidder,
    qualify_many,
    start_bidding,
    wait_status,
)

pytestmark = pytest.mark.databases()


async def test_english_extends_and_closes_with_the_right_winner(client: Client) -> None:
    listing, (alice, bob) = await _live_auction(client, 2, closes_in=3, extension=3)
    lid = listing["id"]
    view = await _auction(client, lid)
    assert view["status"] == "open" and view["next_min_bid"] == "1000000.00"
    first = await _bid(client, alice, lid, "1000000.00")
    assert first.status_code == 201, first.text
    leading = await _bid(client, alice, lid, "1010000.00")
    assert leading.status_code == 409 and leading.json()["code"] == "already_leading"
    low = await _bid(client, bob, lid, "1015000.00")
    assert low.status_code == 422 and low.json()["code"] == "bid_not_on_increment"
    below = await _bid(client, bob, lid, "990000.00")
    assert below.status_code == 422 and below.json()["code"] in ("bid_below_minimum", "bid_not_on_increment")
    ends_at = utcnow().fromisoformat(first.json()["ends_at"])
    while (utcnow() - ends_at).total_seconds() < -1.5:
        await asyncio.sleep(0.05)
    late = await _bid(client, bob, lid, "1110000.00")  # within the last 3 s: extends
    assert late.status_code == 201, late.text
    assert utcnow().fromisoformat(late.json()["ends_at"]) > ends_at
    await wait_status(client, lid, "closed", timeout=10)
    final = await _auction(client, lid)
    assert final["status"] == "closed" and final["result"] == "sold"
    assert final["current_price"] == "1110000.00"
    history = (await client.get(f"/api/v1/auctions/{lid}/bids", headers=bob)).json()
    assert [(b["amount"], b["mine"]) for b in history] == [("1000000.00", False), ("1110000.00", True)]
    after = await _bid(client, alice, lid, "1200000.00")
    assert after.status_code == 409 and after.json()["code"] == "auction_not_open"


async def test_below_reserve_fails(client: Client) -> None:
    listing, (alice, _bob) = await _live_auction(client, 2, closes_in=2, reserve_price="5000000.00")
    assert (await _bid(client, alice, listing["id"], "1000000.00")).status_code == 201
    await wait_status(client, listing["id"], "failed", timeout=10)
    assert (await _auction(client, listing["id"]))["result"] == "failed"


async def test_only_qualified_bidders_bid(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, closes=600, bidding=601, bidding_closes=620)
    await qualified_bidder(client, operator, listing)
    pending = await bidder(client)
    await apply(client, listing["id"], pending)
    await start_bidding(client, operator, listing["id"], closes_in=20, extension=5)
    await wait_status(client, listing["id"], "bidding", timeout=30)
    response = await _bid(client, pending, listing["id"], "1000000.00")
    assert response.status_code == 403 and response.json()["code"] == "not_qualified"
    staff_bid = await _bid(client, operator, listing["id"], "1000000.00")
    assert staff_bid.status_code == 403


@pytest.mark.databases("postgresql")  # fifty connections at once on the asyncpg store
async def test_fifty_bidders_same_minimum_bid_one_wins(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, closes=300, bidding=301, bidding_closes=600)
    lid = listing["id"]
    bidder_ids = await qualify_many(client, lid, 50)
    # Everyone is in: the operator pulls the dates forward (suspend, resume with a new schedule).
    now = utcnow()
    schedule = {
        **listing["schedule"],
        "registration_closes_at": (now + timedelta(seconds=0.5)).isoformat(),
        "bidding_opens_at": (now + timedelta(seconds=1)).isoformat(),
        "bidding_closes_at": (now + timedelta(seconds=120)).isoformat(),
    }
    await client.post(f"/api/v1/listings/{lid}/suspend", json={"reason": "提前竞价"}, headers=operator)
    resumed = await client.post(
        f"/api/v1/listings/{lid}/resume", json={"schedule": schedule}, headers=operator
    )
    assert resumed.status_code == 200, resumed.text
    await wait_status(client, lid, "bidding", timeout=20)
    sessions = client.app.state.sessions
    from auctions import store_pg
    from auctions.decision import Attempt
    from auctions.intake import place_bid
    from exchange.db import create_driver_pool
    from exchange.errors import ExchangeError
    from exchange.identity.tokens import Principal

    # the app's pool lives on the test client's loop: the same kind of pool on this one
    pool = await create_driver_pool(client.app.state.settings.database, store_pg.prepare)

    async def one(user_id: int) -> str:
        try:
            bidder = Principal(user_id, f"u{user_id}", "bidder")
            await place_bid(sessions, pool, Attempt(lid, bidder, 100000000, None, secrets.token_hex(6)))
        except ExchangeError as exc:
            return exc.code
        return "accepted"

    try:
        results = await asyncio.gather(*(one(uid) for uid in bidder_ids))
    finally:
        assert pool is not None
        await pool.close()
    assert results.count("accepted") == 1
    assert set(results) - {"accepted"} <= {"bid_below_minimum", "bid_not_on_increment", "already_leading"}
    async with sessions() as session:
        seqs = list(
            (
                await session.execute(
                    select(AuctionEvent.seq).where(AuctionEvent.listing_id == lid).order_by(AuctionEvent.seq)
                )
            ).scalars()
        )
        bids = list((await session.execute(select(BidRow).where(BidRow.listing_id == lid))).scalars())
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(bids) == 1


async def test_idempotency_key(client: Client) -> None:
    listing, (alice, _bob) = await _live_auction(client, 2, closes_in=30)
    lid = listing["id"]
    first = await _bid(client, alice, lid, "1000000.00", key="k-1")
    again = await _bid(client, alice, lid, "1000000.00", key="k-1")
    other = await _bid(client, alice, lid, "1020000.00", key="k-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["bid_id"] == first.json()["bid_id"] and again.json()["seq"] == first.json()["seq"]
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    missing = await client.post(f"/api/v1/auctions/{lid}/bids", json={"amount": "1010000.00"}, headers=alice)
    assert missing.status_code == 400


async def test_sealed_bids_stay_hidden_until_the_close(client: Client) -> None:
    operator = await staff(client, "operator")
    listing, (alice, bob) = await _live_auction(client, 2, closes_in=3, method="sealed_bid")
    lid = listing["id"]
    assert (await _bid(client, alice, lid, "1200000.00")).status_code == 201
    assert (await _bid(client, bob, lid, "1300000.00")).status_code == 201
    twice = await _bid(client, bob, lid, "1400000.00")
    assert twice.status_code == 409 and twice.json()["code"] == "already_bid"
    assert "current_price" not in twice.json() and "next_min_bid" not in twice.json()  # sealed
    for headers in (None, alice, operator):
        assert (await client.get(f"/api/v1/auctions/{lid}/bids", headers=headers)).json() == []
        view = (await client.get(f"/api/v1/auctions/{lid}", headers=headers)).text
        assert "1300000" not in view and "1200000" not in view
    await wait_status(client, lid, "closed", timeout=10)
    final = await _auction(client, lid)
    assert final["current_price"] == "1300000.00"
    assert len((await client.get(f"/api/v1/auctions/{lid}/bids")).json()) == 2


async def test_rate_limit(client: Client) -> None:
    listing, (alice, _bob) = await _live_auction(client, 2, closes_in=30)
    limit = client.app.state.bid_limiter.per_second
    responses = await asyncio.gather(*(_bid(client, alice, listing["id"], "1.00") for _ in range(3 * limit)))
    codes = [r.json().get("code") for r in responses]
    assert "rate_limited" in codes
    limited = next(r for r in responses if r.json().get("code") == "rate_limited")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"


async def test_replay_from_the_audit_log_matches(client: Client) -> None:
    from auctions.audit_replay import replay_listing

    listing, (alice, bob) = await _live_auction(client, 2, closes_in=2)
    lid = listing["id"]
    assert (await _bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await _bid(client, bob, lid, "1100000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=10)
    async with client.app.state.sessions() as session:
        report = await replay_listing(session, lid)
    assert report.bids == 2
    assert report.matches and report.replayed is not None and report.replayed["price"] == 110000000


async def test_a_suspended_auction_takes_no_bids(client: Client) -> None:
    operator = await staff(client, "operator")
    listing, (alice, bob) = await _live_auction(client, 2, closes_in=30)
    lid = listing["id"]
    assert (await _bid(client, alice, lid, "1000000.00")).status_code == 201
    suspended = await client.post(
        f"/api/v1/listings/{lid}/suspend", json={"reason": "系统维护"}, headers=operator
    )
    assert suspended.status_code == 200
    refused = await _bid(client, bob, lid, "1010000.00")
    assert refused.status_code == 409 and refused.json()["code"] == "auction_not_open"
    assert (await _auction(client, lid))["status"] == "suspended"
    resumed = await client.post(f"/api/v1/listings/{lid}/resume", json={}, headers=operator)
    assert resumed.json()["status"] == "bidding"
    assert (await _bid(client, bob, lid, "1010000.00")).status_code == 201
