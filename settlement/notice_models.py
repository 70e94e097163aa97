"""Payment follow-up tables: reminders of overdue installments, in-app notices, collection notices.

- ``payment_reminders``: one row per overdue installment per reminder day (the day-end job of
  :mod:`settlement.followup`); the documents part issues a 催缴通知书 per row (``reminder:<id>``).
  ``kind`` ``rescission_proposed`` marks the day the grace ran out and rescission was proposed.
- ``notices``: in-app notices to a user (Chinese title and body), read with ``GET /api/v1/notices/me``.
- ``collection_notices``: payments of land and mining proceeds collected by the tax bureau
  (财综〔2021〕19号), as the collecting authority notified them; the exchange records them and never
  holds that money (:mod:`settlement.tracked`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, BigId, JSONType, UTCDateTime
from exchange.vocabulary import REMINDER_KINDS, sql_in


class PaymentReminder(Base):
    __tablename__ = "payment_reminders"
    __table_args__ = (
        UniqueConstraint("line_id", "installment_seq", "issued_on"),
        CheckConstraint(sql_in("kind", REMINDER_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    line_id: Mapped[int] = mapped_column(ForeignKey("settlement_lines.id"), index=True)
    installment_seq: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)
    overdue_amount: Mapped[int] = mapped_column(BigInteger)
    """Fen of the installment unpaid on ``issued_on``."""
    late_fee_accrued: Mapped[int] = mapped_column(BigInteger)
    """Late fees of the whole line accrued up to the day before ``issued_on``."""
    days_overdue: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notice(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CollectionNotice(Base):
    __tablename__ = "collection_notices"
    __table_args__ = (UniqueConstraint("reference"), CheckConstraint("amount > 0", name="amount"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    authority: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)
