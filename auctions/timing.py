"""Auction timers (APScheduler): the deadline lives in the database, a job only wakes us.

One job per auction, at the mechanism's next deadline. When it fires it
re-reads the row under lock (``service.fire``): if a late bid moved the
deadline it just re-arms, if the auction is already closed it does nothing.
A sweep every second catches anything a job missed (another instance took
the bid, this instance restarted), and at start-up every open auction is
re-armed from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auctions import service
from auctions.mechanisms import Event, mechanism_for, state_from_json, state_to_json
from auctions.mechanisms.pause import paused_state
from auctions.models import Auction, AuctionEvent
from exchange.after_commit import after_commit
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.scheduling import Timers
from listings.applications_models import Application
from listings.hooks import DepositQuery
from listings.models import Listing

log = logging.getLogger("auctions.timing")

Broadcast = Callable[[int, Sequence[dict[str, Any]]], Awaitable[None]]
OnClosed = Callable[[int], Awaitable[None]]
SWEEP_SECONDS = 1.0


def _public_seq(auction: Auction) -> bool:
    """Events of a sealed auction stay private until the close: their ``seq`` would count the
    quotes. So do those of a cap lottery's acceptance period: theirs would count the takers."""
    return not mechanism_for(auction.method).sealed and auction.phase != "lottery"


