"""Real server processes on PostgreSQL and Redis: kill -9 mid-auction, and two instances.

Nothing acknowledged may be lost: every bid that got a 201 before the crash
is in the history after the restart, the deadline survives, and the auction
closes exactly once even with two instances sharing the database.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.live import bid_for, close_record, seed, wait
from tests.support.server import Server

pytestmark = pytest.mark.slow


async def test_kill_9_mid_auction_loses_nothing(
    env: dict[str, str], servers: list[Server], tmp_path: Path
) -> None:
    first = Server(env, tmp_path).start()
    servers.append(first)
    listing_id, heads = seed(first.url, env, tmp_path, bidders=3, bidding_seconds=6)
    acked = await bid_for(2.5, [first.url], listing_id, heads, on_time=first.kill)
    assert len(acked) >= 5, "the bidders should have got some bids in before the crash"
    last_deadline = max(datetime.fromisoformat(a["ends_at"]) for a in acked)

    second = Server(env, tmp_path).start()
    servers.append(second)
    history = httpx.get(f"{second.url}/api/v1/auctions/{listing_id}/bids").json()
    by_seq = {b["seq"]: b["amount"] for b in history}
    for bid in acked:
        assert by_seq.get(bid["seq"]) == bid["amount"], f"acknowledged bid {bid} lost"
    view = httpx.get(f"{second.url}/api/v1/auctions/{listing_id}").json()
    if view["status"] == "open":
        assert datetime.fromisoformat(view["ends_at"]) >= last_deadline
    final = wait(second.url, listing_id, {"closed", "failed"}, 20)
    assert final["status"] == "closed"
    result = httpx.get(f"{second.url}/api/v1/auctions/{listing_id}").json()
    assert result["current_price"] == max(history, key=lambda b: b["seq"])["amount"]


async def test_two_instances_bid_and_close_once(
    env: dict[str, str], servers: list[Server], db: str, tmp_path: Path
) -> None:
    one = Server(env, tmp_path).start()
    two = Server(env, tmp_path).start()
    servers.extend([one, two])
    listing_id, heads = seed(one.url, env, tmp_path, bidders=3, bidding_seconds=4)
    acked = await bid_for(2.0, [one.url, two.url], listing_id, heads)
    assert len(acked) >= 2, "the bidders should have got bids in through the two instances"  # 3 at load 7.5
    wait(two.url, listing_id, {"closed", "failed"}, 20)
    await asyncio.sleep(2)  # both sweeps pass over the closed auction again
    closes, seqs, audited = await close_record(db, listing_id)
    assert closes == 1 and audited == 1
    assert seqs == list(range(1, len(seqs) + 1))
    history = httpx.get(f"{one.url}/api/v1/auctions/{listing_id}/bids").json()
    assert {a["seq"] for a in acked} <= {b["seq"] for b in history}
