"""Undoing a winner's line in the money ledger: the receivable back to 0, every fen returned.

Shared by every way a sale ends without its delivery: a rescission (:func:`settlement.followup.rescind`,
the 定金 forfeited up to its cap), an annulment (:mod:`settlement.annulment`, nothing forfeited) and a
delivery the registry refuses (:mod:`settlement.registry.delivery`, nothing forfeited). It depends on
the ledger and the settlement rows only, so the registry, which the others import, may use it too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from exchange.clock import utcnow
from settlement import ledger
from settlement.lines import (
    FEE_REVENUE,
    late_fee_code,
    load_installments,
    paid_by_kind,
    receivable_code,
    seller_payable_code,
)
from settlement.settlement_models import SettlementLine

__all__ = ["undo_line"]


async def undo_line(
    session: AsyncSession, line: SettlementLine, *, forfeit: int, stem: str, memo: str, actor: str
) -> dict[str, Any]:
    """Undo a line's sale in the ledger: the receivable ends at 0. ``forfeit`` fen of the deposit go
    to the seller, the rest of it and every payment to the exchange is refunded (5 WD), tracked
    payments are reversed (the collecting authority refunds them), late fees are reversed."""
    now = utcnow()
    rows = await load_installments(session, line.id)
    interest = sum(r.interest for r in rows)
    receivable = await ledger.account(
        session, receivable_code(line.listing_id, line.application_id), "receivable"
    )
    seller = await ledger.account(session, seller_payable_code(line.listing_id), "seller_payable")
    reverse: list[ledger.Leg] = []
    if line.price + interest:
        reverse.append((seller, line.price + interest))
    if line.fee:
        reverse.append((await ledger.account(session, FEE_REVENUE, "fee_revenue"), line.fee))
    if reverse:
        reverse.append((receivable, -(line.price + interest + line.fee)))
        await ledger.post_once(
            session,
            kind="sale_reversed",
            reference=f"{stem}:reverse",
            legs=reverse,
            listing_id=line.listing_id,
            memo=memo,
            actor=actor,
        )
    fees = -await ledger.balance(session, late_fee_code(line.listing_id)) if line.late_fees else 0
    fees = min(fees, line.late_fees)
    if fees:
        payable = await ledger.account(session, late_fee_code(line.listing_id), "seller_payable")
        await ledger.post_once(
            session,
            kind="late_fee_reversed",
            reference=f"{stem}:late_fees",
            legs=[(payable, fees), (receivable, -fees)],
            listing_id=line.listing_id,
            memo="late fees reversed: the 定金 is applied instead (Civil Code art. 588)",
            actor=actor,
        )
    if forfeit:
        await ledger.post_once(
            session,
            kind="deposit_forfeited",
            reference=f"{stem}:forfeit",
            legs=[(receivable, forfeit), (seller, -forfeit)],
            listing_id=line.listing_id,
            memo="deposit forfeited to the seller",
            actor=actor,
        )
    refunds: dict[str, Any] = {}
    rest = line.deposit_applied - forfeit
    if rest:
        refund, _ = await ledger.instruct_refund(
            session,
            source=receivable,
            amount=rest,
            kind="deposit_refunded",
            reference=f"{stem}:deposit",
            application_id=line.application_id,
            listing_id=line.listing_id,
            memo=memo,
            actor=actor,
            now=now,
        )
        refunds["deposit_refund_id"] = refund.id
    paid = await paid_by_kind(session, line)
    if paid.get("payment_received"):
        refund, _ = await ledger.instruct_refund(
            session,
            source=receivable,
            amount=paid["payment_received"],
            kind="payment_refunded",
            reference=f"{stem}:refund",
            application_id=line.application_id,
            listing_id=line.listing_id,
            memo=memo,
            actor=actor,
            now=now,
        )
        refunds["payment_refund_id"] = refund.id
    if paid.get("payment_tracked"):
        await ledger.post_once(
            session,
            kind="tracked_reversed",
            reference=f"{stem}:tracked",
            legs=[(receivable, paid["payment_tracked"]), (seller, -paid["payment_tracked"])],
            listing_id=line.listing_id,
            memo="refunded by the collecting authority",
            actor=actor,
        )
    for row in rows:
        if row.status == "pending":
            row.status = "void"
    line.forfeited, line.late_fees = forfeit, 0
    return {
        "application_id": line.application_id,
        "forfeited": forfeit,
        "deposit_refunded": rest,
        "payments_refunded": paid.get("payment_received", 0),
        "tracked_reversed": paid.get("payment_tracked", 0),
        "late_fees_reversed": fees,
        **refunds,
    }
