"""成交公示 (or 流拍公告): the result announcement of a finished auction."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auctions.models import Auction
from documents import data
from documents.drafts import Draft, listing_info, quantity, sold_or_failed, winner_lines
from documents.results import winner_names
from listings.models import Listing


def key(listing_id: int) -> str:
    return f"result_announcement:{listing_id}"


def _statistics(listing: Listing, stats: dict[str, Any] | None) -> data.UniformPriceStatistics | None:
    if not stats:
        return None

    def volume(name: str) -> Decimal:
        value = quantity(listing.asset_class, stats[name])
        assert value is not None
        return value

    return data.UniformPriceStatistics(
        clearing_price=stats.get("clearing_price"),
        volume_offered=volume("volume_offered"),
        volume_sold=volume("volume_sold"),
        total_bid_volume=volume("total_bid_volume"),
        qualified_bid_volume=volume("qualified_bid_volume"),
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


async def draft(session: AsyncSession, listing: Listing, auction: Auction) -> Draft:
    outcome = auction.outcome or {}
    result = data.ResultAnnouncement(
        listing=listing_info(listing),
        outcome=sold_or_failed(auction),
        decided_at=auction.closed_at or listing.bidding_closes_at,
        start_price=listing.start_price,
        bid_count=int(outcome.get("bid_count", 0)),
        price=outcome.get("price"),
        winners=winner_lines(listing, outcome, await winner_names(session, listing.id)),
        failure_reason=outcome.get("reason"),
        statistics=_statistics(listing, outcome.get("statistics")),
        draw=_draw(outcome.get("draw")),
        average_quote=Fraction(outcome["average_quote"]) if outcome.get("average_quote") else None,
    )
    return Draft(key(listing.id), "result_announcement", "成交公示", result)
