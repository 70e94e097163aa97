"""The document store: every issued PDF with its SHA-256, once per idempotency key.

Rows are written once and never changed (PostgreSQL refuses updates of the
content columns and deletes; only ``public`` may be switched on, for a bid
record published after the close). No foreign keys on purpose: an issued
document is an archival record that must outlive whatever it was made from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Index, Integer, LargeBinary, String
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from documents.data import DOCUMENT_KINDS
from exchange.db import Base, BigId, JSONType, UTCDateTime


def _key_as_number(context: DefaultExecutionContext) -> Any:
    """A row stored without a number is numbered by its key (documents issued before numbers)."""
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return parameters["key"]


KIND_CHECK = "kind IN (" + ", ".join(f"'{kind}'" for kind in DOCUMENT_KINDS) + ")"


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(KIND_CHECK, name="kind"),
        CheckConstraint("size > 0", name="size"),
        Index("ix_documents_listing_id", "listing_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    """Idempotency key, e.g. ``confirmation:42:317``."""
    number: Mapped[str] = mapped_column(String(200), unique=True, default=_key_as_number)
    """The printed document number (文件编号), e.g. ``2026-00042-QR-317`` (``documents.drafts``);
    documents issued before numbers printed their key, which is their number."""
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True, deferred_raiseload=True)
    """Loaded only by the download (``undefer(Document.pdf)``); metadata queries never carry it."""
    title: Mapped[str] = mapped_column(String(300))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    public: Mapped[bool] = mapped_column(Boolean)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The one user (besides staff) who may download a non-public document: the winner."""
    audit_head: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
