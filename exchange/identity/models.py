"""The user table: bidders (enterprises and individuals) and staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, UniqueConstraint, text
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
