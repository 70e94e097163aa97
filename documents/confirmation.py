"""成交确认书: the transaction confirmation of one settlement line, one per winner (also in a
uniform-price auction), between three parties: the seller (出让人 / 转让方), the winner and the
exchange, 一式三份. Issued only once the 公示 has ended clear (``Settlement.confirmed_at``, issue
16 part B). Private: only the winner it names and the staff may download it.

A consortium's line (联合竞买: the lead's application, one bid number) names every party with its
credit code and share, and each signs (:class:`JointConfirmation`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents import data
from documents.drafts import Draft, document_number, listing_info, not_issued, quantity
from documents.formatting import price_label
from documents.joint_parties import JointParty, fields_of, joint_parties
from documents.terms_text import describe
from exchange.identity.models import User
from listings import consortia
from listings.models import Listing
from settlement.lines import TRACKED_CLASSES
from settlement.schedule import FEE_LABEL
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine


@dataclass(frozen=True, slots=True)
class JointConfirmation(data.Confirmation):
    """The confirmation of a consortium's purchase: the buyer is every party, with its share."""

    parties: tuple[JointParty, ...] = ()


def key(listing_id: int, bid_number: str) -> str:
    return f"confirmation:{listing_id}:{bid_number}"


UNISSUED = (
    select(SettlementLine.id)
    .join(Settlement, Settlement.listing_id == SettlementLine.listing_id)
    .where(
        Settlement.confirmed_at.is_not(None),  # the 公示 has ended clear
        not_issued(
            literal("confirmation:")
            + cast(SettlementLine.listing_id, String)
            + literal(":")
            + SettlementLine.bid_number
        ),
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
    rows = list((await session.execute(query)).scalars())
    fee_apart = any(row.label == FEE_LABEL for row in rows)
    return tuple(
        data.Installment(label=price_label(row.label, fee_apart), due=row.due_date, amount=row.amount)
        for row in rows
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
    contract_due = settlement.contract_due_on
    if contract_due is None:
        contract = [i.due for i in schedule if i.label == "contract"]
        contract_due = contract[0] if contract else None
    info = listing_info(listing)
    shares = await consortia.shares_of_application(session, line.application_id)
    winner_name = consortia.joint_name(shares) if shares else user.display_name
    confirmation = data.Confirmation(
        listing=info,
        buyer=data.Party(name=winner_name, credit_code=None if shares else user.credit_code),
        confirmed_at=settlement.confirmed_at,
        publicity_ends_at=settlement.publicity_ends_at,
        payment_account=line.payment_account,
        payment_terms=describe(line.terms or listing.payment_terms),
        winner_name=winner_name,
        credit_code=None if shares else user.credit_code,
        bid_number=line.bid_number,
        decided_at=settlement.decided_at or settlement.created_at,
        price=line.price,
        deposit_applied=line.deposit_applied,
        fee=line.fee,
        payment_schedule=schedule,
        unit_price=_unit_price(settlement, line.bid_number) if line.quantity is not None else None,
        quantity=quantity(listing.asset_class, line.quantity),
        contract_due=contract_due,
        collected_by_authority=listing.asset_class in TRACKED_CLASSES,
    )
    if shares:
        confirmation = JointConfirmation(
            **fields_of(confirmation), parties=joint_parties(line.bid_number, shares)
        )
    return Draft(
        key(listing.id, line.bid_number),
        "confirmation",
        "成交确认书",
        confirmation,
        line.bidder_id,
        number=document_number(info, "confirmation", line.bid_number),
    )
