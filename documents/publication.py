"""Issuing the public documents of a listing's life: the announcement and, at the close, the result.

An outbox by query rather than events: a periodic job finds published
listings without their announcement and finished auctions without their
result announcement and bid record, and issues them. Issuing is idempotent
by document key, so a crash, a restart or two instances doing it at once
still give one document each; rendering happens in the process pool, never
on the bid path.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auctions.models import Auction, BidRow
from documents import data
from documents.models import Document
from documents.results import FINISHED, winner_names
from documents.store import issue, listing_audit_head
from exchange.db import unit_of_work
from exchange.scheduling import Timers
from listings.attributes import UNITS
from listings.models import Listing

log = logging.getLogger("documents.publication")

CATCH_UP_SECONDS = 5.0


def listing_info(listing: Listing) -> data.ListingInfo:
    return data.ListingInfo(
        listing_id=listing.id,
        title=listing.title,
        asset_class=listing.asset_class,
        method=listing.method,
        region=listing.region,
        unit=UNITS[listing.asset_class].quantity_unit,
    )


def _attributes(listing: Listing) -> tuple[data.Attribute, ...]:
    return tuple(
        data.Attribute(label=key, value=str(value))
        for key, value in listing.attributes.items()
        if value is not None and not isinstance(value, dict | list)
    )


def announcement(listing: Listing) -> data.ListingAnnouncement:
    """The reserve amount is not even an input: only whether there is one."""
    return data.ListingAnnouncement(
        listing=listing_info(listing),
        description=listing.description,
        attributes=_attributes(listing),
        start_price=listing.start_price,
        increment=listing.increment,
        deposit=listing.deposit,
        has_reserve=listing.reserve_price is not None,
        schedule=data.Schedule(
            announce_at=listing.announce_at,
            registration_opens_at=listing.registration_opens_at,
            registration_closes_at=listing.registration_closes_at,
            bidding_opens_at=listing.bidding_opens_at,
            bidding_closes_at=listing.bidding_closes_at,
            extension_seconds=listing.extension_seconds,
        ),
        seed_commitment=listing.seed_commitment,
        price_cap=listing.price_cap,
        cap_rule=listing.method_params.get("cap_rule"),
    )


def _winners(outcome: dict[str, Any], names: dict[str, str]) -> tuple[data.WinnerLine, ...]:
    return tuple(
        data.WinnerLine(
            bid_number=w["bidder"],
            name=names.get(w["bidder"], ""),
            price=w["price"],
            quantity=w.get("quantity"),
        )
        for w in outcome.get("winners", [])
    )


def _statistics(stats: dict[str, Any] | None) -> data.UniformPriceStatistics | None:
    if not stats:
        return None
    return data.UniformPriceStatistics(
        clearing_price=stats.get("clearing_price"),
        volume_offered=stats["volume_offered"],
        volume_sold=stats["volume_sold"],
        total_bid_volume=stats["total_bid_volume"],
        qualified_bid_volume=stats["qualified_bid_volume"],
        cover_ratio=Fraction(stats["cover_ratio"]),
        bidders=stats["bidders"],
        winners=stats["winners"],
        hhi=Fraction(stats["hhi"]),
    )


def _draw(draw: dict[str, Any] | None) -> data.DrawInputs | None:
    if not draw:
        return None
    return data.DrawInputs(
        purpose=draw["purpose"],
        seed_hex=draw["seed_hex"],
        commitment=draw["commitment"],
        candidates=tuple(draw["candidates"]),
        keys=tuple(draw["keys"]),
        order=tuple(draw["order"]),
        procedure=draw["procedure"],
    )


async def publish_announcement(session: AsyncSession, listing: Listing) -> Document:
    return await issue(
        session,
        key=f"listing_announcement:{listing.id}",
        kind="listing_announcement",
        listing_id=listing.id,
        public=True,
        title=f"{listing.title} 出让公告",
        data=announcement(listing),
        audit_head=await listing_audit_head(session, listing.id),
    )


async def publish_result(session: AsyncSession, listing: Listing, auction: Auction) -> list[Document]:
    outcome = auction.outcome or {}
    names = await winner_names(session, listing.id)
    winners = _winners(outcome, names)
    status: Literal["sold", "failed"] = "sold" if outcome.get("status") == "sold" else "failed"
    head = await listing_audit_head(session, listing.id)
    result = data.ResultAnnouncement(
        listing=listing_info(listing),
        outcome=status,
        decided_at=auction.closed_at or listing.bidding_closes_at,
        start_price=listing.start_price,
        bid_count=int(outcome.get("bid_count", 0)),
        price=outcome.get("price"),
        winners=winners,
        failure_reason=outcome.get("reason"),
        statistics=_statistics(outcome.get("statistics")),
        draw=_draw(outcome.get("draw")),
        average_quote=Fraction(outcome["average_quote"]) if outcome.get("average_quote") else None,
    )
    bids = (
        await session.execute(select(BidRow).where(BidRow.listing_id == listing.id).order_by(BidRow.seq))
    ).scalars()
    record = data.BidRecord(
        listing=listing_info(listing),
        opened_at=auction.opened_at,
        closed_at=auction.closed_at or listing.bidding_closes_at,
        outcome=status,
        bids=tuple(
            data.BidLine(
                seq=b.seq, at=b.accepted_at, bid_number=b.bid_number, amount=b.amount, quantity=b.quantity
            )
            for b in bids
        ),
        winners=winners,
    )
    return [
        await issue(
            session,
            key=f"result_announcement:{listing.id}",
            kind="result_announcement",
            listing_id=listing.id,
            public=True,
            title=f"{listing.title} 成交公示",
            data=result,
            audit_head=head,
        ),
        await issue(
            session,
            key=f"bid_record:{listing.id}",
            kind="bid_record",
            listing_id=listing.id,
            public=True,
            title=f"{listing.title} 竞价记录",
            data=record,
            audit_head=head,
        ),
    ]


class Publisher:
    """The catch-up job: every published fact gets its document, once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], timers: Timers) -> None:
        self._sessions = sessions
        self._timers = timers

    async def _missing(self, key_prefix: str, query: Any) -> list[int]:
        async with self._sessions() as session:
            ids = set((await session.execute(query)).scalars())
            if not ids:
                return []
            keys = {f"{key_prefix}:{i}" for i in ids}
            have = set((await session.execute(select(Document.key).where(Document.key.in_(keys)))).scalars())
        return sorted(i for i in ids if f"{key_prefix}:{i}" not in have)

    async def catch_up(self) -> int:
        issued = 0
        announced = select(Listing.id).where(Listing.status != "draft", Listing.published_at.is_not(None))
        for listing_id in await self._missing("listing_announcement", announced):
            issued += await self._one(listing_id, results=False)
        closed = select(Auction.listing_id).where(Auction.status.in_(FINISHED))
        for listing_id in await self._missing("result_announcement", closed):
            issued += await self._one(listing_id, results=True)
        return issued

    async def _one(self, listing_id: int, *, results: bool) -> int:
        try:
            async with unit_of_work(self._sessions) as session:
                listing = await session.get(Listing, listing_id)
                if listing is None:
                    return 0
                if not results:
                    await publish_announcement(session, listing)
                    return 1
                auction = await session.get(Auction, listing_id)
                if auction is None:
                    return 0
                return len(await publish_result(session, listing, auction))
        except Exception:
            log.exception("issuing documents of listing %s failed; the next round retries", listing_id)
            return 0

    def start(self) -> None:
        self._timers.every("documents:catch-up", CATCH_UP_SECONDS, self.catch_up)
