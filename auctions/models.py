"""Auction tables: the auction row (the lock every bid takes), its events, its bids.

``auction_events`` is the gapless per-auction log the live feed replays by
``seq``; an accepted bid is the event with the same ``seq`` plus a row in
``bids`` (who, for idempotency and history). The mechanism's whole state
is one JSON column of the auction row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auctions.mechanisms import Outcome, outcome_from_json
from exchange.db import Base, BigId, JSONType, UTCDateTime


class Auction(Base):
    __tablename__ = "auctions"
    __table_args__ = (Index("ix_auctions_open_ends_at", "status", "ends_at"),)  # the timers' sweep

    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), primary_key=True, autoincrement=False)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # exchange.vocabulary.AuctionStatus
    phase: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    bid_count: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the outcome was decided: the deadline of a timed close, not when it was processed."""
    close_committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the transaction that closed the auction committed (taken just before its commit):
    ``close_committed_at - closed_at`` is how late the close was, which ``closed_at`` cannot show."""
    close_head: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The listing's audit-chain hash at the entry that recorded the outcome, kept outside the
    chain: ``audit verify`` checks the chain still holds it."""

    @property
    def decoded_outcome(self) -> Outcome | None:
        """``outcome`` read back into the mechanism's ``Outcome``: the one way it is read."""
        return None if self.outcome is None else outcome_from_json(self.outcome)


class AuctionEvent(Base):
    __tablename__ = "auction_events"
    __table_args__ = (UniqueConstraint("listing_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("auctions.listing_id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    public: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BidRow(Base):
    __tablename__ = "bids"
    __table_args__ = (
        UniqueConstraint("listing_id", "seq"),
        UniqueConstraint("listing_id", "bidder_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("auctions.listing_id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    bidder_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    bid_number: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    phase: Mapped[str] = mapped_column(String(16))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str] = mapped_column(String(100))
    body_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """The bidder's signature, ``{kid, algorithm, value, last_seq}`` (``auctions.bid_signatures``);
    None for an unsigned bid. Published with the key once the auction has ended."""
