"""The operator's to-do queue on the console's first page: what waits for a person today.

Each item is a count and the listings it is about (the newest deadlines first), each linking to
the page where the work is done. Every item is one grouped query and one count over indexed
columns, in SQL both SQLite and PostgreSQL run; nothing loads a whole table.

Post-qualification (资格后审) listings keep their applicants sealed from staff until the close, so
no item counts their applications (``listings.qualification.applicants_sealed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.formatting import yuan
from exchange.vocabulary import LISTING_STATUS_LABELS, Label
from listings.applications_models import Application
from listings.models import LIVE_STATUSES
from listings.models import Listing as ListingRow
from listings.workdays import SHANGHAI, local_date
from settlement.objection_models import Objection
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine

__all__ = ["PER_ITEM", "TodoEntry", "TodoItem", "todo"]

PER_ITEM = 10
"""Listings shown per item; the count says how many there are in all."""


@dataclass(frozen=True, slots=True)
class TodoEntry:
    listing_id: int
    title: str
    href: str
    note: Label
    """What waits on this listing, in both languages: ``2 份待审核，其中 1 份保证金已到账``."""


@dataclass(frozen=True, slots=True)
class TodoItem:
    key: str
    label: Label
    count: int
    """How many things wait (applications, instalments, objections...), over every listing."""
    entries: list[TodoEntry]
    """Up to one more than are shown, so the page knows whether more wait."""

    @property
    def shown(self) -> list[TodoEntry]:
        return self.entries[:PER_ITEM]

    @property
    def more(self) -> bool:
        """More listings wait than are shown."""
        return len(self.entries) > PER_ITEM


def _day(today: date) -> tuple[datetime, datetime]:
    """The Beijing day ``today`` as a UTC half-open interval."""
    start = datetime.combine(today, time(0), SHANGHAI).astimezone(UTC)
    return start, start + timedelta(days=1)


async def _rows(session: AsyncSession, query: Select[*tuple[Any, ...]]) -> list[Any]:
    return list((await session.execute(query.limit(PER_ITEM + 1))).all())


async def _count(session: AsyncSession, query: Select[int]) -> int:
    return int((await session.execute(query)).scalar_one())


def _href(listing_id: int, anchor: str = "") -> str:
    return f"/console/listings/{listing_id}{anchor}"


async def _applications(session: AsyncSession) -> TodoItem:
    """Pre-qualification applications no one has decided, on listings still taking decisions."""
    waiting = (
        Application.status == "pending",
        ListingRow.qualification == "pre",
        ListingRow.status.in_(LIVE_STATUSES),
    )
    paid = func.sum(case((Application.paid_in_full_at.is_not(None), 1), else_=0))
    query = (
        select(ListingRow.id, ListingRow.title, func.count(), paid)
        .join(Application, Application.listing_id == ListingRow.id)
        .where(*waiting)
        .group_by(ListingRow.id, ListingRow.title, ListingRow.registration_closes_at)
        .order_by(ListingRow.registration_closes_at, ListingRow.id)
    )
    total = select(func.count()).select_from(Application).join(ListingRow).where(*waiting)
    entries = [
        TodoEntry(
            lid,
            title,
            _href(lid, "#applications-heading"),
            Label(
                f"{n} 份待审核" + (f"，其中 {p} 份保证金已到账" if p else ""),
                f"{n} to review" + (f", {p} with the deposit in" if p else ""),
            ),
        )
        for lid, title, n, p in await _rows(session, query)
    ]
    return TodoItem(
        "applications", Label("待审核的报名", "Applications to review"), await _count(session, total), entries
    )


async def _deposits_overdue(session: AsyncSession, now: datetime) -> TodoItem:
    """Admitted (or still undecided) applicants whose deposit had not arrived by the registration deadline."""
    late = (
        Application.status.in_(("pending", "approved")),
        Application.paid_in_full_at.is_(None),
        ListingRow.qualification == "pre",
        ListingRow.status.in_(LIVE_STATUSES),
        ListingRow.registration_closes_at <= now,
    )
    query = (
        select(ListingRow.id, ListingRow.title, func.count(), ListingRow.registration_closes_at)
        .join(Application, Application.listing_id == ListingRow.id)
        .where(*late)
        .group_by(ListingRow.id, ListingRow.title, ListingRow.registration_closes_at)
        .order_by(ListingRow.registration_closes_at.desc(), ListingRow.id)
    )
    total = select(func.count()).select_from(Application).join(ListingRow).where(*late)
    entries = [
        TodoEntry(
            lid,
            title,
            _href(lid, "#applications-heading"),
            Label(
                f"{n} 份逾期未到账（报名截止 {closes.astimezone(SHANGHAI):%m-%d %H:%M}）",
                f"{n} not in by the deadline ({closes.astimezone(SHANGHAI):%m-%d %H:%M})",
            ),
        )
        for lid, title, n, closes in await _rows(session, query)
    ]
    return TodoItem(
        "deposits_overdue",
        Label("保证金逾期未到账", "Deposits overdue"),
        await _count(session, total),
        entries,
    )


async def _auctions_today(session: AsyncSession, today: date) -> TodoItem:
    """Listings whose bidding runs at some time of the Beijing day (opening, closing or across it)
    and is not over: a closed auction waits for no one, its result has items of its own."""
    start, end = _day(today)
    running = (
        ListingRow.status.in_((*LIVE_STATUSES, "suspended")),
        ListingRow.bidding_opens_at < end,
        ListingRow.bidding_closes_at >= start,
    )
    query = (
        select(
            ListingRow.id,
            ListingRow.title,
            ListingRow.status,
            ListingRow.bidding_opens_at,
            ListingRow.bidding_closes_at,
        )
        .where(*running)
        .order_by(ListingRow.bidding_opens_at, ListingRow.id)
    )
    total = select(func.count()).select_from(ListingRow).where(*running)
    entries = []
    for lid, title, status, opens, closes in await _rows(session, query):
        word = LISTING_STATUS_LABELS.get(status, Label(status, status))
        # Within the day the hours say it; a window that starts or ends on another day shows its dates.
        within = local_date(opens) == today == local_date(closes)
        shown = "%H:%M" if within else "%m-%d %H:%M"
        span = f"{opens.astimezone(SHANGHAI):{shown}}–{closes.astimezone(SHANGHAI):{shown}}"
        anchor = "" if status == "announced" else "#watch-heading"
        entries.append(
            TodoEntry(lid, title, _href(lid, anchor), Label(f"{span} · {word.zh}", f"{span} · {word.en}"))
        )
    return TodoItem(
        "auctions_today", Label("今日竞价", "Auctions today"), await _count(session, total), entries
    )


async def _objections(session: AsyncSession) -> TodoItem:
    """Objections to a result on display (公示) not yet answered (``filed``) or resolved (``upheld``)."""
    open_ = (
        Objection.status.in_(("filed", "upheld")),
        Settlement.status.in_(("publicity", "on_hold")),
    )
    to_answer = func.sum(case((Objection.status == "filed", 1), else_=0))
    query = (
        select(ListingRow.id, ListingRow.title, func.count(), to_answer)
        .join(Objection, Objection.listing_id == ListingRow.id)
        .join(Settlement, Settlement.listing_id == ListingRow.id)
        .where(*open_)
        .group_by(ListingRow.id, ListingRow.title, Settlement.publicity_ends_at)
        .order_by(Settlement.publicity_ends_at, ListingRow.id)
    )
    total = (
        select(func.count())
        .select_from(Objection)
        .join(Settlement, Settlement.listing_id == Objection.listing_id)
        .where(*open_)
    )
    entries = []
    for lid, title, n, filed in await _rows(session, query):
        upheld = n - filed
        zh = "，".join(
            p for p in (f"{filed} 件待答复" if filed else "", f"{upheld} 件待处理" if upheld else "") if p
        )
        en = ", ".join(
            p for p in (f"{filed} to answer" if filed else "", f"{upheld} to resolve" if upheld else "") if p
        )
        entries.append(TodoEntry(lid, title, _href(lid, "#objections-heading"), Label(zh, en)))
    return TodoItem(
        "objections",
        Label("公示期内的异议", "Objections during the 公示"),
        await _count(session, total),
        entries,
    )


async def _winner_reviews(session: AsyncSession) -> TodoItem:
    """Post-qualification sales whose winner waits for the review (资格后审)."""
    query = (
        select(ListingRow.id, ListingRow.title)
        .join(Settlement, Settlement.listing_id == ListingRow.id)
        .where(Settlement.status == "review")
        .order_by(Settlement.created_at, ListingRow.id)
    )
    total = select(func.count()).select_from(Settlement).where(Settlement.status == "review")
    entries = [
        TodoEntry(lid, title, _href(lid, "#review-heading"), Label("竞得人待资格审查", "Winner to review"))
        for lid, title in await _rows(session, query)
    ]
    return TodoItem(
        "winner_reviews", Label("竞得人资格审查", "Winners to review"), await _count(session, total), entries
    )


async def _contracts_overdue(session: AsyncSession, today: date) -> TodoItem:
    """Confirmed sales whose contract was due before today and is not recorded as signed."""
    late = (Settlement.status == "awaiting_contract", Settlement.contract_due_on < today)
    query = (
        select(ListingRow.id, ListingRow.title, Settlement.contract_due_on)
        .join(Settlement, Settlement.listing_id == ListingRow.id)
        .where(*late)
        .order_by(Settlement.contract_due_on, ListingRow.id)
    )
    total = select(func.count()).select_from(Settlement).where(*late)
    entries = [
        TodoEntry(
            lid,
            title,
            _href(lid, "/settlement"),
            Label(f"应于 {due.isoformat()} 前签订", f"due by {due.isoformat()}"),
        )
        for lid, title, due in await _rows(session, query)
    ]
    return TodoItem(
        "contracts_overdue", Label("合同逾期未签", "Contracts overdue"), await _count(session, total), entries
    )


async def _payments_overdue(session: AsyncSession, today: date) -> TodoItem:
    """Instalments past their due date on lines still to be paid, and lines in default (old rows)."""
    late = (
        SettlementInstallment.status == "pending",
        SettlementInstallment.due_date < today,
        SettlementLine.status == "pending_payment",
    )
    query = (
        select(
            ListingRow.id,
            ListingRow.title,
            func.count(),
            func.sum(SettlementInstallment.amount),
            func.min(SettlementInstallment.due_date),
        )
        .join(SettlementLine, SettlementLine.listing_id == ListingRow.id)
        .join(SettlementInstallment, SettlementInstallment.line_id == SettlementLine.id)
        .where(*late)
        .group_by(ListingRow.id, ListingRow.title)
        .order_by(func.min(SettlementInstallment.due_date), ListingRow.id)
    )
    total = (
        select(func.count())
        .select_from(SettlementInstallment)
        .join(SettlementLine, SettlementLine.id == SettlementInstallment.line_id)
        .where(*late)
    )
    entries = []
    for lid, title, n, amount, due in await _rows(session, query):
        due_yuan = yuan(int(amount))
        entries.append(
            TodoEntry(
                lid,
                title,
                _href(lid, "/settlement"),
                Label(
                    f"{n} 期逾期，应付 {due_yuan} 元，最早于 {due.isoformat()} 到期",
                    f"{n} overdue, {due_yuan} yuan due, the first on {due.isoformat()}",
                ),
            )
        )
    default = (
        select(ListingRow.id, ListingRow.title)
        .join(Settlement, Settlement.listing_id == ListingRow.id)
        .where(Settlement.status == "default", Settlement.relisted_listing_id.is_(None))
        .order_by(ListingRow.id)
    )
    defaulted = await _rows(session, default)
    listed = {entry.listing_id for entry in entries}  # a listing in default with overdue lines: once
    entries += [
        TodoEntry(lid, title, _href(lid, "/settlement"), Label("违约，待处理", "In default"))
        for lid, title in defaulted
        if lid not in listed
    ]
    count = await _count(session, total) + len(defaulted)
    return TodoItem("payments_overdue", Label("逾期付款", "Payments overdue"), count, entries)


async def _rescissions(session: AsyncSession) -> TodoItem:
    """Lines past the grace whose rescission the day-end job proposed: an operator confirms it."""
    proposed = (
        SettlementLine.status == "pending_payment",
        SettlementLine.rescission_proposed_at.is_not(None),
    )
    query = (
        select(ListingRow.id, ListingRow.title, func.count())
        .join(SettlementLine, SettlementLine.listing_id == ListingRow.id)
        .where(*proposed)
        .group_by(ListingRow.id, ListingRow.title)
        .order_by(ListingRow.id)
    )
    total = select(func.count()).select_from(SettlementLine).where(*proposed)
    entries = [
        TodoEntry(
            lid,
            title,
            _href(lid, "/settlement"),
            Label(f"{n} 名竞得人拟解除合同", f"{n} rescission(s) proposed"),
        )
        for lid, title, n in await _rows(session, query)
    ]
    return TodoItem(
        "rescissions",
        Label("拟解除合同待确认", "Rescissions to confirm"),
        await _count(session, total),
        entries,
    )


async def todo(session: AsyncSession, now: datetime) -> list[TodoItem]:
    """Every item of the queue, in the order of an operator's day (empty ones included)."""
    today = local_date(now)
    return [
        await _applications(session),
        await _deposits_overdue(session, now),
        await _auctions_today(session, today),
        await _objections(session),
        await _winner_reviews(session),
        await _contracts_overdue(session, today),
        await _payments_overdue(session, today),
        await _rescissions(session),
    ]
