"""Published results (成交公示) and the open-data export.

A result exists once an auction has closed or failed. It names the winners
(identities are revealed in the result; losers stay anonymous behind their
bid numbers), the price, the statistics the public expects (premium rate over
the start price, bids, bidders, duration, extensions; clearing statistics and
HHI for uniform price; the revealed seed and the inputs of any draw), the
reserve opened with its salt, so that its commitment can be recomputed
(``listings.reserve``), and the listing's audit-chain head so the published
bid record can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.mechanisms import Outcome, Statistics, to_json
from auctions.models import Auction, AuctionEvent, BidRow
from auctions.terms import from_units
from documents.data import ReserveReveal
from documents.models import Document
from documents.registry_documents import REGISTRY_DOCUMENT_KINDS, REGISTRY_STREAM
from exchange.audit.chain import SYSTEM_STREAM, RecordedHead, head_of
from exchange.audit.models import AuditEntry
from exchange.errors import NotFound
from exchange.identity.models import User
from exchange.money import format_yuan
from listings import consortia
from listings.applications_models import Application
from listings.models import Listing
from settlement.review import result_awaits_review
from settlement.settlement_models import Settlement

FINISHED = ("closed", "failed")
CLOSING_ACTIONS = ("auction.closed", "auction.failed")


def _decimal(value: Fraction | int | str | None, places: int = 4) -> str | None:
    if value is None:
        return None
    exact = Fraction(value) if not isinstance(value, Fraction) else value
    quantum = Decimal(1).scaleb(-places)
    return str((Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(quantum, ROUND_HALF_UP))


def premium_rate(price: int | None, start: int) -> str | None:
    """溢价率 in percent, two places: (price - start) / start; none below the start price."""
    if price is None or start <= 0 or price < start:
        return None
    return _decimal(Fraction(price - start, start) * 100, 2)


def discount_rate(price: int | None, start: int) -> str | None:
    """降价率 of a price below the start price (a Dutch sale), in percent: (start - price) / start.

    Chinese exchanges publish no negative 溢价率; programs that read ``premium_rate`` keep
    reading it for every price at or over the start.
    """
    if price is None or start <= 0 or price >= start:
        return None
    return _decimal(Fraction(start - price, start) * 100, 2)


@dataclass
class ResultRecord:
    listing_id: int
    title: str
    asset_class: str
    method: str
    outcome: str
    reason: str | None
    price: str | None
    start_price: str
    premium_rate: str | None
    discount_rate: str | None
    winners: list[dict[str, Any]]
    bids: int
    bidders: int
    extensions: int
    opened_at: datetime
    closed_at: datetime | None
    duration_seconds: int | None
    audit_head: str
    region: str | None
    statistics: dict[str, Any] | None = None
    draw: dict[str, Any] | None = None
    average_quote: str | None = None
    award_rule: str | None = None
    award_fallback: bool = False
    reserve_price: str | None = None
    reserve_salt: str | None = None
    reserve_commitment: str | None = None
    annulled: bool = False
    """The sale was annulled after the close (成交无效: an upheld objection); ``outcome`` stays
    ``sold`` (the auction's result) and ``annulled_reason`` says why, as published."""
    annulled_reason: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)


