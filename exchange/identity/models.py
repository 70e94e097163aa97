"""The user table: bidders (enterprises and individuals) and staff; the bidders' signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, BigId, UTCDateTime


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('bidder', 'operator', 'auditor', 'admin', 'registrar')", name="role"),
        CheckConstraint("kind IN ('enterprise', 'individual', 'staff')", name="kind"),
        # one legal entity, one bidder account (codes are stored normalised: exchange.identity.codes)
        UniqueConstraint("credit_code"),
        UniqueConstraint("id_number"),
        # usernames are unique whatever their case (logins compare lower case)
        Index("ix_users_username_lower", text("lower(username)"), unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    id_number: Mapped[str | None] = mapped_column(String(18), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Tokens carry the version they were issued at; bumping it revokes every older token."""
    group_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    """The credit code of the company controlling this enterprise's group of affiliated bidders, as
    it declared it (normalised); None: a group of its own (``exchange.identity.groups``)."""
    detached_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The code an administrator detached from this duplicate account (``exchange users detach-entity``)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BidderKey(Base):
    """A public key a bidder signs its bids with (``auctions.bid_signatures``; migration 0025).

    Never deleted: a revoked key stops signing new bids, but the bids it signed stay verifiable
    and the key is published with them after the close. Registered for one listing: a key used
    on several would link a losing bidder's anonymous bid numbers across them once published.
    """

    __tablename__ = "bidder_keys"
    __table_args__ = (
        CheckConstraint("algorithm IN ('ES256', 'Ed25519')", name="algorithm"),
        Index("ix_bidder_keys_user_id", "user_id", "listing_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"))
    """The one listing whose bids the key signs."""
    kid: Mapped[str] = mapped_column(String(32), unique=True)
    """The first 16 bytes of SHA-256 of the raw public key, in hex (as ``exchange.signing``)."""
    algorithm: Mapped[str] = mapped_column(String(8))
    public_key: Mapped[str] = mapped_column(Text)
    """SubjectPublicKeyInfo, DER, in standard base64: the one form stored and published."""
    label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
