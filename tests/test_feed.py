"""The live feed on real server processes: resume from any seq, across instances, no gap, no duplicate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
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
