"""The imperative shell around the mechanisms: one transaction per bid or timer.

A bid: lock the auction row, take ``now`` after the lock, run the mechanism,
append its events with gapless sequence numbers, store the new state and the
audit entry, commit — and only then publish. A bid after the deadline is
refused by the mechanism even if no timer has closed the auction yet.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.mechanisms import (
    Bid,
    Event,
    Mechanism,
    Params,
    Rejection,
    State,
    Step,
    event_to_json,
    mechanism_for,
    outcome_to_json,
    state_from_json,
    state_to_json,
)
from auctions.models import Auction, AuctionEvent, BidRow
from auctions.params import params_of
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, ExchangeError, Forbidden, NotFound, Unauthenticated
from exchange.identity.standing import Standing, check_standing, standing_of
from exchange.identity.tokens import Principal, TokenError
from exchange.money import format_yuan
from listings.applications_models import Application
from listings.models import Listing

# Contract status codes of the mechanisms' rejections.
REJECTION_STATUS = {
    "auction_not_open": 409,
    "already_leading": 409,
    "already_bid": 409,
    "not_qualified": 403,
    "bid_below_minimum": 422,
    "bid_not_on_increment": 422,
    "bid_above_cap": 422,
    "quantity_invalid": 422,
    "price_mismatch": 422,
}


@dataclass(frozen=True)
class Accepted:
    """Plain values: they outlive the session that produced them."""

    bid_id: int
    seq: int
    amount: int
    quantity: int | None
    accepted_at: datetime
    ends_at: datetime | None
    events: list[dict[str, Any]]
    replayed: bool = False
    deadline_moved: bool = False
    asset_class: str = ""
    receipt: int | None = None
    """A sealed quote's answer: an opaque id in place of ``bid_id`` and ``seq`` (``sealed_receipt``)."""


def sealed_receipt(params: Params, bid_id: int) -> int | None:
    """The id a sealed quote is acknowledged with, or ``None`` for an open auction's bid.

    ``bid_id`` counts every bid of every auction and ``seq`` every event of this one, so
    either would tell a sealed bidder how many quotes came before its own. The receipt
    is a keyed hash of the bid's id under the listing's secret seed (revealed only with
    the result): the same for every replay, meaningless to anyone else.
    """
    if not mechanism_for(params.method).sealed:
        return None
    digest = hmac.new(params.seed or b"", f"bid:{bid_id}".encode(), hashlib.sha256).hexdigest()
    return int(digest[:13], 16) + 1  # 52 bits: JavaScript reads it exactly


def _accepted(
    bid: BidRow,
    ends_at: datetime | None,
    events: list[dict[str, Any]],
    replayed: bool,
    params: Params,
    asset_class: str,
    moved: bool = False,
) -> Accepted:
    return Accepted(
        bid.id,
        bid.seq,
        bid.amount,
        bid.quantity,
        bid.accepted_at,
        ends_at,
        events,
        replayed,
        moved,
        asset_class,
        sealed_receipt(params, bid.id),
    )


def body_digest(amount: int, quantity: int | None) -> str:
    return hashlib.sha256(f"{amount}:{quantity}".encode()).hexdigest()


MONEY_KEYS = ("amount", "price", "current_price", "next_min_bid")


def public_event(row: AuctionEvent, server_time: datetime) -> dict[str, Any]:
    """A feed event: the log's sequence number, money as yuan strings, bid numbers only."""
    return public_fields(row.seq, row.kind, row.data, row.at, server_time)


def public_fields(
    seq: int, kind: str, stored: dict[str, Any], at: datetime, server_time: datetime
) -> dict[str, Any]:
    data = {k: v for k, v in stored.items() if k != "seq"}
    for key in MONEY_KEYS:
        if isinstance(data.get(key), int):
            data[key] = format_yuan(data[key])
    return {
        **data,
        "seq": seq,
        "kind": kind,
        "at": at.isoformat(),
        "server_time": server_time.isoformat(),
    }


async def record_events(
    session: AsyncSession, auction: Auction, events: Sequence[Event], now: datetime
) -> list[AuctionEvent]:
    """Append the mechanism's events with the next sequence numbers (caller holds the row lock)."""
    rows = []
    for event in events:
        auction.last_seq += 1
        data = event_to_json(event)
        payload = (
            {k: v for k, v in data.items() if k not in ("kind", "at", "public")}
            if isinstance(data, dict)
            else {}
        )
        rows.append(
            AuctionEvent(
                listing_id=auction.listing_id,
                seq=auction.last_seq,
                kind=event.kind,
                data=payload.get("data", payload),
                public=event.public,
                at=event.at,
            )
        )
    session.add_all(rows)
    return rows


