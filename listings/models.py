"""The listing table: what is sold, how, when, and where it is in its life.

Money is integer fen. The reserve price, its salt and the draw seed are secret
until the close; they never leave the service layer except in staff views
(the reserve) and the published result (``listings.reserve``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, BigId, JSONType, UTCDateTime
from exchange.vocabulary import LISTING_STATUSES, ListingStatus, sql_in

LIVE_STATUSES: tuple[ListingStatus, ...] = ("announced", "registration", "bidding")
FINAL_STATUSES: tuple[ListingStatus, ...] = ("closed", "failed", "cancelled")


class Listing(Base):
    __tablename__ = "listings"
    __table_args__ = (
        CheckConstraint(sql_in("status", LISTING_STATUSES), name="status"),
        CheckConstraint("start_price >= 0 AND increment > 0 AND deposit >= 0", name="money"),
        Index("ix_listings_catalogue", "status", "asset_class"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    asset_class: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)

    start_price: Mapped[int] = mapped_column(BigInteger)
    increment: Mapped[int] = mapped_column(BigInteger)
    deposit: Mapped[int] = mapped_column(BigInteger)
    reserve_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    price_cap: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The rest of the mechanism's parameters (quantity, lot, share, rules), as validated.
    method_params: Mapped[dict[str, Any]] = mapped_column(JSONType)

    announce_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registration_opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registration_closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    bidding_opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    bidding_closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    extension_seconds: Mapped[int] = mapped_column(Integer)

    qualification: Mapped[str] = mapped_column(String(8), server_default="pre")
    """``pre`` (资格前审) or ``post`` (资格后审), see ``listings.qualification``."""
    bid_signatures: Mapped[str] = mapped_column(String(8), server_default="none", default="none")
    """Whether bids are signed by their bidders: ``none``, ``optional`` or ``required``
    (``auctions.bid_signatures``); the deployment's ``EXCHANGE_SIGNED_BIDS_REQUIRED`` makes it
    ``required`` for the classes it names, on listings created or edited after it is set."""
    status: Mapped[str] = mapped_column(String(16), default="draft")
    suspended_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    seed: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seed_commitment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Set when the reserve freezes (``listings.reserve``): the commitment is public from then on,
    # the salt only with the result.
    reserve_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reserve_commitment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reserve_committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # The parties and terms of the sale (issue 16); editable while draft.
    seller_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """出让人 / 转让方: the organisation selling; required to publish under the statutory profile."""
    seller_credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    """统一社会信用代码 of the seller (GB 32100)."""
    seller_address: Mapped[str | None] = mapped_column(String(256), nullable=True)
    seller_contact: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """Contact person and telephone, free text."""
    announcement_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The announcement's 文号, e.g. 苏地网挂〔2026〕12号; required to publish under the statutory profile."""
    publicity_working_days: Mapped[int] = mapped_column(Integer, server_default="0")
    """How long the result is on display (公示), in working days (sandbox: seconds)."""
    payment_terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """The JSON of :class:`exchange.settlement_terms.PaymentTerms`; None (rows older than issue 16):
    the class default (``listings.services.terms_of``)."""

    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def stream(self) -> str:
        """The listing's audit stream."""
        return f"listing:{self.id}"
