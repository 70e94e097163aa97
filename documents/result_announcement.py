"""成交公示 (or 流拍公告): the result announcement of a finished auction, which opens the reserve's
commitment. A winning consortium (联合竞买) is named by all its parties, each with its credit code
and share (:class:`JointResultAnnouncement`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from auctions.mechanisms import DrawRecord, Statistics
from auctions.models import Auction
from documents import data
from documents.drafts import Draft, document_number, listing_info, quantity, winner_lines
from documents.joint_parties import JointParty, fields_of, joint_parties
from documents.results import award_fallback, bid_count, outcome_of, reserve_reveal, winner_names
from listings import consortia
from listings.models import Listing
from settlement.settlement_models import Settlement


@dataclass(frozen=True, slots=True)
class JointResultAnnouncement(data.ResultAnnouncement):
    """The result announcement of a sale to one or more consortia: every party with its share."""

    parties: tuple[JointParty, ...] = ()


def key(listing_id: int) -> str:
    return f"result_announcement:{listing_id}"


def _statistics(listing: Listing, stats: Statistics | None) -> data.UniformPriceStatistics | None:
    if stats is None:
        return None

    def volume(units: int) -> Decimal:
        value = quantity(listing.asset_class, units)
        assert value is not None
        return value

    return data.UniformPriceStatistics(
        clearing_price=stats.clearing_price,
        volume_offered=volume(stats.volume_offered),
        volume_sold=volume(stats.volume_sold),
        total_bid_volume=volume(stats.total_bid_volume),
        qualified_bid_volume=volume(stats.qualified_bid_volume),
        cover_ratio=stats.cover_ratio,
        bidders=stats.bidders,
        winners=stats.winners,
        hhi=stats.hhi,
    )


def _draw(draw: DrawRecord | None) -> data.DrawInputs | None:
    if draw is None:
        return None
    return data.DrawInputs(
        purpose=draw.purpose,
        seed_hex=draw.seed_hex,
        commitment=draw.commitment,
        candidates=draw.candidates,
        keys=draw.keys,
        order=draw.order,
        procedure=draw.procedure,
        nonces=draw.nonces,
        entropy=draw.entropy,
    )


async def publicity_ends_at(session: AsyncSession, listing_id: int) -> datetime | None:
    """The end of the result's 公示 once the settlement knows it (issue 16, part B)."""
    settlement = await session.get(Settlement, listing_id)
    return settlement.publicity_ends_at if settlement is not None else None


async def draft(session: AsyncSession, listing: Listing, auction: Auction) -> Draft:
    outcome = outcome_of(listing, auction)
    joint = await consortia.shares_by_bid_number(session, listing.id)
    parties = tuple(
        party
        for number in dict.fromkeys(w.bidder for w in outcome.winners)
        if number in joint
        for party in joint_parties(number, joint[number])
    )
    result = data.ResultAnnouncement(
        listing=listing_info(listing),
        outcome=outcome.status,
        decided_at=auction.closed_at or listing.bidding_closes_at,
        start_price=listing.start_price,
        bid_count=bid_count(listing, auction),
        price=outcome.price,
        winners=winner_lines(listing, outcome, await winner_names(session, listing.id)),
        failure_reason=outcome.reason,
        statistics=_statistics(listing, outcome.statistics),
        draw=_draw(outcome.draw),
        average_quote=outcome.average_quote,
        award_rule=outcome.award_rule,
        award_fallback=award_fallback(listing, outcome),
        reserve=reserve_reveal(listing),
        publicity_ends_at=await publicity_ends_at(session, listing.id),
    )
    if parties:
        result = JointResultAnnouncement(**fields_of(result), parties=parties)
    number = document_number(result.listing, "result_announcement")
    return Draft(key(listing.id), "result_announcement", "成交公示", result, number=number)