class AuctionClock:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        timers: Timers,
        broadcast: Broadcast,
        deposit_paid: DepositQuery,
        on_closed: OnClosed | None = None,
    ) -> None:
        self._sessions = sessions
        self._deposit_paid = deposit_paid  # a uniform-price bidder's guarantee (settlement answers)
        self._timers = timers
        self._broadcast = broadcast
        self._on_closed = on_closed

    def arm(self, listing_id: int, when: datetime | None) -> None:
        job = f"auction:{listing_id}"
        if when is None:
            self._timers.cancel(job)
        else:
            self._timers.at(job, when, self.fire, listing_id)

    async def fire(self, listing_id: int) -> None:
        try:
            async with self._sessions() as session:
                fired = await service.fire(session, listing_id, self._broadcast_after_commit)
        except Exception:
            log.exception("auction %s timer failed; the sweep will retry", listing_id)
            return
        if fired.status == "open":
            self.arm(listing_id, fired.ends_at)
        elif fired.events and self._on_closed is not None:  # this call closed it: settle now
            await self._on_closed(listing_id)

    async def sweep(self) -> None:
        async with self._sessions() as session:
            query = select(Auction.listing_id).where(Auction.status == "open", Auction.ends_at <= utcnow())
            due = list((await session.execute(query)).scalars())
        for listing_id in due:
            await self.fire(listing_id)

    async def rearm_all(self) -> int:
        async with self._sessions() as session:
            query = select(Auction.listing_id, Auction.ends_at).where(Auction.status == "open")
            rows = (await session.execute(query)).all()
        for listing_id, ends_at in rows:
            self.arm(listing_id, ends_at)
        return len(rows)

    async def start(self) -> None:
        log.info("re-armed %d auction timers", await self.rearm_all())
        self._timers.every("auctions:sweep", SWEEP_SECONDS, self.sweep)

    async def on_bidding_open(self, session: AsyncSession, listing: Listing, now: datetime) -> None:
        """Lifecycle hook: create the auction in the listing's transaction.

        The timer is armed before the commit; should the commit fail, the job
        finds no auction and does nothing.
        """
        auction, rows = await service.open_auction(session, listing, now, self._deposit_paid)
        self._broadcast_after_commit(session, listing.id, rows)
        self.arm(listing.id, auction.ends_at if auction.status == "open" else None)

    async def lock_auction(self, session: AsyncSession, listing: Listing, now: datetime) -> None:
        """Listing hook: lock the auction's row, if it has one, before the listing's audit head is taken."""
        await session.get(Auction, listing.id, with_for_update=True)

    async def on_qualified(self, session: AsyncSession, application: Application, now: datetime) -> None:
        """Registration hook: a bidder qualified while the auction runs joins it (late registration)."""
        listing = await session.get(Listing, application.listing_id)
        if listing is None or listing.status != "bidding" or application.bid_number is None:
            return
        auction, rows = await service.admit(session, listing, application.bid_number, self._deposit_paid)
        self._broadcast_after_commit(session, listing.id, rows)
        if auction is not None and rows:
            self.arm(listing.id, auction.ends_at if auction.status == "open" else None)

    async def on_cancelled(self, session: AsyncSession, listing: Listing, now: datetime) -> None:
        """终止: the auction ends without an outcome, and its watchers are told at once."""
        auction = await session.get(Auction, listing.id, with_for_update=True)
        if auction is not None and auction.status in ("open", "suspended"):
            auction.status = "cancelled"
            auction.ends_at = None
            cancelled = Event(
                "cancelled", now, {"reason": listing.status_reason}, public=_public_seq(auction)
            )
            self._broadcast_after_commit(
                session, listing.id, await service.record_events(session, auction, [cancelled], now)
            )
        self.arm(listing.id, None)

    async def on_suspended(self, session: AsyncSession, listing: Listing, now: datetime) -> None:
        """中止: no bids and no timers until the operator resumes; the pause starts now."""
        auction = await session.get(Auction, listing.id, with_for_update=True)
        if auction is not None and auction.status == "open":
            auction.status = "suspended"
            suspended = Event("suspended", now, public=_public_seq(auction))
            self._broadcast_after_commit(
                session, listing.id, await service.record_events(session, auction, [suspended], now)
            )
        self.arm(listing.id, None)

    async def on_resumed(self, session: AsyncSession, listing: Listing, now: datetime) -> None:
        """The clock goes on where it stopped: every time of the auction moves by the pause.

        The listing's bidding dates move too, since the terms (the dutch clock,
        the listing's freeze) count from them; the audit log records the pause
        so that ``exchange audit replay`` applies it at the same point.
        """
        auction = await session.get(Auction, listing.id, with_for_update=True)
        if auction is None or auction.status != "suspended":
            return
        pause = now - (await service.suspended_at(session, listing.id) or now)
        state = paused_state(state_from_json(auction.state), pause)
        if listing.registration_closes_at > listing.bidding_opens_at:
            # registration running into the listing period gets its time back too (and stays late)
            listing.registration_closes_at += pause
        listing.bidding_opens_at += pause
        listing.bidding_closes_at += pause
        auction.state = state_to_json(state)
        auction.ends_at = state.ends_at
        auction.status = "open"
        ends_at = None if state.ends_at is None else state.ends_at.isoformat()
        resumed = Event(
            "resumed",
            now,
            {"ends_at": ends_at, "paused_seconds": pause.total_seconds()},
            public=_public_seq(auction),
        )
        self._broadcast_after_commit(
            session, listing.id, await service.record_events(session, auction, [resumed], now)
        )
        pause_us = pause // timedelta(microseconds=1)
        await append(
            session, listing.stream, "system", "auction.resumed", {"pause_us": pause_us, "ends_at": ends_at}
        )
        # bidders who qualified while it was suspended join now, on the moved clock
        for number in sorted(await service.qualified_numbers(session, listing.id) - set(state.qualified)):
            _, rows = await service.admit(session, listing, number, self._deposit_paid)
            self._broadcast_after_commit(session, listing.id, rows)
        self.arm(listing.id, auction.ends_at if auction.status == "open" else None)

    def _broadcast_after_commit(
        self, session: AsyncSession, listing_id: int, rows: Sequence[AuctionEvent]
    ) -> None:
        """Push the public events this session wrote to the watchers, once its transaction commits.

        The one way auction events leave a session (timers, openings, an operator's
        suspension, resumption or cancellation inside the operator's transaction): a
        watcher told of an event the database does not hold would resume from a ``seq``
        that never existed. A bid's events leave the same way in effect: the intake
        pushes them when the bid store has returned, after its commit.
        """
        public = [row for row in rows if row.public]

        async def push() -> None:
            await self._broadcast(listing_id, [service.public_event(row, utcnow()) for row in public])

        if public:
            after_commit(session, push)
