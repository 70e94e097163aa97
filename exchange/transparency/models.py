"""The transparency log's tables: its leaves, in order, and the tree heads it signed.

A leaf is never changed once appended: its ``data`` is the canonical JSON that was hashed, kept as
text so the bytes hashed are the bytes served. ``(kind, subject)`` is unique: what a leaf is about
(an auction's close, a document, a day of registry movements) is logged once, whichever instance
appends it. A tree head is signed at every interval of the log, grown or not, so one size may
have several heads: they are kept by ``(tree_size, timestamp)``, with the signature the exchange
gave each. ``transparency_covered`` says which registry movements a ``registry_day`` leaf took in, so
a movement committed after its day was logged still goes into a leaf of its own
(``documents.transparency_leaves``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, String, Text, UniqueConstraint
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
    """What the leaf is about, within its kind: a listing id, a public document's key (a private
    one's SHA-256), a date (``2026-12-05#2``: a later batch of that day)."""
    data: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignedHead(Base):
    """A signed tree head: the root of the first ``tree_size`` leaves at ``timestamp``."""

    __tablename__ = "transparency_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    """To the millisecond: the instant the signature covers (``exchange.signing.format_timestamp``).
    Strictly increasing from one head to the next, whichever instance signs it."""
    root_hash: Mapped[str] = mapped_column(String(64))
    interval_seconds: Mapped[float] = mapped_column(Float)
    """The log's interval when it signed this head: the next head is due this long after it. The
    result bundle's signed record publishes it, so the verifier can tell late from withheld."""
    signature: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The detached signature block (``exchange.signing.Signature``) over the head's payload."""


class Covered(Base):
    """An item a leaf took in (``kind`` ``registry_entry``: a registry movement's entry id)."""

    __tablename__ = "transparency_covered"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    item: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf_index: Mapped[int] = mapped_column(BigInteger)
