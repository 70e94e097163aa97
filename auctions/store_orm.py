"""The general bid store, on SQLAlchemy: SQLite, and on PostgreSQL every bid the usual one is not.

One statement at a time inside one transaction: lock the auction row, read
the caller's standing, bid number and the listing's terms, read the key's
earlier bid, and on acceptance write the events, the bid, the state and the
audit entry, closing the listing when the bid ends the auction. What to do is
``auctions.decision.decide``'s call, walked by ``auctions.stores.place``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.decision import Accept, Attempt, Locked, Prior, audit_payload
from auctions.mechanisms import state_from_json
from auctions.models import Auction, BidRow
from auctions.service import apply_state, finish_listing, store_events
from auctions.stores import Handoff, KeyUsed, Signed, signature_invalid, signed_payload
from auctions.terms import params_of
from exchange.audit.chain import append
from exchange.identity.models import BidderKey
from exchange.identity.standing import Standing, standing_of
from listings.applications_models import Application
from listings.models import Listing


class OrmBidStore:
    prior_first = True

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._auction: Auction | None = None
        self._listing: Listing | None = None

    @property
    def signatures(self) -> str:
        assert self._listing is not None  # read by lock
        return self._listing.bid_signatures

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self.session.in_transaction():
                await self.session.rollback()

    async def lock(self, attempt: Attempt) -> tuple[Standing | None, Locked | None]:
        session = self.session
        standing = await standing_of(session, attempt.bidder.user_id)
        query = select(Auction).where(Auction.listing_id == attempt.listing_id).with_for_update()
        auction = (await session.execute(query)).scalar_one_or_none()
        if auction is None:
            return standing, None
        listing = await session.get(Listing, attempt.listing_id)
        assert listing is not None
        number = await session.scalar(
            select(Application.bid_number).where(
                Application.listing_id == attempt.listing_id,
                Application.bidder_id == attempt.bidder.user_id,
                Application.status == "qualified",
            )
        )
        self._auction, self._listing = auction, listing
        locked = Locked(
            auction.status,
            auction.phase,
            state_from_json(auction.state),
            auction.ends_at,
            auction.last_seq,
            number or None,
            params_of(listing),
            listing.asset_class,
        )
        return standing, locked

    async def prior(self, attempt: Attempt) -> Prior | None:
        query = select(BidRow).where(
            BidRow.listing_id == attempt.listing_id,
            BidRow.bidder_id == attempt.bidder.user_id,
            BidRow.idempotency_key == attempt.key,
        )
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            return None
        return Prior(row.id, row.seq, row.amount, row.quantity, row.accepted_at, row.body_sha256, row.phase)

    async def write(
        self, attempt: Attempt, locked: Locked, accept: Accept, signed: Signed | None = None
    ) -> int | KeyUsed | Handoff:
        session, auction, listing = self.session, self._auction, self._listing
        assert auction is not None and listing is not None and locked.bid_number is not None
        if signed is not None:
            # the key may have been revoked since the intake verified the bid: read under a share
            # lock, so a revocation waits for this bid's commit and is published as later than it
            revoked = await session.scalar(
                select(BidderKey.revoked_at).where(BidderKey.kid == signed.kid).with_for_update(read=True)
            )
            if revoked is not None:
                raise signature_invalid("key_revoked")
        store_events(session, auction, accept.events)
        bid = BidRow(
            listing_id=attempt.listing_id,
            seq=accept.bid_seq,
            bidder_id=attempt.bidder.user_id,
            bid_number=locked.bid_number,
            amount=attempt.amount,
            quantity=attempt.quantity,
            phase=accept.phase,
            accepted_at=accept.now,
            idempotency_key=attempt.key,
            body_sha256=attempt.digest,
            signature=signed.as_json() if signed is not None else None,
        )
        session.add(bid)
        apply_state(auction, accept.state)
        await append(
            session,
            listing.stream,
            f"user:{attempt.bidder.user_id}",
            "bid.accepted",
            signed_payload(audit_payload(attempt, locked, accept), signed),
            at=accept.now,
        )
        if accept.ends_auction:
            await finish_listing(session, listing, auction)
        await session.commit()
        return bid.id
