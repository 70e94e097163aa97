"""The quantity ledger: registry accounts, balanced postings per instrument, derived balances.

It posts through the same double-entry algorithm as the money ledger
(:class:`settlement.double_entry.Book`); what is particular to quantities is here: every account
holds one instrument and a transaction's legs all name accounts of one instrument, so a
transaction balances per instrument; only the issuance account (the cap) may go below zero;
sinks (surrendered, retired, expired) never send.

Account codes (one per kind and instrument, or per holder, offer, agreement, pledge):
``issuance:<i>``, ``reserve:<i>``, ``transit:<i>``, ``surrendered:<i>``, ``retired:<i>``,
``expired:<i>``, ``holding:<holder>:<i>``, ``order_hold:offer:<offer>`` /
``order_hold:agreement:<agreement>``, ``pledged:<pledge>``, ``frozen:<key>``.

Every function works inside the caller's transaction and never commits; every posting appends
an entry to the audit stream ``registry``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.errors import Conflict
from settlement.double_entry import Book
from settlement.registry.models import (
    ACCOUNT_KINDS,
    SINK_KINDS,
    Instrument,
    RegistryAccount,
    RegistryEntry,
    RegistryTransaction,
)

__all__ = [
    "REGISTRY",
    "STREAM",
    "HoldingRow",
    "InstrumentMismatch",
    "InsufficientQuantity",
    "Leg",
    "account",
    "balance",
    "code",
    "entries_of",
    "holdings_of",
    "lock",
    "move",
    "move_balance",
    "negative_balances",
    "post",
    "post_once",
    "transaction_by_reference",
    "trial_balance",
    "unbalanced_transactions",
]

STREAM = "registry"
"""The audit stream of every registry write; its head is the registry's audit head."""

REGISTRY: Book[RegistryAccount, RegistryTransaction, RegistryEntry] = Book(
    name="registry",
    account_model=RegistryAccount,
    transaction_model=RegistryTransaction,
    entry_model=RegistryEntry,
    reference_constraint="uq_registry_transactions_reference",
)

Leg = tuple[RegistryAccount, int]

_PER_INSTRUMENT = ("issuance", "reserve", "transit", "surrendered", "retired", "expired")
_KEYED = ("order_hold", "pledged", "frozen")


class InsufficientQuantity(Conflict):
    """The source account holds less than the quantity asked for."""

    code = "registry_insufficient"


class InstrumentMismatch(Conflict):
    """Legs of one transaction on accounts of different instruments (or an account code reused)."""

    code = "registry_instrument_mismatch"


class SinkSends(ValueError):
    """A posting would take quantity out of a sink (surrendered, retired, expired): a bug."""


@dataclass(frozen=True)
class HoldingRow:
    account: RegistryAccount
    instrument: Instrument
    balance: int


def code(kind: str, instrument_id: int, *, holder_id: int | None = None, key: str | None = None) -> str:
    """The account code of ``kind`` for one instrument (``key``: ``offer:<id>``, a pledge id, ...)."""
    if kind in _PER_INSTRUMENT:
        return f"{kind}:{instrument_id}"
    if kind == "holding":
        if holder_id is None:
            raise ValueError("a holding account needs its holder")
        return f"holding:{holder_id}:{instrument_id}"
    if kind in _KEYED:
        if not key:
            raise ValueError(f"a {kind} account needs its key")
        return f"{kind}:{key}"
    raise ValueError(f"unknown registry account kind {kind!r}")


async def account(
    session: AsyncSession,
    kind: str,
    instrument_id: int,
    *,
    holder_id: int | None = None,
    key: str | None = None,
) -> RegistryAccount:
    """Get or create the account; safe when two transactions create it at once.

    An existing account with the code must be of the same kind, instrument and holder, else
    :class:`InstrumentMismatch` (a key reused for another instrument)."""
    if kind not in ACCOUNT_KINDS:
        raise ValueError(f"unknown registry account kind {kind!r}")
    account_code = code(kind, instrument_id, holder_id=holder_id, key=key)
    found = await REGISTRY.open_account(
        session, account_code, {"kind": kind, "instrument_id": instrument_id, "holder_id": holder_id}
    )
    if found.kind != kind or found.instrument_id != instrument_id or found.holder_id != holder_id:
        raise InstrumentMismatch(
            f"registry account {account_code!r} exists for instrument {found.instrument_id}",
            account=account_code,
        )
    return found


