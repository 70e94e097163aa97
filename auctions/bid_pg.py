"""The usual bid on PostgreSQL, on the asyncpg connection itself: lock and read, then write and commit.

A bid holds the auction row lock from ``LOCK`` to the commit, so every round
trip in between is time the next bid on that lot waits; with ``BEGIN`` before
the lock there are two: ``LOCK``, and ``WRITE`` sent with ``COMMIT`` in one
message. ``WRITE`` does in one statement what the ORM path does in seven: store
the state, append the events with their gapless ``seq``, insert the bid (a key
used before makes it refuse), and append the audit entry. The audit head row is
locked inside the statement (``FOR UPDATE`` returns its newest version even if
another writer of the listing's stream committed meanwhile) and the entry is
numbered and hashed there: ``sha256(prev_hash || before || seq || after)`` with
``before``/``after`` from ``exchange.audit.chain.canonical_around_seq``, the
same bytes ``chain_hash`` hashes, so ``exchange audit verify`` holds.

Why asyncpg and not SQLAlchemy here: the profile of the bid benchmark had
SQLAlchemy's session, connection and result layers (and its ``BEGIN`` and
pre-ping round trips) as the largest part of a bid's server CPU. These are
fixed statements with positional values, which is all asyncpg needs;
everything unusual still goes through the ORM (``place_bid_orm``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from auctions.arrival import Turn
from auctions.mechanisms import Bid, Params, Rejection, mechanism_for, state_from_text, state_to_text
from auctions.mechanisms.codec import to_json
from auctions.params import params_of
from auctions.service import (
    Accepted,
    body_digest,
    checked_standing,
    not_open,
    public_fields,
    rejected,
    sealed_receipt,
)
from exchange.audit.chain import canonical_around_seq
from exchange.clock import utcnow
from exchange.errors import Conflict, ExchangeError, Forbidden
from exchange.identity.standing import Standing
from exchange.identity.tokens import Principal
from listings.models import Listing

LOCK = """
SELECT a.method, a.status, a.phase, a.state, a.ends_at, a.last_seq,
       l.updated_at AS listing_version, nextval('bids_id_seq') AS bid_id,
       (SELECT p.bid_number FROM applications p
         WHERE p.listing_id = a.listing_id AND p.bidder_id = $2 AND p.status = 'qualified') AS bid_number,
       u.active AS user_active, u.role AS user_role, u.token_version
FROM auctions a JOIN listings l ON l.id = a.listing_id LEFT JOIN users u ON u.id = $2
WHERE a.listing_id = $1
FOR UPDATE OF a
"""
"""The auction row, locked; the listing's version (for the cached terms); an id for the bid (a
rejected bid leaves a gap in ``bids.id``, which only has to be unique); the caller's bid number;
the standing of the caller's account (``exchange.identity.standing``)."""

WRITE = """
PREPARE exchange_bid_write(
    bigint, jsonb, varchar, timestamptz, integer, bigint, jsonb, bigint, bigint, varchar, bigint,
    bigint, varchar, timestamptz, varchar, varchar, varchar, varchar, varchar, jsonb, text, text,
    bigint, timestamptz
) AS
WITH auction AS (
    UPDATE auctions
    SET state = $2, phase = $3, ends_at = $4, bid_count = $5, last_seq = $6
    WHERE listing_id = $1
), events AS (
    INSERT INTO auction_events (listing_id, seq, kind, data, public, at)
    SELECT $1, e.seq, e.kind, e.data, e.public, e.at
    FROM jsonb_to_recordset($7)
        AS e(seq bigint, kind varchar, data jsonb, public boolean, at timestamptz)
), bid AS (
    INSERT INTO bids (id, listing_id, seq, bidder_id, bid_number, amount, quantity, phase,
                      accepted_at, idempotency_key, body_sha256)
    VALUES ($23, $1, $8, $9, $10, $11, $12, $13, $14, $15, $16)
    ON CONFLICT (listing_id, bidder_id, idempotency_key) DO NOTHING
    RETURNING id
), head AS (
    SELECT seq, hash FROM audit_head WHERE stream = $17 FOR UPDATE
), entry AS (
    SELECT seq + 1 AS seq, hash AS prev_hash,
           encode(sha256(convert_to(hash || $21 || CAST(seq + 1 AS text) || $22, 'UTF8')), 'hex') AS hash
    FROM head
), moved AS (
    UPDATE audit_head SET seq = entry.seq, hash = entry.hash
    FROM entry WHERE audit_head.stream = $17
), logged AS (
    INSERT INTO audit_log (stream, seq, actor, action, payload, at, prev_hash, hash)
    SELECT $17, seq, $18, $19, $20, $14, prev_hash, hash
    FROM entry
    RETURNING seq
)
SELECT CAST(
    CASE WHEN EXISTS (SELECT FROM bid) AND EXISTS (SELECT FROM logged)
              AND (SELECT updated_at FROM listings WHERE id = $1) = $24
         THEN '0' ELSE 'refused: the key is used, the stream has no audit head or the terms changed'
    END AS integer)
"""
"""Everything an accepted bid writes, prepared once per connection (``prepare``) and executed
together with ``COMMIT`` in one round trip (``write_and_commit``): the commit is the last
step the next bid on a hot lot waits for. The statement either writes all of it or fails
(the ``CAST`` of the refusal text), so ``COMMIT`` never commits half a bid. It refuses when
the idempotency key was used before (a replay or a conflict), when the listing's stream has
no audit head yet (the ORM path creates it), or when the listing changed while the bid
waited for the lock: ``LOCK`` read the listing's version from its snapshot, taken before it
waited, so a resumed suspension shows only here."""


