"""Rights past their validity are retired by a daily job (docs/rules.md section 7, rule 7).

On ``valid_until`` a lot stops being transferable (trading refuses it from that day:
:func:`settlement.registry.eligibility.trade_refusal`), and the job moves what is left of it
to ``expired:<i>``, a sink that never sends. First it withdraws the pending offers and the open
agreements of the lot, so their holds go back to the seller and expire from there; then every
positive holding, reserve and order hold balance of the lot moves to expired.

An approved offer is left alone, hold and all: its listing is a draft (which can no longer be
published: :func:`settlement.registry.offers.check_listing_matches`), a running sale or one
awaiting payment. That sale ends through the normal path: delivery refuses an expired lot, the
sale fails or is cancelled, the hold goes back to the seller and the next run retires it.
Expiring the hold under a running sale would leave its winner paying for nothing.

Pledged and frozen quantity stays where it is: a pledge is a contract with a creditor, and a
freeze an authority's order, that the registry records but may not end on its own. Released
(or unfrozen) after expiry, the quantity lands in the holding and the next run retires it.

Each lot is retired in its own transaction, and every balance is read under its account's lock
(:func:`settlement.registry.book.move_balance`): a lot that fails (a deadlock, a concurrent
move) is logged and retried the next day, and does not hold back the others.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.chain import append
from exchange.db import unit_of_work
from settlement.registry import agreements as agreement_service
from settlement.registry import book
from settlement.registry import offers as offer_service
from settlement.registry.issuance import today as local_today
from settlement.registry.models import Agreement, Instrument, Offer, RegistryAccount, RegistryEntry

__all__ = ["EXPIRING_KINDS", "expired_instruments", "retire_expired", "retire_instrument", "run_expiry"]

log = logging.getLogger("settlement.registry.expiry")

EXPIRING_KINDS = ("holding", "reserve", "order_hold")
SYSTEM = "system"
_REASON = "the instrument's validity ended"


async def _withdraw(session: AsyncSession, instrument_id: int) -> None:
    """Withdraw the lot's pending offers and cancel its open agreements (their holds go back)."""
    pending = (
        await session.execute(
            select(Offer.id)
            .where(Offer.instrument_id == instrument_id, Offer.status == "pending")
            .order_by(Offer.id)
        )
    ).scalars()
    for offer_id in list(pending):
        await offer_service.withdraw_offer(session, offer_id, _REASON, SYSTEM)
    expiring = (
        await session.execute(
            select(Agreement.id)
            .where(Agreement.instrument_id == instrument_id, Agreement.status.in_(("publicity", "confirmed")))
            .order_by(Agreement.id)
        )
    ).scalars()
    for agreement_id in list(expiring):
        # as any cancellation: the hold back, the price no longer due, what the buyer paid refunded
        await agreement_service.cancel_agreement(session, agreement_id, reason=_REASON, actor=SYSTEM)
    await session.flush()


async def expired_instruments(session: AsyncSession, today: date) -> list[int]:
    """Lots whose validity ended by ``today`` and that still have something to retire."""
    total = func.sum(RegistryEntry.amount)
    query = (
        select(RegistryAccount.instrument_id)
        .join(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
        .join(Instrument, Instrument.id == RegistryAccount.instrument_id)
        .where(Instrument.valid_until <= today, RegistryAccount.kind.in_(EXPIRING_KINDS))
        .group_by(RegistryAccount.id, RegistryAccount.instrument_id)
        .having(total > 0)
    )
    return sorted({int(i) for i in (await session.execute(query)).scalars()})


async def retire_instrument(session: AsyncSession, instrument_id: int) -> int:
    """Retire what is left of one expired lot (in the caller's transaction); the number of postings."""
    await _withdraw(session, instrument_id)
    selling = select(Offer.hold_account_id).where(
        Offer.instrument_id == instrument_id, Offer.status == "approved"
    )
    accounts = (
        await session.execute(
            select(RegistryAccount)
            .where(
                RegistryAccount.instrument_id == instrument_id,
                RegistryAccount.kind.in_(EXPIRING_KINDS),
                RegistryAccount.id.not_in(selling),
            )
            .order_by(RegistryAccount.id)
        )
    ).scalars()
    sink = await book.account(session, "expired", instrument_id)
    posted = 0
    for acct in list(accounts):
        moved = await book.move_balance(
            session,
            source=acct,
            target=sink,
            kind="expiry",
            reference=f"expire:{acct.id}",
            actor=SYSTEM,
            memo=_REASON,
        )
        posted += moved is not None
    return posted


async def retire_expired(session: AsyncSession, today: date) -> int:
    """Retire every lot whose validity ended by ``today``, in the caller's one transaction (the
    daily job uses :func:`run_expiry`, a transaction per lot); the number of postings."""
    posted = 0
    for instrument_id in await expired_instruments(session, today):
        posted += await retire_instrument(session, instrument_id)
    if posted:
        await append(
            session, book.STREAM, SYSTEM, "registry.expired", {"date": today.isoformat(), "postings": posted}
        )
    return posted


async def run_expiry(sessions: async_sessionmaker[AsyncSession], today: date | None = None) -> int:
    """The daily job: retire what expired by ``today`` (China's date), one lot per transaction.

    A lot that fails is logged and left for the next run; the others go on. Returns the postings."""
    day = today or local_today()
    async with sessions() as session:
        expired = await expired_instruments(session, day)
    posted = failed = 0
    for instrument_id in expired:
        try:
            async with unit_of_work(sessions) as session:
                done = await retire_instrument(session, instrument_id)
                if done:
                    await append(
                        session,
                        book.STREAM,
                        SYSTEM,
                        "registry.expired",
                        {"date": day.isoformat(), "instrument_id": instrument_id, "postings": done},
                    )
        except Exception:  # one lot's failure (a deadlock, a conflict) must not stop the day's job
            failed += 1
            log.exception("registry expiry of instrument %d failed; retried on the next run", instrument_id)
            continue
        posted += done
    if posted or failed:
        log.info("registry expiry: %d postings, %d lots failed", posted, failed)
    return posted
