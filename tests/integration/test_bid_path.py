"""The usual bid's asyncpg store (lock, one write statement, commit) against the rules it must keep.

Gapless event log, audit chain (with another writer appending to the same
stream between bids), idempotent replays (also where the mechanism would now
reject the body), cached terms that follow the dates a suspension moved.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from auctions import intake, store_pg
from auctions.decision import Attempt, Locked
from auctions.models import AuctionEvent, BidRow
from auctions.store_orm import OrmBidStore
from exchange.audit.chain import append, canonical, canonical_around_seq, verify_stream
from exchange.audit.models import AuditEntry
from tests.support.api import Client, staff
from tests.support.auctions import auction_view, bid, live_auction

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    stream=st.text(min_size=1, max_size=20),
    actor=st.text(max_size=20),
    action=st.text(max_size=20),
    payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    seq=st.integers(min_value=1, max_value=2**62),
    micros=st.integers(min_value=0, max_value=10**15),
)
def test_canonical_splits_around_its_seq(
    stream: str, actor: str, action: str, payload: dict[str, Any], seq: int, micros: int
) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    before, after = canonical_around_seq(stream, actor, action, payload, at)
    assert (before + str(seq) + after).encode() == canonical(stream, seq, actor, action, payload, at)


@pytest.fixture
def orm_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the bids that left the asyncpg store for the general one."""
    calls: list[int] = []

    class Counted(OrmBidStore):
        async def lock(self, attempt: Attempt) -> tuple[Any, Locked | None]:
            calls.append(attempt.listing_id)
            return await super().lock(attempt)

    monkeypatch.setattr(intake, "OrmBidStore", Counted)
    return calls


async def test_bids_keep_the_log_gapless_and_the_audit_chain_whole(
    client: Client, orm_calls: list[int]
) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=60)
    lid = listing["id"]
    sessions = client.app.state.sessions
    first = await bid(client, alice, lid, "1000000.00", key="a-1")
    assert first.status_code == 201, first.text
    async with sessions() as session:  # another writer of the listing's stream between two bids
        await append(session, f"listing:{lid}", "system", "test.note", {"note": '引号"与,"seq":1'})
        await session.commit()
    second = await bid(client, bob, lid, "1010000.00", key="b-1")
    third = await bid(client, alice, lid, "1020000.00", key="a-2")
    assert (second.status_code, third.status_code) == (201, 201), (second.text, third.text)
    assert orm_calls == []  # all three took the short path

    again = await bid(client, alice, lid, "1000000.00", key="a-1")  # now below the minimum
    assert again.status_code == 200 and again.json()["bid_id"] == first.json()["bid_id"]
    other_body = await bid(client, bob, lid, "1050000.00", key="b-1")
    assert other_body.status_code == 409 and other_body.json()["code"] == "idempotency_conflict"
    low = await bid(client, bob, lid, "1000000.00")
    assert low.status_code == 422 and low.json()["code"] == "bid_below_minimum"

    async with sessions() as session:
        events = (
            await session.execute(
                select(AuctionEvent).where(AuctionEvent.listing_id == lid).order_by(AuctionEvent.seq)
            )
        ).scalars()
        log = [(e.seq, e.kind, e.data.get("amount")) for e in events]
        bids = list(
            (
                await session.execute(select(BidRow).where(BidRow.listing_id == lid).order_by(BidRow.seq))
            ).scalars()
        )
        report = await verify_stream(session, f"listing:{lid}")
        entries = (
            await session.execute(
                select(AuditEntry)
                .where(AuditEntry.stream == f"listing:{lid}", AuditEntry.action == "bid.accepted")
                .order_by(AuditEntry.seq)
            )
        ).scalars()
        audited = [(e.payload["seq"], e.payload["amount"], e.actor) for e in entries]
    assert [seq for seq, _, _ in log] == list(range(1, len(log) + 1))
    assert [(b.seq, b.amount) for b in bids] == [(s, a) for s, kind, a in log if kind == "bid"]
    assert [(b.seq, b.amount) for b in bids] == [(s, a) for s, a, _ in audited]
    assert [b.amount for b in bids] == [100000000, 101000000, 102000000]
    assert [b.seq for b in bids] == [r.json()["seq"] for r in (first, second, third)]
    assert report.ok, report
    view = await auction_view(client, lid)
    assert view["last_seq"] == len(log) and view["bid_count"] == 3 and view["current_price"] == "1020000.00"


async def test_cached_terms_follow_the_dates_a_suspension_moved(client: Client) -> None:
    """While bidding runs only the schedule can change (the reserve is frozen): the next bid reads it."""
    operator = await staff(client, "operator")
    listing, (alice, bob) = await live_auction(client, 2, closes_in=30)
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    cached = store_pg.terms[lid]
    pause = {"reason": "系统维护"}
    assert (await client.post(f"/api/v1/listings/{lid}/suspend", json=pause, headers=operator)).is_success
    await asyncio.sleep(0.2)
    assert (await client.post(f"/api/v1/listings/{lid}/resume", json={}, headers=operator)).is_success
    assert (await bid(client, bob, lid, "1010000.00")).status_code == 201
    fresh = store_pg.terms[lid]
    assert fresh.version > cached.version and fresh.params.closes_at > cached.params.closes_at
    assert fresh.params.reserve_price == cached.params.reserve_price
