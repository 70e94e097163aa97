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

The algorithm is one for every ledger kept this way: a :class:`Book` names the account,
transaction and entry models of one ledger, and :data:`MONEY` (the money ledger, the default
of every module-level function here) and the rights registry's quantity ledger
(:mod:`settlement.registry.book`) both post through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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
    "MONEY",
    "AccountMismatch",
    "Book",
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

AccountT = TypeVar("AccountT")
TransactionT = TypeVar("TransactionT")
EntryT = TypeVar("EntryT")

Leg = tuple[LedgerAccount, int]


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


def _sum(value: Any) -> int:
    # PostgreSQL sums BIGINT as NUMERIC (Decimal); SQLite as INTEGER.
    return int(value or 0)


@dataclass(frozen=True)
class Book(Generic[AccountT, TransactionT, EntryT]):
    """One double-entry ledger: its three tables and how a reference clash reads.

    Accounts have ``id`` and ``code``; transactions ``id``, ``kind``, ``reference``,
    ``listing_id``, ``memo``, ``created_at``, ``actor`` (and whatever else a book's
    transactions carry, passed as ``fields``); entries ``transaction_id``, ``account_id``,
    ``amount``. The methods never commit: they work inside the caller's transaction.
    """

    name: str
    account_model: type[AccountT]
    transaction_model: type[TransactionT]
    entry_model: type[EntryT]
    reference_constraint: str
    """The unique constraint on the transactions' reference, as PostgreSQL names it."""

    @property
    def _a(self) -> Any:
        return self.account_model

    @property
    def _t(self) -> Any:
        return self.transaction_model

    @property
    def _e(self) -> Any:
        return self.entry_model

    async def find_account(self, session: AsyncSession, code: str) -> AccountT | None:
        query = select(self._a).where(self._a.code == code)
        found: AccountT | None = (await session.execute(query)).scalar_one_or_none()
        return found

    async def open_account(self, session: AsyncSession, code: str, values: dict[str, Any]) -> AccountT:
        """Get or create the account ``code`` with ``values`` (its other columns, those of a new
        one); safe when two transactions create it at once. The caller checks that an existing
        account agrees with what it wanted."""
        found = await self.find_account(session, code)
        if found is None:
            insert = pg_insert if is_postgres(session) else sqlite_insert
            row = {"code": code, **values, "created_at": utcnow()}
            await session.execute(
                insert(self._a).values(**row).on_conflict_do_nothing(index_elements=["code"])
            )
            found = await self.find_account(session, code)
            assert found is not None
        return found

    def check_legs(self, legs: Sequence[tuple[AccountT, int]]) -> None:
        if len(legs) < 2:
            raise UnbalancedTransaction(f"a transaction needs at least two legs, got {len(legs)}")
        for acct, amount in legs:
            code = getattr(acct, "code", "?")
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise UnbalancedTransaction(f"amount {amount!r} on {code} is not an integer")
            if amount == 0:
                raise UnbalancedTransaction(f"zero leg on {code}")
        total = sum(amount for _, amount in legs)
        if total != 0:
            raise UnbalancedTransaction(f"legs sum to {total}, not 0")

    def _is_reference_clash(self, exc: IntegrityError) -> bool:
        message = str(exc.orig)
        table = self._t.__tablename__
        return self.reference_constraint in message or f"{table}.reference" in message

    async def post(
        self,
        session: AsyncSession,
        *,
        kind: str,
        reference: str,
        legs: Sequence[tuple[AccountT, int]],
        listing_id: int | None = None,
        memo: str = "",
        actor: str = "system",
        fields: Mapping[str, Any] | None = None,
    ) -> TransactionT:
        """Book one balanced transaction inside the caller's transaction.

        Raises :class:`UnbalancedTransaction` before touching the database, and
        :class:`DuplicateReference` when ``reference`` is already booked; the
        insert runs in a SAVEPOINT, so the caller's transaction stays usable.
        """
        self.check_legs(legs)
        txn = self._t(
            kind=kind,
            reference=reference,
            listing_id=listing_id,
            memo=memo,
            created_at=utcnow(),
            actor=actor,
            **dict(fields or {}),
        )
        try:
            async with session.begin_nested():
                session.add(txn)
                await session.flush()
                session.add_all(
                    self._e(transaction_id=txn.id, account_id=getattr(acct, "id"), amount=amount)  # noqa: B009
                    for acct, amount in legs
                )
                await session.flush()
        except IntegrityError as exc:
            if self._is_reference_clash(exc):
                raise DuplicateReference(
                    reference, f"{self.name} reference {reference!r} is already booked"
                ) from exc
            raise
        result: TransactionT = txn
        return result

    async def transaction_by_reference(self, session: AsyncSession, reference: str) -> TransactionT | None:
        query = select(self._t).where(self._t.reference == reference)
        found: TransactionT | None = (await session.execute(query)).scalar_one_or_none()
        return found

    async def transactions_of(self, session: AsyncSession, ids: Iterable[int]) -> list[TransactionT]:
        """The transactions with these ids, in booking order."""
        wanted = set(ids)
        if not wanted:
            return []
        query = select(self._t).where(self._t.id.in_(wanted)).order_by(self._t.id)
        return list((await session.execute(query)).scalars())

    async def legs_of(self, session: AsyncSession, transaction_id: int) -> list[tuple[int, int]]:
        """``(account_id, amount)`` of a transaction's entries, sorted (for comparing postings)."""
        query = select(self._e.account_id, self._e.amount).where(self._e.transaction_id == transaction_id)
        return sorted((int(a), int(b)) for a, b in (await session.execute(query)).all())

    async def post_once(
        self,
        session: AsyncSession,
        *,
        kind: str,
        reference: str,
        legs: Sequence[tuple[AccountT, int]],
        listing_id: int | None = None,
        memo: str = "",
        actor: str = "system",
        fields: Mapping[str, Any] | None = None,
    ) -> tuple[TransactionT, bool]:
        """:meth:`post`, or the already booked transaction when this exact posting is repeated.

        Returns ``(transaction, created)``. A repeat is the same reference with the
        same kind and legs (a bank notice delivered twice); the same reference
        with anything else is a :class:`DuplicateReference`.
        """
        self.check_legs(legs)
        wanted = sorted((int(getattr(acct, "id")), amount) for acct, amount in legs)  # noqa: B009

        async def existing() -> TransactionT | None:
            txn = await self.transaction_by_reference(session, reference)
            if txn is None:
                return None
            if getattr(txn, "kind") != kind or await self.legs_of(session, getattr(txn, "id")) != wanted:  # noqa: B009
                raise DuplicateReference(
                    reference, f"{self.name} reference {reference!r} is already booked with other legs"
                )
            return txn

        found = await existing()
        if found is not None:
            return found, False
        try:
            txn = await self.post(
                session,
                kind=kind,
                reference=reference,
                legs=legs,
                listing_id=listing_id,
                memo=memo,
                actor=actor,
                fields=fields,
            )
        except DuplicateReference:  # booked by a concurrent transaction since we looked
            found = await existing()
            if found is None:
                raise
            return found, False
        return txn, True

    async def balance(self, session: AsyncSession, account_id_or_code: int | str) -> int:
        """Sum of the account's entries (debit positive); 0 for an account with none or none at all."""
        query = select(func.coalesce(func.sum(self._e.amount), 0))
        if isinstance(account_id_or_code, str):
            query = query.join(self._a, self._a.id == self._e.account_id).where(
                self._a.code == account_id_or_code
            )
        else:
            query = query.where(self._e.account_id == account_id_or_code)
        return _sum((await session.execute(query)).scalar_one())

    async def entries_of(self, session: AsyncSession, account_id: int) -> list[EntryT]:
        """The account's entries in booking order."""
        query = select(self._e).where(self._e.account_id == account_id).order_by(self._e.id)
        return list((await session.execute(query)).scalars())

    async def trial_balance(self, session: AsyncSession) -> int:
        """Sum of every entry in the ledger: 0 unless something bypassed the rules."""
        query = select(func.coalesce(func.sum(self._e.amount), 0))
        return _sum((await session.execute(query)).scalar_one())

    async def unbalanced_transactions(self, session: AsyncSession) -> list[int]:
        """Ids of transactions whose entries do not sum to zero or that have fewer than two entries.

        Always empty on PostgreSQL (the database refuses such a commit); on SQLite
        this is the check that the code-only guarantee held.
        """
        total = func.coalesce(func.sum(self._e.amount), 0)
        query = (
            select(self._t.id)
            .outerjoin(self._e, self._e.transaction_id == self._t.id)
            .group_by(self._t.id)
            .having((total != 0) | (func.count(self._e.id) < 2))
            .order_by(self._t.id)
        )
        return [int(i) for i in (await session.execute(query)).scalars()]


