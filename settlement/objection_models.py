"""Objections (异议) to a result under 公示, and their attachments.

An objection belongs to a listing (its result); its filer is a user. The public sees the
objection's status, dates, answer and resolution, never who filed it (staff do). Attachments are
checked and limited like an application's documents (:mod:`listings.documents_upload`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, BigId, UTCDateTime
from exchange.vocabulary import OBJECTION_STATUSES, sql_in
from listings.applications_models import random_id

MAX_REASONS = 4000
"""The longest reasons (characters) an objection may give."""


class Objection(Base):
    """One objection to one listing's result; its status changes only under the listing's lock."""

    __tablename__ = "objections"
    __table_args__ = (
        CheckConstraint(sql_in("status", OBJECTION_STATUSES), name="status"),
        Index("ix_objections_listing_id_status", "listing_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=random_id)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"))
    filed_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reasons: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def stream(self) -> str:
        return f"listing:{self.listing_id}"


class ObjectionAttachment(Base):
    """A file supporting an objection; served to its filer and to staff."""

    __tablename__ = "objection_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=random_id)
    objection_id: Mapped[int] = mapped_column(ForeignKey("objections.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
