"""The imported years of the working-day calendar (``exchange calendar import``).

One row per imported year, with the notice it came from and the digest of its
table (:attr:`listings.workdays.YearTable.digest`): the digests are the
calendar's version, which every instance compares with what it holds
(:mod:`listings.calendar_store`). One row per listed day: the holidays and the
weekends worked instead (调休); every other day follows the week.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UTCDateTime
from exchange.vocabulary import sql_in
from listings.calendar_file import KINDS, MAX_SOURCE

__all__ = ["CalendarDay", "CalendarYear"]


class CalendarYear(Base):
    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(MAX_SOURCE))
    digest: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(64))


class CalendarDay(Base):
    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint(sql_in("kind", KINDS), name="kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_years.year"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
