"""The imperative shell around the mechanisms: opening an auction, its timers, its events.

Bids are placed through a bid store (``auctions.stores``); what they share with
the rest lives here: the auction's gapless event log, its state column, and the
close that finishes the listing. A timer locks the auction row, takes ``now``
after the lock, runs the mechanism and commits, and only then are the events
broadcast.

Whichever path closes an auction (a timer, a bid that reaches the cap, a late
admission, an opening with nobody qualified), the close's transaction stamps
``close_committed_at`` just before it commits, and once it has committed the
lateness (commit time minus deadline) goes to ``exchange_close_lateness_seconds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from auctions.decision import StoredEvent, numbered
from auctions.mechanisms import (
    AuctionState,
    BidderTerms,
    Event,
    Mechanism,
    mechanism_for,
    outcome_to_json,
    state_from_json,
    state_to_json,
)
from auctions.models import Auction, AuctionEvent
from auctions.terms import params_of
from exchange.audit.chain import append, append_each
from exchange.clock import utcnow
from exchange.identity.groups import group_key
from exchange.identity.models import User
from exchange.metrics import TIMER_LATENESS
from exchange.money import format_yuan
from listings.applications_models import Application
from listings.hooks import DepositQuery
from listings.models import Listing

MONEY_KEYS = ("amount", "price", "current_price", "next_min_bid")
YIELD_EVERY = 10
"""Closes ``fire_many`` decides before it lets other tasks run."""


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
    return store_events(session, auction, numbered(events, auction.last_seq))


def store_events(
    session: AsyncSession, auction: Auction, events: Sequence[StoredEvent]
) -> list[AuctionEvent]:
    """Add numbered events (``auctions.decision.numbered``) to the session and the auction's count."""
    rows = [
        AuctionEvent(
            listing_id=auction.listing_id, seq=e.seq, kind=e.kind, data=e.data, public=e.public, at=e.at
        )
        for e in events
    ]
    if rows:
        auction.last_seq = rows[-1].seq
    session.add_all(rows)
    return rows


def apply_state(auction: Auction, state: AuctionState) -> None:
    auction.state = state_to_json(state)
    auction.phase = state.phase
    auction.ends_at = state.ends_at
    auction.bid_count = state.bid_count
    if state.outcome is not None:
        auction.status = (state.outcome.status == "sold" and "closed") or "failed"
        auction.outcome = outcome_to_json(state.outcome)
        auction.closed_at = state.outcome.decided_at
        auction.ends_at = None


async def qualified_numbers(session: AsyncSession, listing_id: int) -> set[str]:
    query = select(Application.bid_number).where(
        Application.listing_id == listing_id, Application.status == "qualified"
    )
    return {n for n in (await session.execute(query)).scalars() if n}


async def entering_terms(
    session: AsyncSession,
    listing_id: int,
    entering: Collection[str],
    inside: AuctionState | None,
    deposit_paid: DepositQuery,
) -> dict[str, BidderTerms]:
    """The terms the bid numbers ``entering`` the auction bid under from now on: the deposit their
    application has paid by now, and their group's label.

    A group's label is the lowest bid number of its members: the members ``inside`` keep theirs,
    and a newcomer whose group (as declared now) already has a member inside takes that label.
    A bid number is no identity, so the state links none to a company.
    """
    query = (
        select(Application.id, Application.bid_number, User)
        .join(User, User.id == Application.bidder_id)
        .where(Application.listing_id == listing_id, Application.status == "qualified")
    )
    rows = {number: (application_id, user) for application_id, number, user in await session.execute(query)}
    labels: dict[str, str] = {}
    for member in inside.terms if inside is not None else ():
        if member.bidder in rows:
            labels.setdefault(group_key(rows[member.bidder][1]), member.group)
    terms = {}
    for number in sorted(entering):
        application_id, user = rows[number]
        label = labels.setdefault(group_key(user), number)
        terms[number] = BidderTerms(number, label, await deposit_paid(session, application_id))
    return terms