def _apply_state(auction: Auction, step: Step) -> None:
    state = step.state
    auction.state = state_to_json(state)
    auction.phase = state.phase
    auction.ends_at = state.ends_at
    auction.bid_count = state.bid_count
    if state.outcome is not None:
        auction.status = (state.outcome.status == "sold" and "closed") or "failed"
        auction.outcome = outcome_to_json(state.outcome)
        auction.closed_at = state.outcome.decided_at
        auction.ends_at = None


async def lock_auction(session: AsyncSession, listing_id: int) -> Auction:
    query = select(Auction).where(Auction.listing_id == listing_id).with_for_update()
    auction = (await session.execute(query)).scalar_one_or_none()
    if auction is None:
        raise NotFound("no auction for this listing (bidding has not opened)")
    return auction


async def qualified_numbers(session: AsyncSession, listing_id: int) -> set[str]:
    query = select(Application.bid_number).where(
        Application.listing_id == listing_id, Application.status == "qualified"
    )
    return {n for n in (await session.execute(query)).scalars() if n}


async def open_auction(session: AsyncSession, listing: Listing, now: datetime) -> Auction:
    """The lifecycle hook: bidding opens with the bidders qualified at this instant."""
    existing = await session.get(Auction, listing.id)
    if existing is not None:
        return existing
    mechanism = mechanism_for(listing.method)
    step = mechanism.open(params_of(listing), await qualified_numbers(session, listing.id), now)
    auction = Auction(
        listing_id=listing.id,
        method=listing.method,
        status="open",
        phase=step.state.phase,
        state={},
        last_seq=0,
        bid_count=0,
        opened_at=now,
    )
    session.add(auction)
    await session.flush()
    await record_events(session, auction, step.events, now)
    _apply_state(auction, step)
    await append(
        session, listing.stream, "system", "auction.opened", {"qualified": sorted(step.state.qualified)}
    )
    if auction.status in ("closed", "failed"):
        await _finish_listing(session, listing, auction)
    return auction


