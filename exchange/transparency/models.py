"""The transparency log's tables: its leaves, in order, and the tree heads it signed.

A leaf is never changed once appended: its ``data`` is the canonical JSON that was hashed, kept as
text so the bytes hashed are the bytes served. ``(kind, subject)`` is unique: what a leaf is about
(an auction's close, a document, a day of registry movements) is logged once, whichever instance
appends it. A tree head is kept per size, with the signature the exchange gave it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, JSONType, UTCDateTime


class LogEntry(Base):
    """Leaf ``leaf_index`` of the tree: ``leaf_hash`` = SHA-256(0x00 || data), in hex."""

    __tablename__ = "transparency_entries"
    __table_args__ = (UniqueConstraint("kind", "subject"),)

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    """``audit_head``, ``document`` or ``registry_day`` (``exchange.transparency.leaves``)."""
    subject: Mapped[str] = mapped_column(String(200))
    """What the leaf is about, within its kind: a listing id, a document key, a date."""
    data: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignedHead(Base):
    """A signed tree head: the root of the first ``tree_size`` leaves at ``timestamp``."""

    __tablename__ = "transparency_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    """To the millisecond: the instant the signature covers (``exchange.signing.format_timestamp``)."""
    signature: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The detached signature block (``exchange.signing.Signature``) over the head's payload."""
