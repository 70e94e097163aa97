"""Bid intake: one implementation for the bid route and its fast lane (``auctions.lane``).

Rate limit, parse, place the bid in one transaction, then broadcast its events and
re-arm the auction's timer if the deadline moved. The bid is decided by
``auctions.decision`` whichever store carries it: on PostgreSQL the usual bid
takes the asyncpg store (``auctions.store_pg``, two round trips); everything
else (SQLite, a deadline due, a bid that ends the auction) the general store
(``auctions.store_orm``).

A signed bid (``auctions.bid_signatures``) is rate-limited and verified before it takes its
turn: reading its key and checking the signature is work no other bid should wait for, and
none of it happens under the auction's lock. An unsigned bid reads nothing more than before:
whether the listing requires a signature comes with the terms the store reads under the lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auctions.arrival import ArrivalOrder, Turn
from auctions.bid_signatures import BidSignatureError, check_block, nonce_digest, verify_bid_signature
from auctions.decision import Attempt
from auctions.ratelimit import BidRateLimiter
from auctions.store_orm import OrmBidStore
from auctions.store_pg import PgBidStore
from auctions.stores import Clock, Handoff, Placed, Signed, place, signature_invalid
from auctions.terms import from_units, to_units
from auctions.timing import AuctionClock
from exchange import metrics
from exchange.clock import utcnow
from exchange.errors import ExchangeError, NotFound, Unprocessable, field_error
from exchange.identity.models import BidderKey
from exchange.identity.tokens import Principal
from exchange.money import MoneyFormatError, format_yuan, parse_yuan
from exchange.signing import MAX_SAFE_INTEGER
from listings.applications_models import Application
from listings.models import Listing

log = logging.getLogger("exchange.auctions.intake")

Money = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]{1,2})?$", examples=["1250000.00"])]


Nonce = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]{16,128}$",
        description=(
            "Your own random entropy for a draw, kept secret until the result: required when the "
            "bid accepts the cap price of a listing with cap_rule lottery (the capping bid, an "
            "acceptance in the lottery phase, a sealed quote at the cap); mixed into the residual-lot "
            "draw of a uniform-price auction; ignored otherwise. Draw it at random, e.g. 32 hex digits."
        ),
        examples=["9f86d081884c7d659a2feaa0c55ad015"],
    ),
]


class BidSignatureIn(msgspec.Struct, forbid_unknown_fields=True):
    """The bidder's signature of the bid (``auctions.bid_signatures``: what is signed, and how)."""

    kid: Annotated[str, msgspec.Meta(max_length=64, description="The registered key's id (32 hex digits).")]
    algorithm: Annotated[str, msgspec.Meta(max_length=16, description='"ES256" or "Ed25519".')]
    value: Annotated[
        str,
        msgspec.Meta(
            max_length=200,
            description="The signature, unpadded base64url of 64 bytes (ES256: r || s, as WebCrypto makes it).",
        ),
    ]


class BidIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: Money
    quantity: Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?$")] | None = None
    nonce: Nonce | None = None
    last_seq: (
        Annotated[
            int,
            msgspec.Meta(
                ge=0,
                le=MAX_SAFE_INTEGER,
                description="The last feed event you had seen when you bid (signed with the bid; required with a signature).",
            ),
        ]
        | None
    ) = None
    signature: BidSignatureIn | None = None
    """The bidder's signature over the canonical JSON of ``{context, listing_id, bidder_number,
    amount, quantity, idempotency_key, last_seq, nonce_sha256}`` with a key registered for this
    listing; required where the listing's ``bid_signatures`` is ``required``. Not part of what a
    replay of the same Idempotency-Key must match."""


class BidAccepted(msgspec.Struct):
    bid_id: int
    seq: int
    amount: str
    accepted_at: datetime
    ends_at: datetime | None
    quantity: str | None = None


class SealedBidAccepted(msgspec.Struct):
    """A sealed quote's or an acceptance's acknowledgement: nothing in it counts the other quotes
    or acceptances (no ``seq``, and ``bid_id`` is an opaque receipt:
    ``auctions.decision.sealed_receipt``)."""

    bid_id: int
    amount: str
    accepted_at: datetime
    ends_at: datetime | None
    quantity: str | None = None


