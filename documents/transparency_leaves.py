"""What the transparency log takes in (``exchange.transparency.sequencer``'s sources): each
finished auction's audit head at its close, each issued document's digest and each Beijing day of
registry movements once it is over.

Each source asks what is due and not yet logged, and returns its leaves in a deterministic order
(closes by commit time then listing, documents by issue time then id, days by date); the
sequencer asks them inside the log's lock. They live here, above the auctions, the registry and
the documents they read, because the kernel reads no domain's tables.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.models import Auction
from documents.models import Document
from documents.results import FINISHED, close_head
from exchange.transparency.leaves import (
    Leaf,
    audit_head_leaf,
    document_leaf,
    private_document_leaf,
    registry_day_leaf,
)
from exchange.transparency.leaves import instant as leaf_instant
from exchange.transparency.models import Covered, LogEntry
from exchange.transparency.sequencer import Source
from listings.models import Listing
from settlement.registry.models import RegistryEntry, RegistryTransaction

logger = logging.getLogger("exchange.transparency")

BEIJING = ZoneInfo("Asia/Shanghai")
DAY_GRACE = timedelta(minutes=10)
"""A day's registry batch is logged this long after its midnight: a movement stamped 23:59:59
whose transaction commits a moment later still falls in its day's first batch (a later one gets
a batch of its own: ``registry_days``)."""


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
    """Every issued document not yet logged: a public one with its key, listing and kind, a private
    one (a bidder's notice, a confirmation) only by its digest, under the digest as its subject, so
    the public log says nothing of who was sent what."""
    public = and_(Document.public.is_(True), _not_logged("document", Document.key))
    private = and_(Document.public.is_(False), _not_logged("document", Document.sha256))
    query = (
        select(Document.key, Document.listing_id, Document.kind, Document.sha256, Document.public)
        .where(or_(public, private))
        .order_by(Document.created_at, Document.id)
    )
    leaves: list[Leaf] = []
    digests: set[str] = set()
    for key, listing_id, kind, sha256, is_public in (await session.execute(query)).all():
        if is_public:
            leaves.append(document_leaf(key, listing_id, kind, sha256))
        elif sha256 not in digests:  # one leaf per digest: the subject is unique
            digests.add(sha256)
            leaves.append(private_document_leaf(sha256))
    return leaves


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
    """One leaf per Beijing day over with registry movements no leaf has taken in yet.

    Coverage is by movement (``transparency_covered``), not by date: a movement stamped on a day
    already logged (its transaction committed late, or an instance's clock was ahead) goes into a
    further leaf of that day (``2026-12-05#2``), with a warning, instead of into none.
    """
    until = _day_start((now - DAY_GRACE).astimezone(BEIJING).date())  # today's batch is not over
    covered = exists().where(Covered.kind == "registry_entry", Covered.item == RegistryEntry.id)
    query = (
        select(RegistryEntry, RegistryTransaction)
        .join(RegistryTransaction, RegistryTransaction.id == RegistryEntry.transaction_id)
        .where(RegistryTransaction.created_at < until, ~covered)
        .order_by(RegistryEntry.id)
    )
    days: dict[date, list[dict[str, Any]]] = defaultdict(list)
    entries: dict[date, list[int]] = defaultdict(list)
    for entry, transaction in (await session.execute(query)).all():
        day = transaction.created_at.astimezone(BEIJING).date()
        days[day].append(movement(entry, transaction))
        entries[day].append(entry.id)
    if not days:
        return []
    logged = (
        await session.execute(
            select(LogEntry.subject).where(
                LogEntry.kind == "registry_day",
                or_(*(LogEntry.subject.startswith(day.isoformat()) for day in days)),
            )
        )
    ).scalars()
    batches: Counter[str] = Counter(subject[:10] for subject in logged)
    leaves = []
    for day in sorted(days):
        batch = batches[day.isoformat()] + 1
        if batch > 1:
            logger.warning(
                "transparency log: %d registry movement(s) of %s committed after the day was logged: "
                "they go into its batch %d",
                len(days[day]),
                day.isoformat(),
                batch,
            )
        leaves.append(registry_day_leaf(day, days[day], batch, entries[day]))
    return leaves


SOURCES: tuple[Source, ...] = (closes, documents, registry_days)
"""In the order a round appends their leaves (``exchange.transparency.leaves.KINDS``)."""
