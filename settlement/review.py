"""The winner's review after the close, before its confirmation (资格后审).

Under post-qualification nobody looked at an applicant before bidding, so the winner's
qualification is reviewed once the auction has closed. Until then the sale waits in ``review``
(:mod:`settlement.closing`): the other deposits are released as after any close, the winner's
is held, no line is open and no confirmation or result document is issued.

- **Passed**: the sale settles as any other (:func:`settlement.closing.open_lines`): price,
  fee and the deposit applied; its 公示 counts from the date of the review, and the
  confirmation and the installments follow it (:mod:`settlement.followup`).
- **Failed** (a reason is required): the sale fails with reason ``winner_disqualified``; the
  listing becomes ``failed`` and its result says so. The winner's deposit is forfeited to the
  seller or refunded within 5 WD, as the profile of its asset class says
  (``listings.qualification.disqualified_deposit``).

The auction's own outcome is left as the mechanism decided it, so ``exchange audit replay``
still recomputes it from the bids; the review is a settlement fact, audited in the listing's
stream (``settlement.review_passed`` / ``settlement.review_failed``).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.models import Auction
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, Unprocessable, field_error
from exchange.identity.tokens import Principal
from exchange.settings import SettlementSettings
from listings.applications_models import Application
from listings.models import Listing
from listings.qualification import disqualified_deposit
from listings.workdays import local_date
from settlement import deposits
from settlement.closing import open_lines, record_opened
from settlement.lines import locked_settlement
from settlement.registry import offers as registry_offers
from settlement.settlement_models import Settlement

__all__ = ["DISQUALIFIED", "result_awaits_review", "review_winner"]

DISQUALIFIED = "winner_disqualified"
"""The reason of a sale that failed because its winner failed the review."""

Verdict = Literal["passed", "failed"]


def result_awaits_review() -> ColumnElement[bool]:
    """SQL, correlated to ``auctions``: a sale under post-qualification whose winner is not reviewed
    yet (its settlement missing or in ``review``). Its result documents wait for the verdict."""
    # correlated to the auction only, so it also holds in a query that selects the listing too
    post = (
        exists().where(Listing.id == Auction.listing_id, Listing.qualification == "post").correlate(Auction)
    )
    reviewed = (
        exists()
        .where(Settlement.listing_id == Auction.listing_id, Settlement.status != "review")
        .correlate(Auction)
    )
    return (Auction.status == "closed") & post & ~reviewed


async def review_winner(
    session: AsyncSession,
    listing_id: int,
    verdict: Verdict,
    reason: str | None,
    operator: Principal,
    terms: SettlementSettings,
) -> Settlement:
    """Record the review of the winner of a sale in ``review``, and settle or fail it. Never commits."""
    listing, settlement = await locked_settlement(session, listing_id)
    if settlement.status != "review":
        raise Conflict(
            f"no winner of this listing waits for review; its settlement is {settlement.status}",
            code="review_not_pending",
        )
    reason = (reason or "").strip() or None
    if verdict == "failed" and reason is None:
        raise Unprocessable(
            "a failed review needs a reason",
            code="reason_required",
            errors=[field_error("reason", "required when the review fails", "reason_required")],
        )
    outcome = settlement.decoded_summary
    assert outcome is not None
    numbers = sorted({w.bidder for w in outcome.winners})
    query = (
        select(Application)
        .where(Application.listing_id == listing_id, Application.bid_number.in_(numbers))
        .order_by(Application.id)
        .with_for_update()
    )
    winners = {a.bid_number: a for a in (await session.execute(query)).scalars() if a.bid_number}
    now = utcnow()
    for application in winners.values():
        application.decided_by, application.decided_at = operator.user_id, now
        application.decision_reason = reason
    actor = f"user:{operator.user_id}"
    if verdict == "passed":
        await append(
            session,
            listing.stream,
            actor,
            "settlement.review_passed",
            {"bid_numbers": numbers, "reason": reason},
        )
        lines = await open_lines(session, listing, settlement, winners, terms, now)
        await record_opened(session, listing, settlement, lines, now, since=local_date(now), terms=terms)
        return settlement
    await _fail(session, listing, settlement, list(winners.values()), reason or "", actor)
    return settlement


async def _fail(
    session: AsyncSession,
    listing: Listing,
    settlement: Settlement,
    winners: list[Application],
    reason: str,
    actor: str,
) -> None:
    now = utcnow()
    rule = disqualified_deposit(listing.asset_class)
    handled = []
    for application in winners:
        application.status = "rejected"
        if rule == "forfeit":
            amount = await deposits.forfeit_deposit(
                session, application_id=application.id, memo=f"winner disqualified: {reason}", actor=actor
            )
            handled.append({"application_id": application.id, "forfeited": amount})
        else:
            refund = await deposits.release_deposit(
                session, application_id=application.id, reason=f"winner disqualified: {reason}", actor=actor
            )
            amount = refund.amount if refund is not None else 0
            handled.append({"application_id": application.id, "refunded": amount})
    settlement.outcome, settlement.reason, settlement.status = "failed", DISQUALIFIED, "released"
    await registry_offers.release_listing(session, listing.id, f"winner disqualified: {reason}", actor)
    settlement.price, settlement.updated_at = None, now
    listing.status, listing.updated_at = "failed", now  # 流拍: the sale the auction decided does not stand
    await append(
        session,
        listing.stream,
        actor,
        "settlement.review_failed",
        {
            "bid_numbers": sorted(a.bid_number or "" for a in winners),
            "reason": reason,
            "deposit": rule,
            "deposits": handled,
        },
    )
