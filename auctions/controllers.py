"""Auction endpoints: the state, bids, and the bid history (bid numbers only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter, JSONBody
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions import service
from auctions.intake import BidAccepted, BidIn, Intake, SealedBidAccepted
from auctions.mechanisms import mechanism_for, state_from_json
from auctions.models import Auction, AuctionEvent, BidRow
from auctions.terms import from_units, params_of
from exchange.clock import utcnow
from exchange.deps import CurrentUser, ListingId, MaybeUser, Session
from exchange.errors import NotFound
from exchange.identity.guards import requires
from exchange.identity.models import BidderKey
from exchange.identity.tokens import Principal
from exchange.money import format_yuan
from exchange.realtime import auction_channel
from listings.models import Listing


class PublishedSignature(msgspec.Struct):
    """A bid's signature as published once the auction has ended: enough to check it offline
    (``auctions.bid_signatures.verify_bid_signature``) with the bid's own fields."""

    kid: str
    algorithm: str
    value: str
    last_seq: int
    """The bidder's view of the auction when it bid, as it signed it."""
    public_key: str
    """The bidder's key, SubjectPublicKeyInfo DER in base64."""
    key_created_at: datetime
    """When the key was registered."""
    key_revoked_at: datetime | None = None
    """When the key was revoked, if it was: a bid accepted after it would show."""
    nonce_sha256: str | None = None
    """SHA-256 (hex) of the bid's nonce as signed (``bid_signatures.nonce_digest``); None: none."""


class BidView(msgspec.Struct):
    seq: int
    bid_number: str
    amount: str
    accepted_at: datetime
    phase: str
    quantity: str | None = None
    mine: bool | None = None
    signature: PublishedSignature | None = None
    """The bidder's signature of a signed bid, published once the auction has ended; its message is
    ``{context, listing_id, bidder_number, amount, quantity, idempotency_key, last_seq,
    nonce_sha256}`` (``auctions.bid_signatures.bid_message``)."""
    idempotency_key: str | None = None
    """Of a signed bid once the auction has ended: part of what the bidder signed."""


class AuctionView(msgspec.Struct):
    listing_id: int
    status: str
    method: str
    phase: str
    round: int | None
    current_price: str | None
    leading_bid_number: str | None
    next_min_bid: str | None
    ends_at: datetime | None
    server_time: datetime
    bid_count: int | None
    last_seq: int
    result: str | None = None
    seed_commitment: str | None = None
    closed_at: datetime | None = None
    """Once it ended: when its outcome was decided (a timed close's deadline)."""
    close_committed_at: datetime | None = None
    """Once it ended: when the close was committed (recorded since issue 19); the difference with
    ``closed_at`` is how late the exchange processed the deadline."""
    bid_signatures: str = "none"
    """Whether bids must (``required``) or may (``optional``) be signed by the bidder's registered
    key, or are not signed (``none``): ``auctions.bid_signatures``."""


def _money(value: Any) -> str | None:
    return format_yuan(value) if isinstance(value, int) else None


def provide_intake(state: State) -> Intake:
    intake: Intake = state.bid_intake
    return intake


async def broadcast(channels: ChannelsPlugin, listing_id: int, events: list[dict[str, Any]]) -> None:
    """Push feed events to the auction's watchers (``publish`` is the operator's 公告 of a listing)."""
    for event in events:
        await channels.wait_published(msgspec.json.encode(event), [auction_channel(listing_id)])


def counts_acceptances(auction: Auction) -> bool:
    """In a cap lottery's acceptance period the acceptances and the operator's events are
    private (``auctions.timing``): their rows, and the ``seq`` they take, would count the
    takers. Shown once an outcome is decided."""
    return auction.phase == "lottery" and auction.status not in ("closed", "failed")


async def last_public_seq(session: AsyncSession, auction: Auction) -> int:
    """Where a watcher's feed resumes: the last event it may see."""
    if not counts_acceptances(auction):
        return auction.last_seq
    query = select(func.max(AuctionEvent.seq)).where(
        AuctionEvent.listing_id == auction.listing_id, AuctionEvent.public.is_(True)
    )
    return int(await session.scalar(query) or 0)


def hides_bids(auction: Auction) -> bool:
    """Sealed quotes, and how many there are, stay hidden until an outcome is decided.

    Not only while open: a suspended auction is not closed, and a cancelled one never
    reveals what was quoted.
    """
    return mechanism_for(auction.method).sealed and auction.status not in ("closed", "failed")


