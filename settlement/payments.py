"""Payments against the schedule: money received on a line's payment account.

Each bank notice is applied to the line's receivable once (``bank:<txn_id>``);
the installments it covers are marked paid in order, and money the line does
not owe goes to suspense and back within 5 WD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from settlement import ledger
from settlement.deposits import book_receipt
from settlement.lines import (
    TRACKED_CLASSES,
    load_lines,
    load_settlement,
    lock_line,
    lock_listing,
    mark_installments,
    price_outstanding,
    receivable_code,
    set_status,
)
from settlement.registry import delivery
from settlement.settlement_models import SettlementLine

__all__ = ["Payment", "book_payment"]


@dataclass(frozen=True)
class Payment:
    """What a bank notice on a payment account did."""

    outcome: str
    """``payment`` (applied to the line) or ``suspense`` (refused, refunded in 5 WD)."""
    listing_id: int
    line_id: int
    applied: int
    refunded: int
    outstanding: int
    line_status: str
    reason: str | None = None
    duplicate: bool = False


async def book_payment(
    session: AsyncSession, *, account: str, amount: int, txn_id: str, paid_at: datetime
) -> Payment | None:
    """Book money received on a settlement payment account; ``None`` if ``account`` is not one.

    Applied to the line's receivable (``bank:<txn_id>``). Money beyond the
    amount outstanding, or for a line already paid or in default, goes to
    suspense and is refunded within 5 WD. For the classes whose price the tax bureau collects
    (:mod:`settlement.tracked`) the account takes only the fee and the late fees; money for the
    price goes to suspense and back (reason ``overpaid``). A late payment is applied like any other: the
    principal in due order, then the late fees (:mod:`settlement.late_fees`); only an operator
    rescinds (:mod:`settlement.followup`). Idempotent by ``txn_id``. Never commits.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be positive integer fen, got {amount!r}")
    found = (
        await session.execute(
            select(SettlementLine.id, SettlementLine.listing_id).where(
                SettlementLine.payment_account == account
            )
        )
    ).first()
    if found is None:
        return None
    listing = await lock_listing(session, found.listing_id)
    assert listing is not None
    line = await lock_line(session, found.id)
    reference = f"bank:{txn_id}"
    receivable = await ledger.account(
        session,
        receivable_code(line.listing_id, line.application_id),
        "receivable",
        application_id=line.application_id,
        listing_id=line.listing_id,
    )
    previous = await ledger.transaction_by_reference(session, reference)
    if previous is not None:
        outcome = "payment" if previous.kind == "payment_received" else "suspense"
        outstanding = max(await ledger.balance(session, receivable.id), 0)
        return Payment(outcome, line.listing_id, line.id, 0, 0, outstanding, line.status, duplicate=True)
    outstanding = await ledger.balance(session, receivable.id) if line.status == "pending_payment" else 0
    if outstanding > 0 and listing.asset_class in TRACKED_CLASSES:
        # the tax bureau collects the price: the exchange's account takes the fee and late fees only
        outstanding -= await price_outstanding(session, line)
    applied, excess, reason = await book_receipt(
        session,
        receivable=receivable,
        outstanding=outstanding,
        amount=amount,
        reference=reference,
        refused=f"settlement_{line.status}",
        listing_id=line.listing_id,
    )
    now = utcnow()
    if applied:
        await mark_installments(session, line)
        if await ledger.balance(session, receivable.id) <= 0:
            line.status, line.paid_at = "paid", now
            await delivery.on_line_paid(session, listing, line, now)  # DvP, in this transaction
            settlement = await load_settlement(session, line.listing_id)
            assert settlement is not None
            set_status(settlement, await load_lines(session, line.listing_id), now)
    await append(
        session,
        listing.stream,
        "bank",
        "settlement.payment",
        {
            "application_id": line.application_id,
            "txn_id": txn_id,
            "amount": amount,
            "applied": applied,
            "refunded": excess,
            "line_status": line.status,
        },
    )
    return Payment(
        "payment" if applied else "suspense",
        line.listing_id,
        line.id,
        applied,
        excess,
        outstanding - applied,
        line.status,
        reason,
    )