async def prepare(conn: asyncpg.Connection) -> None:
    """The pool's ``init``: every connection of the bid pool has ``WRITE`` prepared."""
    await conn.execute(WRITE)


def literal(value: str | int | datetime | None) -> str:
    """A SQL literal for ``EXECUTE``'s text (parameters cannot travel with a simple query).

    Strings are quoted the standard way, which is all there is to it with
    ``standard_conforming_strings`` on (the pool sets it) and UTF-8: a backslash is
    an ordinary character and a quote is doubled. NUL is refused (PostgreSQL text
    cannot hold it). ``tests/test_bid_pg.py`` round-trips arbitrary text through it.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        raise TypeError("no booleans here")
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else value
    if "\x00" in text:
        raise ValueError("text cannot hold NUL")
    return "'" + text.replace("'", "''") + "'"


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


TERMS = """
SELECT asset_class, method, method_params, bidding_opens_at, bidding_closes_at, start_price,
       increment, reserve_price, price_cap, extension_seconds, seed, updated_at
FROM listings WHERE id = $1
"""
"""What ``params_of`` reads of a listing, on the bid's own connection (the lock is held)."""


async def terms_of(conn: asyncpg.Connection, listing_id: int, version: datetime) -> Terms:
    cached = terms.get(listing_id)
    if cached is not None and cached.version == version:
        return cached
    row = await conn.fetchrow(TERMS, listing_id)
    assert row is not None  # the auction row references it
    columns = {**row, "method_params": msgspec.json.decode(row["method_params"])}
    listing = Listing(**columns)  # transient: only for params_of
    if len(terms) >= 10_000:
        terms.clear()
    # this statement's snapshot is newer than the lock's: a changed listing is cached by
    # its own version, and WRITE refuses the bid that read the older one
    fresh = terms[listing_id] = Terms(row["updated_at"], params_of(listing), listing.asset_class)
    return fresh


TermsLoader = Callable[[asyncpg.Connection, int, datetime], Awaitable[Terms]]


async def place_bid_pg(
    conn: asyncpg.Connection,
    load_terms: TermsLoader,
    listing_id: int,
    bidder: Principal,
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
    bid = _Attempt(conn, load_terms, listing_id, bidder, amount, quantity, idempotency_key, turn)
    await conn.execute("BEGIN")
    try:
        return await bid.run()
    finally:
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")


@dataclass(slots=True)
class _Attempt:
    conn: asyncpg.Connection
    load_terms: TermsLoader
    listing_id: int
    bidder: Principal
    amount: int
    quantity: int | None
    key: str
    turn: Turn | None
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = body_digest(self.amount, self.quantity)

    @property
    def bidder_id(self) -> int:
        return self.bidder.user_id

    async def run(self) -> Accepted | None:
        try:
            row = await self.conn.fetchrow(LOCK, self.listing_id, self.bidder_id)
        finally:
            if self.turn is not None:
                self.turn.done()  # the next bid may ask for the lock and queue behind this one
        if row is None:
            return None  # the general path says not found
        if row["user_role"] is None:
            standing = None
        else:
            standing = Standing(row["user_active"], row["user_role"], row["token_version"])
        checked_standing(self.bidder, standing)
        terms = await self.load_terms(self.conn, self.listing_id, row["listing_version"])
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
        try:
            await self.write_and_commit(row, state_to_text(state), state, seq, events, bid_event, number, now)
        except asyncpg.InvalidTextRepresentationError:  # refused: an earlier bid with the key, or else
            return await self.replay_or(None, row["ends_at"], terms)  # the general path decides
        return Accepted(
            row["bid_id"],
            bid_event["seq"],
            self.amount,
            self.quantity,
            now,
            state.ends_at,
            [public_fields(e["seq"], e["kind"], e["data"], e["at"], now) for e in events if e["public"]],
            replayed=False,
            deadline_moved=state.ends_at != row["ends_at"],
            asset_class=terms.asset_class,
            receipt=sealed_receipt(terms.params, row["bid_id"]),
        )

    async def write_and_commit(
        self,
        row: asyncpg.Record,
        state_text: str,
        state: Any,
        last_seq: int,
        events: list[dict[str, Any]],
        bid_event: dict[str, Any],
        number: str,
        now: datetime,
    ) -> None:
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
        values = (
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
            row["bid_id"],
            row["listing_version"],
        )
        await self.conn.execute(f"EXECUTE exchange_bid_write({', '.join(map(literal, values))}); COMMIT")

    async def replay_or(
        self, error: ExchangeError | None, ends_at: datetime | None, terms: Terms
    ) -> Accepted | None:
        """An earlier bid with this key is the answer (Conflict if its body differs), else
        ``error`` (``None``: the general path decides).

        The lock is released first: a bid with this key can only be a committed one, and
        the lookup (one statement, its own transaction) sees every commit before it.
        """
        await self.conn.execute("ROLLBACK")
        previous = await self.conn.fetchrow(PREVIOUS, self.listing_id, self.bidder_id, self.key)
        if previous is None:
            if error is None:
                return None
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
            receipt=sealed_receipt(terms.params, previous["id"]),
        )
