"""The live feed on real server processes: resume from any seq, across instances, no gap, no duplicate."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from tests.support.live import bid_for, seed
from tests.support.server import Server

pytestmark = pytest.mark.slow


async def _watch(
    url: str,
    listing_id: int,
    after: int,
    seen: list[dict[str, Any]],
    stop: asyncio.Event,
    limit: int | None = None,
) -> None:
    ws_url = url.replace("http://", "ws://") + f"/api/v1/auctions/{listing_id}/feed?after_seq={after}"
    async with websockets.connect(ws_url) as ws:
        while not stop.is_set():
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=0.5))
            except TimeoutError:
                continue
            if message["kind"] != "heartbeat":
                seen.append(message)
                assert "server_time" in message
                if limit is not None and len(seen) >= limit:
                    return


async def _public_seqs(db: str, listing_id: int) -> list[int]:
    conn = await asyncpg.connect(db.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch(
            "SELECT seq FROM auction_events WHERE listing_id = $1 AND public ORDER BY seq", listing_id
        )
    finally:
        await conn.close()
    return [r["seq"] for r in rows]


async def test_resume_and_cross_instance_delivery(
    env: dict[str, str], servers: list[Server], db: str, tmp_path: Path
) -> None:
    one = Server(env, tmp_path).start()
    two = Server(env, tmp_path).start()
    servers.extend([one, two])
    listing_id, heads = seed(one.url, env, tmp_path, bidders=3, bidding_seconds=30)
    stop = asyncio.Event()
    from_start: list[dict[str, Any]] = []
    first_part: list[dict[str, Any]] = []
    watchers = [
        asyncio.create_task(_watch(two.url, listing_id, 0, from_start, stop)),  # bids go through one
        asyncio.create_task(_watch(one.url, listing_id, 0, first_part, stop, limit=4)),
    ]
    bidding = asyncio.create_task(bid_for(3.0, [one.url], listing_id, heads))
    await asyncio.sleep(1.0)
    await watchers[1]  # disconnected after a few events, while bids keep arriving
    resumed: list[dict[str, Any]] = []
    resume_from = first_part[-1]["seq"]
    watchers.append(asyncio.create_task(_watch(two.url, listing_id, resume_from, resumed, stop)))
    acked = await bidding
    await asyncio.sleep(1.5)  # let the last events arrive
    stop.set()
    await asyncio.gather(*watchers)

    expected = await _public_seqs(db, listing_id)
    assert len(acked) >= 5
    assert [e["seq"] for e in from_start] == expected  # every event once, in order, across instances
    assert [e["seq"] for e in first_part + resumed] == expected
    assert {a["seq"] for a in acked} <= {e["seq"] for e in from_start if e["kind"] == "bid"}
    bid = next(e for e in from_start if e["kind"] == "bid")
    assert set(bid) >= {"seq", "kind", "amount", "bidder", "at", "server_time"}
    assert isinstance(bid["amount"], str)


async def test_unknown_auction_is_refused(env: dict[str, str], servers: list[Server], tmp_path: Path) -> None:
    server = Server(env, tmp_path).start()
    servers.append(server)
    ws_url = server.url.replace("http://", "ws://") + "/api/v1/auctions/999999/feed"
    async with websockets.connect(ws_url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4404


async def _drain(url: str, listing_id: int, after: int, quiet: float = 1.5) -> list[dict[str, Any]]:
    """Every event after ``after`` until the feed has been quiet for ``quiet`` seconds."""
    ws_url = url.replace("http://", "ws://") + f"/api/v1/auctions/{listing_id}/feed?after_seq={after}"
    seen: list[dict[str, Any]] = []
    async with websockets.connect(ws_url) as ws:
        while True:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=quiet))
            except TimeoutError:
                return seen
            if message["kind"] != "heartbeat":
                seen.append(message)


async def _hopper(
    urls: list[str], listing_id: int, seen: list[dict[str, Any]], stop: asyncio.Event, rng: random.Random
) -> int:
    """A client on a bad network: a few events, disconnect, resume from its last seq on the
    other instance, again and again while bids arrive; at the end it catches up once more."""
    hops = 0
    while not stop.is_set():
        part: list[dict[str, Any]] = []
        after = seen[-1]["seq"] if seen else 0
        await _watch(urls[hops % len(urls)], listing_id, after, part, stop, limit=rng.randint(1, 3))
        seen.extend(part)
        hops += 1
    seen.extend(await _drain(urls[hops % len(urls)], listing_id, seen[-1]["seq"] if seen else 0))
    return hops


async def _joiner(
    join: str, resume: str, listing_id: int, after: int, stop: asyncio.Event
) -> tuple[int, list[dict[str, Any]]]:
    """A client that joins mid-auction with ``after_seq`` on ``join`` and stays until the end,
    then catches up on ``resume``."""
    seen: list[dict[str, Any]] = []
    await _watch(join, listing_id, after, seen, stop)
    seen.extend(await _drain(resume, listing_id, seen[-1]["seq"] if seen else after))
    return after, seen


async def _bid_through(
    urls: list[str], listing_id: int, heads: list[dict[str, str]], seconds: float
) -> list[tuple[str, int]]:
    """The bidders take turns, each bid through the next instance: (instance, seq) of each 201."""
    acked: list[tuple[str, int]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    turn = 0
    async with httpx.AsyncClient(timeout=5) as client:
        while loop.time() < deadline:
            url, headers = urls[turn % len(urls)], heads[turn % len(heads)]
            turn += 1
            view = (await client.get(f"{url}/api/v1/auctions/{listing_id}")).json()
            response = await client.post(
                f"{url}/api/v1/auctions/{listing_id}/bids",
                json={"amount": view["next_min_bid"]},
                headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
            )
            if response.status_code == 201:
                acked.append((url, response.json()["seq"]))
            await asyncio.sleep(0.05)
    return acked


async def test_resume_from_any_seq_on_either_instance_while_bids_arrive(
    env: dict[str, str], servers: list[Server], db: str, tmp_path: Path
) -> None:
    one = Server(env, tmp_path).start()
    two = Server(env, tmp_path).start()
    servers.extend([one, two])
    urls = [one.url, two.url]
    listing_id, heads = seed(one.url, env, tmp_path, bidders=3, bidding_seconds=30)
    rng = random.Random(7)
    stop = asyncio.Event()
    on_one: list[dict[str, Any]] = []
    on_two: list[dict[str, Any]] = []
    hopped: list[dict[str, Any]] = []
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(_watch(one.url, listing_id, 0, on_one, stop)),
        asyncio.create_task(_watch(two.url, listing_id, 0, on_two, stop)),
        asyncio.create_task(_hopper(urls, listing_id, hopped, stop, rng)),
    ]
    bidding = asyncio.create_task(_bid_through(urls, listing_id, heads, 4.0))
    joiners = []
    while not bidding.done():  # join from seqs already passed, the current one and ones not reached yet
        await asyncio.sleep(0.3)
        now = on_one[-1]["seq"] if on_one else 0
        after = rng.choice([0, rng.randint(0, now), now, now + rng.randint(1, 3)])
        join, resume = rng.choice([urls, urls[::-1]])
        joiners.append(asyncio.create_task(_joiner(join, resume, listing_id, after, stop)))
    acked = await bidding
    await asyncio.sleep(1.5)
    stop.set()
    hops = (await asyncio.gather(*tasks))[2]
    joined = await asyncio.gather(*joiners)

    expected = await _public_seqs(db, listing_id)
    assert len(acked) >= 6 and {url for url, _ in acked} == set(urls)  # both instances took bids
    assert [e["seq"] for e in on_one] == expected  # each instance delivers the other's bids too
    assert [e["seq"] for e in on_two] == expected
    bid_seqs = {seq for _, seq in acked}
    assert bid_seqs <= {e["seq"] for e in on_one if e["kind"] == "bid"}
    assert hops >= 3
    assert [e["seq"] for e in hopped] == expected  # every event once, in order, across many resumes
    assert len(joined) >= 5
    for after, seen in joined:
        assert [e["seq"] for e in seen] == [seq for seq in expected if seq > after], after
