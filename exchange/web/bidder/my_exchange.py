"""What ``/me`` tells a bidder after the close: how each application ended, what became of its
deposit, and for each lot won what is owed, by when, to which account, what is paid and what the
exchange has sent.

Read only, from the rows the domains keep: the listing's status, the settlement and its lines
(``settlement.settlement_models``), the ledger entries of the application's deposit account, refund
instructions, installments, collection notices (land and mining proceeds collected by the tax
bureau, 财综〔2021〕19号), documents and in-app notices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.models import Document
from exchange.clock import as_utc
from exchange.vocabulary import ApplicationOutcome
from listings.applications_models import Application
from listings.models import Listing
from listings.workdays import local_date
from settlement.deposits import deposit_code
from settlement.lines import amount_paid
from settlement.models import LedgerAccount, LedgerEntry, LedgerTransaction, RefundInstruction
from settlement.notice_models import CollectionNotice, Notice
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine
from settlement.tracked import TRACKED_CLASSES

__all__ = [
    "DepositFacts",
    "DepositState",
    "InstallmentRow",
    "LotWon",
    "deposit_facts",
    "lot_won",
    "notices_of",
    "outcome_of",
    "publicity_last_day",
]

TAX_COLLECTION = ("由税务部门征收", "Collected by the tax authority")
"""Land and mining proceeds (财综〔2021〕19号): the price is paid to the tax bureau, not to the exchange."""


@dataclass(frozen=True)
class DepositState:
    """Whether the deposit has arrived, for the instructions on ``/me``."""

    state: str
    """``arrived`` (in full, in time), ``late`` (in full, after the deadline: it does not qualify),
    ``overdue`` (not in full by the deadline) or ``awaiting``."""
    arrived_at: datetime | None
    """When it was paid in full (the bank's booking time), for ``arrived``."""


def deposit_state(application: Application, paid: int, deadline: datetime, now: datetime) -> DepositState:
    """Arrived once ``paid`` (everything that arrived, never the balance left after a release) covers
    the deposit; the time is the application's, set when the bank notice completed it
    (``settlement.bank``)."""
    if paid >= application.deposit_due and application.paid_in_full_at is not None:
        if application.paid_in_full_at >= deadline:
            return DepositState("late", application.paid_in_full_at)
        return DepositState("arrived", application.paid_in_full_at)
    if paid >= application.deposit_due:
        return DepositState("arrived", None)
    return DepositState("overdue" if deadline <= now else "awaiting", None)


@dataclass(frozen=True)
class DepositFacts:
    """The deposit of one application, in fen, from the ledger (never the balance left after a release)."""

    received: int
    """Everything that arrived for it (several transfers add up)."""
    applied: int
    """Applied to the price (定金) at the close."""
    released: int
    """Released to be refunded."""
    refunded: int
    """Of the released, actually paid back."""
    forfeited: int
    held: int

    @property
    def disposition(self) -> tuple[str, str] | None:
        """What became of it, in words (zh, en); None while it is simply held."""
        parts: list[tuple[str, str]] = []
        if self.applied:
            parts.append(("已转作成交价款", "applied to the price"))
        if self.forfeited:
            parts.append(("已没收", "forfeited"))
        if self.released and self.refunded >= self.released:
            parts.append(("已退还", "refunded"))
        elif self.released:
            parts.append(("已解冻，退还中（5 个工作日内）", "released, refund due within 5 working days"))
        if not parts:
            return None
        return ("；".join(p[0] for p in parts), "; ".join(p[1] for p in parts))


async def deposit_facts(session: AsyncSession, application_id: int) -> DepositFacts:
    query = (
        select(LedgerTransaction.kind, func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.code == deposit_code(application_id))
        .group_by(LedgerTransaction.kind)
    )
    by_kind = {kind: int(total or 0) for kind, total in (await session.execute(query)).all()}
    refunded = (
        await session.execute(
            select(func.coalesce(func.sum(RefundInstruction.amount), 0)).where(
                RefundInstruction.application_id == application_id,
                RefundInstruction.status == "paid",
                # a deposit's releases are referenced release:<application>:<n> (settlement.deposits)
                RefundInstruction.source_reference.startswith(f"release:{application_id}:", autoescape=True),
            )
        )
    ).scalar_one()
    return DepositFacts(
        received=-by_kind.get("deposit_received", 0),
        applied=by_kind.get("deposit_applied", 0),
        released=by_kind.get("deposit_released", 0),
        refunded=int(refunded or 0),
        forfeited=by_kind.get("deposit_forfeited", 0),
        held=-sum(by_kind.values()),
    )


async def outcome_of(
    session: AsyncSession, application: Application, listing: Listing
) -> tuple[ApplicationOutcome | None, SettlementLine | None]:
    """How the application ended and its line when it won; None while the listing is live, before
    its close is settled, and for an application rejected before the bidding (it took no part).

    Under 资格后审 the winner's settlement waits in ``review`` without lines: an application whose
    bid number is among the auction's winners then reads ``pending_review``, not ``lost``."""
    if application.status == "rejected" and application.bid_number is None:
        return None, None
    if listing.status == "failed":
        return "failed", None
    if listing.status == "cancelled":
        return "cancelled", None
    if listing.status != "closed":
        return None, None
    settlement = await session.get(Settlement, listing.id)
    if settlement is None:
        return None, None
    if settlement.outcome == "failed":
        return "failed", None
    if settlement.status == "review":
        summary = settlement.decoded_summary
        winners = {w.bidder for w in summary.winners} if summary is not None else set()
        return ("pending_review" if application.bid_number in winners else "lost"), None
    line = (
        await session.execute(
            select(SettlementLine).where(
                SettlementLine.listing_id == listing.id, SettlementLine.application_id == application.id
            )
        )
    ).scalar_one_or_none()
    if line is None:
        return "lost", None
    if line.status == "annulled" or (settlement is not None and settlement.status == "annulled"):
        return "annulled", line
    return "won", line


@dataclass(frozen=True)
class InstallmentRow:
    seq: int
    label: str
    due_date: date
    amount: int
    interest: int
    paid: int
    status: str


@dataclass
class LotWon:
    line: SettlementLine
    settlement: Settlement | None
    installments: list[InstallmentRow]
    paid: int
    outstanding: int
    late_fees: int
    tracked: bool
    """The price goes to the tax bureau (land, mining), which notifies the exchange."""
    authorities: list[str]
    documents: list[Document] = field(default_factory=list)
    terms: dict[str, Any] | None = None


def _allocate(installments: list[SettlementInstallment], paid: int) -> list[InstallmentRow]:
    """What is paid of each installment: payments settle the earliest first (as the ledger has no
    per-installment split)."""
    rows = []
    left = paid
    for item in installments:
        if item.status == "void":
            share = 0
        else:
            share = min(item.amount, max(left, 0))
            left -= share
        rows.append(
            InstallmentRow(
                item.seq, item.label, item.due_date, item.amount, item.interest, share, item.status
            )
        )
    return rows


async def lot_won(session: AsyncSession, listing: Listing, line: SettlementLine, user_id: int) -> LotWon:
    settlement = await session.get(Settlement, listing.id)
    installments = list(
        (
            await session.execute(
                select(SettlementInstallment)
                .where(SettlementInstallment.line_id == line.id)
                .order_by(SettlementInstallment.seq)
            )
        ).scalars()
    )
    paid = await amount_paid(session, line)
    tracked = listing.asset_class in TRACKED_CLASSES
    authorities = list(
        (
            await session.execute(
                select(CollectionNotice.authority)
                .where(
                    CollectionNotice.listing_id == listing.id,
                    CollectionNotice.application_id == line.application_id,
                )
                .distinct()
            )
        ).scalars()
    )
    documents = list(
        (
            await session.execute(
                select(Document)
                .where(
                    Document.listing_id == listing.id,
                    or_(Document.owner_id == user_id, Document.public.is_(True)),
                )
                .order_by(Document.id)
            )
        ).scalars()
    )
    owed = sum(i.amount for i in installments if i.status != "void") if installments else line.amount_due
    return LotWon(
        line=line,
        settlement=settlement,
        installments=_allocate(installments, paid),
        paid=paid,
        outstanding=max(owed + line.late_fees - paid, 0) if line.status == "pending_payment" else 0,
        late_fees=line.late_fees,
        tracked=tracked,
        authorities=authorities,
        documents=documents,
        terms=line.terms,
    )


async def notices_of(session: AsyncSession, user_id: int, limit: int = 50) -> list[Notice]:
    """The user's in-app notices, newest first."""
    query = select(Notice).where(Notice.user_id == user_id).order_by(Notice.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


def publicity_last_day(settlement: Settlement | None) -> date | None:
    """The last (Shanghai) day of the result's 公示: it ends at the midnight after it."""
    if settlement is None or settlement.publicity_ends_at is None:
        return None
    if (
        settlement.publicity_starts_at is not None
        and settlement.publicity_ends_at <= settlement.publicity_starts_at
    ):
        return None  # a listing with no 公示: confirmed at the close
    return local_date(as_utc(settlement.publicity_ends_at) - timedelta(microseconds=1))