async def open_auction(
    session: AsyncSession, listing: Listing, now: datetime, deposit_paid: DepositQuery
) -> tuple[Auction, list[AuctionEvent]]:
    """The lifecycle hook: bidding opens with the bidders qualified at this instant (with their
    terms, where the mechanism reads them); the auction and the events of its opening."""
    existing = await session.get(Auction, listing.id)
    if existing is not None:
        return existing, []
    mechanism = mechanism_for(listing.method)
    qualified = await qualified_numbers(session, listing.id)
    terms = (
        await entering_terms(session, listing.id, qualified, None, deposit_paid)
        if mechanism.bidder_terms
        else {}
    )
    step = mechanism.open(params_of(listing), qualified, now, terms)
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
    rows = await record_events(session, auction, step.events, now)
    apply_state(auction, step.state)
    opened: dict[str, Any] = {"qualified": sorted(step.state.qualified)}
    if step.state.terms:
        opened["terms"] = [asdict(t) for t in step.state.terms]
    await append(session, listing.stream, "system", "auction.opened", opened)
    if auction.status in ("closed", "failed"):
        await finish_listing(session, listing, auction)
    return auction, rows


async def admit(
    session: AsyncSession, listing: Listing, bid_number: str, deposit_paid: DepositQuery
) -> tuple[Auction | None, list[AuctionEvent]]:
    """A bidder who qualified while bidding runs joins the auction (挂牌 with late registration).

    The caller holds the listing's lock and, through ``ListingHooks.lock_auction``, the auction's;
    the instant is taken now, as a bid's is. Only an open auction admits: a suspended one admits
    its new bidders when it resumes (``AuctionClock.on_resumed``), after its clock has moved by
    the pause. Deadlines due by now are processed first, so the events returned may close it.

    The admission is written to the audit log (``auction.admitted``), where ``audit replay``
    finds it, not to the auction's events: every event takes the next ``seq``, and a gap in the
    public sequence would count the bidders.
    """
    auction = await session.get(Auction, listing.id, with_for_update=True)
    if auction is None or auction.status != "open":
        return auction, []
    now = utcnow()
    before = state_from_json(auction.state)
    mechanism = mechanism_for(auction.method)
    terms = (
        (await entering_terms(session, listing.id, [bid_number], before, deposit_paid))[bid_number]
        if mechanism.bidder_terms
        else None
    )
    step = mechanism.admit(params_of(listing), before, bid_number, now, terms)
    rows = await record_events(session, auction, step.events, now)
    apply_state(auction, step.state)
    if bid_number in step.state.qualified and bid_number not in before.qualified:
        admitted: dict[str, Any] = {"bid_number": bid_number, "at": now.isoformat()}
        if terms is not None:
            admitted["terms"] = asdict(terms)
        await append(session, listing.stream, "system", "auction.admitted", admitted)
    if auction.status in ("closed", "failed"):
        await finish_listing(session, listing, auction)
    return auction, rows


async def finish_listing(session: AsyncSession, listing: Listing, auction: Auction) -> None:
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
    session.sync_session.info.setdefault(_CLOSED_HERE, []).append(auction)


