"""The two statements of the usual bid on PostgreSQL: lock and read, then write everything.

A bid holds the auction row lock from ``LOCK_AUCTION`` to the commit, so every
round trip in between is time the next bid on that lot waits. ``WRITE_BID``
does in one statement what the ORM path does in seven: store the state, append
the events with their gapless ``seq``, insert the bid (``ON CONFLICT DO
NOTHING`` on the idempotency key: no id back means a replay, the caller rolls
back), and append the audit entry. The audit head row is locked inside the
statement (``FOR UPDATE`` returns its newest version even if another writer of
the listing's stream committed meanwhile) and the entry is numbered and hashed
there: ``sha256(prev_hash || before || seq || after)`` with ``before``/``after``
from ``exchange.audit.chain.canonical_around_seq``, the same bytes
``chain_hash`` hashes, so ``exchange audit verify`` holds.
"""

from __future__ import annotations

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select

from auctions.models import Auction
from exchange.db import UTCDateTime
from listings.applications_models import Application
from listings.models import Listing


def _lock_auction() -> Select[tuple[object, ...]]:
    auctions = Auction.__table__.c
    applications = Application.__table__.c
    number = (
        select(applications.bid_number)
        .where(
            applications.listing_id == auctions.listing_id,
            applications.bidder_id == bindparam("bidder_id"),
            applications.status == "qualified",
        )
        .scalar_subquery()
    )
    return (
        select(
            auctions.method,
            auctions.status,
            auctions.phase,
            auctions.state,
            auctions.ends_at,
            auctions.last_seq,
            Listing.__table__.c.updated_at.label("listing_version"),
            number.label("bid_number"),
        )
        .join_from(Auction.__table__, Listing.__table__, Listing.__table__.c.id == auctions.listing_id)
        .where(auctions.listing_id == bindparam("listing_id"))
        .with_for_update(of=Auction.__table__)
    )


LOCK_AUCTION = _lock_auction()
"""The auction row, locked; the listing's version (for the cached terms); the caller's bid number."""

WRITE_BID: TextClause = text(
    """
WITH auction AS (
    UPDATE auctions
    SET state = :state, phase = CAST(:phase AS varchar), ends_at = :ends_at,
        bid_count = CAST(:bid_count AS integer), last_seq = CAST(:last_seq AS bigint)
    WHERE listing_id = CAST(:listing_id AS bigint)
), events AS (
    INSERT INTO auction_events (listing_id, seq, kind, data, public, at)
    SELECT CAST(:listing_id AS bigint), e.seq, e.kind, e.data, e.public, e.at
    FROM jsonb_to_recordset(:events)
        AS e(seq bigint, kind varchar, data jsonb, public boolean, at timestamptz)
), bid AS (
    INSERT INTO bids (listing_id, seq, bidder_id, bid_number, amount, quantity, phase,
                      accepted_at, idempotency_key, body_sha256)
    VALUES (CAST(:listing_id AS bigint), CAST(:bid_seq AS bigint), CAST(:bidder_id AS bigint),
            CAST(:bid_number AS varchar), CAST(:amount AS bigint), CAST(:quantity AS bigint),
            CAST(:bid_phase AS varchar), :at, CAST(:idempotency_key AS varchar),
            CAST(:body_sha256 AS varchar))
    ON CONFLICT (listing_id, bidder_id, idempotency_key) DO NOTHING
    RETURNING id
), head AS (
    SELECT seq, hash FROM audit_head WHERE stream = CAST(:stream AS varchar) FOR UPDATE
), entry AS (
    SELECT seq + 1 AS seq, hash AS prev_hash,
           encode(sha256(convert_to(
               hash || CAST(:before AS text) || CAST(seq + 1 AS text) || CAST(:after AS text), 'UTF8'
           )), 'hex') AS hash
    FROM head
), moved AS (
    UPDATE audit_head SET seq = entry.seq, hash = entry.hash
    FROM entry WHERE audit_head.stream = CAST(:stream AS varchar)
), logged AS (
    INSERT INTO audit_log (stream, seq, actor, action, payload, at, prev_hash, hash)
    SELECT CAST(:stream AS varchar), seq, CAST(:actor AS varchar), CAST(:action AS varchar),
           :payload, :at, prev_hash, hash
    FROM entry
    RETURNING seq
)
SELECT (SELECT id FROM bid) AS bid_id, (SELECT seq FROM logged) AS audit_seq
"""
).bindparams(
    bindparam("state", type_=JSONB),
    bindparam("ends_at", type_=UTCDateTime()),
    bindparam("events", type_=JSONB),
    bindparam("payload", type_=JSONB),
    bindparam("at", type_=UTCDateTime()),
)
"""Everything an accepted bid writes; returns the new bid's id (None: the key was used) and
the audit entry's seq (None: the stream has no head yet, the ORM path creates it)."""