async def close_head(session: AsyncSession, stream: str, recorded: str | None = None) -> str:
    """The chain's hash at the entry that recorded the outcome.

    Every bid before the close is chained into it, and unlike the stream's
    current head it does not change when settlement appends to the stream
    later, so a published result names one value forever. ``recorded`` is
    the one the close wrote (``Auction.close_head``): a chain rewritten later
    does not move it. Auctions closed before it was recorded have none.
    """
    if recorded is not None:
        return recorded
    query = (
        select(AuditEntry.hash)
        .where(AuditEntry.stream == stream, AuditEntry.action.in_(CLOSING_ACTIONS))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none() or await head_of(session, stream)


def _stream_owner(stream: str) -> tuple[bool, int | None]:
    """Whether ``stream`` is one that documents.store.listing_stream names, and for which listing."""
    if stream == SYSTEM_STREAM:
        return True, None
    prefix, _, number = stream.partition(":")
    # only the spelling listing_stream writes: "listing:042" or "listing:٤٢" is some other stream
    if prefix != "listing" or not (number.isascii() and number.isdigit()) or str(int(number)) != number:
        return False, None
    listing_id = int(number)
    return listing_id < 2**63, listing_id  # ids are BIGINTs: a larger one names no listing


async def recorded_heads(session: AsyncSession, stream: str) -> list[RecordedHead]:
    """The heads of ``stream`` recorded outside it, for ``exchange.audit.chain.check_stream``.

    Every issued document records the head at its issue (any entry of the
    chain, or the genesis hash), and a listing's auction records the hash of
    the entry that closed it (its stream's last ``auction.closed`` or
    ``auction.failed`` entry), the value its published result names.
    """
    if stream == REGISTRY_STREAM:  # the registry's documents print its head, whatever listing they name
        registry = (
            select(Document.id, Document.key, Document.audit_head, Document.created_at)
            .where(Document.kind.in_(REGISTRY_DOCUMENT_KINDS))
            .order_by(Document.id)
        )
        return [
            RecordedHead(f"document {i} ({k})", h, at)
            for i, k, h, at in (await session.execute(registry)).all()
        ]
    known, listing_id = _stream_owner(stream)
    if not known:
        return []
    documents = (
        select(Document.id, Document.key, Document.audit_head, Document.created_at)
        .where(Document.listing_id.is_(None) if listing_id is None else Document.listing_id == listing_id)
        .where(Document.kind.not_in(REGISTRY_DOCUMENT_KINDS))
        .order_by(Document.id)
    )
    heads = [
        RecordedHead(f"document {doc_id} ({key})", head, at)
        for doc_id, key, head, at in (await session.execute(documents)).all()
    ]
    if listing_id is not None:
        query = select(Auction.close_head, Auction.closed_at).where(Auction.listing_id == listing_id)
        closed = (await session.execute(query)).one_or_none()
        if closed is not None and closed.close_head is not None:
            heads.append(
                RecordedHead(
                    f"the close of auction {listing_id}",
                    closed.close_head,
                    # written with close_head; without it, checked before anything else
                    closed.closed_at or datetime.min.replace(tzinfo=UTC),
                    CLOSING_ACTIONS,
                )
            )
    return heads


async def winner_names(session: AsyncSession, listing_id: int) -> dict[str, str]:
    """The name behind each bid number: the bidder's, or a consortium's parties' (联合竞买: every
    party, the lead first, ``listings.consortia.joint_name``)."""
    query = (
        select(Application.bid_number, User.display_name)
        .join(User, User.id == Application.bidder_id)
        .where(Application.listing_id == listing_id, Application.bid_number.is_not(None))
    )
    names = {number: name for number, name in (await session.execute(query)).all() if number}
    for number, shares in (await consortia.shares_by_bid_number(session, listing_id)).items():
        names[number] = consortia.joint_name(shares)
    return names


def consortium_record(shares: list[consortia.Share]) -> list[dict[str, Any]]:
    """A consortium's parties as the result publishes them: credit code, name, share (percent)."""
    return [{"credit_code": s.credit_code, "name": s.name, "share": s.share, "lead": s.lead} for s in shares]


def _statistics(stats: Statistics | None, asset_class: str) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "volume_offered": from_units(asset_class, stats.volume_offered),
        "volume_sold": from_units(asset_class, stats.volume_sold),
        "total_bid_volume": from_units(asset_class, stats.total_bid_volume),
        "qualified_bid_volume": from_units(asset_class, stats.qualified_bid_volume),
        "clearing_price": format_yuan(stats.clearing_price) if stats.clearing_price is not None else None,
        "cover_ratio": _decimal(stats.cover_ratio),
        "bidders": stats.bidders,
        "winners": stats.winners,
        "hhi": _decimal(stats.hhi, 2),
    }


OPT_IN_PHASE = "lottery"
"""The phase of an acceptance of the cap price (``auctions.mechanisms.lottery``): a lottery entry,
stored as a bid row but not a bid (the mechanism's ``bid_count`` leaves it out)."""


def is_opt_in(bid: BidRow) -> bool:
    return bid.phase == OPT_IN_PHASE


def bid_count(listing: Listing, auction: Auction) -> int:
    """The number of valid bids, the one source for the result page, the API and CSV, the result
    announcement, the bid record and the audit replay: the outcome's ``bid_count``, which the
    mechanism counts and ``auctions.audit_replay`` recomputes from the log. Acceptances of the cap
    price (lottery entries) are not bids: counting bid rows counted them too (21 against 20)."""
    return outcome_of(listing, auction).bid_count


def outcome_of(listing: Listing, auction: Auction) -> Outcome:
    """The auction's outcome; one without any (no finished auction lacks it) reads as a failure
    with nothing in it, and a sale whose winner failed its review after the close (资格后审: the
    listing failed, ``settlement.review``) as the failure it became."""
    outcome = auction.decoded_outcome or Outcome(
        "failed", None, auction.closed_at or listing.bidding_closes_at
    )
    if outcome.status == "sold" and listing.status == "failed":
        return Outcome("failed", "winner_disqualified", outcome.decided_at, bid_count=outcome.bid_count)
    return outcome