async def finish_listings(session: AsyncSession, closed: Sequence[tuple[Listing, Auction]]) -> None:
    """``finish_listing`` for many lots in a few statements: one update per target status, one
    audit append for all (``append_each``)."""
    now = utcnow()
    for target in ("closed", "failed"):
        ids = [listing.id for listing, auction in closed if auction.status == target]
        if ids:
            await session.execute(
                update(Listing)
                .where(Listing.id.in_(ids), Listing.status == "bidding")
                .values(status=target, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    entries = [
        (listing.stream, "system", f"auction.{auction.status}", {"outcome": auction.outcome})
        for listing, auction in closed
    ]
    for (_, auction), entry in zip(closed, await append_each(session, entries, at=now), strict=True):
        auction.close_head = entry.hash
    session.sync_session.info.setdefault(_CLOSED_HERE, []).extend(auction for _, auction in closed)


_CLOSED_HERE = "auctions.closed_in_transaction"
"""Session info: the auctions this session's transaction closes, stamped when it commits."""


# The stamp is taken in before_commit, which the session flushes after: the commit's own
# round trip is all that separates it from the commit. A savepoint's release fires the event too;
# only the outermost commit's stamp stays.
@event.listens_for(Session, "before_commit")
def _stamp_commit_time(session: Session) -> None:
    closed = session.info.get(_CLOSED_HERE)
    if closed and not session.in_nested_transaction():
        now = utcnow()
        for auction in closed:
            auction.close_committed_at = now


@event.listens_for(Session, "after_commit")
def _observe_lateness(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for auction in session.info.pop(_CLOSED_HERE, ()):
        if auction.closed_at is not None and auction.close_committed_at is not None:
            TIMER_LATENESS.observe((auction.close_committed_at - auction.closed_at).total_seconds())


@event.listens_for(Session, "after_rollback")
def _forget_closes(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_CLOSED_HERE, None)


@dataclass(frozen=True)
class Fired:
    status: str | None
    ends_at: datetime | None
    events: list[dict[str, Any]]


BroadcastAfterCommit = Callable[[AsyncSession, int, Sequence[AuctionEvent]], None]
"""Hands the events a session wrote to the watchers once it commits
(``AuctionClock._broadcast_after_commit``)."""


async def fire(session: AsyncSession, listing_id: int, broadcast: BroadcastAfterCommit) -> Fired:
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
    broadcast(session, listing_id, rows)
    apply_state(auction, step.state)
    if auction.status in ("closed", "failed"):
        await finish_listing(session, listing, auction)
    await session.commit()
    return Fired(auction.status, auction.ends_at, [public_event(r, now) for r in rows if r.public])


async def fire_many(
    session: AsyncSession, listing_ids: Collection[int], broadcast: BroadcastAfterCommit
) -> dict[int, Fired]:
    """``fire`` for many lots in one transaction, so that a storm of closes shares its round trips.

    The listings' rows are locked first, then the auctions', each in id order, as every writer of a
    listing takes them; a row another transaction holds is skipped (``SKIP LOCKED``) rather than
    waited for, so one busy lot does not hold up the rest. Lots skipped are left out of the
    answer: the caller fires those one by one (``fire``), under their locks; a lot no longer open
    is answered as ``fire`` answers it.
    """
    ids = sorted(set(listing_ids))
    # NO KEY UPDATE: still exclusive against every other writer of a listing, but rows that only
    # reference the listing (documents, ledger accounts) are not held up by the close
    locked = (
        select(Listing)
        .where(Listing.id.in_(ids))
        .order_by(Listing.id)
        .with_for_update(skip_locked=True, key_share=True)
    )
    listings = {listing.id: listing for listing in (await session.execute(locked)).scalars()}
    query = (
        select(Auction)
        .where(Auction.listing_id.in_(sorted(listings)))
        .order_by(Auction.listing_id)
        .with_for_update(skip_locked=True)
    )
    auctions = list((await session.execute(query)).scalars())
    now = utcnow()
    fired: dict[int, Fired] = {}
    closed: list[tuple[Listing, Auction]] = []
    for n, auction in enumerate(auctions, 1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # a bid on another lot gets the loop between a few closes
        if auction.status != "open":  # closed meanwhile (another instance): nothing to fire again
            fired[auction.listing_id] = Fired(auction.status, None, [])
            continue
        listing = listings[auction.listing_id]
        step = mechanism_for(auction.method).on_timer(params_of(listing), state_from_json(auction.state), now)
        if not step.events and step.state.ends_at == auction.ends_at:
            fired[auction.listing_id] = Fired(auction.status, auction.ends_at, [])
            continue
        rows = await record_events(session, auction, step.events, now)
        broadcast(session, auction.listing_id, rows)
        apply_state(auction, step.state)
        if auction.status in ("closed", "failed"):
            closed.append((listing, auction))
        fired[auction.listing_id] = Fired(
            auction.status, auction.ends_at, [public_event(r, now) for r in rows if r.public]
        )
    await finish_listings(session, closed)
    await session.commit()
    return fired


async def suspended_at(session: AsyncSession, listing_id: int) -> datetime | None:
    """When the auction was last suspended (its clock stopped), if ever."""
    query = (
        select(AuctionEvent.at)
        .where(AuctionEvent.listing_id == listing_id, AuctionEvent.kind == "suspended")
        .order_by(AuctionEvent.seq.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()
