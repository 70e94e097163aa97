"""A bidder's signing keys: register, list, revoke (``/api/v1/users/me/keys``).

The key's parsing and its ``kid`` are ``auctions.bid_signatures``' (the endpoints hand over a
parsed key); this module only keeps the rows, each bidder its own. A kid is registered once
in the whole exchange: a key another bidder registered, or one revoked, is not taken again,
so a kid names one bidder for good and a published signature names who made it.

A key is registered for one listing and signs only that listing's bids: the keys are published
with the bids after the close, and one key on several listings would link a losing bidder's bid
numbers (anonymous by the rules) across them. The endpoint checks that the listing exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import SYSTEM_STREAM, append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound
from exchange.identity.models import BidderKey
from exchange.identity.tokens import Principal

MAX_ACTIVE_KEYS = 20
"""Keys a bidder may hold unrevoked at once for one listing: a browser per desk, a program or two,
with room."""


async def register_key(
    session: AsyncSession,
    bidder: Principal,
    *,
    listing_id: int,
    kid: str,
    algorithm: str,
    public_key: str,
    label: str | None,
) -> BidderKey:
    """Store a new key of ``bidder`` for ``listing_id``; 409 ``key_already_registered`` for a kid
    known before."""
    if await session.scalar(select(BidderKey.id).where(BidderKey.kid == kid)) is not None:
        raise Conflict("this key is already registered", code="key_already_registered")
    active = await session.scalar(
        select(BidderKey.id)
        .where(
            BidderKey.user_id == bidder.user_id,
            BidderKey.listing_id == listing_id,
            BidderKey.revoked_at.is_(None),
        )
        .offset(MAX_ACTIVE_KEYS - 1)
        .limit(1)
    )
    if active is not None:
        raise Conflict(
            f"at most {MAX_ACTIVE_KEYS} keys may be active at once for a listing; revoke one first",
            code="too_many_keys",
        )
    now = utcnow()
    key = BidderKey(
        user_id=bidder.user_id,
        listing_id=listing_id,
        kid=kid,
        algorithm=algorithm,
        public_key=public_key,
        label=label,
        created_at=now,
    )
    session.add(key)
    try:
        await session.flush()
    except IntegrityError:  # the same key registered at the same moment
        await session.rollback()
        raise Conflict("this key is already registered", code="key_already_registered") from None
    await append(
        session,
        SYSTEM_STREAM,
        f"user:{bidder.user_id}",
        "bidder.key_registered",
        {
            "user_id": bidder.user_id,
            "listing_id": listing_id,
            "kid": kid,
            "algorithm": algorithm,
            "public_key": public_key,
        },
        at=now,
    )
    await session.commit()
    return key


async def keys_of(
    session: AsyncSession, bidder: Principal, listing_id: int | None = None
) -> Sequence[BidderKey]:
    """``bidder``'s keys, revoked ones included; for one listing, or all of them."""
    query = select(BidderKey).where(BidderKey.user_id == bidder.user_id).order_by(BidderKey.id)
    if listing_id is not None:
        query = query.where(BidderKey.listing_id == listing_id)
    return (await session.execute(query)).scalars().all()


async def revoke_key(session: AsyncSession, bidder: Principal, kid: str) -> BidderKey:
    """Revoke one of ``bidder``'s keys (idempotent); another bidder's key is 404, as a kid unknown."""
    query = (
        select(BidderKey).where(BidderKey.kid == kid, BidderKey.user_id == bidder.user_id).with_for_update()
    )
    key = (await session.execute(query)).scalar_one_or_none()
    if key is None:
        raise NotFound("you have no key with this kid", code="key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await append(
            session,
            SYSTEM_STREAM,
            f"user:{bidder.user_id}",
            "bidder.key_revoked",
            {"user_id": bidder.user_id, "kid": kid},
            at=key.revoked_at,
        )
    await session.commit()
    return key
