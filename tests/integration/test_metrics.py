"""``GET /metrics`` and the request id, on both databases, through the bid lane and the route.

``exchange.metrics.REGISTRY`` is the process's: other tests (and other apps of this
test) move it too, so every assertion is on a difference, scraped before and after.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from exchange.app import create_app
from exchange.logs import JsonFormatter
from exchange.settings import Settings
from tests.support.api import PASSWORD, Client, register_bidder
from tests.support.auctions import bid, live_auction

pytestmark = pytest.mark.databases()

ROUTE = {"Origin": "http://testserver"}
"""A request with an Origin header is left to Litestar's route (auctions.lane)."""
GENERATED = re.compile(r"[0-9a-f]{32}")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The series of ``name`` that changed, by label set, with their change."""
    changes = {
        labels: value - before.get((sample, labels), 0.0)
        for (sample, labels), value in after.items()
        if sample == name
    }
    return {labels: change for labels, change in changes.items() if change}


def bids(outcome: str, code: str = "") -> frozenset[tuple[str, str]]:
    return frozenset({("outcome", outcome), ("code", code)})


async def test_an_accepted_and_a_rejected_bid_move_the_counters_by_one(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    path = f"/api/v1/auctions/{listing['id']}/bids"
    before = await scrape(client)
    assert (await bid(client, alice, listing["id"], "1000000.00", key="a-1")).status_code == 201
    low = await bid(client, bob, listing["id"], "990000.00")
    assert (low.status_code, low.json()["code"]) == (422, "bid_below_minimum")
    by_route = await bid(client, {**bob, **ROUTE}, listing["id"], "990000.00")
    assert (by_route.status_code, by_route.json()["code"]) == (422, "bid_below_minimum")
    replay = await client.post(
        path, json={"amount": "1000000.00"}, headers={**alice, "Idempotency-Key": "a-1"}
    )
    assert replay.status_code == 200
    after = await scrape(client)

    assert moved(before, after, "exchange_bids_total") == {
        bids("accepted"): 1,
        bids("rejected", "bid_below_minimum"): 2,
        bids("replayed"): 1,
    }
    assert moved(before, after, "exchange_bid_seconds_count") == {frozenset(): 4}
    assert moved(before, after, "exchange_rate_limited_total") == {}


@pytest.fixture
def one_bid_a_second(settings: Settings) -> Settings:
    return replace(settings, bid_rate_per_second=1)


async def test_rate_limits_are_counted_by_limit(db: str, one_bid_a_second: Settings) -> None:
    from litestar.testing import AsyncTestClient

    from exchange.identity import throttle

    async with AsyncTestClient(app=create_app(one_bid_a_second)) as client:
        listing, (alice,) = await live_auction(client, 1, closes_in=60)
        before = await scrape(client)
        # at once: whatever second they fall in, five bids cannot all pass a limit of one a second
        answers = await asyncio.gather(*(bid(client, alice, listing["id"], "1000000.00") for _ in range(5)))
        limited = sum(1 for answer in answers if answer.status_code == 429)
        assert limited >= 3, [answer.text for answer in answers]
        assert all(a.json()["code"] == "rate_limited" for a in answers if a.status_code == 429)

        user = await register_bidder(client)
        wrong = {"username": user["username"], "password": "Wrong-1234567"}
        for _ in range(throttle.NAME.free + 1):
            assert (await client.post("/api/v1/auth/token", json=wrong)).status_code == 401
        right = {"username": user["username"], "password": PASSWORD}
        held = await client.post("/api/v1/auth/token", json=right)
        assert (held.status_code, held.json()["code"]) == (429, "login_throttled")
        after = await scrape(client)

    assert moved(before, after, "exchange_rate_limited_total") == {
        frozenset({("limit", "bid")}): limited,
        frozenset({("limit", "login")}): 1,
    }
    assert moved(before, after, "exchange_bids_total").get(bids("rejected", "rate_limited")) == limited


async def test_metrics_parse_and_stay_out_of_the_api_documents(client: Client, database: str) -> None:
    # a browser's Accept does not make it a page (exchange.web.pages)
    page = await client.get("/metrics", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "exchange_bids_total" in page.text
    samples = await scrape(client)
    names = {name for name, _ in samples}
    for expected in (
        "exchange_bids_total",
        "exchange_bid_seconds_bucket",
        "exchange_rate_limited_total",
        "exchange_document_queue_depth",
        "exchange_close_lateness_seconds_count",
        "exchange_feed_slow_consumers_total",
    ):
        assert expected in names
    if database == "postgresql":  # the bid path's asyncpg pool; SQLite has none
        assert ("exchange_db_pool_connections", frozenset({("pool", "bids")})) in samples
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


@pytest.mark.parametrize("route", [False, True], ids=["lane", "route"])
async def test_the_request_id_is_echoed_given_or_generated(client: Client, route: bool) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    headers = {**alice, **ROUTE} if route else alice
    given = await bid(client, {**headers, "X-Request-ID": "proxy-7f3a.b_c"}, listing["id"], "1000000.00")
    assert given.status_code == 201 and given.headers["x-request-id"] == "proxy-7f3a.b_c"
    refused = await bid(client, {**(({**bob, **ROUTE}) if route else bob)}, listing["id"], "1.00")
    assert refused.status_code == 422 and GENERATED.fullmatch(refused.headers["x-request-id"])
    for bad in ("has space", "x" * 65, "a\tb", "<script>", ""):
        health = await client.get("/healthz", headers={"X-Request-ID": bad})
        assert GENERATED.fullmatch(health.headers["x-request-id"]), bad
    assert (await client.get("/healthz", headers={"X-Request-ID": "x" * 64})).headers[
        "x-request-id"
    ] == "x" * 64
    first, second = (
        (await client.get("/healthz")).headers["x-request-id"],
        (await client.get("/")).headers["x-request-id"],
    )
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The exchange's log lines at INFO, as ``EXCHANGE_LOG_FORMAT=json`` writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("exchange")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_a_bid_is_followed_from_its_request_to_its_events(
    client: Client, json_lines: io.StringIO
) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    accepted = await bid(client, {**alice, "X-Request-ID": "follow-me-1"}, listing["id"], "1000000.00")
    assert accepted.status_code == 201
    refused = await bid(client, {**bob, "X-Request-ID": "follow-me-2"}, listing["id"], "990000.00")
    assert refused.status_code == 422
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == "follow-me-1"]
    taken = [line for line in mine if line["logger"] == "exchange.auctions.intake"]
    assert len(taken) == 1
    assert (taken[0]["listing_id"], taken[0]["seq"], taken[0]["code"]) == (
        listing["id"],
        accepted.json()["seq"],
        "",
    )
    sent = [line for line in mine if line["logger"] == "exchange.broadcast"]
    assert len(sent) == 1 and sent[0]["listing_id"] == listing["id"]
    assert sent[0]["seq_first"] <= accepted.json()["seq"] <= sent[0]["seq_last"]
    (refusal,) = [line for line in lines if line.get("request_id") == "follow-me-2"]
    assert (refusal["logger"], refusal["code"], refusal["level"]) == (
        "exchange.auctions.intake",
        "bid_below_minimum",
        "INFO",
    )
    assert not any("990000" in json.dumps(line) or "1000000" in json.dumps(line) for line in [*mine, refusal])
