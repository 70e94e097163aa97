"""Tracked collection: land and mining proceeds paid to the tax bureau (财综〔2021〕19号).

For these classes the exchange never holds the price: the winner pays the collecting authority,
which notifies the exchange (a signed collection notice, or an operator records one by hand). The
payment is posted as ``payment_tracked``: ``Dr seller_payable:<L> / Cr receivable:<L>:<A>`` (the
seller was paid directly), reference ``collection:<reference>``. Idempotent by the notice's
reference: the same notice again changes nothing, another body with the same reference is 409
``notice_duplicate``.

A tracked payment pays the price (and its interest) only. The service fee stays with the
exchange: it is an installment of its own (``service_fee``, :mod:`settlement.schedule`) paid to
the line's account at the exchange, as are the late fees; the deposit applied stays with the
exchange as before. So a notice for more than the price still owes
(:func:`settlement.lines.price_outstanding`) is refused (422 ``amount_exceeds_outstanding``): the
authority holds that money and refunds it, not the exchange.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.money import format_yuan
from listings.workdays import local_date
from settlement import ledger
from settlement.lines import (
    TRACKED_CLASSES,
    TRACKED_PREFIX,
    load_lines,
    lock_line,
    locked_settlement,
    mark_installments,
    price_outstanding,
    receivable_code,
    seller_payable_code,
    set_status,
)
from settlement.notice_models import CollectionNotice
from settlement.settlement_models import SettlementLine

__all__ = ["TRACKED_CLASSES", "record_collection"]


async def record_collection(
    session: AsyncSession,
    *,
    listing_id: int,
    application_id: int,
    amount: int,
    paid_on: date,
    authority: str,
    reference: str,
    raw: dict[str, Any],
    actor: str,
) -> tuple[CollectionNotice, bool]:
    """Record a collection notice and post it; ``(notice, created)``. Never commits."""
    listing, settlement = await locked_settlement(session, listing_id)
    previous = (
        await session.execute(select(CollectionNotice).where(CollectionNotice.reference == reference))
    ).scalar_one_or_none()
    if previous is not None:
        same = (
            previous.listing_id,
            previous.application_id,
            previous.amount,
            previous.paid_on,
            previous.authority,
        )
        if same != (listing_id, application_id, amount, paid_on, authority):
            raise Conflict(
                "this reference was already recorded with a different body", code="notice_duplicate"
            )
        return previous, False
    if listing.asset_class not in TRACKED_CLASSES:
        raise Conflict(
            "this asset class is paid to the exchange, not collected by the tax bureau", code="not_tracked"
        )
    if amount <= 0:
        raise Unprocessable(
            "amount must be positive", code="notice_invalid", errors=[field_error("amount", "positive")]
        )
    if paid_on > local_date(utcnow()):
        raise Unprocessable(
            "paid_on is in the future",
            code="notice_invalid",
            errors=[field_error("paid_on", "not in the future")],
        )
    found = (
        await session.execute(
            select(SettlementLine.id).where(
                SettlementLine.listing_id == listing_id, SettlementLine.application_id == application_id
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"application {application_id} has no line in this settlement", code="line_not_found")
    line = await lock_line(session, found)
    if line.status != "pending_payment" or settlement.status in ("annulled", "released"):
        raise Conflict(f"this line takes no payment; it is {line.status}", code="line_not_payable")
    receivable = await ledger.account(session, receivable_code(listing_id, application_id), "receivable")
    price_owed = await price_outstanding(session, line)
    if amount > price_owed:
        raise Unprocessable(
            f"the price still owes {price_owed} fen (the service fee is paid to the exchange); "
            "the authority refunds the rest",
            code="amount_exceeds_outstanding",
            errors=[
                field_error(
                    "amount",
                    "more than the line owes",
                    "amount_exceeds_outstanding",
                    owed=format_yuan(price_owed),
                )
            ],
        )
    now = utcnow()
    notice = CollectionNotice(
        listing_id=listing_id,
        application_id=application_id,
        amount=amount,
        paid_on=paid_on,
        authority=authority,
        reference=reference,
        received_at=now,
        raw=raw,
    )
    session.add(notice)
    await session.flush()
    seller = await ledger.account(session, seller_payable_code(listing_id), "seller_payable")
    await ledger.post_once(
        session,
        kind="payment_tracked",
        reference=f"{TRACKED_PREFIX}{reference}",
        legs=[(seller, amount), (receivable, -amount)],
        listing_id=listing_id,
        memo=f"collected by {authority} on {paid_on.isoformat()}",
        actor=actor,
    )
    await mark_installments(session, line)
    if await ledger.balance(session, receivable.id) <= 0:
        line.status, line.paid_at = "paid", now
        set_status(settlement, await load_lines(session, listing_id), now)
    await append(
        session,
        listing.stream,
        actor,
        "settlement.payment_tracked",
        {
            "application_id": application_id,
            "amount": amount,
            "paid_on": paid_on.isoformat(),
            "authority": authority,
            "reference": reference,
            "line_status": line.status,
        },
    )
    return notice, True
