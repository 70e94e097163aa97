"""Deposits: money the bank received for an application, what is held, releasing it; and the
listing hooks that ask for it.

Postings (debit positive, credit negative; see :mod:`settlement.double_entry`):

==================  =======================================  ==============================
event               entries                                  reference (idempotency key)
==================  =======================================  ==============================
deposit received    Dr bank_clearing / Cr deposit:<app>      the bank's, ``bank:<txn_id>``
suspense received   Dr bank_clearing / Cr suspense           the bank's, ``bank:<txn_id>``
  and its refund    Dr suspense / Cr refunds_payable         ``suspense_refund:<reference>``
deposit released    Dr deposit:<app> / Cr refunds_payable    ``release:<app>:<n>``
deposit forfeited   Dr deposit:<app> / Cr seller_payable:<L> ``forfeit:<app>``
refund paid         Dr refunds_payable / Cr bank_clearing    ``payout:<transfer id>``
==================  =======================================  ==============================

A bidder's held deposit is the credit balance of its deposit account,
``-balance(deposit:<app>)``, returned positive by :func:`held_deposit`.

Releases are idempotent by state, not by call: :func:`release_deposit`
locks the deposit account, moves whatever is held (several transfers add
up) and books it as the ``n``-th release of that account, ``n`` counted
under the lock. Releasing again finds nothing held and books nothing (it
returns ``None``); money that arrives after a release is held again and the
next release books ``release:<app>:<n+1>``. Two concurrent releases queue on
the row lock, and even without it they would compute the same ``n`` and the
second would fail on the unique reference rather than refund twice.

The hooks (:func:`register`, called by ``create_app``) each run inside the
transaction of the listing event that triggers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from listings.applications_models import Application
from listings.hooks import ListingHooks
from listings.models import Listing
from settlement.double_entry import account, balance, find_account, post_once
from settlement.lines import seller_payable_code
from settlement.models import LedgerAccount, LedgerEntry, LedgerTransaction, RefundInstruction
from settlement.refunds import SUSPENSE, bank_clearing, instruct_refund

__all__ = [
    "Booked",
    "book_deposit",
    "book_suspense",
    "deposit_code",
    "forfeit_deposit",
    "held_deposit",
    "register",
    "release_all",
    "release_deposit",
    "release_rejected",
]


@dataclass(frozen=True)
class Booked:
    """What a booking did: its transaction, whether it is new, and the refund it created if any."""

    transaction: LedgerTransaction
    created: bool
    """False when the reference was already booked with the same entries (a repeated notice)."""
    refund: RefundInstruction | None = None


def deposit_code(application_id: int) -> str:
    return f"deposit:{application_id}"


def _positive(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be positive integer fen, got {amount!r}")


async def book_deposit(
    session: AsyncSession,
    *,
    application_id: int,
    owner_id: int,
    listing_id: int,
    amount: int,
    reference: str,
    memo: str = "",
    actor: str = "bank",
) -> Booked:
    """Money received on an application's sub-account: Dr bank_clearing / Cr deposit:<app>."""
    _positive(amount)
    bank = await bank_clearing(session)
    deposit = await account(
        session,
        deposit_code(application_id),
        "deposit",
        owner_id=owner_id,
        application_id=application_id,
        listing_id=listing_id,
    )
    txn, created = await post_once(
        session,
        kind="deposit_received",
        reference=reference,
        legs=[(bank, amount), (deposit, -amount)],
        listing_id=listing_id,
        memo=memo,
        actor=actor,
    )
    return Booked(txn, created)


async def book_suspense(
    session: AsyncSession,
    *,
    amount: int,
    reference: str,
    memo: str,
    payee_account: str | None = None,
    actor: str = "bank",
    now: datetime | None = None,
) -> Booked:
    """Money that cannot be accepted: Dr bank_clearing / Cr suspense, then refunded in 5 WD.

    The refund is Dr suspense / Cr refunds_payable with a refund instruction
    whose ``source_reference`` is ``reference``. Both steps are idempotent.
    """
    _positive(amount)
    bank = await bank_clearing(session)
    suspense = await account(session, SUSPENSE, "suspense")
    txn, created = await post_once(
        session,
        kind="suspense_received",
        reference=reference,
        legs=[(bank, amount), (suspense, -amount)],
        memo=memo,
        actor=actor,
    )
    refund, _ = await instruct_refund(
        session,
        source=suspense,
        amount=amount,
        kind="suspense_refund",
        reference=f"suspense_refund:{reference}",
        source_reference=reference,
        payee_account=payee_account,
        memo=memo,
        actor=actor,
        now=now,
    )
    return Booked(txn, created, refund)


