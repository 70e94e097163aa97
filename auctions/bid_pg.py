"""The usual bid on PostgreSQL, on the asyncpg connection itself: lock and read, write, commit.

A bid holds the auction row lock from ``LOCK`` to the commit, so every round
trip in between is time the next bid on that lot waits. ``WRITE`` does in one
statement what the ORM path does in seven: store the state, append the events
with their gapless ``seq``, insert the bid (``ON CONFLICT DO NOTHING`` on the
idempotency key: no id back means a replay), and append the audit entry. The
audit head row is locked inside the statement (``FOR UPDATE`` returns its
newest version even if another writer of the listing's stream committed
meanwhile) and the entry is numbered and hashed there: ``sha256(prev_hash ||
before || seq || after)`` with ``before``/``after`` from
``exchange.audit.chain.canonical_around_seq``, the same bytes ``chain_hash``
hashes, so ``exchange audit verify`` holds.

Why asyncpg and not SQLAlchemy here: the profile of the bid benchmark had
SQLAlchemy's session, connection and result layers (and its ``BEGIN`` and
pre-ping round trips) as the largest part of a bid's server CPU. These three
statements are fixed SQL with positional parameters, which is all asyncpg
needs; everything unusual still goes through the ORM (``place_bid_orm``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auctions.arrival import Turn
from auctions.mechanisms import Bid, Params, Rejection, mechanism_for, state_from_text, state_to_text
from auctions.mechanisms.codec import to_json
from auctions.params import params_of
from auctions.service import Accepted, body_digest, not_open, public_fields, rejected
from exchange.audit.chain import canonical_around_seq
from exchange.clock import utcnow
from exchange.errors import Conflict, ExchangeError, Forbidden
from listings.models import Listing

LOCK = """
SELECT a.method, a.status, a.phase, a.state, a.ends_at, a.last_seq,
       l.updated_at AS listing_version,
       (SELECT p.bid_number FROM applications p
         WHERE p.listing_id = a.listing_id AND p.bidder_id = $2 AND p.status = 'qualified') AS bid_number
FROM auctions a JOIN listings l ON l.id = a.listing_id
WHERE a.listing_id = $1
FOR UPDATE OF a
"""
"""The auction row, locked; the listing's version (for the cached terms); the caller's bid number."""

WRITE = """
WITH auction AS (
    UPDATE auctions
    SET state = $2::jsonb, phase = $3::varchar, ends_at = $4::timestamptz,
        bid_count = $5::integer, last_seq = $6::bigint
    WHERE listing_id = $1::bigint
), events AS (
    INSERT INTO auction_events (listing_id, seq, kind, data, public, at)
    SELECT $1::bigint, e.seq, e.kind, e.data, e.public, e.at
    FROM jsonb_to_recordset($7::jsonb)
        AS e(seq bigint, kind varchar, data jsonb, public boolean, at timestamptz)
), bid AS (
    INSERT INTO bids (listing_id, seq, bidder_id, bid_number, amount, quantity, phase,
                      accepted_at, idempotency_key, body_sha256)
    VALUES ($1::bigint, $8::bigint, $9::bigint, $10::varchar, $11::bigint, $12::bigint,
            $13::varchar, $14::timestamptz, $15::varchar, $16::varchar)
    ON CONFLICT (listing_id, bidder_id, idempotency_key) DO NOTHING
    RETURNING id
), head AS (
    SELECT seq, hash FROM audit_head WHERE stream = $17::varchar FOR UPDATE
), entry AS (
    SELECT seq + 1 AS seq, hash AS prev_hash,
           encode(sha256(convert_to(
               hash || $21::text || CAST(seq + 1 AS text) || $22::text, 'UTF8'
           )), 'hex') AS hash
    FROM head
), moved AS (
    UPDATE audit_head SET seq = entry.seq, hash = entry.hash
    FROM entry WHERE audit_head.stream = $17::varchar
), logged AS (
    INSERT INTO audit_log (stream, seq, actor, action, payload, at, prev_hash, hash)
    SELECT $17::varchar, seq, $18::varchar, $19::varchar, $20::jsonb, $14::timestamptz, prev_hash, hash
    FROM entry
    RETURNING seq
)
SELECT (SELECT id FROM bid) AS bid_id, (SELECT seq FROM logged) AS audit_seq,
       (SELECT updated_at FROM listings WHERE id = $1::bigint) AS listing_version
