"""Ledger tables: accounts, transactions, their entries, and refund instructions.

Amounts are signed integer fen: a debit is positive, a credit negative, so a
transaction balances when its entries sum to zero and the whole ledger sums
to zero. Balances are never stored; they are sums of entries. Entries,
transactions and accounts are append-only, and the database refuses to
update or delete them (migration 0004 explains what each dialect enforces).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, BigId, UTCDateTime

ACCOUNT_KINDS = (
    "bank_clearing",
    "suspense",
    "refunds_payable",
    "fee_revenue",
    "deposit",
    "seller_payable",
    "receivable",
)
REFUND_STATUSES = ("pending", "paid")


class LedgerAccount(Base):
    """One account; its balance is the sum of its entries (debit positive)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint(
            "kind IN ('bank_clearing', 'suspense', 'refunds_payable', 'fee_revenue', 'deposit', "
            "'seller_payable', 'receivable')",
            name="kind",
        ),
        CheckConstraint("kind <> 'deposit' OR application_id IS NOT NULL", name="deposit_application"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id"), nullable=True, index=True
    )
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerTransaction(Base):
    """One business event; ``reference`` is its idempotency key (``bank:<txn_id>``, ...)."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (UniqueConstraint("reference"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(200))
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"), nullable=True, index=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(80))


class LedgerEntry(Base):
    """One leg of a transaction: ``amount`` fen, debit positive, credit negative, never zero."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="nonzero"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class RefundInstruction(Base):
    """Money owed back to a payer: created with a release, closed by the outgoing transfer.

    Only the payment may be recorded (``pending`` -> ``paid``, once); the
    database refuses any other change and any deletion.
    """

    __tablename__ = "refund_instructions"
    __table_args__ = (
        UniqueConstraint("transaction_id"),
        UniqueConstraint("paid_reference"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("status IN ('pending', 'paid')", name="status"),
        CheckConstraint(
            "(status = 'pending' AND paid_at IS NULL AND paid_reference IS NULL "
            "AND paid_transaction_id IS NULL) OR (status = 'paid' AND paid_at IS NOT NULL "
            "AND paid_reference IS NOT NULL AND paid_transaction_id IS NOT NULL)",
            name="payment",
        ),
        Index("ix_refund_instructions_status_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id"), nullable=True, index=True
    )
    source_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payee_account: Mapped[str | None] = mapped_column(String(200), nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    paid_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), nullable=True
    )