Broadcast = Callable[[int, list[dict[str, Any]]], Awaitable[None]]


async def place_bid(
    sessions: async_sessionmaker[AsyncSession],
    pool: asyncpg.Pool | None,
    attempt: Attempt,
    turn: Turn | None = None,
    clock: Clock = utcnow,
    *,
    signed: Signed | None = None,
) -> Placed:
    """One bid in one transaction (two if the usual store hands it to the general one).

    With a ``turn``, the bid takes a connection and asks for the row lock only once
    the bids that arrived before it hold the lock or have given up (on SQLite, with
    no asyncpg store, once they are done: ``Intake.bid`` ends the turn).
    """
    if turn is not None:
        await turn.wait()
    if pool is not None:
        async with pool.acquire() as conn:
            placed = await place(PgBidStore(conn, turn), attempt, clock, signed)
        if not isinstance(placed, Handoff):
            return placed
    async with sessions() as session:
        general = await place(OrmBidStore(session), attempt, clock, signed)
    assert not isinstance(general, Handoff)  # the general store writes every bid
    return general


class Intake:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        limiter: BidRateLimiter,
        broadcast: Broadcast,
        clock: AuctionClock,
    ) -> None:
        self.sessions = sessions
        self.limiter = limiter
        self.broadcast = broadcast
        self.clock = clock
        self.pool: asyncpg.Pool | None = None
        """Set by the app's lifespan on PostgreSQL."""
        self.order = ArrivalOrder()

    async def bid(
        self, bidder: Principal, listing_id: int, data: BidIn, idempotency_key: str
    ) -> tuple[BidAccepted | SealedBidAccepted, int]:
        """The accepted bid and its status: 201, or 200 for a replay of the same key and body.

        The one place both the lane and the route answer a bid: counted and logged here.
        """
        started = time.perf_counter()
        turn: Turn | None = None
        try:
            signed: Signed | None = None
            if data.signature is not None:
                await self.limiter.check(bidder.user_id)  # before any work on its signature
                signed = await self._verified(bidder, listing_id, data, data.signature, idempotency_key)
            turn = self.order.turn(listing_id)  # before the next await: the order of arrival
            view, status = await self._bid(bidder, listing_id, data, idempotency_key, turn, signed)
        except ExchangeError as exc:
            metrics.bid_rejected(time.perf_counter() - started, exc.code)
            log.info(
                "bid refused: auction %s, %s",
                listing_id,
                exc.code,
                extra={"listing_id": listing_id, "code": exc.code, "status": exc.status},
            )
            raise
        except Exception:  # answered 500 internal_error; the traceback is logged where it is answered
            metrics.bid_rejected(time.perf_counter() - started, "internal_error")
            raise
        finally:
            if turn is not None:
                turn.done()
        metrics.bid_accepted(time.perf_counter() - started, replayed=status == 200)
        # a sealed quote's seq would count the quotes (SealedBidAccepted has none): not logged either
        seq = view.seq if isinstance(view, BidAccepted) else None
        log.info(
            "bid %s: auction %s, seq %s",
            "replayed" if status == 200 else "accepted",
            listing_id,
            seq,
            extra={"listing_id": listing_id, "seq": seq, "code": "", "status": status},
        )
        return view, status

    async def _bid(
        self,
        bidder: Principal,
        listing_id: int,
        data: BidIn,
        idempotency_key: str,
        turn: Turn,
        signed: Signed | None = None,
    ) -> tuple[BidAccepted | SealedBidAccepted, int]:
        if signed is None:  # a signed bid was limited before its verification
            await self.limiter.check(bidder.user_id)
        _check_key(idempotency_key)
        amount = _amount(data.amount)
        quantity = await self._quantity(listing_id, data.quantity)
        attempt = Attempt(listing_id, bidder, amount, quantity, idempotency_key, data.nonce)
        accepted = await place_bid(self.sessions, self.pool, attempt, turn, signed=signed)
        if not accepted.replayed:
            await self.broadcast(listing_id, accepted.events)
            if accepted.deadline_moved:
                self.clock.arm(listing_id, accepted.ends_at)
        units = accepted.quantity
        quantity_text = from_units(accepted.asset_class, units) if units is not None else None
        amount_text = format_yuan(accepted.amount)
        view: BidAccepted | SealedBidAccepted
        if accepted.receipt is not None:
            view = SealedBidAccepted(
                accepted.receipt, amount_text, accepted.accepted_at, accepted.ends_at, quantity_text
            )
        else:
            view = BidAccepted(
                accepted.bid_id,
                accepted.seq,
                amount_text,
                accepted.accepted_at,
                accepted.ends_at,
                quantity_text,
            )
        return view, 200 if accepted.replayed else 201

    async def _verified(
        self, bidder: Principal, listing_id: int, data: BidIn, block: BidSignatureIn, idempotency_key: str
    ) -> Signed:
        """The bid's signature checked against the bidder's registered key, or ``signature_invalid``."""
        _check_key(idempotency_key)
        signature = {"kid": block.kid, "algorithm": block.algorithm, "value": block.value}
        try:
            check_block(signature)
        except BidSignatureError as exc:
            raise signature_invalid("malformed", exc.detail) from exc
        if data.last_seq is None:
            raise signature_invalid("malformed", "a signed bid carries last_seq, which the signature covers")
        amount = _amount(data.amount)
        async with self.sessions() as session:
            listing = await session.get(Listing, listing_id)
            if listing is None:
                raise NotFound("no such listing")
            key = (
                await session.execute(select(BidderKey).where(BidderKey.kid == block.kid))
            ).scalar_one_or_none()
            number = await session.scalar(
                select(Application.bid_number).where(
                    Application.listing_id == listing_id,
                    Application.bidder_id == bidder.user_id,
                    Application.status == "qualified",
                )
            )
        if key is None:
            raise signature_invalid("key_unknown")
        if key.user_id != bidder.user_id:
            raise signature_invalid("key_not_yours")
        if key.listing_id != listing_id:
            raise signature_invalid("key_other_listing")
        digest = nonce_digest(data.nonce)
        # a revoked key signs no new bid, but a replay of a bid it signed before answers as replays
        # do: the store decides which under the lock, after it has looked for the earlier bid
        revoked = key.revoked_at is not None
        signed = Signed(
            block.kid, block.algorithm, block.value, data.last_seq, number or None, digest, revoked
        )
        if signed.bidder_number is None or revoked:
            return signed  # not qualified, or revoked: the store says so under the lock
        quantity = None
        if data.quantity is not None:
            quantity = from_units(listing.asset_class, _units(listing.asset_class, data.quantity))
        try:
            verify_bid_signature(
                algorithm=key.algorithm,
                public_key=key.public_key,
                signature=signature,
                listing_id=listing_id,
                bidder_number=signed.bidder_number,
                amount=format_yuan(amount),
                quantity=quantity,
                idempotency_key=idempotency_key,
                last_seq=data.last_seq,
                nonce_sha256=digest,
            )
        except BidSignatureError as exc:
            raise signature_invalid(exc.reason, exc.detail) from exc
        return signed

    async def _quantity(self, listing_id: int, text: str | None) -> int | None:
        if text is None:
            return None
        async with self.sessions() as session:
            listing = await session.get(Listing, listing_id)
        if listing is None:
            raise NotFound("no such listing")
        return _units(listing.asset_class, text)


def _check_key(idempotency_key: str) -> None:
    if "\x00" in idempotency_key:  # as the API answers NUL anywhere (exchange.errors)
        raise ExchangeError("text may not contain NUL characters", code="malformed_request", status=400)


def _amount(text: str) -> int:
    try:
        return parse_yuan(text)
    except MoneyFormatError as exc:
        raise Unprocessable(
            str(exc), code="validation_failed", errors=[field_error("amount", str(exc))]
        ) from exc


def _units(asset_class: str, text: str) -> int:
    try:
        return to_units(asset_class, text)
    except ValueError as exc:
        raise Unprocessable(
            str(exc), code="quantity_invalid", errors=[field_error("quantity", str(exc))]
        ) from exc
