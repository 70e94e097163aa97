"""The settlement rows as the close, payments and defaults share them.

Reads that lock or refresh a listing, its settlement, lines and
installments; the settlement's status rolled up from its lines; what a line
has been paid; and the codes of the ledger accounts a line posts to (see
:mod:`settlement.closing` for the accounts and their postings).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.errors import NotFound
from listings.models import Listing
from listings.workdays import SHANGHAI, add_working_days, local_date
from settlement.models import LedgerAccount, LedgerEntry, LedgerTransaction
from settlement.notice_models import CollectionNotice
from settlement.schedule import FEE_LABEL  # a tracked line's fee, due apart
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine

__all__ = [
    "FEE_LABEL",
    "FEE_REVENUE",
    "PAYMENT_KINDS",
    "SYSTEM",
    "TRACKED_CLASSES",
    "TRACKED_PREFIX",
    "WAITING",
    "account_number",
    "amount_paid",
    "late_fee_code",
    "load_installments",
    "load_lines",
    "load_settlement",
    "lock_line",
    "lock_listing",
    "mark_installments",
    "paid_by_kind",
    "payments_by_date",
    "price_outstanding",
    "publicity_end",
    "receivable_code",
    "seller_payable_code",
    "set_status",
    "split_by_channel",
]

FEE_REVENUE = "fee_revenue"
SYSTEM = "system"
PAYMENT_KINDS = ("payment_received", "payment_tracked")
"""Ledger kinds of money paid on a line: to the exchange's account, or tracked (collected by the tax bureau)."""
TRACKED_PREFIX = "collection:"
"""Reference of a tracked payment: ``collection:<the collection notice's reference>``."""
TRACKED_CLASSES = frozenset({"land_use_right", "mining_right"})
"""Classes whose price the tax bureau collects (财综〔2021〕19号); the exchange tracks it."""


class _Labelled(Protocol):
    @property
    def label(self) -> str: ...


_Row = TypeVar("_Row", bound=_Labelled)


def account_number(prefix: str) -> str:
    """19 random digits; the two-digit prefix tells the kind of account money is paid to: a deposit
    (``62``), a sale's line (``63``), a negotiated transfer (``64``)."""
    return prefix + "".join(str(secrets.randbelow(10)) for _ in range(17))


def publicity_end(opened_at: datetime, since: date, working_days: int, profile: str) -> datetime:
    """When a 公示 opened at ``opened_at`` (counted from the Shanghai date ``since``) ends: a result's
    or a negotiated transfer's."""
    if working_days <= 0:
        return opened_at
    if profile == "sandbox":
        return opened_at + timedelta(seconds=working_days)
    last = add_working_days(since, working_days)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(UTC)


def late_fee_code(listing_id: int) -> str:
    """Late fees owed to the seller (kind ``seller_payable``; kept apart from the price)."""
    return f"late_fee_payable:{listing_id}"


def receivable_code(listing_id: int, application_id: int) -> str:
    return f"receivable:{listing_id}:{application_id}"


def seller_payable_code(listing_id: int) -> str:
    return f"seller_payable:{listing_id}"