async def auction_view(session: AsyncSession, listing_id: int) -> AuctionView:
    """The live state of an auction as anyone may see it (sealed auctions hide their count)."""
    auction = await session.get(Auction, listing_id)
    listing = await session.get(Listing, listing_id)
    if auction is None or listing is None:
        raise NotFound("no auction for this listing (bidding has not opened)")
    now = utcnow()
    # A suspended auction's clock stands still: show it as it was when it stopped.
    at = (await service.suspended_at(session, listing_id) or now) if auction.status == "suspended" else now
    view = mechanism_for(auction.method).view(params_of(listing), state_from_json(auction.state), at)
    sealed = hides_bids(auction)
    ended = auction.status in ("closed", "failed")
    return AuctionView(
        listing_id=listing_id,
        status=auction.status,
        method=auction.method,
        phase=str(view.get("phase", auction.phase)),
        round=view.get("round"),
        current_price=_money(view.get("current_price")),
        leading_bid_number=view.get("leading_bid_number"),
        next_min_bid=_money(view.get("next_min_bid")),
        ends_at=auction.ends_at if auction.status == "open" else None,
        server_time=now,
        bid_count=None if sealed else view.get("bid_count"),
        last_seq=0 if sealed else await last_public_seq(session, auction),
        result=view.get("result"),
        seed_commitment=listing.seed_commitment,
        closed_at=auction.closed_at if ended else None,
        close_committed_at=auction.close_committed_at if ended else None,
        bid_signatures=listing.bid_signatures,
    )


async def bid_history(session: AsyncSession, principal: Principal | None, listing_id: int) -> list[BidView]:
    """Accepted bids with bid numbers only; nothing of a sealed auction before its close."""
    auction = await session.get(Auction, listing_id)
    listing = await session.get(Listing, listing_id)
    if auction is None or listing is None:
        raise NotFound("no auction for this listing (bidding has not opened)")
    if hides_bids(auction):
        return []
    query = select(BidRow).where(BidRow.listing_id == listing_id)
    if counts_acceptances(auction):
        query = query.where(BidRow.phase != "lottery")
    rows = list((await session.execute(query.order_by(BidRow.seq))).scalars())
    me = principal.user_id if principal is not None and principal.role == "bidder" else None
    published = await published_signatures(session, auction, rows)
    return [
        BidView(
            seq=row.seq,
            bid_number=row.bid_number,
            amount=format_yuan(row.amount),
            accepted_at=row.accepted_at,
            phase=row.phase,
            quantity=from_units(listing.asset_class, row.quantity) if row.quantity is not None else None,
            mine=(row.bidder_id == me) if me is not None else None,
            signature=published.get(row.id),
            idempotency_key=row.idempotency_key if row.id in published else None,
        )
        for row in rows
    ]


async def published_signatures(
    session: AsyncSession, auction: Auction, rows: Sequence[BidRow]
) -> dict[int, PublishedSignature]:
    """The signatures of signed bids with their keys, by bid id, once the auction has ended.

    Not before: a signature's ``last_seq`` and the key would tell who bid while it runs.
    """
    if auction.status not in ("closed", "failed"):
        return {}
    signed = [row for row in rows if row.signature is not None]
    if not signed:
        return {}
    kids = {str(row.signature["kid"]) for row in signed if row.signature is not None}
    query = select(BidderKey).where(BidderKey.kid.in_(kids))
    keys = {key.kid: key for key in (await session.execute(query)).scalars()}
    found: dict[int, PublishedSignature] = {}
    for row in signed:
        block = row.signature or {}
        key = keys.get(str(block.get("kid")))
        if key is not None:
            digest = block.get("nonce_sha256")
            found[row.id] = PublishedSignature(
                kid=str(block["kid"]),
                algorithm=str(block["algorithm"]),
                value=str(block["value"]),
                last_seq=int(block["last_seq"]),
                public_key=key.public_key,
                key_created_at=key.created_at,
                key_revoked_at=key.revoked_at,
                nonce_sha256=str(digest) if digest is not None else None,
            )
    return found


class AuctionController(Controller):
    path = "/api/v1/auctions"
    tags = ["auctions"]
    dependencies = {"intake": Provide(provide_intake, sync_to_thread=False)}

    @get(
        "/{listing_id:int}",
        operation_id="getAuction",
        summary="Live state of an auction with the server time",
    )
    async def auction(self, session: Session, listing_id: ListingId) -> AuctionView:
        return await auction_view(session, listing_id)

    @post(
        "/{listing_id:int}/bids",
        operation_id="placeBid",
        guards=[requires("bidder")],
        summary="Place a bid (qualified bidders); Idempotency-Key required",
    )
    async def bid(
        self,
        data: JSONBody[BidIn],
        user: CurrentUser,
        intake: NamedDependency[Intake],
        listing_id: ListingId,
        idempotency_key: Annotated[
            str, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=100)
        ],
    ) -> Response[BidAccepted | SealedBidAccepted]:
        """The usual request never gets here: ``auctions.lane`` takes it first (same ``Intake``)."""
        accepted, status = await intake.bid(user, listing_id, data, idempotency_key)
        return Response(accepted, status_code=status)

    @get(
        "/{listing_id:int}/bids",
        operation_id="listBids",
        summary="Bid history with bid numbers only; sealed mechanisms show nothing until the close",
    )
    async def bids(self, session: Session, principal: MaybeUser, listing_id: ListingId) -> list[BidView]:
        return await bid_history(session, principal, listing_id)
