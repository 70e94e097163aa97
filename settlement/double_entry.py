"""The double-entry core: accounts, balanced postings, derived balances.

The business postings are built on this: deposits and suspense money in
:mod:`settlement.deposits`, refunds in :mod:`settlement.refunds`, the close in
:mod:`settlement.closing`; :mod:`settlement.ledger` gathers them all in one import.

Sign convention (one for the whole code base): an entry's ``amount`` is
signed integer fen, **debit positive, credit negative**. Every transaction
sums to zero, so the whole ledger sums to zero (:func:`trial_balance`).
Asset accounts (``bank_clearing``, ``receivable``) normally show a positive
(debit) balance; liabilities and revenue (``deposit:*``, ``suspense``,
``refunds_payable``, ``seller_payable:*``, ``fee_revenue``) a negative
(credit) one. A bidder's held deposit is therefore ``-balance(deposit)``.

Every function works inside the caller's transaction and never commits.
Balanced postings are checked here, and on PostgreSQL again by a deferred
constraint trigger at commit (migration 0004).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.clock import utcnow
from exchange.db import is_postgres
from exchange.errors import Conflict
from settlement.models import ACCOUNT_KINDS, LedgerAccount, LedgerEntry, LedgerTransaction

__all__ = [
    "AccountMismatch",
    "DuplicateReference",
    "Leg",
    "UnbalancedTransaction",
    "account",
    "balance",
    "balances_for_owner",
    "entries_of",
    "find_account",
    "legs_of",
    "post",
    "post_once",
    "transaction_by_reference",
    "transactions_of",
    "trial_balance",
    "unbalanced_transactions",
]

Leg = tuple[LedgerAccount, int]

_REFERENCE_CONSTRAINT = "uq_ledger_transactions_reference"


class UnbalancedTransaction(ValueError):
    """Legs that do not sum to zero, a zero leg, or fewer than two legs (a bug, not a client error)."""


class AccountMismatch(ValueError):
    """An account code already exists with another kind, owner, application or listing."""


class DuplicateReference(Conflict):
    """A transaction with this reference (the business event's idempotency key) is already booked."""

    code = "duplicate_reference"

    def __init__(self, reference: str, detail: str | None = None) -> None:
        super().__init__(detail or f"ledger reference {reference!r} is already booked", reference=reference)
        self.reference = reference


async def find_account(session: AsyncSession, code: str) -> LedgerAccount | None:
    return (
        await session.execute(select(LedgerAccount).where(LedgerAccount.code == code))
    ).scalar_one_or_none()


async def account(
    session: AsyncSession,
    code: str,
    kind: str,
    *,
    owner_id: int | None = None,
    application_id: int | None = None,
    listing_id: int | None = None,
) -> LedgerAccount:
    """Get or create the account ``code``; safe when two transactions create it at once.

    An existing account must agree on kind and on every link given here
    (``None`` means "not given"), else :class:`AccountMismatch`.
    """
    if kind not in ACCOUNT_KINDS:
        raise AccountMismatch(f"unknown account kind {kind!r}")
    found = await find_account(session, code)
    if found is None:
        insert = pg_insert if is_postgres(session) else sqlite_insert
        values: dict[str, Any] = {
            "code": code,
            "kind": kind,
            "owner_id": owner_id,
            "application_id": application_id,
            "listing_id": listing_id,
            "created_at": utcnow(),
        }
        await session.execute(
            insert(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["code"])
        )
        found = await find_account(session, code)
        assert found is not None
    expected = {"owner_id": owner_id, "application_id": application_id, "listing_id": listing_id}
    clash = [name for name, value in expected.items() if value is not None and getattr(found, name) != value]
    if found.kind != kind or clash:
        raise AccountMismatch(
            f"account {code!r} exists as {found.kind} with other {', '.join(clash) or 'kind'}"
        )
    return found


def _check_legs(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise UnbalancedTransaction(f"a transaction needs at least two legs, got {len(legs)}")
    for acct, amount in legs:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise UnbalancedTransaction(f"amount {amount!r} on {acct.code} is not integer fen")
        if amount == 0:
            raise UnbalancedTransaction(f"zero leg on {acct.code}")
    total = sum(amount for _, amount in legs)
    if total != 0:
        raise UnbalancedTransaction(f"legs sum to {total} fen, not 0")


def _is_reference_clash(exc: IntegrityError) -> bool:
    message = str(exc.orig)
    return _REFERENCE_CONSTRAINT in message or "ledger_transactions.reference" in message


async def post(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    legs: Sequence[Leg],
    listing_id: int | None = None,
    memo: str = "",
    actor: str = "system",
) -> LedgerTransaction:
    """Book one balanced transaction inside the caller's transaction.

    Raises :class:`UnbalancedTransaction` before touching the database, and
    :class:`DuplicateReference` when ``reference`` is already booked; the
    insert runs in a SAVEPOINT, so the caller's transaction stays usable.
    """
    _check_legs(legs)
    txn = LedgerTransaction(
        kind=kind,
        reference=reference,
        listing_id=listing_id,
        memo=memo,
        created_at=utcnow(),
        actor=actor,
    )
    try:
        async with session.begin_nested():
            session.add(txn)
            await session.flush()
            session.add_all(
                LedgerEntry(transaction_id=txn.id, account_id=acct.id, amount=amount) for acct, amount in legs
            )
            await session.flush()
    except IntegrityError as exc:
        if _is_reference_clash(exc):
            raise DuplicateReference(reference) from exc
        raise
    return txn


async def transaction_by_reference(session: AsyncSession, reference: str) -> LedgerTransaction | None:
    query = select(LedgerTransaction).where(LedgerTransaction.reference == reference)
    return (await session.execute(query)).scalar_one_or_none()


async def transactions_of(session: AsyncSession, ids: Iterable[int]) -> list[LedgerTransaction]:
    """The transactions with these ids, in booking order."""
    wanted = set(ids)
    if not wanted:
        return []
    query = select(LedgerTransaction).where(LedgerTransaction.id.in_(wanted)).order_by(LedgerTransaction.id)
    return list((await session.execute(query)).scalars())


async def legs_of(session: AsyncSession, transaction_id: int) -> list[tuple[int, int]]:
    """``(account_id, amount)`` of a transaction's entries, sorted (for comparing postings)."""
    query = select(LedgerEntry.account_id, LedgerEntry.amount).where(
        LedgerEntry.transaction_id == transaction_id
    )
    return sorted((int(a), int(b)) for a, b in (await session.execute(query)).all())


async def post_once(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    legs: Sequence[Leg],
    listing_id: int | None = None,
    memo: str = "",
    actor: str = "system",
) -> tuple[LedgerTransaction, bool]:
    """:func:`post`, or the already booked transaction when this exact posting is repeated.

    Returns ``(transaction, created)``. A repeat is the same reference with the
    same kind and legs (a bank notice delivered twice); the same reference
    with anything else is a :class:`DuplicateReference`.
    """
    _check_legs(legs)
    wanted = sorted((acct.id, amount) for acct, amount in legs)

    async def existing() -> LedgerTransaction | None:
        txn = await transaction_by_reference(session, reference)
        if txn is None:
            return None
        if txn.kind != kind or await legs_of(session, txn.id) != wanted:
            raise DuplicateReference(
                reference, f"ledger reference {reference!r} is already booked with other legs"
            )
        return txn

    found = await existing()
    if found is not None:
        return found, False
    try:
        txn = await post(
            session, kind=kind, reference=reference, legs=legs, listing_id=listing_id, memo=memo, actor=actor
        )
    except DuplicateReference:  # booked by a concurrent transaction since we looked
        found = await existing()
        if found is None:
            raise
        return found, False
    return txn, True


def _sum(value: Any) -> int:
    # PostgreSQL sums BIGINT as NUMERIC (Decimal); SQLite as INTEGER.
    return int(value or 0)


async def balance(session: AsyncSession, account_id_or_code: int | str) -> int:
    """Sum of the account's entries (debit positive); 0 for an account with none or none at all."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount), 0))
    if isinstance(account_id_or_code, str):
        query = query.join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id).where(
            LedgerAccount.code == account_id_or_code
        )
    else:
        query = query.where(LedgerEntry.account_id == account_id_or_code)
    return _sum((await session.execute(query)).scalar_one())


async def balances_for_owner(session: AsyncSession, owner_id: int) -> list[tuple[LedgerAccount, int]]:
    """Every account of one owner (a bidder's deposit accounts) with its balance, oldest first."""
    total = func.coalesce(func.sum(LedgerEntry.amount), 0)
    query = (
        select(LedgerAccount, total)
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.owner_id == owner_id)
        .group_by(LedgerAccount.id)
        .order_by(LedgerAccount.id)
    )
    return [(acct, _sum(amount)) for acct, amount in (await session.execute(query)).all()]


async def entries_of(session: AsyncSession, account: LedgerAccount) -> list[LedgerEntry]:
    """The account's entries in booking order."""
    query = select(LedgerEntry).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id)
    return list((await session.execute(query)).scalars())


async def trial_balance(session: AsyncSession) -> int:
    """Sum of every entry in the ledger: 0 unless something bypassed the rules."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount), 0))
    return _sum((await session.execute(query)).scalar_one())


async def unbalanced_transactions(session: AsyncSession) -> list[int]:
    """Ids of transactions whose entries do not sum to zero or that have fewer than two entries.

    Always empty on PostgreSQL (the database refuses such a commit); on SQLite
    this is the check that the code-only guarantee held.
    """
    total = func.coalesce(func.sum(LedgerEntry.amount), 0)
    query = (
        select(LedgerTransaction.id)
        .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id)
        .having((total != 0) | (func.count(LedgerEntry.id) < 2))
        .order_by(LedgerTransaction.id)
    )
    return [int(i) for i in (await session.execute(query)).scalars()]
