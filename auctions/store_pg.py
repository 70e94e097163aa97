"""The bid store of PostgreSQL's usual bid, on the asyncpg connection itself: lock and read, then write and commit.

What to do with the bid is ``auctions.decision.decide``'s call, walked by
``auctions.stores.place``; this module only reads and writes, in as few round
trips as it can. Whatever is not the usual bid it hands back untouched
(``HANDOFF``) for the general store (``auctions.store_orm``): no auction row, a
deadline due, a bid that ends the auction, a stream without an audit head, a
listing that changed while the bid waited.

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
everything unusual still goes through the ORM (``auctions.store_orm``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec

from auctions.arrival import Turn
from auctions.decision import Accept, Attempt, Locked, Prior, audit_payload
from auctions.mechanisms import Params, state_from_text, state_to_text
from auctions.stores import HANDOFF, KEY_USED, Handoff, KeyUsed, Signed, signed_payload
from auctions.terms import params_of
from exchange.audit.chain import canonical_around_seq
from exchange.identity.standing import Standing
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
whether the caller's account still stands behind its token (``exchange.identity.standing``)."""

WRITE = """
PREPARE exchange_bid_write(
    bigint, jsonb, varchar, timestamptz, integer, bigint, jsonb, bigint, bigint, varchar, bigint,
    bigint, varchar, timestamptz, varchar, varchar, varchar, varchar, varchar, jsonb, text, text,
    bigint, timestamptz, jsonb, varchar
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
                      accepted_at, idempotency_key, body_sha256, signature)
    VALUES ($23, $1, $8, $9, $10, $11, $12, $13, $14, $15, $16, $25)
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
              AND NOT EXISTS (SELECT FROM bidder_keys WHERE kid = $26 AND revoked_at IS NOT NULL)
         THEN '0'
         ELSE 'refused: the key is used, the stream has no audit head, the terms changed or the signing key was revoked'
    END AS integer)
"""
"""Everything an accepted bid writes, prepared once per connection (``prepare``) and executed
together with ``COMMIT`` in one round trip (``write_and_commit``): the commit is the last
step the next bid on a hot lot waits for. The statement either writes all of it or fails
(the ``CAST`` of the refusal text), so ``COMMIT`` never commits half a bid. It refuses when
the idempotency key was used before (a replay or a conflict), when the listing's stream has
no audit head yet (the ORM path creates it), or when the listing changed while the bid
waited for the lock: ``LOCK`` read the listing's version from its snapshot, taken before it
waited, so a resumed suspension shows only here. It also refuses a signed bid whose key was
revoked after the intake verified it (``$26``, the kid; no extra round trip): the general store
then refuses it as ``bid_signature_key_revoked``."""


async def prepare(conn: asyncpg.Connection) -> None:
    """The pool's ``init``: every connection of the bid pool has ``WRITE`` prepared."""
    await conn.execute(WRITE)


def literal(value: str | int | datetime | None) -> str:
    """A SQL literal for ``EXECUTE``'s text (parameters cannot travel with a simple query).

    Strings are quoted the standard way, which is all there is to it with
    ``standard_conforming_strings`` on (the pool sets it) and UTF-8: a backslash is
    an ordinary character and a quote is doubled. NUL is refused (PostgreSQL text
    cannot hold it). ``tests/integration/test_store_pg.py`` round-trips arbitrary text through it.
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
SELECT id, seq, amount, quantity, accepted_at, body_sha256, phase FROM bids
WHERE listing_id = $1 AND bidder_id = $2 AND idempotency_key = $3
"""


@dataclass(frozen=True, slots=True)
class Terms:
    """A listing's auction terms, as of the listing's ``updated_at``."""

    version: datetime
    params: Params
    asset_class: str
    bid_signatures: str = "none"
    """Whether bids are signed (``auctions.bid_signatures``): checked under the lock by ``place``."""


terms: dict[int, Terms] = {}
"""Per process; checked against the listing's ``updated_at`` on every bid.

While bidding runs only the schedule can change, when a suspended listing
resumes (``WRITE`` catches a bid that waited on the lock meanwhile): the reserve
is frozen and committed before bidding opens (``listings.reserve``)."""


