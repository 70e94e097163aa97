"""A suspension (中止) stops the auction's clock: on resumption bidders get back exactly the time they had.

Without this, a deadline that fell during the suspension closed the auction the
moment it resumed, and the dutch clock kept falling while nobody could accept.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from decimal import Decimal

import msgspec
from litestar.channels import ChannelsPlugin
from sqlalchemy import select

from auctions.audit_replay import replay_listing
from auctions.controllers import auction_channel
from auctions.models import AuctionEvent
from tests.support.api import Client, staff
from tests.support.auctions import auction_view, bid, live_auction
from tests.support.flow import wait_status


async def _suspend(client: Client, operator: dict[str, str], listing_id: int) -> None:
    response = await client.post(
        f"/api/v1/listings/{listing_id}/suspend", json={"reason": "系统维护"}, headers=operator
    )
    assert response.status_code == 200, response.text


async def _resume(client: Client, operator: dict[str, str], listing_id: int) -> None:
    response = await client.post(f"/api/v1/listings/{listing_id}/resume", json={}, headers=operator)
    assert response.status_code == 200, response.text


async def _replay_matches(client: Client, listing_id: int) -> None:
    async with client.app.state.sessions() as session:
        report = await replay_listing(session, listing_id)
    assert report.matches, (report.stored, report.replayed)


async def test_a_deadline_that_falls_in_a_suspension_moves_by_the_pause(client: Client) -> None:
    operator = await staff(client, "operator")
    listing, (alice, bob) = await live_auction(client, 2, closes_in=3, extension=1)
    lid = listing["id"]
    first = await bid(client, alice, lid, "1000000.00")
    assert first.status_code == 201, first.text
    deadline = datetime.fromisoformat(first.json()["ends_at"])
    await _suspend(client, operator, lid)
    suspended = await auction_view(client, lid)
    left = deadline - datetime.fromisoformat(suspended["server_time"])
    await asyncio.sleep(left.total_seconds() + 1.5)  # the old deadline passes while nobody may bid
    assert (await auction_view(client, lid))["status"] == "suspended"

    moved = await client.post(
        f"/api/v1/listings/{lid}/resume",
        json={"schedule": {k: listing["schedule"][k] for k in listing["schedule"]}},
        headers=operator,
    )
    assert moved.status_code == 422 and moved.json()["code"] == "schedule_invalid"
    await _resume(client, operator, lid)
    resumed = await auction_view(client, lid)
    assert resumed["status"] == "open"
    now = datetime.fromisoformat(resumed["server_time"])
    remaining = datetime.fromisoformat(resumed["ends_at"]) - now
    assert abs((remaining - left).total_seconds()) < 0.5, (remaining, left)

    late = await bid(client, bob, lid, "1100000.00")  # reaches the reserve
    assert late.status_code == 201, late.text
    await wait_status(client, lid, "closed", timeout=10)
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["outcome"] == "sold" and result["price"] == "1100000.00"
    events = (await client.get(f"/api/v1/auctions/{lid}/bids")).json()
    assert [e["amount"] for e in events] == ["1000000.00", "1100000.00"]
    await _replay_matches(client, lid)


async def test_the_dutch_clock_stands_still_while_suspended(client: Client) -> None:
    operator = await staff(client, "operator")
    listing, (_alice, bob) = await live_auction(client, 2, closes_in=30, extension=1, method="dutch")
    lid = listing["id"]
    await asyncio.sleep(1.2)  # a tick or two
    await _suspend(client, operator, lid)
    stopped = Decimal((await auction_view(client, lid))["current_price"])
    await asyncio.sleep(2.5)  # two and a half steps of the clock
    still = await auction_view(client, lid)
    assert still["status"] == "suspended" and Decimal(still["current_price"]) == stopped
    await _resume(client, operator, lid)
    price = (await auction_view(client, lid))["current_price"]
    step = Decimal(listing["increment"])
    assert stopped - step <= Decimal(price) <= stopped  # at most the step that was already running
    accepted = await bid(client, bob, lid, price)
    if accepted.status_code == 422:  # the running step ended between the read and the accept
        price = (await auction_view(client, lid))["current_price"]
        accepted = await bid(client, bob, lid, price)
    assert accepted.status_code == 201, accepted.text
    await wait_status(client, lid, "closed", timeout=5)
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["price"] == price
    await _replay_matches(client, lid)


async def test_sealed_quotes_stay_hidden_through_a_suspension_and_a_cancellation(client: Client) -> None:
    operator = await staff(client, "operator")
    listing, (alice, bob) = await live_auction(client, 2, closes_in=30, method="sealed_bid")
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1200000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1300000.00")).status_code == 201
    await _suspend(client, operator, lid)
    await _resume(client, operator, lid)
    await _suspend(client, operator, lid)
    for _ in range(2):
        assert (await client.get(f"/api/v1/auctions/{lid}/bids")).json() == []
        view = await auction_view(client, lid)
        assert view["last_seq"] == 0 and view["bid_count"] is None
        hall = await client.get(f"/hall/{lid}")
        assert "1,300,000" not in hall.text and "1,200,000" not in hall.text
        cancelled = await client.post(
            f"/api/v1/listings/{lid}/cancel", json={"reason": "终止交易"}, headers=operator
        )
        assert cancelled.status_code in (200, 409)
    assert (await auction_view(client, lid))["status"] == "cancelled"
    # The feed's seq would count the quotes: a sealed auction's suspension events are not public.
    async with client.app.state.sessions() as session:
        rows = (
            await session.execute(
                select(AuctionEvent.kind, AuctionEvent.public).where(AuctionEvent.listing_id == lid)
            )
        ).all()
    assert {kind for kind, public in rows if public} <= {"phase"}


async def test_watchers_hear_of_a_suspension_a_resumption_and_a_cancellation(client: Client) -> None:
    """Each reaches the feed once its transaction has committed, in seq order; the hall stops on the last."""
    operator = await staff(client, "operator")
    listing, _ = await live_auction(client, 2, closes_in=30)
    lid = listing["id"]
    channels = client.app.plugins.get(ChannelsPlugin)
    heard: list[dict[str, object]] = []
    async with channels.start_subscription([auction_channel(lid)]) as subscriber:
        await _suspend(client, operator, lid)
        await _resume(client, operator, lid)
        reason = f"规划调整 {secrets.token_hex(4)}"  # listing ids, and so channels, repeat between tests
        cancelled = await client.post(
            f"/api/v1/listings/{lid}/cancel", json={"reason": reason}, headers=operator
        )
        assert cancelled.status_code == 200, cancelled.text
        async with asyncio.timeout(10):
            async for raw in subscriber.iter_events():
                heard.append(msgspec.json.decode(raw))
                if heard[-1]["kind"] == "cancelled" and heard[-1].get("reason") == reason:
                    break
    # A channel's stream is read from its start, and listing ids repeat between tests on one Redis
    # prefix (the feed drops what it has seen by seq): this listing's events are the newest.
    ours = heard[-3:]
    assert [e["kind"] for e in ours] == ["suspended", "resumed", "cancelled"]
    view = await auction_view(client, lid)
    last = view["last_seq"]
    assert view["status"] == "cancelled" and [e["seq"] for e in ours] == [last - 2, last - 1, last]