async def _finish_listing(session: AsyncSession, listing: Listing, auction: Auction) -> None:
    target = "closed" if auction.status == "closed" else "failed"
    await session.execute(
        update(Listing)
        .where(Listing.id == listing.id, Listing.status == "bidding")
        .values(status=target, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    closing = await append(
        session, listing.stream, "system", f"auction.{target}", {"outcome": auction.outcome}
    )
    auction.close_head = closing.hash


async def bid_number_of(session: AsyncSession, listing_id: int, bidder_id: int) -> str:
    query = select(Application.bid_number).where(
        Application.listing_id == listing_id,
        Application.bidder_id == bidder_id,
        Application.status == "qualified",
    )
    number = (await session.execute(query)).scalar_one_or_none()
    if not number:
        raise Forbidden("only qualified bidders of this listing may bid", code="not_qualified")
    return number


async def _previous_bid(
    session: AsyncSession, listing_id: int, bidder_id: int, key: str, digest: str
) -> BidRow | None:
    query = select(BidRow).where(
        BidRow.listing_id == listing_id, BidRow.bidder_id == bidder_id, BidRow.idempotency_key == key
    )
    previous = (await session.execute(query)).scalar_one_or_none()
    if previous is not None and previous.body_sha256 != digest:
        raise Conflict("this Idempotency-Key was used with another body", code="idempotency_conflict")
    return previous


def rejected(rejection: Rejection, method: str, params: Params, state: State, now: datetime) -> ExchangeError:
    """A mechanism's rejection as the API's error. An open auction that shows its price
    (not a sealed one) says the price to beat, as ``GET /auctions/{id}`` would: a bidder's
    software needs no second request to try again."""
    status = REJECTION_STATUS.get(rejection.code, 422)
    mechanism = mechanism_for(method)
    if mechanism.sealed:
        return ExchangeError(rejection.detail, code=rejection.code, status=status)
    view = mechanism.view(params, state, now)
    error = ExchangeError(rejection.detail, code=rejection.code, status=status)
    error.extra = {key: format_yuan(v) for key in PRICE_KEYS if isinstance(v := view.get(key), int)}
    return error


PRICE_KEYS = ("current_price", "next_min_bid")


def checked_standing(bidder: Principal, standing: Standing | None) -> None:
    """``exchange.identity.standing.check_standing`` as the API's 401, worded as the guards word it."""
    try:
        check_standing(bidder, standing)
    except TokenError as exc:
        raise Unauthenticated(exc.message, code=exc.code) from exc


def not_open(status: str) -> ExchangeError:
    return ExchangeError(f"the auction is {status}", code="auction_not_open", status=409)


async def place_bid_orm(
    session: AsyncSession,
    listing_id: int,
    bidder: Principal,
    amount: int,
    quantity: int | None,
    idempotency_key: str,
) -> Accepted:
    """The general path of `place_bid`: every case, through the ORM, one statement at a time."""
    bidder_id = bidder.user_id
    checked_standing(bidder, await standing_of(session, bidder_id))
    try:
        number = await bid_number_of(session, listing_id, bidder_id)
    except Forbidden:
        # settlement closes the applications at the close: say the auction is over
        status = await session.scalar(select(Auction.status).where(Auction.listing_id == listing_id))
        if status is None or status == "open":
            raise
        await session.rollback()
        raise not_open(status) from None
    digest = body_digest(amount, quantity)
    auction = await lock_auction(session, listing_id)
    previous = await _previous_bid(session, listing_id, bidder_id, idempotency_key, digest)
    listing = await session.get(Listing, listing_id)
    assert listing is not None
    if previous is not None:
        replay = _accepted(previous, auction.ends_at, [], True, params_of(listing), listing.asset_class)
        await session.rollback()
        return replay
    now = utcnow()  # after the lock: the bid's time and the deadline check are one instant
    if auction.status != "open":
        status = auction.status
        await session.rollback()
        raise not_open(status)
    mechanism = mechanism_for(auction.method)
    params, state = params_of(listing), state_from_json(auction.state)
    result = mechanism.accept(params, state, Bid(number, amount, quantity), now)
    if isinstance(result, Rejection):
        await session.rollback()
        raise rejected(result, auction.method, params, state, now)
    deadline_before = auction.ends_at
    rows = await record_events(session, auction, result.events, now)
    bid_event = next((r for r in rows if r.kind == "bid"), None)
    if bid_event is None:  # the bid was a lottery opt-in or a dutch accept that ended the clock
        bid_event = rows[-1]
    bid = BidRow(
        listing_id=listing_id,
        seq=bid_event.seq,
        bidder_id=bidder_id,
        bid_number=number,
        amount=amount,
        quantity=quantity,
        phase=str(bid_event.data.get("phase", auction.phase)),
        accepted_at=now,
        idempotency_key=idempotency_key,
        body_sha256=digest,
    )
    session.add(bid)
    _apply_state(auction, result)
    await append(
        session,
        listing.stream,
        f"user:{bidder_id}",
        "bid.accepted",
        {"seq": bid.seq, "bid_number": number, "amount": amount, "quantity": quantity, "at": now.isoformat()},
        at=now,
    )
    if auction.status in ("closed", "failed"):
        await _finish_listing(session, listing, auction)
    await session.commit()
    events = [public_event(r, now) for r in rows if r.public]
    moved = auction.ends_at != deadline_before
    return _accepted(bid, auction.ends_at, events, False, params, listing.asset_class, moved)


@dataclass(frozen=True)
class Fired:
    status: str | None
    ends_at: datetime | None
    events: list[dict[str, Any]]


async def fire(session: AsyncSession, listing_id: int) -> Fired:
    """A timer woke us: process every deadline due now; closing is conditional on being open."""
    query = select(Auction).where(Auction.listing_id == listing_id).with_for_update()
    auction = (await session.execute(query)).scalar_one_or_none()
    if auction is None or auction.status != "open":
        result = Fired(auction.status if auction else None, None, [])
        await session.rollback()
        return result
    now = utcnow()
    listing = await session.get(Listing, listing_id)
    assert listing is not None
    mechanism: Mechanism = mechanism_for(auction.method)
    step = mechanism.on_timer(params_of(listing), state_from_json(auction.state), now)
    if not step.events and step.state.ends_at == auction.ends_at:
        result = Fired(auction.status, auction.ends_at, [])
        await session.rollback()
        return result
    rows = await record_events(session, auction, step.events, now)
    _apply_state(auction, step)
    if auction.status in ("closed", "failed"):
        await _finish_listing(session, listing, auction)
    await session.commit()
    return Fired(auction.status, auction.ends_at, [public_event(r, now) for r in rows if r.public])


async def suspended_at(session: AsyncSession, listing_id: int) -> datetime | None:
    """When the auction was last suspended (its clock stopped), if ever."""
    query = (
        select(AuctionEvent.at)
        .where(AuctionEvent.listing_id == listing_id, AuctionEvent.kind == "suspended")
        .order_by(AuctionEvent.seq.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()