async def lock_listing(session: AsyncSession, listing_id: int) -> Listing | None:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(Listing)
        .where(Listing.id == listing_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def load_settlement(session: AsyncSession, listing_id: int) -> Settlement | None:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(Settlement)
        .where(Settlement.listing_id == listing_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def locked_settlement(session: AsyncSession, listing_id: int) -> tuple[Listing, Settlement]:
    """The listing (locked) and its settlement, for an action on the settlement; 404 without one."""
    listing = await lock_listing(session, listing_id)
    settlement = await load_settlement(session, listing_id) if listing is not None else None
    if listing is None or settlement is None:
        raise NotFound(f"listing {listing_id} has no settlement yet", code="settlement_not_found")
    return listing, settlement


async def lock_line(session: AsyncSession, line_id: int) -> SettlementLine:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(SettlementLine)
        .where(SettlementLine.id == line_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


WAITING = frozenset({"review", "publicity", "on_hold", "awaiting_contract"})
"""Settlement statuses before the installments exist: the lines do not decide them."""


def set_status(settlement: Settlement, lines: Iterable[SettlementLine], now: datetime) -> None:
    """Once payments are due: annulled if the sale was annulled; default (old rows) or rescinded if
    any line was; pending_payment while any line is; else paid. A settlement still waiting for its
    confirmation or its contract keeps its status until every line is undone."""
    statuses = {line.status for line in lines}
    undone = {"annulled", "rescinded", "default"}
    if settlement.status in WAITING and "annulled" not in statuses and not statuses <= undone:
        return  # waiting, unless the sale was annulled or every line undone (an unsigned contract)
    if "annulled" in statuses:
        status = "annulled"
    elif "default" in statuses:
        status = "default"
    elif "rescinded" in statuses:
        status = "rescinded"
    elif "pending_payment" in statuses:
        status = "pending_payment"
    else:
        status = "paid"
    if status != settlement.status:
        settlement.status, settlement.updated_at = status, now


async def load_lines(session: AsyncSession, listing_id: int) -> list[SettlementLine]:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(SettlementLine)
        .where(SettlementLine.listing_id == listing_id)
        .order_by(SettlementLine.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


async def load_installments(session: AsyncSession, line_id: int) -> list[SettlementInstallment]:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(SettlementInstallment)
        .where(SettlementInstallment.line_id == line_id)
        .order_by(SettlementInstallment.seq)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


async def amount_paid(session: AsyncSession, line: SettlementLine) -> int:
    """Money received on the line's payment account and applied to it (from the ledger)."""
    query = (
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(
            LedgerAccount.code == receivable_code(line.listing_id, line.application_id),
            LedgerTransaction.kind.in_(PAYMENT_KINDS),
        )
    )
    return -int((await session.execute(query)).scalar_one() or 0)


async def payments_by_date(
    session: AsyncSession, line: SettlementLine, kinds: Iterable[str] = PAYMENT_KINDS
) -> list[tuple[date, int]]:
    """The line's payments of ``kinds`` as ``(Shanghai date, fen)``: a bank payment on the day the
    exchange booked it, a tracked one (:mod:`settlement.tracked`) on the ``paid_on`` of its
    collection notice."""
    query = (
        select(LedgerTransaction.created_at, LedgerTransaction.reference, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.code == receivable_code(line.listing_id, line.application_id),
            LedgerTransaction.kind.in_(tuple(kinds)),
        )
    )
    rows = (await session.execute(query)).all()
    tracked = {
        r.reference.removeprefix(TRACKED_PREFIX) for r in rows if r.reference.startswith(TRACKED_PREFIX)
    }
    paid_on: dict[str, date] = {}
    if tracked:
        notices = await session.execute(
            select(CollectionNotice.reference, CollectionNotice.paid_on).where(
                CollectionNotice.reference.in_(tracked)
            )
        )
        paid_on = {ref: on for ref, on in notices.all()}
    out = []
    for created_at, reference, amount in rows:
        key = reference.removeprefix(TRACKED_PREFIX)
        on = paid_on.get(key) if reference.startswith(TRACKED_PREFIX) else None
        out.append((on or local_date(created_at), -int(amount)))
    return sorted(out)


async def paid_by_kind(session: AsyncSession, line: SettlementLine) -> dict[str, int]:
    """Fen paid on the line per ledger kind (``payment_received``, ``payment_tracked``)."""
    query = (
        select(LedgerTransaction.kind, func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.code == receivable_code(line.listing_id, line.application_id),
            LedgerTransaction.kind.in_(PAYMENT_KINDS),
        )
        .group_by(LedgerTransaction.kind)
    )
    return {kind: -int(total) for kind, total in (await session.execute(query)).all()}


def split_by_channel(rows: Sequence[_Row], paid: Mapping[str, int]) -> list[tuple[list[_Row], int]]:
    """Which payments pay which installments: ``[(rows, fen paid on them)]``.

    Normally every payment pays the installments in due order. A line with a separate
    :data:`FEE_LABEL` installment (a tracked line) pays it with the money the exchange received
    (``payment_received``) and its price installments with the tracked payments only."""
    if not any(r.label == FEE_LABEL for r in rows):
        return [(list(rows), sum(paid.values()))]
    return [
        ([r for r in rows if r.label == FEE_LABEL], paid.get("payment_received", 0)),
        ([r for r in rows if r.label != FEE_LABEL], paid.get("payment_tracked", 0)),
    ]


async def price_outstanding(session: AsyncSession, line: SettlementLine) -> int:
    """What a tracked line still owes on its price and interest (the part the tax bureau collects)."""
    interest = sum(r.interest for r in await load_installments(session, line.id) if r.status != "void")
    tracked = (await paid_by_kind(session, line)).get("payment_tracked", 0)
    return max(line.price + interest - line.deposit_applied - tracked, 0)


async def mark_installments(session: AsyncSession, line: SettlementLine) -> list[SettlementInstallment]:
    """Installments are paid in order: each one covered by the payments so far is ``paid``
    (a tracked line's fee by the money the exchange received, its price by the tracked payments:
    :func:`split_by_channel`)."""
    rows = await load_installments(session, line.id)
    for group, paid in split_by_channel(rows, await paid_by_kind(session, line)):
        cumulative = 0
        for row in group:
            cumulative += row.amount
            if row.status != "void":
                row.status = "paid" if cumulative <= paid else "pending"
    return rows
