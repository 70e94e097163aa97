"""保证金退还通知 (or 价款退还通知): the notice of one refund, to the bidder whose money it was.
Private: only that bidder and the staff may download it."""

from __future__ import annotations

from sqlalchemy import String, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents import data
from documents.drafts import Draft, document_number, listing_info, not_issued
from exchange.identity.models import User
from listings.applications_models import Application
from listings.models import Listing
from settlement.models import LedgerTransaction, RefundInstruction
from settlement.review import DISQUALIFIED
from settlement.settlement_models import Settlement, SettlementLine

NOTIFIED_REFUNDS = ("deposit_released", "deposit_refunded", "payment_refunded")
"""Refunds to a bidder that get a notice: a released deposit; the part of a winner's deposit beyond
what a rescission forfeits, or all of it when the sale is annulled; what a winner had paid on a sale
undone. (A refund of unmatched incoming money goes back to a payer the exchange may not know.)"""


def key(refund_id: int) -> str:
    return f"refund_notice:{refund_id}"


UNISSUED = (
    select(RefundInstruction.id)
    .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
    .where(
        LedgerTransaction.kind.in_(NOTIFIED_REFUNDS),
        RefundInstruction.application_id.is_not(None),
        not_issued(literal("refund_notice:") + cast(RefundInstruction.id, String)),
    )
    .order_by(RefundInstruction.id)
)
"""Refunds to bidders without their notice (their ``key``, spelled in SQL)."""


async def _refund_reason(session: AsyncSession, listing: Listing, application: Application, memo: str) -> str:
    """Why the deposit came back, from the facts (a key of ``REFUND_REASONS``, else the release memo)."""
    settlement = await session.get(Settlement, listing.id)
    if application.status == "rejected":
        # a winner who failed the review after the close (资格后审) is rejected too, but not at registration
        disqualified = settlement is not None and settlement.reason == DISQUALIFIED
        return "disqualified" if disqualified else "rejected"
    if listing.status == "cancelled":
        return "cancelled"
    if settlement is None:
        return memo
    if settlement.outcome != "sold":
        return settlement.outcome  # "failed" or "cancelled"
    won = await session.execute(
        select(SettlementLine.id).where(
            SettlementLine.listing_id == listing.id, SettlementLine.application_id == application.id
        )
    )
    return "excess" if won.first() is not None else "not_won"


async def _undone_reason(
    session: AsyncSession, listing_id: int, application_id: int, *, payments: bool
) -> str:
    """Why money of a sale undone comes back: the sale was annulled after an objection, or
    rescinded for late payment (then the deposit beyond the forfeited 定金 and every payment)."""
    status = (
        await session.execute(
            select(SettlementLine.status).where(
                SettlementLine.listing_id == listing_id, SettlementLine.application_id == application_id
            )
        )
    ).scalar_one_or_none()
    if status == "annulled":
        return "annulled"
    return "default" if payments else "rescinded_excess"


def _masked(account: str | None) -> str | None:
    return f"**** {account[-4:]}" if account and len(account) > 4 else account


async def draft(session: AsyncSession, refund_id: int) -> Draft | None:
    """``None`` when there is no such refund, or none that gets a notice."""
    found = (
        await session.execute(
            select(
                RefundInstruction, LedgerTransaction.kind, LedgerTransaction.memo, Application, Listing, User
            )
            .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
            .join(Application, Application.id == RefundInstruction.application_id)
            .join(Listing, Listing.id == Application.listing_id)
            .join(User, User.id == Application.bidder_id)
            .where(RefundInstruction.id == refund_id, LedgerTransaction.kind.in_(NOTIFIED_REFUNDS))
        )
    ).first()
    if found is None:
        return None
    refund, kind, memo, application, listing, user = found
    payments = kind == "payment_refunded"
    if kind == "deposit_released":
        reason = await _refund_reason(session, listing, application, memo)
    else:
        reason = await _undone_reason(session, listing.id, application.id, payments=payments)
    notice = data.RefundNotice(
        listing=listing_info(listing),
        bidder_name=user.display_name,
        credit_code=user.credit_code,
        bid_number=application.bid_number,
        amount=refund.amount,
        reason=reason,
        released_at=refund.created_at,
        refund_due=refund.due_date,
        account=_masked(refund.payee_account),
        refunded="payments" if payments else "deposit",
    )
    name = "价款退还通知" if payments else "保证金退还通知"
    number = document_number(notice.listing, "refund_notice", refund.id)
    return Draft(key(refund.id), "refund_notice", name, notice, application.bidder_id, number=number)
