"""Settlement tables: one settlement per closed listing, a line per winner, its installments.

Money columns are integer fen fixed at the close (what was owed and on what
terms). What has been *paid* is never stored here: it is derived from the
ledger (the line's receivable account, see :mod:`settlement.closing`). The
statuses are bookkeeping of those derived facts, changed only under the
listing's row lock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from auctions.mechanisms import Outcome, outcome_from_json
from exchange.db import Base, BigId, JSONType, UTCDateTime
from exchange.vocabulary import (
    INSTALLMENT_STATUSES,
    LINE_STATUSES,
    LISTING_OUTCOMES,
    SETTLEMENT_STATUSES,
    sql_in,
)


class Settlement(Base):
    """The one settlement of a listing; its primary key is what makes settling happen once."""

    __tablename__ = "settlements"
    __table_args__ = (
        CheckConstraint(sql_in("status", SETTLEMENT_STATUSES), name="status"),
        CheckConstraint(sql_in("outcome", LISTING_OUTCOMES), name="outcome"),
    )

    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(24))
    outcome: Mapped[str] = mapped_column(String(16))
    """``sold`` (the auction closed with winners), ``failed`` or ``cancelled``."""
    price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The outcome's price in fen (for multi-unit auctions the clearing price per unit)."""
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """The auction's outcome as it stood when settled (its JSON: read it as ``decoded_summary``)."""
    relisted_listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    publicity_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the result's 公示 began: the close, or the review that passed the winner (资格后审)."""
    publicity_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """End of the result's 公示 (set when the lines open); the confirmation waits for it."""
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the 公示 ended clear and the sale was confirmed (the 成交确认书 is due)."""
    contract_due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    """The contract is to be signed by this (Shanghai) date: the confirmation + contract_working_days WD."""
    contract_signed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    annulled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def decoded_summary(self) -> Outcome | None:
        return None if self.summary is None else outcome_from_json(self.summary)


class SettlementLine(Base):
    """What one winning application owes: price + fee - deposit applied = amount due."""

    __tablename__ = "settlement_lines"
    __table_args__ = (
        UniqueConstraint("listing_id", "application_id"),
        UniqueConstraint("payment_account"),
        CheckConstraint(sql_in("status", LINE_STATUSES), name="status"),
        CheckConstraint(
            "price >= 0 AND fee >= 0 AND deposit_applied >= 0 AND deposit_applied <= price "
            "AND amount_due = price + fee - deposit_applied",
            name="money",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("settlements.listing_id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    bidder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    bid_number: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Allocated quantity in the listing's fixed scale (multi-unit auctions); else null."""
    price: Mapped[int] = mapped_column(BigInteger)
    """Total fen for this line (unit price x quantity / scale, rounded half up)."""
    deposit_applied: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    payment_account: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    defaulted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """Old rows only: when the instant default (replaced by rescission) hit the line."""
    rescission_proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rescinded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    forfeited: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Fen of the deposit forfeited to the seller at a rescission (at most the deposit and 20% of the price)."""
    late_fees: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Late fees posted so far (the ledger's figure, cached for display)."""
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """The listing's payment terms as they stood at the close (``terms_to_json``); null on old rows."""


class SettlementInstallment(Base):
    """One term of a line's payment schedule; together they sum to the line's amount due."""

    __tablename__ = "settlement_installments"
    __table_args__ = (
        UniqueConstraint("line_id", "seq"),
        CheckConstraint(sql_in("status", INSTALLMENT_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_settlement_installments_status_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("settlement_lines.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(32))
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    """Fen due on ``due_date``: the principal part plus ``interest``."""
    status: Mapped[str] = mapped_column(String(16))
    interest: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Simple interest included in ``amount`` (from the anchor date to the due date)."""