async def book_receipt(
    session: AsyncSession,
    *,
    receivable: LedgerAccount,
    outstanding: int,
    amount: int,
    reference: str,
    refused: str,
    memo: str = "",
    listing_id: int | None = None,
) -> tuple[int, int, str | None]:
    """Money received for ``receivable``, which owes ``outstanding``: what it owes is applied
    (Dr bank_clearing / Cr receivable), the rest goes to suspense and back within 5 WD.

    ``refused`` names why nothing could be applied. Returns ``(applied, excess, reason)``; the
    reason is ``overpaid`` for an excess beside an applied amount. Idempotent by ``reference``."""
    applied = min(amount, max(outstanding, 0))
    excess = amount - applied
    legs: list[tuple[LedgerAccount, int]] = [(await bank_clearing(session), amount)]
    if applied:
        legs.append((receivable, -applied))
    suspense = await account(session, SUSPENSE, "suspense")
    if excess:
        legs.append((suspense, -excess))
    reason = None if not excess else ("overpaid" if applied else refused)
    await post_once(
        session,
        kind="payment_received" if applied else "suspense_received",
        reference=reference,
        legs=legs,
        listing_id=listing_id,
        memo=reason or memo,
        actor="bank",
    )
    if excess:
        await instruct_refund(
            session,
            source=suspense,
            amount=excess,
            kind="suspense_refund",
            reference=f"suspense_refund:{reference}",
            source_reference=reference,
            listing_id=listing_id,
            memo=reason or "",
            actor="bank",
        )
    return applied, excess, reason


async def held_deposit(session: AsyncSession, application_id: int) -> int:
    """The deposit the exchange holds for an application, in fen (positive)."""
    return -await balance(session, deposit_code(application_id))


async def _releases_booked(session: AsyncSession, deposit: LedgerAccount) -> int:
    query = (
        select(func.count())
        .select_from(LedgerEntry)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == deposit.id, LedgerTransaction.kind == "deposit_released")
    )
    return int((await session.execute(query)).scalar_one())


async def release_deposit(
    session: AsyncSession,
    *,
    application_id: int,
    reason: str,
    actor: str,
    payee_account: str | None = None,
    now: datetime | None = None,
) -> RefundInstruction | None:
    """Move everything held for an application to refunds_payable, due in 5 WD.

    ``None`` when nothing is held (never paid, or already released). See the
    module docstring for why calling it again is safe.
    """
    deposit = await find_account(session, deposit_code(application_id))
    if deposit is None:
        return None
    # Serialise releases of one deposit; reading the balance after the lock sees theirs.
    await session.execute(select(LedgerAccount.id).where(LedgerAccount.id == deposit.id).with_for_update())
    held = -await balance(session, deposit.id)
    if held <= 0:
        return None
    n = await _releases_booked(session, deposit) + 1
    refund, _ = await instruct_refund(
        session,
        source=deposit,
        amount=held,
        kind="deposit_released",
        reference=f"release:{application_id}:{n}",
        application_id=application_id,
        listing_id=deposit.listing_id,
        payee_account=payee_account,
        memo=reason,
        actor=actor,
        now=now,
    )
    return refund


async def forfeit_deposit(session: AsyncSession, *, application_id: int, memo: str, actor: str) -> int:
    """Everything held for an application goes to the seller of its listing (a winner disqualified
    after the close, where its profile says so); the amount, 0 when nothing is held."""
    deposit = await find_account(session, deposit_code(application_id))
    if deposit is None or deposit.listing_id is None:
        return 0
    await session.execute(select(LedgerAccount.id).where(LedgerAccount.id == deposit.id).with_for_update())
    held = -await balance(session, deposit.id)
    if held <= 0:
        return 0
    seller = await account(
        session, seller_payable_code(deposit.listing_id), "seller_payable", listing_id=deposit.listing_id
    )
    await post_once(
        session,
        kind="deposit_forfeited",
        reference=f"forfeit:{application_id}",
        legs=[(deposit, held), (seller, -held)],
        listing_id=deposit.listing_id,
        memo=memo,
        actor=actor,
    )
    return held


# -- listing hooks ------------------------------------------------------------------------------


async def deposit_paid(session: AsyncSession, application_id: int) -> int:
    return await held_deposit(session, application_id)


async def release_rejected(session: AsyncSession, application: Application, now: datetime) -> None:
    refund = await release_deposit(
        session, application_id=application.id, reason="application rejected", actor="system"
    )
    if refund is not None:
        await append(
            session,
            application.stream,
            "system",
            "deposit.released",
            {"application_id": application.id, "amount": refund.amount, "refund_id": refund.id},
        )


async def release_all(session: AsyncSession, listing: Listing, now: datetime) -> None:
    """A cancelled (or failed) listing: every application closes and every deposit goes back."""
    query = (
        select(Application)
        .where(Application.listing_id == listing.id)
        .order_by(Application.id)  # one order on every database: the audit chain records it
        .with_for_update()
    )
    for application in (await session.execute(query)).scalars():
        if application.status != "rejected":
            application.status = "closed"
        refund = await release_deposit(
            session, application_id=application.id, reason=f"listing {listing.status}", actor="system"
        )
        if refund is not None:
            await append(
                session,
                listing.stream,
                "system",
                "deposit.released",
                {"application_id": application.id, "amount": refund.amount, "refund_id": refund.id},
            )


def register(hooks: ListingHooks) -> None:
    hooks.deposit_paid = deposit_paid
    hooks.on_application_rejected.append(release_rejected)
    hooks.on_cancelled.append(release_all)