def award_fallback(listing: Listing, outcome: Outcome) -> bool:
    """A closest_to_average listing awarded to the highest quote: fewer than three valid quotes."""
    return listing.method_params.get("award_rule") == "closest_to_average" and outcome.award_rule == "highest"


def reserve_reveal(listing: Listing) -> ReserveReveal | None:
    """The committed reserve with its salt; only for a finished auction. A listing whose bidding
    opened before commitments existed has none to reveal."""
    if (
        listing.reserve_salt is None
        or listing.reserve_commitment is None
        or listing.reserve_committed_at is None
    ):
        return None
    return ReserveReveal(
        listing.reserve_price, listing.reserve_salt, listing.reserve_commitment, listing.reserve_committed_at
    )


async def result_of(session: AsyncSession, listing: Listing, auction: Auction) -> ResultRecord:
    outcome = outcome_of(listing, auction)
    names = await winner_names(session, listing.id)
    joint = await consortia.shares_by_bid_number(session, listing.id)
    winners = [
        {
            "bid_number": w.bidder,
            "name": names.get(w.bidder),
            "price": format_yuan(w.price),
            "quantity": from_units(listing.asset_class, w.quantity) if w.quantity is not None else None,
        }
        # a joint bid names every party with its share; a bidder alone has no such member
        | ({"consortium": consortium_record(joint[w.bidder])} if w.bidder in joint else {})
        for w in outcome.winners
    ]
    bids = bid_count(listing, auction)
    bidders = (
        await session.execute(
            select(func.count(func.distinct(BidRow.bidder_id))).where(
                BidRow.listing_id == listing.id, BidRow.phase != OPT_IN_PHASE
            )
        )
    ).scalar_one()
    extensions = (
        await session.execute(
            select(func.count())
            .select_from(AuctionEvent)
            .where(AuctionEvent.listing_id == listing.id, AuctionEvent.kind == "extended")
        )
    ).scalar_one()
    price = outcome.price
    closed = auction.closed_at
    reserve = reserve_reveal(listing)
    settlement = await session.get(Settlement, listing.id)
    annulled = settlement is not None and settlement.status == "annulled"
    return ResultRecord(
        listing_id=listing.id,
        title=listing.title,
        asset_class=listing.asset_class,
        method=listing.method,
        outcome=outcome.status,
        reason=outcome.reason,
        price=format_yuan(price) if price is not None else None,
        start_price=format_yuan(listing.start_price),
        premium_rate=premium_rate(price, listing.start_price) if listing.method != "uniform_price" else None,
        discount_rate=discount_rate(price, listing.start_price)
        if listing.method != "uniform_price"
        else None,
        winners=winners,
        bids=int(bids),
        bidders=int(bidders),
        extensions=int(extensions),
        opened_at=auction.opened_at,
        closed_at=closed,
        duration_seconds=int((closed - auction.opened_at).total_seconds()) if closed else None,
        audit_head=await close_head(session, listing.stream, auction.close_head),
        region=listing.region,
        statistics=_statistics(outcome.statistics, listing.asset_class),
        draw=to_json(outcome.draw) if outcome.draw is not None else None,
        average_quote=_decimal(outcome.average_quote / 100, 2) if outcome.average_quote is not None else None,
        award_rule=outcome.award_rule,
        award_fallback=award_fallback(listing, outcome),
        reserve_price=format_yuan(reserve.reserve_price)
        if reserve is not None and reserve.reserve_price is not None
        else None,
        reserve_salt=reserve.salt if reserve is not None else None,
        reserve_commitment=reserve.commitment if reserve is not None else None,
        annulled=annulled,
        annulled_reason=settlement.annulled_reason if annulled and settlement is not None else None,
    )


async def finished(session: AsyncSession, listing_id: int) -> tuple[Listing, Auction]:
    """A result that is published: finished, and under post-qualification its winner reviewed
    (a sale whose winner may still fail the review is not a result yet)."""
    query = (
        select(Listing, Auction)
        .join(Auction, Auction.listing_id == Listing.id)
        .where(Listing.id == listing_id, Auction.status.in_(FINISHED), ~result_awaits_review())
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("no published result for this listing")
    return row[0], row[1]


async def all_finished(
    session: AsyncSession, offset: int = 0, limit: int | None = None
) -> list[tuple[Listing, Auction]]:
    query = (
        select(Listing, Auction)
        .join(Auction, Auction.listing_id == Listing.id)
        .where(Auction.status.in_(FINISHED), ~result_awaits_review())
        .order_by(Auction.closed_at.desc(), Listing.id.desc())
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]