def _instrument_of(legs: Sequence[Leg]) -> int:
    instruments = {acct.instrument_id for acct, _ in legs}
    if len(instruments) != 1:
        raise InstrumentMismatch(
            "a registry transaction moves one instrument, not " + ", ".join(map(str, sorted(instruments))),
            instruments=sorted(instruments),
        )
    for acct, amount in legs:
        if acct.kind in SINK_KINDS and amount < 0:
            raise SinkSends(f"{acct.code} is a sink and never sends")
    return instruments.pop()


async def _audit(session: AsyncSession, txn: RegistryTransaction, legs: Sequence[Leg], actor: str) -> None:
    await append(
        session,
        STREAM,
        actor,
        f"registry.{txn.kind}",
        {
            "transaction_id": txn.id,
            "reference": txn.reference,
            "instrument_id": txn.instrument_id,
            "listing_id": txn.listing_id,
            "legs": [[acct.code, amount] for acct, amount in legs],
            "memo": txn.memo,
        },
    )


async def post(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    legs: Sequence[Leg],
    listing_id: int | None = None,
    memo: str = "",
    actor: str,
) -> RegistryTransaction:
    """Book one balanced transaction of one instrument (``DuplicateReference`` on a reused reference)."""
    instrument_id = _instrument_of(legs)
    txn = await REGISTRY.post(
        session,
        kind=kind,
        reference=reference,
        legs=legs,
        listing_id=listing_id,
        memo=memo,
        actor=actor,
        fields={"instrument_id": instrument_id},
    )
    await _audit(session, txn, legs, actor)
    return txn


async def post_once(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    legs: Sequence[Leg],
    listing_id: int | None = None,
    memo: str = "",
    actor: str,
) -> tuple[RegistryTransaction, bool]:
    """:func:`post`, or the booked transaction when this exact posting is repeated: ``(txn, created)``."""
    instrument_id = _instrument_of(legs)
    txn, created = await REGISTRY.post_once(
        session,
        kind=kind,
        reference=reference,
        legs=legs,
        listing_id=listing_id,
        memo=memo,
        actor=actor,
        fields={"instrument_id": instrument_id},
    )
    if created:
        await _audit(session, txn, legs, actor)
    return txn, created


async def transaction_by_reference(session: AsyncSession, reference: str) -> RegistryTransaction | None:
    return await REGISTRY.transaction_by_reference(session, reference)


async def balance(session: AsyncSession, account_id: int) -> int:
    """Sum of the account's entries: for every account but issuance, the quantity it holds."""
    return await REGISTRY.balance(session, account_id)


async def lock(session: AsyncSession, acct: RegistryAccount) -> None:
    """Hold the account's row until commit, so a balance read and the posting after it are one step.

    Accounts are append-only, so the lock takes no UPDATE: ``SELECT ... FOR NO KEY UPDATE``
    (PostgreSQL). Not ``FOR UPDATE``: every row that references the account (an entry, an offer, a
    pledge) takes ``KEY SHARE`` on it, and two transactions each holding that share while asking for
    ``FOR UPDATE`` deadlock; ``NO KEY UPDATE`` still excludes every other mover. SQLite serialises
    writers with ``BEGIN IMMEDIATE`` and ignores it."""
    await session.execute(
        select(RegistryAccount.id).where(RegistryAccount.id == acct.id).with_for_update(key_share=True)
    )


