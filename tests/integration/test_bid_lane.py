"""The bid route's fast lane answers exactly as the route, and leaves everything unusual to it.

A request with an ``Origin`` header is always left to the route (CORS is the
framework's business), which makes the route's answer to the same bid easy to
get for comparison. ``test_auctions_api.test_rate_limit`` sees the lane's 429s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.types import Receive, Scope, Send

from auctions.lane import BidLane
from exchange.logs import RequestIds
from tests.support.api import Client, bidder, staff
from tests.support.auctions import bid, live_auction

ROUTE = {"Origin": "http://testserver"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def routed(client: Client) -> Iterator[list[str]]:
    """Paths of the requests the lane handed to Litestar."""
    outer = client.app.asgi_handler
    assert isinstance(outer, RequestIds)  # outermost: the lane's answers carry the request id too
    lane = outer.app
    assert isinstance(lane, BidLane)
    inner = lane.app
    seen: list[str] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await inner(scope, receive, send)

    lane.app = counting
    yield seen
    lane.app = inner


def _shape(body: dict[str, Any]) -> dict[str, type]:
    return {key: type(value) for key, value in body.items()}


@pytest.mark.databases()
async def test_the_lane_answers_as_the_route(client: Client, routed: list[str]) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    path = f"/api/v1/auctions/{listing['id']}/bids"

    first = await bid(client, alice, listing["id"], "1000000.00", key="a-1")
    assert first.status_code == 201 and path not in routed, first.text
    second = await bid(client, {**bob, **ROUTE}, listing["id"], "1010000.00", key="b-1")
    assert second.status_code == 201 and routed.count(path) == 1, second.text
    assert first.headers["content-type"] == second.headers["content-type"] == "application/json"
    assert _shape(first.json()) == _shape(second.json())
    assert second.json()["seq"] == first.json()["seq"] + 1
    assert first.json()["accepted_at"].endswith("Z") and second.json()["accepted_at"].endswith("Z")

    # replays: the same key and body is the same bid, 200, whichever way it comes
    lane_replay = await bid(client, alice, listing["id"], "1000000.00", key="a-1")
    route_replay = await bid(client, {**alice, **ROUTE}, listing["id"], "1000000.00", key="a-1")
    assert lane_replay.status_code == route_replay.status_code == 200
    assert lane_replay.json() == route_replay.json() == first.json()

    # rejections: the same problem document, byte for byte
    for key, amount, code in (
        ("a-1", "1030000.00", "idempotency_conflict"),
        ("a-9", "999.00", "bid_below_minimum"),
    ):
        by_lane = await bid(client, alice, listing["id"], amount, key=key)
        by_route = await bid(client, {**alice, **ROUTE}, listing["id"], amount, key=key)
        assert by_lane.json()["code"] == code, by_lane.text
        assert (by_lane.status_code, by_lane.content) == (by_route.status_code, by_route.content)
        assert (
            by_lane.headers["content-type"] == by_route.headers["content-type"] == "application/problem+json"
        )
    assert routed.count(path) == 4  # the second bid, one replay and two rejections
    # a rejection says the price to beat, in yuan, so a client needs no second request
    below = by_lane.json()
    assert (below["current_price"], below["next_min_bid"]) == ("1010000.00", "1020000.00")
    assert "最低有效出价为 1,020,000.00 元" in below["detail"]  # Chinese: no Accept-Language


async def test_the_lane_leaves_unusual_requests_to_the_route(client: Client, routed: list[str]) -> None:
    listing, (alice, _) = await live_auction(client, 2, closes_in=60)
    lid = listing["id"]
    path = f"/api/v1/auctions/{lid}/bids"
    operator = await staff(client, "operator")
    newcomer = await bidder(client)
    body = {"amount": "1000000.00"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"json": body, "headers": {"Idempotency-Key": "k"}}, 401, "unauthenticated"),
        (
            {"json": body, "headers": {"Authorization": "Bearer nonsense", "Idempotency-Key": "k"}},
            401,
            "token_invalid",
        ),
        ({"json": body, "headers": {**operator, "Idempotency-Key": "k"}}, 403, "forbidden"),
        ({"json": body, "headers": alice}, 400, "validation_failed"),  # no Idempotency-Key
        ({"json": body, "headers": {**alice, "Idempotency-Key": "k" * 101}}, 400, "validation_failed"),
        (
            {"json": {**body, "extra": 1}, "headers": {**alice, "Idempotency-Key": "k"}},
            400,
            "validation_failed",
        ),
        (
            {"json": {"amount": "1,000"}, "headers": {**alice, "Idempotency-Key": "k"}},
            400,
            "validation_failed",
        ),
        (
            {"content": b"{not json", "headers": {**alice, "Idempotency-Key": "k", **JSON}},
            400,
            "malformed_request",
        ),
        ({"json": body, "headers": {**newcomer, "Idempotency-Key": "k"}}, 403, "not_qualified"),
    ]
    for request, status, code in cases:
        before = len(routed)
        response = await client.post(path, **request)
        assert (response.status_code, response.json()["code"]) == (status, code), (request, response.text)
        if code != "not_qualified":  # a qualified-or-not check is the intake's, in the lane
            assert len(routed) == before + 1, request
    # a browser session without its CSRF token: refused by the route, not taken by the lane
    client.cookies.set("exchange_session", alice["Authorization"].split(" ", 1)[1])
    try:
        browser = await client.post(path, json=body, headers={"Idempotency-Key": "k"})
    finally:
        client.cookies.clear()
    assert (browser.status_code, browser.json()["code"]) == (403, "csrf_failed"), browser.text
    too_big = await client.post(
        f"/api/v1/auctions/{2**63}/bids", json=body, headers={**alice, "Idempotency-Key": "k"}
    )
    assert too_big.status_code == 400 and routed[-1] == f"/api/v1/auctions/{2**63}/bids"


async def test_repeated_credentials_are_the_routes_to_judge(client: Client, routed: list[str]) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    path = f"/api/v1/auctions/{listing['id']}/bids"
    headers = [
        ("Authorization", alice["Authorization"]),
        ("Authorization", bob["Authorization"]),
        ("Idempotency-Key", "k"),
        ("Content-Type", "application/json"),
    ]
    response = await client.post(path, content=b'{"amount": "1000000.00"}', headers=headers)
    assert routed.count(path) == 1 and response.status_code == 401, response.text