"""
"""Everything an accepted bid writes. Returns the new bid's id (None: the key was used), the
audit entry's seq (None: the stream has no head yet, the ORM path creates it) and the listing's
version as this statement sees it: ``LOCK`` read it from its snapshot, taken before it waited
for the lock, so a listing changed meanwhile (a resumed suspension) shows here and the bid is
judged again on the fresh terms."""

PREVIOUS = """
SELECT id, seq, amount, quantity, accepted_at, body_sha256 FROM bids
WHERE listing_id = $1 AND bidder_id = $2 AND idempotency_key = $3
"""


@dataclass(frozen=True, slots=True)
class Terms:
    """A listing's auction terms, as of the listing's ``updated_at``."""

    version: datetime
    params: Params
    asset_class: str


terms: dict[int, Terms] = {}
"""Per process; checked against the listing's ``updated_at`` on every bid.

What can change in bidding is the reserve (used only at deadlines and the
close, which read the listing afresh: ``fire``, and ``place_bid_orm`` for a
bid that finds a deadline due) and, on resuming a suspended listing, the
schedule (which ``WRITE`` catches for a bid that waited on the lock meanwhile)."""


async def terms_of(sessions: async_sessionmaker[AsyncSession], listing_id: int, version: datetime) -> Terms:
    cached = terms.get(listing_id)
    if cached is not None and cached.version == version:
        return cached
    async with sessions() as session:
        listing = await session.get(Listing, listing_id)
    assert listing is not None  # the auction row references it
    if len(terms) >= 10_000:
        terms.clear()
    fresh = terms[listing_id] = Terms(version, params_of(listing), listing.asset_class)
    return fresh


TermsLoader = Callable[[int, datetime], Awaitable[Terms]]


async def place_bid_pg(
    conn: asyncpg.Connection,
    load_terms: TermsLoader,
    listing_id: int,
    bidder_id: int,
    amount: int,
    quantity: int | None,
    idempotency_key: str,
    turn: Turn | None = None,
) -> Accepted | None:
    """The usual bid in one transaction: commits on acceptance, rolls back on rejection.

    ``turn`` (``auctions.arrival``) is done once this bid holds the lock.

    ``None``: this bid is not the usual one (no auction, a deadline is due, the bid
    ends the auction, the stream has no audit head, the terms changed while it waited);
    nothing was written and the caller takes ``place_bid_orm``.
    """
    bid = _Attempt(conn, load_terms, listing_id, bidder_id, amount, quantity, idempotency_key, turn)
    await conn.execute("BEGIN")
    try:
        return await bid.run()
    finally:
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")


class _Attempt:
    def __init__(
        self,
        conn: asyncpg.Connection,
        load_terms: TermsLoader,
        listing_id: int,
        bidder_id: int,
        amount: int,
        quantity: int | None,
        idempotency_key: str,
        turn: Turn | None,
    ) -> None:
        self.turn = turn
        self.conn = conn
        self.load_terms = load_terms
        self.listing_id = listing_id
        self.bidder_id = bidder_id
        self.amount = amount
        self.quantity = quantity
        self.key = idempotency_key
        self.digest = body_digest(amount, quantity)

    async def run(self) -> Accepted | None:
        try:
            row = await self.conn.fetchrow(LOCK, self.listing_id, self.bidder_id)
        finally:
            if self.turn is not None:
                self.turn.done()  # the next bid may ask for the lock and queue behind this one
        if row is None:
            return None  # the general path says not found
        terms = await self.load_terms(self.listing_id, row["listing_version"])
        if row["status"] != "open":
            return await self.replay_or(not_open(row["status"]), row["ends_at"], terms)
        number: str | None = row["bid_number"]
        if not number:
            raise Forbidden("only qualified bidders of this listing may bid", code="not_qualified")
        now = utcnow()  # after the lock: the bid's time and the deadline check are one instant
        if row["ends_at"] is None or now >= row["ends_at"]:
            return None  # a deadline is due: fresh terms, maybe a close
        before = state_from_text(row["state"])
        result = mechanism_for(row["method"]).accept(
            terms.params, before, Bid(number, self.amount, self.quantity), now
        )
        if isinstance(result, Rejection):
            error = rejected(result, row["method"], terms.params, before, now)
            return await self.replay_or(error, row["ends_at"], terms)
        state = result.state
        if state.outcome is not None:
            return None  # the bid ends the auction: the close's bookkeeping
        events: list[dict[str, Any]] = []
        seq = row["last_seq"]
        for event in result.events:
            seq += 1
            events.append(
                {
                    "seq": seq,
                    "kind": event.kind,
                    "data": to_json(event.data),
                    "public": event.public,
                    "at": event.at,
                }
            )
        bid_event = next((e for e in events if e["kind"] == "bid"), events[-1])
        written = await self.write(row, state_to_text(state), state, seq, events, bid_event, number, now)
        if written["bid_id"] is None:  # the key was used before: a replay or a conflict
            error = Conflict("this Idempotency-Key is in use", code="idempotency_conflict")
            return await self.replay_or(error, row["ends_at"], terms)
        if written["audit_seq"] is None or written["listing_version"] != row["listing_version"]:
            return None  # no audit head yet, or the terms changed: the general path
        await self.conn.execute("COMMIT")
        return Accepted(
            written["bid_id"],
            bid_event["seq"],
            self.amount,
            self.quantity,
            now,
            state.ends_at,
            [public_fields(e["seq"], e["kind"], e["data"], e["at"], now) for e in events if e["public"]],
            replayed=False,
            deadline_moved=state.ends_at != row["ends_at"],
            asset_class=terms.asset_class,
        )

    async def write(
        self,
        row: asyncpg.Record,
        state_text: str,
        state: Any,
        last_seq: int,
        events: list[dict[str, Any]],
        bid_event: dict[str, Any],
        number: str,
        now: datetime,
    ) -> asyncpg.Record:
        stream = f"listing:{self.listing_id}"
        actor = f"user:{self.bidder_id}"
        payload = {
            "seq": bid_event["seq"],
            "bid_number": number,
            "amount": self.amount,
            "quantity": self.quantity,
            "at": now.isoformat(),
        }
        before, after = canonical_around_seq(stream, actor, "bid.accepted", payload, now)
        stored_events = [{**e, "at": e["at"].isoformat()} for e in events]
        written: asyncpg.Record = await self.conn.fetchrow(
            WRITE,
            self.listing_id,
            state_text,
            state.phase,
            state.ends_at,
            state.bid_count,
            last_seq,
            msgspec.json.encode(stored_events).decode(),
            bid_event["seq"],
            self.bidder_id,
            number,
            self.amount,
            self.quantity,
            str(bid_event["data"].get("phase", row["phase"])),
            now,
            self.key,
            self.digest,
            stream,
            actor,
            "bid.accepted",
            msgspec.json.encode(payload).decode(),
            before,
            after,
        )
        return written

    async def replay_or(self, error: ExchangeError, ends_at: datetime | None, terms: Terms) -> Accepted:
        """An earlier bid with this key is the answer (Conflict if its body differs), else ``error``.

        The lock is released first: a bid with this key can only be a committed one, and
        the lookup (one statement, its own transaction) sees every commit before it.
        """
        await self.conn.execute("ROLLBACK")
        previous = await self.conn.fetchrow(PREVIOUS, self.listing_id, self.bidder_id, self.key)
        if previous is None:
            raise error
        if previous["body_sha256"] != self.digest:
            raise Conflict("this Idempotency-Key was used with another body", code="idempotency_conflict")
        return Accepted(
            previous["id"],
            previous["seq"],
            previous["amount"],
            previous["quantity"],
            previous["accepted_at"],
            ends_at,
            [],
            replayed=True,
            asset_class=terms.asset_class,
        )
