"""竞价记录: the bid record of a finished auction, every accepted bid with the winners named."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.models import Auction, BidRow
from documents import data
from documents.drafts import Draft, document_number, listing_info, quantity, winner_lines
from documents.results import is_opt_in, outcome_of, winner_names
from listings.models import Listing


def key(listing_id: int) -> str:
    return f"bid_record:{listing_id}"


async def draft(session: AsyncSession, listing: Listing, auction: Auction) -> Draft:
    outcome = outcome_of(listing, auction)
    rows = list(
        (await session.execute(select(BidRow).where(BidRow.listing_id == listing.id).order_by(BidRow.seq)))
        .scalars()
        .all()
    )
    # 序号 counts the bids from 1 (BidRow.seq numbers the auction's events, the opening first);
    # acceptances of the cap price are lottery entries, listed apart and not counted (bid_count).
    bids = [b for b in rows if not is_opt_in(b)]
    record = data.BidRecord(
        listing=listing_info(listing),
        opened_at=auction.opened_at,
        closed_at=auction.closed_at or listing.bidding_closes_at,
        outcome=outcome.status,
        bids=tuple(
            data.BidLine(
                seq=number,
                at=b.accepted_at,
                bid_number=b.bid_number,
                amount=b.amount,
                quantity=quantity(listing.asset_class, b.quantity),
            )
            for number, b in enumerate(bids, 1)
        ),
        winners=winner_lines(listing, outcome, await winner_names(session, listing.id)),
        opt_ins=tuple(
            data.BidLine(seq=number, at=b.accepted_at, bid_number=b.bid_number, amount=b.amount)
            for number, b in enumerate((b for b in rows if is_opt_in(b)), 1)
        ),
    )
    number = document_number(record.listing, "bid_record")
    return Draft(key(listing.id), "bid_record", "竞价记录", record, number=number)
