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
    Boolean,
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


CONSORTIUM_MEMBER_STATUSES = ("invited", "confirmed", "refused", "lapsed")
"""A member of a joint bid (联合竞买) is ``invited`` until it confirms or refuses with its own login;
``lapsed``: not confirmed by the deposit deadline, which counts as a refusal. The lead applicant
is ``confirmed`` from the start: its application is its confirmation."""


class ConsortiumMember(Base):
    """One party of a consortium's application (``listings.consortia``), the lead among them.

    Identified by its unified social credit code, as the registry and the identity code identify
    a legal entity: the account that confirms is the one registered with that code. The share is
    in basis points (1/100 of a percent), exact: the shares of an application sum to 10 000.
    """

    __tablename__ = "consortium_members"
    __table_args__ = (
        UniqueConstraint("application_id", "credit_code"),
        CheckConstraint(sql_in("status", CONSORTIUM_MEMBER_STATUSES), name="status"),
        CheckConstraint("share_bp > 0 AND share_bp < 10000", name="share_bp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=random_id)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), index=True)
    """The application's listing, kept here so that one query finds every entity bidding on it."""
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    name: Mapped[str] = mapped_column(String(200))
    """As the lead named it; replaced by the member account's registered name when it confirms."""
    share_bp: Mapped[int] = mapped_column(Integer)
    lead: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer)
    """The order the lead gave (the lead is 0): documents list the members in it."""
    status: Mapped[str] = mapped_column(String(16), default="invited")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    """The account that confirmed or refused (the lead's own for the lead)."""
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


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
