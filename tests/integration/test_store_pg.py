"""The asyncpg bid store: its ``EXECUTE`` literals reach PostgreSQL as exactly the values they quote,
and a write it refuses leaves nothing behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctions.decision import Attempt
from auctions.intake import BidIn, Intake
from auctions.ratelimit import BidRateLimiter
from auctions.store_pg import PgBidStore, Terms, literal, prepare, terms_of
from auctions.stores import HANDOFF, place
from exchange.db import create_driver_pool
from exchange.errors import ExchangeError
from exchange.identity.tokens import Principal
from tests.conftest import ADMIN_URL
from tests.support.api import Client
from tests.support.auctions import bid, live_auction
from tests.support.settlement import user_id

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
nasty = st.sampled_from(["'", "''", "\\", "\\'", "'); DROP TABLE bids; --", "$$", "$q$", "E'\\x27'", "\n'"])


@settings(max_examples=150, deadline=None)
@given(values=st.lists(texts | nasty, min_size=1, max_size=12), number=st.integers(-(2**63), 2**63 - 1))
def test_text_and_numbers_round_trip(values: list[str], number: int) -> None:
    async def through_postgres() -> list[object]:
        conn = await asyncpg.connect(ADMIN_URL, server_settings={"standard_conforming_strings": "on"})
        try:
            query = "SELECT " + ", ".join([*(f"CAST({literal(v)} AS text)" for v in values), literal(number)])
            row = await conn.fetchrow(query)
        finally:
            await conn.close()
        assert row is not None
        return list(row)

    assert asyncio.run(through_postgres()) == [*values, number]


def test_instants_and_nulls_round_trip() -> None:
    at = datetime(2026, 11, 26, 3, 4, 5, 678901, tzinfo=UTC) + timedelta(hours=8) - timedelta(hours=8)

    async def through_postgres() -> list[object]:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            row = await conn.fetchrow(f"SELECT CAST({literal(at)} AS timestamptz), {literal(None)}")
        finally:
            await conn.close()
        assert row is not None
        return list(row)

    assert asyncio.run(through_postgres()) == [at, None]


def test_what_text_cannot_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")
    with pytest.raises(TypeError):
        literal(True)


async def test_a_refused_write_leaves_nothing_behind(client: Client) -> None:
    """The listing changes while a bid holds the lock: the write refuses, commits nothing,
    and the caller is told to take the general path."""
    listing, (alice, _bob) = await live_auction(client, 2, closes_in=60)
    lid = listing["id"]
    settings = client.app.state.settings
    bidder_id = await user_id(client, alice)
    pool = await create_driver_pool(settings.database, prepare)
    assert pool is not None
    other = await asyncpg.connect(ADMIN_URL.rsplit("/", 1)[0] + "/" + settings.database.url.rsplit("/", 1)[1])

    async def terms_then_a_change(conn: asyncpg.Connection, listing_id: int, version: datetime) -> Terms:
        fresh = await terms_of(conn, listing_id, version)
        # e.g. an operator resuming a suspension commits while this bid holds the auction row
        await other.execute("UPDATE listings SET updated_at = now() WHERE id = $1", listing_id)
        return fresh

    try:
        before = await other.fetchrow("SELECT last_seq, state FROM auctions WHERE listing_id = $1", lid)
        async with pool.acquire() as conn:
            attempt = Attempt(lid, Principal(bidder_id, "alice", "bidder"), 100000000, None, "k-1")
            result = await place(PgBidStore(conn, load_terms=terms_then_a_change), attempt)
        after = await other.fetchrow("SELECT last_seq, state FROM auctions WHERE listing_id = $1", lid)
        bids = await other.fetchval("SELECT count(*) FROM bids WHERE listing_id = $1", lid)
        entries = await other.fetchval("SELECT count(*) FROM audit_log WHERE action = 'bid.accepted'")
    finally:
        await other.close()
        await pool.close()
    assert result is HANDOFF  # the general store decides, on the new terms
    assert (after["last_seq"], after["state"]) == (before["last_seq"], before["state"])
    assert (bids, entries) == (0, 0)
    accepted = await bid(client, alice, lid, "1000000.00", key="k-1")  # and the bid is still possible
    assert accepted.status_code == 201, accepted.text


async def test_a_nul_in_the_key_is_a_bad_request_not_a_crash() -> None:
    nothing: Any = None  # the check comes before any database work
    intake = Intake(nothing, BidRateLimiter(None, "test", 10), nothing, nothing)
    with pytest.raises(ExchangeError) as raised:
        await intake.bid(Principal(1, "x", "bidder"), 1, BidIn(amount="1.00"), "key\x00")
    assert (raised.value.status, raised.value.code) == (400, "malformed_request")
