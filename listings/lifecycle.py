"""Timers that walk a published listing through its phases.

``announced -> registration`` at ``registration_opens_at`` and
``registration -> bidding`` at ``bidding_opens_at``. The dates live in the
database; a timer only wakes the exchange up. Each transition re-reads the
row under lock and is conditional on the status it expects, so a timer that
fires twice, late, or on two instances at once changes nothing the second
time. At start-up every instance re-arms from the database, and a sweep
every second catches any boundary a timer missed.

Opening the bidding freezes the reserve and publishes its commitment
(``listings.reserve``), then calls the registered ``on_bidding_open`` hooks
inside the same transaction: that is where the auction engine takes over. So
the commitment exists before any bid can be taken.

A joint bid (联合竞买) some member has not confirmed by the deposit deadline
(``registration_closes_at``) lapses: at the opening of the bidding, and, where
registration closes after the bidding opens (a 挂牌 listing), by the sweep once
that deadline has passed (``listings.consortium_answers.lapse_unconfirmed``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.scheduling import Timers
from listings.applications_models import Application, ConsortiumMember
from listings.consortia import ENDED_APPLICATIONS
from listings.consortium_answers import lapse_unconfirmed
from listings.hooks import ListingHooks
from listings.models import Listing
from listings.reserve import freeze

log = logging.getLogger("listings.lifecycle")

SWEEP_SECONDS = 1.0


def next_boundary(listing: Listing) -> datetime | None:
    """When this listing's next timed transition is due, if it has one."""
    if listing.status == "announced":
        return listing.registration_opens_at
    if listing.status == "registration":
        return listing.bidding_opens_at
    return None


def _due_transition(listing: Listing, now: datetime) -> str | None:
    boundary = next_boundary(listing)
    if boundary is None or now < boundary:
        return None
    return "registration" if listing.status == "announced" else "bidding"


class Lifecycle:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], timers: Timers, hooks: ListingHooks
    ) -> None:
        self._sessions = sessions
        self._timers = timers
        self.hooks = hooks

    def arm(self, listing: Listing) -> None:
        job = f"listing:{listing.id}:phase"
        when = next_boundary(listing)
        if when is None:
            self._timers.cancel(job)
        else:
            self._timers.at(job, when, self.advance, listing.id)

    async def advance(self, listing_id: int) -> str | None:
        """Perform every transition that is due now; returns the resulting status."""
        try:
            async with unit_of_work(self._sessions) as session:
                listing = await self._advance_locked(session, listing_id)
        except Exception:
            log.exception("advancing listing %s failed; the sweep will retry", listing_id)
            return None
        if listing is None:
            return None
        self.arm(listing)
        return listing.status

    async def _advance_locked(self, session: AsyncSession, listing_id: int) -> Listing | None:
        query = select(Listing).where(Listing.id == listing_id).with_for_update()
        listing = (await session.execute(query)).scalar_one_or_none()
        if listing is None:
            return None
        now = utcnow()
        while (target := _due_transition(listing, now)) is not None:
            previous = listing.status
            result = await session.execute(
                update(Listing)
                .where(Listing.id == listing.id, Listing.status == previous)
                .values(status=target, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                break  # somebody else moved it; their transition stands
            listing.status = target
            await append(session, listing.stream, "system", "listing.phase", {"from": previous, "to": target})
            if target == "bidding":
                # a joint bid some member never confirmed ends now, before any bid (its deposit goes back)
                await lapse_unconfirmed(session, listing, self.hooks, now)
                await freeze(session, listing, "system", now)
                for hook in self.hooks.on_bidding_open:
                    await hook(session, listing, now)
        return listing

    async def due_ids(self, now: datetime) -> list[int]:
        async with self._sessions() as session:
            query = select(Listing.id).where(
                or_(
                    (Listing.status == "announced") & (Listing.registration_opens_at <= now),
                    (Listing.status == "registration") & (Listing.bidding_opens_at <= now),
                )
            )
            return list((await session.execute(query)).scalars())

    async def overdue_consortia(self, now: datetime) -> list[int]:
        """Listings past their deposit deadline with a live joint bid still waiting for a member."""
        async with self._sessions() as session:
            query = (
                select(Listing.id)
                .join(ConsortiumMember, ConsortiumMember.listing_id == Listing.id)
                .join(Application, Application.id == ConsortiumMember.application_id)
                .where(
                    Listing.registration_closes_at <= now,
                    ConsortiumMember.status == "invited",
                    Application.status.not_in(ENDED_APPLICATIONS),
                )
                .distinct()
            )
            return list((await session.execute(query)).scalars())

    async def lapse_overdue(self, listing_id: int) -> int:
        """End the joint bids of a listing whose deposit deadline passed unconfirmed (its lock)."""
        try:
            async with unit_of_work(self._sessions) as session:
                query = select(Listing).where(Listing.id == listing_id).with_for_update()
                listing = (await session.execute(query)).scalar_one_or_none()
                if listing is None:
                    return 0
                return await lapse_unconfirmed(session, listing, self.hooks, utcnow())
        except Exception:
            log.exception("lapsing the joint bids of listing %s failed; the sweep will retry", listing_id)
            return 0

    async def sweep(self) -> None:
        now = utcnow()
        for listing_id in await self.due_ids(now):
            await self.advance(listing_id)
        # 挂牌: registration may close after the bidding opened, when no transition runs
        for listing_id in await self.overdue_consortia(now):
            await self.lapse_overdue(listing_id)

    async def rearm_all(self) -> int:
        """At start-up: a timer for every live listing, from the dates in the database."""
        async with self._sessions() as session:
            query = select(Listing).where(Listing.status.in_(("announced", "registration")))
            listings = list((await session.execute(query)).scalars())
        for listing in listings:
            self.arm(listing)
        return len(listings)

    async def start(self) -> None:
        armed = await self.rearm_all()
        log.info("re-armed %d listing timers", armed)
        self._timers.every("listings:sweep", SWEEP_SECONDS, self.sweep)
