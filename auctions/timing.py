"""Auction timers (APScheduler): the deadline lives in the database, a job only wakes us.

One job per auction, at the mechanism's next deadline. When it fires it
re-reads the row under lock (``service.fire``): if a late bid moved the
deadline it just re-arms, if the auction is already closed it does nothing.
A sweep every second catches anything a job missed (another instance took
the bid, this instance restarted), and at start-up every open auction is
re-armed from the database.

A storm of closes (a thousand lots sharing one deadline) must not make the
last lot late. So a close is only the close:

- lots due together close together: the first of their fires to get a place
  takes up to ``BATCH`` lots still waiting into one transaction
  (``service.fire_many``), sharing its round trips; a lot the batch leaves out
  (its row busy elsewhere) is fired alone, as is a lone lot;
- at most as many closes run at once as the ORM pool holds (more would only
  queue for connections), and a lot whose fire is already queued or running
  here is not fired again (by its job and the sweep);
- settling (several times a close's work) waits until no close is pending on
  this instance, in a bounded queue one worker drains; a lone close settles at
  once, as before. The settlement sweep (``settlement.closing.sweep``) settles
  whatever a crash or a full queue left, so nothing depends on the queue.

Exactly once still rests on the row lock and the state check: another
instance's batch skips the rows this one holds and fires those lots alone,
under their locks, finding them closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

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
BATCH = 50
"""Lots closed in one transaction at most: enough to share the round trips, few enough that a
batch holds its rows for milliseconds."""
SETTLE_QUEUE = 10_000
"""Closed lots waiting to be settled; beyond it the settlement sweep settles them."""
NULL_POOL_CLOSES = 4
"""Closes at once on PostgreSQL without a pool (a connection per checkout, the test suite's)."""


def close_concurrency(sessions: async_sessionmaker[AsyncSession]) -> int:
    """How many closes may run at once: the ORM pool's size (``EXCHANGE_DATABASE_POOL_SIZE``; its
    overflow stays for requests), one on SQLite, whose writers take turns anyway."""
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name == "sqlite":
        return 1
    pool = bind.pool
    return max(1, pool.size()) if isinstance(pool, QueuePool) else NULL_POOL_CLOSES


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
        self._closes = asyncio.Semaphore(close_concurrency(sessions))
        self._firing: set[int] = set()
        """Lots whose fire is queued or running on this instance."""
        self._untaken: dict[int, asyncio.Future[service.Fired | None]] = {}
        """Lots whose fire waits for a place among the closes and that no batch has taken yet."""
        self._idle = asyncio.Event()
        """Set while no fire is queued or running: the settlement worker's turn."""
        self._idle.set()
        self._to_settle: deque[int] = deque()
        self._settler: asyncio.Task[None] | None = None

    def arm(self, listing_id: int, when: datetime | None) -> None:
        job = f"auction:{listing_id}"
        if when is None:
            self._timers.cancel(job)
        else:
            self._timers.at(job, when, self.fire, listing_id)

    async def fire(self, listing_id: int) -> None:
        """Process the lot's due deadlines, unless a fire of it is already under way here: that one
        re-reads the row under lock after this moment, so it sees what this would.

        Lots that come due together are closed together: whichever of their fires gets a place
        among the closes first takes the others still waiting into its transaction
        (``service.fire_many``)."""
        if listing_id in self._firing:
            return
        self._firing.add(listing_id)
        self._idle.clear()
        done: asyncio.Future[service.Fired | None] = asyncio.get_running_loop().create_future()
        self._untaken[listing_id] = done
        try:
            async with self._closes:
                await asyncio.sleep(0)  # the other jobs due at this instant come to wait here first
                if listing_id in self._untaken:  # no batch took it while it waited: it leads one
                    await self._close_batch(listing_id)
            fired = await done
            if fired is not None and fired.status != "open" and fired.events:  # this call closed it
                await self._settle(listing_id)
        finally:
            self._untaken.pop(listing_id, None)
            self._firing.discard(listing_id)
            if not self._firing:
                self._idle.set()

    async def _close_batch(self, first: int) -> None:
        """``first`` and up to ``BATCH - 1`` other lots waiting here, in one transaction; those the
        batch leaves out (a row busy elsewhere, no longer open) or a failed batch, one by one."""
        batch = {first: self._untaken.pop(first)}
        for listing_id in list(itertools.islice(self._untaken, BATCH - 1)):
            batch[listing_id] = self._untaken.pop(listing_id)
        try:
            fired: dict[int, service.Fired] = {}
            if len(batch) > 1:
                try:
                    async with self._sessions() as session:
                        fired = await service.fire_many(session, batch, self._broadcast_after_commit)
                except Exception:
                    log.exception("closing %d auctions at once failed; closing them one by one", len(batch))
                    fired = {}
            for listing_id, result in fired.items():
                self._fired(listing_id, result, batch[listing_id])
            for listing_id, done in batch.items():
                if listing_id not in fired:
                    self._fired(listing_id, await self._fire_one(listing_id), done)
        finally:
            for done in batch.values():
                if not done.done():
                    done.set_result(None)

    def _fired(
        self, listing_id: int, fired: service.Fired | None, done: asyncio.Future[service.Fired | None]
    ) -> None:
        if fired is not None and fired.status == "open":
            self.arm(listing_id, fired.ends_at)
        if not done.done():  # its fire may have been cancelled (shutdown)
            done.set_result(fired)

    async def _fire_one(self, listing_id: int) -> service.Fired | None:
        try:
            async with self._sessions() as session:
                return await service.fire(session, listing_id, self._broadcast_after_commit)
        except Exception:
            log.exception("auction %s timer failed; the sweep will retry", listing_id)
            return None

    async def _settle(self, listing_id: int) -> None:
        """Settle a lot this instance closed: now if it was the only close pending, else after them."""
        if self._on_closed is None:
            return
        if len(self._firing) == 1 and not self._to_settle:
            await self._on_closed(listing_id)
            return
        if len(self._to_settle) >= SETTLE_QUEUE:
            log.warning("settlement queue full: listing %s waits for the settlement sweep", listing_id)
            return
        self._to_settle.append(listing_id)
        if self._settler is None or self._settler.done():
            # a fresh context: the worker settles every lot, not the one whose close started it
            self._settler = asyncio.get_running_loop().create_task(
                self._settle_queued(), context=contextvars.Context()
            )

    async def _settle_queued(self) -> None:
        """The settlement worker: one lot at a time, only while no close is pending (settling a sale
        takes several times a close's work, on the same event loop and pool)."""
        assert self._on_closed is not None
        while self._to_settle:
            await self._idle.wait()
            await self._on_closed(self._to_settle.popleft())  # logs its own failure; the sweep retries

    async def aclose(self) -> None:
        """Stop the settlement worker (the app's shutdown): what it had not settled, the settlement
        sweep settles at the next start."""
        if self._settler is not None:
            self._settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settler

    async def sweep(self) -> None:
        """Fire every lot that is due and not already being fired here, all at once (bounded by the
        pool like every close)."""
        async with self._sessions() as session:
            query = select(Auction.listing_id).where(Auction.status == "open", Auction.ends_at <= utcnow())
            due = list((await session.execute(query)).scalars())  # fire() skips those under way here
        await asyncio.gather(*(self.fire(listing_id) for listing_id in due))

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