TERMS = """
SELECT asset_class, method, method_params, registration_closes_at, bidding_opens_at, bidding_closes_at,
       start_price, increment, reserve_price, price_cap, extension_seconds, seed, updated_at,
       bid_signatures
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
    fresh = terms[listing_id] = Terms(
        row["updated_at"], params_of(listing), listing.asset_class, row["bid_signatures"]
    )
    return fresh


TermsLoader = Callable[[asyncpg.Connection, int, datetime], Awaitable[Terms]]


class PgBidStore:
    """One bid on one pool connection (``auctions.stores.BidStore``).

    ``turn`` (``auctions.arrival``) is done once this bid holds the lock (or gives up).
    """

    prior_first = False  # the usual bid has no earlier bid under its key: read it only when it matters

    def __init__(
        self, conn: asyncpg.Connection, turn: Turn | None = None, load_terms: TermsLoader | None = None
    ) -> None:
        self.conn = conn
        self.turn = turn
        self.load_terms = load_terms or terms_of
        self._row: asyncpg.Record | None = None
        self._version: datetime | None = None
        self._signatures = "none"

    @property
    def signatures(self) -> str:
        return self._signatures

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if self.turn is not None:
                self.turn.done()
            if self.conn.is_in_transaction():
                await self.conn.execute("ROLLBACK")

    async def lock(self, attempt: Attempt) -> tuple[Standing | None, Locked | None] | Handoff:
        try:
            row = await self.conn.fetchrow(LOCK, attempt.listing_id, attempt.bidder.user_id)
        finally:
            if self.turn is not None:
                self.turn.done()  # the next bid may ask for the lock and queue behind this one
        if row is None:
            return HANDOFF  # no auction row: the general store says so, with the caller's standing
        terms = await self.load_terms(self.conn, attempt.listing_id, row["listing_version"])
        self._row, self._version = row, row["listing_version"]
        self._signatures = terms.bid_signatures
        standing = (
            None
            if row["user_role"] is None
            else Standing(row["user_active"], row["user_role"], row["token_version"])
        )
        locked = Locked(
            row["status"],
            row["phase"],
            state_from_text(row["state"]),
            row["ends_at"],
            row["last_seq"],
            row["bid_number"] or None,
            terms.params,
            terms.asset_class,
        )
        return standing, locked

    async def prior(self, attempt: Attempt) -> Prior | None:
        """Read after the lock is released: a bid with this key can only be a committed one,
        and the lookup (one statement, its own transaction) sees every commit before it."""
        if self.conn.is_in_transaction():
            await self.conn.execute("ROLLBACK")
        row = await self.conn.fetchrow(PREVIOUS, attempt.listing_id, attempt.bidder.user_id, attempt.key)
        if row is None:
            return None
        return Prior(
            row["id"],
            row["seq"],
            row["amount"],
            row["quantity"],
            row["accepted_at"],
            row["body_sha256"],
            row["phase"],
        )

    async def write(
        self, attempt: Attempt, locked: Locked, accept: Accept, signed: Signed | None = None
    ) -> int | KeyUsed | Handoff:
        row = self._row
        assert row is not None and locked.bid_number is not None
        if locked.ends_at is None or accept.now >= locked.ends_at or accept.ends_auction:
            return HANDOFF  # a deadline was due or the bid ends the auction: the close's bookkeeping
        try:
            await self.conn.execute(
                f"EXECUTE exchange_bid_write({', '.join(map(literal, self._values(attempt, locked, accept, signed)))}); COMMIT"
            )
        except asyncpg.InvalidTextRepresentationError:  # refused: the key was used, or see WRITE
            return KEY_USED
        return int(row["bid_id"])

    def _values(
        self, attempt: Attempt, locked: Locked, accept: Accept, signed: Signed | None = None
    ) -> tuple[str | int | datetime | None, ...]:
        assert self._row is not None
        stream = f"listing:{attempt.listing_id}"
        actor = f"user:{attempt.bidder.user_id}"
        payload = signed_payload(audit_payload(attempt, locked, accept), signed)
        before, after = canonical_around_seq(stream, actor, "bid.accepted", payload, accept.now)
        events = [
            {"seq": e.seq, "kind": e.kind, "data": e.data, "public": e.public, "at": e.at.isoformat()}
            for e in accept.events
        ]
        state = accept.state
        return (
            attempt.listing_id,
            state_to_text(state),
            state.phase,
            state.ends_at,
            state.bid_count,
            accept.last_seq,
            msgspec.json.encode(events).decode(),
            accept.bid_seq,
            attempt.bidder.user_id,
            locked.bid_number,
            attempt.amount,
            attempt.quantity,
            accept.phase,
            accept.now,
            attempt.key,
            attempt.digest,
            stream,
            actor,
            "bid.accepted",
            msgspec.json.encode(payload).decode(),
            before,
            after,
            self._row["bid_id"],
            self._version,
            msgspec.json.encode(signed.as_json()).decode() if signed is not None else None,
            signed.kid if signed is not None else None,
        )
