"""Defaults: a winner who misses a due date forfeits the deposit, and the lot can be relisted.

A default undoes the sale in the ledger, forfeits the deposit applied to
the seller, refunds whatever the winner had paid within 5 WD and voids the
installments still pending (rules §1.5; see :mod:`settlement.closing` for the
postings). A settlement in default can then be relisted once, as a new draft.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec
from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.terms import from_units
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict
from exchange.identity.tokens import Principal
from listings.models import Listing
from listings.services import as_create, validated_fields
from listings.workdays import local_date
from settlement import ledger
from settlement.lines import (
    FEE_REVENUE,
    SYSTEM,
    amount_paid,
    load_lines,
    load_settlement,
    lock_line,
    lock_listing,
    locked_settlement,
    mark_installments,
    receivable_code,
    seller_payable_code,
    set_status,
)
from settlement.schedule import is_late
from settlement.settlement_models import SettlementInstallment, SettlementLine

__all__ = ["check_defaults", "default_if_overdue", "relist"]


async def default_if_overdue(
    session: AsyncSession, listing: Listing, line: SettlementLine, today: date, *, actor: str
) -> bool:
    """Default the line (caller holds the listing and line locks) if an unpaid installment is past due."""
    rows = await mark_installments(session, line)
    overdue = [r for r in rows if r.status == "pending" and is_late(r.due_date, today)]
    if line.status != "pending_payment" or not overdue:
        return False
    await _default(session, listing, line, rows, overdue[0], actor=actor)
    return True


async def _default(
    session: AsyncSession,
    listing: Listing,
    line: SettlementLine,
    rows: list[SettlementInstallment],
    missed: SettlementInstallment,
    *,
    actor: str,
) -> None:
    now = utcnow()
    paid = await amount_paid(session, line)
    receivable = await ledger.account(
        session, receivable_code(line.listing_id, line.application_id), "receivable"
    )
    seller = await ledger.account(session, seller_payable_code(line.listing_id), "seller_payable")
    stem = f"default:{line.listing_id}:{line.application_id}"
    reverse: list[ledger.Leg] = []
    if line.price:
        reverse.append((seller, line.price))
    if line.fee:
        reverse.append((await ledger.account(session, FEE_REVENUE, "fee_revenue"), line.fee))
    if reverse:
        reverse.append((receivable, -(line.price + line.fee)))
        await ledger.post_once(
            session,
            kind="sale_reversed",
            reference=f"{stem}:reverse",
            legs=reverse,
            listing_id=line.listing_id,
            memo=f"missed {missed.label} due {missed.due_date.isoformat()}",
            actor=actor,
        )
    if line.deposit_applied:
        await ledger.post_once(
            session,
            kind="deposit_forfeited",
            reference=f"{stem}:forfeit",
            legs=[(receivable, line.deposit_applied), (seller, -line.deposit_applied)],
            listing_id=line.listing_id,
            memo="deposit forfeited to the seller",
            actor=actor,
        )
    refund = None
    if paid:
        refund, _ = await ledger.instruct_refund(
            session,
            source=receivable,
            amount=paid,
            kind="payment_refunded",
            reference=f"{stem}:refund",
            application_id=line.application_id,
            listing_id=line.listing_id,
            memo="payments of a defaulted settlement",
            actor=actor,
            now=now,
        )
    line.status, line.defaulted_at = "default", now
    for row in rows:
        if row.status == "pending":
            row.status = "void"
    settlement = await load_settlement(session, line.listing_id)
    assert settlement is not None
    set_status(settlement, await load_lines(session, line.listing_id), now)
    await append(
        session,
        listing.stream,
        actor,
        "settlement.default",
        {
            "application_id": line.application_id,
            "bid_number": line.bid_number,
            "missed": missed.label,
            "due_date": missed.due_date.isoformat(),
            "deposit_forfeited": line.deposit_applied,
            "refunded": paid,
            "refund_id": refund.id if refund is not None else None,
        },
    )


async def check_defaults(session: AsyncSession, now: datetime) -> int:
    """Default every line with an unpaid installment due before today (Shanghai); returns how many.

    The query finds installments whose nominal day has passed; the holiday
    shift (Civil Code art. 203) is applied per candidate, on days that are
    past and so covered by the calendar.

    Each candidate is re-checked under the listing lock, so a payment that
    just landed, or another instance doing the same, is respected. Never commits.
    """
    today = local_date(now)
    query = (
        select(SettlementLine.id, SettlementLine.listing_id)
        .where(
            SettlementLine.status == "pending_payment",
            exists().where(
                and_(
                    SettlementInstallment.line_id == SettlementLine.id,
                    SettlementInstallment.status == "pending",
                    SettlementInstallment.due_date < today,
                )
            ),
        )
        .order_by(SettlementLine.listing_id, SettlementLine.id)
    )
    count = 0
    for line_id, listing_id in (await session.execute(query)).all():
        listing = await lock_listing(session, listing_id)
        assert listing is not None
        line = await lock_line(session, line_id)
        if await default_if_overdue(session, listing, line, today, actor=SYSTEM):
            count += 1
    return count


# -- relisting ------------------------------------------------------------------------------------


async def relist(session: AsyncSession, listing_id: int, actor: Principal) -> Listing:
    """A new draft copying a listing whose settlement is in default; once per settlement.

    Multi-unit listings are relisted for the quantity that defaulted. Never commits.
    """
    old, settlement = await locked_settlement(session, listing_id)
    if settlement.status != "default":
        raise Conflict(
            f"only a settlement in default can be relisted; this one is {settlement.status}",
            code="settlement_not_in_default",
        )
    if settlement.relisted_listing_id is not None:
        raise Conflict(
            f"already relisted as listing {settlement.relisted_listing_id}",
            code="already_relisted",
            relisted_listing_id=settlement.relisted_listing_id,
        )
    body = as_create(old)
    defaulted = [line for line in await load_lines(session, listing_id) if line.status == "default"]
    quantities = [line.quantity for line in defaulted if line.quantity is not None]
    if body.quantity is not None and quantities and len(quantities) == len(defaulted):
        body = msgspec.structs.replace(body, quantity=from_units(old.asset_class, sum(quantities)))
    fields = validated_fields(body)
    now = utcnow()
    new = Listing(**fields, status="draft", created_by=actor.user_id, created_at=now, updated_at=now)
    session.add(new)
    await session.flush()
    who = f"user:{actor.user_id}"
    audit = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}
    await append(session, new.stream, who, "listing.created", {**audit, "relisted_from": old.id})
    await append(session, old.stream, who, "settlement.relisted", {"listing_id": new.id})
    settlement.relisted_listing_id, settlement.updated_at = new.id, now
    return new
