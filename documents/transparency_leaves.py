"""What the transparency log takes in (``exchange.transparency.sequencer``'s sources): each
finished auction's audit head at its close, each issued document's digest and each Beijing day of
registry movements once it is over.

Each source asks what is due and not yet logged, and returns its leaves in a deterministic order
(closes by commit time then listing, documents by issue time then id, days by date); the
sequencer asks them inside the log's lock. They live here, above the auctions, the registry and
the documents they read, because the kernel reads no domain's tables.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.models import Auction
from documents.models import Document
from documents.results import FINISHED, close_head
from exchange.transparency.leaves import Leaf, audit_head_leaf, document_leaf, registry_day_leaf
from exchange.transparency.leaves import instant as leaf_instant
from exchange.transparency.models import LogEntry
from exchange.transparency.sequencer import Source
from listings.models import Listing
from settlement.registry.models import RegistryEntry, RegistryTransaction

BEIJING = ZoneInfo("Asia/Shanghai")
DAY_GRACE = timedelta(minutes=10)
"""A day's registry batch is logged this long after its midnight: a movement stamped 23:59:59
whose transaction commits a moment later still falls in its day's batch."""


def _not_logged(kind: str, subject: Any) -> Any:
    return ~exists().where(LogEntry.kind == kind, LogEntry.subject == subject)


async def closes(session: AsyncSession, now: datetime) -> list[Leaf]:
    """The audit head of every finished auction not yet logged, as its result publishes it."""
    query = (
        select(Auction, Listing)
        .join(Listing, Listing.id == Auction.listing_id)
        .where(Auction.status.in_(FINISHED), _not_logged("audit_head", cast(Auction.listing_id, String)))
    )
    leaves = []
    for auction, listing in (await session.execute(query)).all():
        committed = auction.close_committed_at or auction.closed_at or auction.opened_at
        head = await close_head(session, listing.stream, auction.close_head)
        leaves.append((committed, listing.id, audit_head_leaf(listing.id, head, committed)))
    return [leaf for _, _, leaf in sorted(leaves, key=lambda t: (t[0], t[1]))]


async def documents(session: AsyncSession, now: datetime) -> list[Leaf]:
    """Every issued document (public or not: its digest says nothing of its content) not yet logged."""
    query = (
        select(Document.key, Document.listing_id, Document.kind, Document.sha256)
        .where(_not_logged("document", Document.key))
        .order_by(Document.created_at, Document.id)
    )
    return [document_leaf(*row) for row in (await session.execute(query)).all()]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), BEIJING)


def movement(entry: RegistryEntry, transaction: RegistryTransaction) -> dict[str, Any]:
    """One registry movement entry as the day's digest hashes it (docs/verification.md)."""
    return {
        "entry": entry.id,
        "transaction": transaction.id,
        "reference": transaction.reference,
        "kind": transaction.kind,
        "instrument": transaction.instrument_id,
        "account": entry.account_id,
        "amount": entry.amount,
        "at": leaf_instant(transaction.created_at),
    }


async def registry_days(session: AsyncSession, now: datetime) -> list[Leaf]:
    """One leaf per Beijing day with registry movements, after the last day logged, once over."""
    last = (
        await session.execute(select(func.max(LogEntry.subject)).where(LogEntry.kind == "registry_day"))
    ).scalar_one_or_none()
    until = _day_start((now - DAY_GRACE).astimezone(BEIJING).date())  # today's batch is not over
    conditions = [RegistryTransaction.created_at < until]
    if last is not None:  # ISO dates sort as dates; the days are logged in order
        conditions.append(
            RegistryTransaction.created_at >= _day_start(date.fromisoformat(last) + timedelta(1))
        )
    query = (
        select(RegistryEntry, RegistryTransaction)
        .join(RegistryTransaction, RegistryTransaction.id == RegistryEntry.transaction_id)
        .where(and_(*conditions))
        .order_by(RegistryEntry.id)
    )
    days: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for entry, transaction in (await session.execute(query)).all():
        days[transaction.created_at.astimezone(BEIJING).date()].append(movement(entry, transaction))
    return [registry_day_leaf(day, days[day]) for day in sorted(days)]


SOURCES: tuple[Source, ...] = (closes, documents, registry_days)
"""In the order a round appends their leaves (``exchange.transparency.leaves.KINDS``)."""