async def move(
    session: AsyncSession,
    *,
    source: RegistryAccount,
    target: RegistryAccount,
    quantity: int,
    kind: str,
    reference: str,
    actor: str,
    memo: str = "",
    listing_id: int | None = None,
) -> RegistryTransaction:
    """Move ``quantity`` from ``source`` to ``target`` (Dr target / Cr source) under the source's lock.

    Idempotent by ``reference``: a repeat of the same move returns the booked transaction, even
    when the source no longer holds the quantity. Refuses with :class:`InsufficientQuantity`
    when the source holds less (the issuance account, the cap, has no floor)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValueError(f"a move needs a positive integer quantity, not {quantity!r}")
    legs: list[Leg] = [(target, quantity), (source, -quantity)]
    await lock(session, source)
    if await REGISTRY.transaction_by_reference(session, reference) is None and source.kind != "issuance":
        held = await balance(session, source.id)
        if held < quantity:
            raise InsufficientQuantity(
                f"{source.code} holds {held}, not {quantity}",
                account=source.code,
                available=held,
                requested=quantity,
            )
    txn, _ = await post_once(
        session, kind=kind, reference=reference, legs=legs, listing_id=listing_id, memo=memo, actor=actor
    )
    return txn


async def move_balance(
    session: AsyncSession,
    *,
    source: RegistryAccount,
    target: RegistryAccount,
    kind: str,
    reference: str,
    actor: str,
    memo: str = "",
    listing_id: int | None = None,
) -> RegistryTransaction | None:
    """Move whatever ``source`` holds to ``target``, read under the source's lock; None when empty.

    The balance read before the lock may be stale (a delivery, a release committed since), so it is
    read after it. The transaction's reference is ``reference`` and the source's last entry: a
    repeat on the same state books nothing twice, a later balance is a new move."""
    await lock(session, source)
    held = await balance(session, source.id)
    if held <= 0:
        return None
    last = (
        await session.execute(select(func.max(RegistryEntry.id)).where(RegistryEntry.account_id == source.id))
    ).scalar_one()
    return await move(
        session,
        source=source,
        target=target,
        quantity=held,
        kind=kind,
        reference=f"{reference}:{last}",
        actor=actor,
        memo=memo,
        listing_id=listing_id,
    )


async def holdings_of(session: AsyncSession, holder_id: int) -> list[HoldingRow]:
    """Every account of the holder (holding, order holds, pledges) with its instrument and balance."""
    total = func.coalesce(func.sum(RegistryEntry.amount), 0)
    query = (
        select(RegistryAccount, Instrument, total)
        .join(Instrument, Instrument.id == RegistryAccount.instrument_id)
        .outerjoin(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
        .where(RegistryAccount.holder_id == holder_id)
        .group_by(RegistryAccount.id, Instrument.id)
        .order_by(RegistryAccount.instrument_id, RegistryAccount.id)
    )
    return [
        HoldingRow(acct, inst, int(amount or 0))
        for acct, inst, amount in (await session.execute(query)).all()
    ]


async def entries_of(session: AsyncSession, account_id: int) -> list[RegistryEntry]:
    """The account's entries in booking order."""
    return await REGISTRY.entries_of(session, account_id)


async def trial_balance(session: AsyncSession) -> dict[int, int]:
    """Sum of the entries per instrument: every value 0 unless something bypassed the rules."""
    query = (
        select(RegistryAccount.instrument_id, func.coalesce(func.sum(RegistryEntry.amount), 0))
        .join(RegistryAccount, RegistryAccount.id == RegistryEntry.account_id)
        .group_by(RegistryAccount.instrument_id)
        .order_by(RegistryAccount.instrument_id)
    )
    return {int(i): int(total or 0) for i, total in (await session.execute(query)).all()}


async def negative_balances(session: AsyncSession) -> list[int]:
    """Ids of accounts other than issuance whose balance is below zero: always empty."""
    total = func.sum(RegistryEntry.amount)
    query = (
        select(RegistryAccount.id)
        .join(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
        .where(RegistryAccount.kind != "issuance")
        .group_by(RegistryAccount.id)
        .having(total < 0)
        .order_by(RegistryAccount.id)
    )
    return [int(i) for i in (await session.execute(query)).scalars()]


async def unbalanced_transactions(session: AsyncSession) -> list[int]:
    """Registry transactions that do not balance: always empty (see ``Book.unbalanced_transactions``)."""
    return await REGISTRY.unbalanced_transactions(session)
