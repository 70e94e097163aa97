"""The rights registry's tables: instruments, holders, the quantity ledger and what moves it.

The registry is a second double-entry ledger, of quantity (docs/rules.md section 7). An
instrument is one lot of one right (pollutant or water trade type, region and basin, unit,
validity, origin, permit reference); every registry account holds exactly one instrument, so a
transaction balances per instrument by construction: its entries sum to zero and all name
accounts of its instrument. Amounts are signed integers of the smallest unit (kg/a, m³/a),
debit positive: a holding's balance is positive, the issuance account (the cap) is the only
account whose balance is negative. Balances are never stored; entries are never changed
(corrections are reversals); the database refuses updates and deletes of the ledger tables.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, BigId, UTCDateTime
from exchange.vocabulary import sql_in

RIGHT_TYPES = ("emission", "water")
UNITS = {"emission": "kg/a", "water": "m3/a"}
ORIGINS = ("paid", "free")
"""有偿 (paid for, 有偿使用) or free allocation; only paid-for lots may be pledged (rule 8)."""

ACCOUNT_KINDS = (
    "issuance",  # the cap: the source of every unit of an instrument, its balance negative
    "reserve",  # 政府储备: the only source of allocations, the only sink of buybacks
    "holding",  # one per holder and instrument: what the holder may sell, pledge or surrender
    "order_hold",  # one per offer or agreement: quantity listed for sale (encumbered)
    "pledged",  # one per pledge
    "frozen",  # judicial or regulatory freeze
    "transit",  # the exchange's settlement account: delivery passes through it
    "surrendered",  # 履约: sinks that never send
    "retired",
    "expired",
)
SINK_KINDS = ("surrendered", "retired", "expired")

OFFER_STATUSES = ("pending", "approved", "rejected", "sold", "released")
DELIVERY_STATUSES = ("awaiting_approval", "delivered", "refused")
PERMIT_CHANGES = ("pending", "confirmed")
PLEDGE_STATUSES = ("active", "released", "enforced")
AGREEMENT_STATUSES = ("publicity", "confirmed", "delivered", "cancelled")
AGREEMENT_OBJECTION_STATUSES = ("open", "dismissed", "upheld")


class Holder(Base):
    """One legal subject with one registry account (rule 1), named by its credit code.

    An enterprise need not have a login to be allocated rights; the bidder whose user carries
    the same credit code acts for it. ``region_code`` (GB/T 2260, 6 digits) and ``basin`` place
    it for the trading predicates (rule 5). The predicates trust those only once the registrar
    has verified them (``verified_at``): an enterprise opening its own account declares where it
    is, and could otherwise declare itself into any basin; an unverified holder does not trade."""

    __tablename__ = "registry_holders"
    __table_args__ = (
        UniqueConstraint("credit_code"),
        CheckConstraint("(verified_at IS NULL) = (verified_by IS NULL)", name="verified"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(128))
    region_code: Mapped[str] = mapped_column(String(6))
    basin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    """The registrar who confirmed (or corrected) the region and basin."""


class Instrument(Base):
    """One lot of one right, as issued; every unit of it is interchangeable with every other."""

    __tablename__ = "registry_instruments"
    __table_args__ = (
        CheckConstraint(sql_in("right_type", RIGHT_TYPES), name="right_type"),
        CheckConstraint(sql_in("origin", ORIGINS), name="origin"),
        CheckConstraint("valid_until > valid_from", name="validity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    right_type: Mapped[str] = mapped_column(String(16))
    sub_type: Mapped[str] = mapped_column(String(32))
    """Emission: the pollutant (``listings.attributes.Pollutant``); water: the trade type."""
    region_code: Mapped[str] = mapped_column(String(6))
    basin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    water_source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unit: Mapped[str] = mapped_column(String(8))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    """The first day the lot is no longer valid: the expiry job retires it then (rule 7)."""
    origin: Mapped[str] = mapped_column(String(8))
    permit_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    legal_basis: Mapped[str] = mapped_column(Text)
    """The decision or document the issuance rests on (文号), required."""
    issued_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RegistryAccount(Base):
    """One account of one instrument; its balance is the sum of its entries (debit positive)."""

    __tablename__ = "registry_accounts"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint(sql_in("kind", ACCOUNT_KINDS), name="kind"),
        # An order hold of the reserve's own offer has no holder.
        CheckConstraint("kind NOT IN ('holding', 'pledged') OR holder_id IS NOT NULL", name="holder"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("registry_instruments.id"), index=True)
    holder_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_holders.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RegistryTransaction(Base):
    """One registry event; ``reference`` is its idempotency key; all its accounts share ``instrument_id``."""

    __tablename__ = "registry_transactions"
    __table_args__ = (UniqueConstraint("reference"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(200))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("registry_instruments.id"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"), nullable=True, index=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(80))


class RegistryEntry(Base):
    """One leg: ``amount`` smallest units, debit positive, credit negative, never zero."""

    __tablename__ = "registry_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="nonzero"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("registry_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class Offer(Base):
    """Quantity a holder (or the reserve, ``holder_id`` None) offers for sale on the exchange.

    The quantity moves to the offer's ``order_hold`` account when the offer is made, under the
    holding's lock, so two offers can never sell the same unit; the operator approves it into a
    draft listing (``listing_id``) or rejects it (the hold is released)."""

    __tablename__ = "registry_offers"
    __table_args__ = (
        CheckConstraint(sql_in("status", OFFER_STATUSES), name="status"),
        CheckConstraint("quantity > 0", name="quantity"),
        UniqueConstraint("listing_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_holders.id"), nullable=True, index=True
    )
    instrument_id: Mapped[int] = mapped_column(ForeignKey("registry_instruments.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"), nullable=True)
    hold_account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"), nullable=True)
    """The account's code names the offer (``order_hold:offer:<id>``), so the row is written first
    and this set in the same transaction: null only inside that transaction."""
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Agreement(Base):
    """A negotiated transfer (协议转让) between two holders: 公示, objections, payment, delivery."""

    __tablename__ = "registry_agreements"
    __table_args__ = (
        CheckConstraint(sql_in("status", AGREEMENT_STATUSES), name="status"),
        CheckConstraint("quantity > 0 AND price > 0", name="terms"),
        UniqueConstraint("payment_account"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("registry_holders.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("registry_holders.id"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("registry_instruments.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    """The whole price in fen."""
    status: Mapped[str] = mapped_column(String(16))
    hold_account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"), nullable=True)
    """Set in the transaction that creates the row (``order_hold:agreement:<id>``), as for an offer."""
    payment_account: Mapped[str] = mapped_column(String(64))
    publicity_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AgreementObjection(Base):
    """An objection to an agreement under 公示; it holds the confirmation while open."""

    __tablename__ = "registry_agreement_objections"
    __table_args__ = (CheckConstraint(sql_in("status", AGREEMENT_OBJECTION_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        # the conventional name is longer than PostgreSQL's 63 characters
        ForeignKey("registry_agreements.id", name="fk_registry_agreement_objections_agreement"),
        index=True,
    )
    filed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reasons: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Delivery(Base):
    """The delivery of one sale (an auction winner's line, or an agreement): 交割.

    Delivery versus payment: ``registry_transaction_id`` (the quantity leg) and
    ``ledger_transaction_id`` (the money leg, the seller paid) are written in one database
    transaction or not at all. A water abstraction right waits in ``awaiting_approval`` until the
    registrar consents (取水许可和水资源费征收管理条例 art. 27); after delivery the permit change
    is ``pending`` until the registrar confirms it (rule 6)."""

    __tablename__ = "registry_deliveries"
    __table_args__ = (
        CheckConstraint(sql_in("status", DELIVERY_STATUSES), name="status"),
        CheckConstraint("permit_change IS NULL OR " + sql_in("permit_change", PERMIT_CHANGES), name="permit"),
        CheckConstraint("(listing_id IS NULL) <> (agreement_id IS NULL)", name="source"),
        # Delivery versus payment in the schema: nothing is delivered without both legs.
        CheckConstraint(
            "status <> 'delivered' OR (registry_transaction_id IS NOT NULL AND ledger_transaction_id IS NOT NULL)",
            name="dvp",
        ),
        UniqueConstraint("reference"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(100))
    """``sale:<listing>:<application>`` or ``agreement:<id>``: one delivery per sale."""
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"), nullable=True, index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), nullable=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("registry_agreements.id"), nullable=True)
    seller_id: Mapped[int | None] = mapped_column(ForeignKey("registry_holders.id"), nullable=True)
    """None: the reserve sold."""
    buyer_id: Mapped[int] = mapped_column(ForeignKey("registry_holders.id"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("registry_instruments.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24))
    permit_change: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # the conventional names are longer than PostgreSQL's 63 characters
    registry_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_transactions.id", name="fk_registry_deliveries_registry_transaction"),
        nullable=True,
    )
    ledger_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id", name="fk_registry_deliveries_ledger_transaction"), nullable=True
    )
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Pledge(Base):
    """A pledge (质押) of part of a holding to a named pledgee: frozen until released or enforced."""

    __tablename__ = "registry_pledges"
    __table_args__ = (
        CheckConstraint(sql_in("status", PLEDGE_STATUSES), name="status"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("registry_holders.id"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("registry_instruments.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    pledgee_name: Mapped[str] = mapped_column(String(128))
    pledgee_code: Mapped[str] = mapped_column(String(18))
    contract_reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"), nullable=True)
    """Set in the transaction that creates the row (``pledged:<id>``), as for an offer."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Obligation(Base):
    """A holder's verified annual emissions or water use (entered by the registrar), to surrender against."""

    __tablename__ = "registry_obligations"
    __table_args__ = (
        CheckConstraint(sql_in("right_type", RIGHT_TYPES), name="right_type"),
        CheckConstraint("verified_quantity >= 0", name="quantity"),
        UniqueConstraint("holder_id", "right_type", "sub_type", "year"),
        Index("ix_registry_obligations_year", "year"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("registry_holders.id"))
    right_type: Mapped[str] = mapped_column(String(16))
    sub_type: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    verified_quantity: Mapped[int] = mapped_column(BigInteger)
    entered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Surrender(Base):
    """Quantity surrendered (履约) against one obligation from one instrument; final (rule 9)."""

    __tablename__ = "registry_surrenders"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    obligation_id: Mapped[int] = mapped_column(ForeignKey("registry_obligations.id"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("registry_instruments.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("registry_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
