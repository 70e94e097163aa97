"""Bidder applications (报名) to a listing, and the documents attached to them.

Each application has its own deposit account number (a virtual sub-account)
so a bank transfer identifies the applicant without telling anyone else, and
on qualification an anonymous bid number (号牌). Both are random: neither
says who applied, how many applied, or in which order.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, BigId, UTCDateTime
from exchange.vocabulary import APPLICATION_STATUSES, sql_in


def random_id() -> int:
    """Opaque ids: a sequence would tell a bidder how many applied between two of its own."""
    return secrets.randbits(52) + 1  # below 2**53, so JavaScript clients read it exactly


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("listing_id", "bidder_id"),
        UniqueConstraint("deposit_account"),
        UniqueConstraint("listing_id", "bid_number"),
        CheckConstraint(sql_in("status", APPLICATION_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=random_id)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), index=True)
    bidder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    deposit_account: Mapped[str] = mapped_column(String(32))
    deposit_due: Mapped[int] = mapped_column(BigInteger)
    bid_number: Mapped[str | None] = mapped_column(String(8), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_in_full_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the bidder confirmed the 竞买申请书 and 竞买承诺书 (``listings.declarations``); None when
    its client sent no declarations."""
    declaration_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """Which text of them it confirmed (``listings.declarations.VERSION``)."""

    @property
    def stream(self) -> str:
        return f"listing:{self.listing_id}"


class ApplicationDocument(Base):
    """An attachment; served only to its owner and to staff."""

    __tablename__ = "application_documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=random_id)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
