"""Every refused bid answers its documented problem, on both databases, through the lane and the route.

Tried as a newcomer would with ``make demo`` (SQLite), every rejected bid
answered 500 ``internal_error``: the general bid path read the auction after
its rollback had expired it, and no test drove that path's rejections over
HTTP. Each case here is sent twice, once as the usual request (the fast lane
takes it on PostgreSQL) and once with an ``Origin`` header (Litestar's route,
which the lane hands every unusual request): both answers must be the
contract's, byte for byte the same.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.support.api import Client, bidder, staff
from tests.support.auctions import bid, live_auction

pytestmark = pytest.mark.databases()

ROUTE = {"Origin": "http://testserver"}


async def _both(
    client: Client, headers: dict[str, str], listing_id: int, body: dict[str, Any], key: str
) -> Any:
    """The lane's and the route's answer to the same bid (under two keys, unless a key is the point)."""
    path = f"/api/v1/auctions/{listing_id}/bids"
    lane = await client.post(path, json=body, headers={**headers, "Idempotency-Key": key})
    route = await client.post(path, json=body, headers={**headers, **ROUTE, "Idempotency-Key": key})
    assert lane.status_code == route.status_code, (lane.text, route.text)
    assert lane.content == route.content
    return lane


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        ("990000.00", 422, "bid_below_minimum"),
        ("1015000.00", 422, "bid_not_on_increment"),
        ("1300000.00", 422, "bid_above_cap"),
    ],
)
async def test_a_refused_amount_is_its_problem_not_a_crash(
    client: Client, amount: str, status: int, code: str
) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60, price_cap="1200000.00")
    assert (await bid(client, alice, listing["id"], "1000000.00")).status_code == 201
    refused = await _both(client, bob, listing["id"], {"amount": amount}, f"k-{secrets.token_hex(3)}")
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["next_min_bid"] == "1010000.00"


async def test_every_other_refusal_answers_its_code(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1000000.00", key="a-1")).status_code == 201
    leading = await _both(client, alice, lid, {"amount": "1010000.00"}, "a-2")
    assert (leading.status_code, leading.json()["code"]) == (409, "already_leading")
    conflict = await _both(client, alice, lid, {"amount": "1020000.00"}, "a-1")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    stranger = await _both(client, await bidder(client), lid, {"amount": "1010000.00"}, "s-1")
    assert (stranger.status_code, stranger.json()["code"]) == (403, "not_qualified")
    nowhere = await _both(client, bob, lid + 1000, {"amount": "1010000.00"}, "b-1")
    assert nowhere.status_code == 404
    operator = await staff(client, "operator")
    suspended = await client.post(
        f"/api/v1/listings/{lid}/suspend", json={"reason": "核查"}, headers=operator
    )
    assert suspended.status_code == 200
    closed = await _both(client, bob, lid, {"amount": "1010000.00"}, "b-2")
    assert (closed.status_code, closed.json()["code"]) == (409, "auction_not_open")
    replay = await _both(client, alice, lid, {"amount": "1000000.00"}, "a-1")  # the key's bid, still
    assert replay.status_code == 200 and replay.json()["amount"] == "1000000.00"


async def test_a_second_sealed_quote_and_a_bad_quantity(client: Client) -> None:
    sealed, (alice, _) = await live_auction(client, 2, closes_in=60, method="sealed_bid")
    assert (await bid(client, alice, sealed["id"], "1200000.00")).status_code == 201
    twice = await _both(client, alice, sealed["id"], {"amount": "1300000.00"}, f"q-{secrets.token_hex(3)}")
    assert (twice.status_code, twice.json()["code"]) == (409, "already_bid")
    uniform, (carol, _) = await live_auction(
        client, 2, closes_in=60, method="uniform_price", asset_class="emission_right"
    )
    odd = await _both(client, carol, uniform["id"], {"amount": "1000000.00", "quantity": "0.700"}, "u-1")
    assert (odd.status_code, odd.json()["code"]) == (422, "quantity_invalid"), odd.text
