"""Rights past their validity are retired by a daily job (docs/rules.md section 7, rule 7).

On ``valid_until`` a lot stops being transferable (trading refuses it from that day:
:func:`settlement.registry.eligibility.trade_refusal`), and the job moves what is left of it
to ``expired:<i>``, a sink that never sends. First it withdraws the offers and agreements that
still hold quantity of it, so their holds go back to the seller and expire from there; then
every positive holding, reserve and order hold balance of the lot moves to expired.

Pledged and frozen quantity stays where it is: a pledge is a contract with a creditor, and a
freeze an authority's order, that the registry records but may not end on its own. Released
(or unfrozen) after expiry, the quantity lands in the holding and the next run retires it.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.db import unit_of_work
from settlement.registry import agreements as agreement_service
from settlement.registry import book
from settlement.registry.issuance import today as local_today
from settlement.registry.models import Agreement, Instrument, Offer, RegistryAccount, RegistryEntry

__all__ = ["EXPIRING_KINDS", "retire_expired", "run_expiry"]

log = logging.getLogger("settlement.registry.expiry")

EXPIRING_KINDS = ("holding", "reserve", "order_hold")
SYSTEM = "system"
_REASON = "the instrument's validity ended"


async def _withdraw(session: AsyncSession, expired: list[int]) -> None:
    offers = (
        await session.execute(
            select(Offer)
            .where(Offer.instrument_id.in_(expired), Offer.status.in_(("pending", "approved")))
            .with_for_update()
        )
    ).scalars()
    for offer in offers:
        hold = await session.get(RegistryAccount, offer.hold_account_id)
        if hold is not None and (held := await book.balance(session, hold.id)) > 0:
            if offer.holder_id is None:
                back = await book.account(session, "reserve", offer.instrument_id)
            else:
                back = await book.account(session, "holding", offer.instrument_id, holder_id=offer.holder_id)
            await book.move(
                session,
                source=hold,
                target=back,
                quantity=held,
                kind="release",
                reference=f"offer:{offer.id}:expired",
                actor=SYSTEM,
                listing_id=offer.listing_id,
                memo=_REASON,
            )
        offer.status = "released"
        offer.reason = _REASON
        offer.decided_at = utcnow()
    expiring = (
        await session.execute(
            select(Agreement.id)
            .where(Agreement.instrument_id.in_(expired), Agreement.status.in_(("publicity", "confirmed")))
            .order_by(Agreement.id)
        )
    ).scalars()
    for agreement_id in list(expiring):
        # as any cancellation: the hold back, the price no longer due, what the buyer paid refunded
        await agreement_service.cancel_agreement(session, agreement_id, reason=_REASON, actor=SYSTEM)
    await session.flush()


async def retire_expired(session: AsyncSession, today: date) -> int:
    """Retire what is left of every lot whose validity ended by ``today``; the number of postings."""
    expired = list(
        (await session.execute(select(Instrument.id).where(Instrument.valid_until <= today))).scalars()
    )
    if not expired:
        return 0
    await _withdraw(session, expired)
    total = func.sum(RegistryEntry.amount)
    query = (
        select(RegistryAccount, total, func.max(RegistryEntry.id))
        .join(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
        .where(RegistryAccount.instrument_id.in_(expired), RegistryAccount.kind.in_(EXPIRING_KINDS))
        .group_by(RegistryAccount.id)
        .having(total > 0)
        .order_by(RegistryAccount.id)
    )
    posted = 0
    for acct, held, last_entry in (await session.execute(query)).all():
        sink = await book.account(session, "expired", acct.instrument_id)
        await book.move(
            session,
            source=acct,
            target=sink,
            quantity=int(held),
            kind="expiry",
            # the account's last entry makes a rerun on the same state a repeat, not a second move
            reference=f"expire:{acct.id}:{last_entry}",
            actor=SYSTEM,
            memo=_REASON,
        )
        posted += 1
    if posted:
        await append(
            session, book.STREAM, SYSTEM, "registry.expired", {"date": today.isoformat(), "postings": posted}
        )
    return posted


async def run_expiry(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The daily job: retire what expired by today (China's date)."""
    async with unit_of_work(sessions) as session:
        posted = await retire_expired(session, local_today())
    if posted:
        log.info("registry expiry: %d postings", posted)