MONEY: Book[LedgerAccount, LedgerTransaction, LedgerEntry] = Book(
    name="ledger",
    account_model=LedgerAccount,
    transaction_model=LedgerTransaction,
    entry_model=LedgerEntry,
    reference_constraint="uq_ledger_transactions_reference",
)
"""The money ledger (integer fen)."""


async def find_account(session: AsyncSession, code: str) -> LedgerAccount | None:
    return await MONEY.find_account(session, code)


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
    expected = {"owner_id": owner_id, "application_id": application_id, "listing_id": listing_id}
    found = await MONEY.open_account(session, code, {"kind": kind, **expected})
    clash = [name for name, value in expected.items() if value is not None and getattr(found, name) != value]
    if found.kind != kind or clash:
        raise AccountMismatch(
            f"account {code!r} exists as {found.kind} with other {', '.join(clash) or 'kind'}"
        )
    return found


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
    """:meth:`Book.post` on the money ledger."""
    return await MONEY.post(
        session, kind=kind, reference=reference, legs=legs, listing_id=listing_id, memo=memo, actor=actor
    )


async def transaction_by_reference(session: AsyncSession, reference: str) -> LedgerTransaction | None:
    return await MONEY.transaction_by_reference(session, reference)


async def transactions_of(session: AsyncSession, ids: Iterable[int]) -> list[LedgerTransaction]:
    """The transactions with these ids, in booking order."""
    return await MONEY.transactions_of(session, ids)


async def legs_of(session: AsyncSession, transaction_id: int) -> list[tuple[int, int]]:
    """``(account_id, amount)`` of a transaction's entries, sorted (for comparing postings)."""
    return await MONEY.legs_of(session, transaction_id)


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
    """:meth:`Book.post_once` on the money ledger."""
    return await MONEY.post_once(
        session, kind=kind, reference=reference, legs=legs, listing_id=listing_id, memo=memo, actor=actor
    )


async def balance(session: AsyncSession, account_id_or_code: int | str) -> int:
    """Sum of the account's entries (debit positive); 0 for an account with none or none at all."""
    return await MONEY.balance(session, account_id_or_code)


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
    return await MONEY.entries_of(session, account.id)


async def trial_balance(session: AsyncSession) -> int:
    """Sum of every entry in the money ledger: 0 unless something bypassed the rules."""
    return await MONEY.trial_balance(session)


async def unbalanced_transactions(session: AsyncSession) -> list[int]:
    """Money transactions that do not balance (see :meth:`Book.unbalanced_transactions`)."""
    return await MONEY.unbalanced_transactions(session)
