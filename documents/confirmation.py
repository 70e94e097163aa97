"""成交确认书: the transaction confirmation of one settlement line, one per winner (also in a
uniform-price auction). Private: only the winner it names and the staff may download it."""

from __future__ import annotations

from sqlalchemy import String, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents import data
from documents.drafts import Draft, listing_info, not_issued, quantity
from exchange.identity.models import User
from listings.models import Listing
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine


def key(listing_id: int, bid_number: str) -> str:
    return f"confirmation:{listing_id}:{bid_number}"


UNISSUED = (
    select(SettlementLine.id)
    .where(
        not_issued(
            literal("confirmation:")
            + cast(SettlementLine.listing_id, String)
            + literal(":")
            + SettlementLine.bid_number
        )
    )
    .order_by(SettlementLine.id)
)
"""Settlement lines whose confirmation is not issued yet (their ``key``, spelled in SQL)."""


async def _installments(session: AsyncSession, line_id: int) -> tuple[data.Installment, ...]:
    query = (
        select(SettlementInstallment)
        .where(SettlementInstallment.line_id == line_id)
        .order_by(SettlementInstallment.seq)
    )
    return tuple(
        data.Installment(label=row.label, due=row.due_date, amount=row.amount)
        for row in (await session.execute(query)).scalars()
    )


def _unit_price(settlement: Settlement, bid_number: str) -> int | None:
    summary = settlement.decoded_summary
    winners = summary.winners if summary is not None else ()
    prices = [w.price for w in winners if w.bidder == bid_number and w.quantity is not None]
    return max(prices) if prices else None


async def draft(session: AsyncSession, line_id: int) -> Draft | None:
    """``None`` when there is no such line."""
    found = (
        await session.execute(
            select(SettlementLine, Settlement, Listing, User)
            .join(Settlement, Settlement.listing_id == SettlementLine.listing_id)
            .join(Listing, Listing.id == SettlementLine.listing_id)
            .join(User, User.id == SettlementLine.bidder_id)
            .where(SettlementLine.id == line_id)
        )
    ).first()
    if found is None:
        return None
    line, settlement, listing, user = found
    schedule = await _installments(session, line.id)
    contract = [i.due for i in schedule if i.label == "contract"]
    confirmation = data.Confirmation(
        listing=listing_info(listing),
        winner_name=user.display_name,
        credit_code=user.credit_code,
        bid_number=line.bid_number,
        decided_at=settlement.decided_at or settlement.created_at,
        price=line.price,
        deposit_applied=line.deposit_applied,
        fee=line.fee,
        payment_schedule=schedule,
        unit_price=_unit_price(settlement, line.bid_number) if line.quantity is not None else None,
        quantity=quantity(listing.asset_class, line.quantity),
        contract_due=contract[0] if contract else None,
    )
    return Draft(key(listing.id, line.bid_number), "confirmation", "成交确认书", confirmation, line.bidder_id)
