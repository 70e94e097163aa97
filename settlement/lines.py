"""The settlement rows as the close, payments and defaults share them.

Reads that lock or refresh a listing, its settlement, lines and
installments; the settlement's status rolled up from its lines; what a line
has been paid; and the codes of the ledger accounts a line posts to (see
:mod:`settlement.closing` for the accounts and their postings).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.errors import NotFound
from listings.models import Listing
from settlement.models import LedgerAccount, LedgerEntry, LedgerTransaction
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine

__all__ = [
    "FEE_REVENUE",
    "SYSTEM",
    "amount_paid",
    "load_installments",
    "load_lines",
    "load_settlement",
    "lock_line",
    "lock_listing",
    "mark_installments",
    "receivable_code",
    "seller_payable_code",
    "set_status",
]

FEE_REVENUE = "fee_revenue"
SYSTEM = "system"


def receivable_code(listing_id: int, application_id: int) -> str:
    return f"receivable:{listing_id}:{application_id}"


def seller_payable_code(listing_id: int) -> str:
    return f"seller_payable:{listing_id}"


async def lock_listing(session: AsyncSession, listing_id: int) -> Listing | None:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(Listing)
        .where(Listing.id == listing_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def load_settlement(session: AsyncSession, listing_id: int) -> Settlement | None:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(Settlement)
        .where(Settlement.listing_id == listing_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def locked_settlement(session: AsyncSession, listing_id: int) -> tuple[Listing, Settlement]:
    """The listing (locked) and its settlement, for an action on the settlement; 404 without one."""
    listing = await lock_listing(session, listing_id)
    settlement = await load_settlement(session, listing_id) if listing is not None else None
    if listing is None or settlement is None:
        raise NotFound(f"listing {listing_id} has no settlement yet", code="settlement_not_found")
    return listing, settlement


async def lock_line(session: AsyncSession, line_id: int) -> SettlementLine:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(SettlementLine)
        .where(SettlementLine.id == line_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


def set_status(settlement: Settlement, lines: Iterable[SettlementLine], now: datetime) -> None:
    """pending_payment while any line is; default if any line defaulted; else paid."""
    statuses = {line.status for line in lines}
    if "default" in statuses:
        status = "default"
    elif "pending_payment" in statuses:
        status = "pending_payment"
    else:
        status = "paid"
    if status != settlement.status:
        settlement.status, settlement.updated_at = status, now


async def load_lines(session: AsyncSession, listing_id: int) -> list[SettlementLine]:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(SettlementLine)
        .where(SettlementLine.listing_id == listing_id)
        .order_by(SettlementLine.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


async def load_installments(session: AsyncSession, line_id: int) -> list[SettlementInstallment]:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(SettlementInstallment)
        .where(SettlementInstallment.line_id == line_id)
        .order_by(SettlementInstallment.seq)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


async def amount_paid(session: AsyncSession, line: SettlementLine) -> int:
    """Money received on the line's payment account and applied to it (from the ledger)."""
    query = (
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(
            LedgerAccount.code == receivable_code(line.listing_id, line.application_id),
            LedgerTransaction.kind == "payment_received",
        )
    )
    return -int((await session.execute(query)).scalar_one() or 0)


async def mark_installments(session: AsyncSession, line: SettlementLine) -> list[SettlementInstallment]:
    """Installments are paid in order: each one covered by the payments so far is ``paid``."""
    paid = await amount_paid(session, line)
    rows = await load_installments(session, line.id)
    cumulative = 0
    for row in rows:
        cumulative += row.amount
        if row.status != "void":
            row.status = "paid" if cumulative <= paid else "pending"
    return rows
