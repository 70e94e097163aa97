"""The reserve (底价): when it freezes, and the commitment the exchange publishes when it does.

The reserve may be entered or changed until bidding opens; for mining rights
only until publication (矿业权交易规则 art. 18: "在交易活动结束前须保密且不得
变更"). When it freezes, the exchange draws a random salt and publishes

    reserve_commitment = SHA-256(utf8("<reserve in fen, or none>:<salt>")).hexdigest()

where the reserve is written as the decimal digits of its integer fen
("765432109") or as "none" when the listing has no reserve, and the salt as 64
lowercase hex digits (32 random bytes). The result reveals the reserve and the
salt, so anyone can recompute the commitment and see that the reserve the close
used is the one committed before the first bid. Without the salt a reserve
could be found by hashing every likely amount.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from listings.models import Listing
from listings.reserve_commitment import commitment

SALT_BYTES = 32
FROZEN_AT_PUBLICATION = ("mining_right",)
"""Classes whose reserve freezes when the listing is published, not when bidding opens."""


def is_frozen(listing: Listing, now: datetime) -> bool:
    """Whether the reserve can no longer change: committed, or past the moment it freezes.

    The moment counts even before a timer has moved the listing (a late timer
    must not reopen a window the rule has closed); a draft never is frozen.
    """
    if listing.reserve_commitment is not None:
        return True
    if listing.status == "draft":
        return False
    if listing.asset_class in FROZEN_AT_PUBLICATION:
        return True
    phase = listing.suspended_from if listing.status == "suspended" else listing.status
    return phase not in ("announced", "registration") or now >= listing.bidding_opens_at


async def freeze(session: AsyncSession, listing: Listing, actor: str, now: datetime) -> None:
    """Commit to the listing's reserve, once (the caller holds the listing's row lock)."""
    if listing.reserve_commitment is not None:
        return
    salt = secrets.token_bytes(SALT_BYTES).hex()
    listing.reserve_salt = salt
    listing.reserve_commitment = commitment(listing.reserve_price, salt)
    listing.reserve_committed_at = now
    await append(
        session,
        listing.stream,
        actor,
        "listing.reserve_committed",
        {"reserve_commitment": listing.reserve_commitment},
        at=now,
    )
