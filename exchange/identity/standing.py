"""Whether a token still speaks for its account: active, in the same role, not revoked since.

A token is signed for 10 or 30 minutes, but an account can be disabled, given
another role or detached from its legal entity at any moment, and each of those
bumps the account's ``token_version``. So every request reads its account's
standing (one primary-key lookup) and refuses a token whose account no longer
matches it: on every instance at once, with no cache to invalidate. The bid
path reads the standing in the statement that locks the auction, so it costs
the bid no round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.identity.models import User
from exchange.identity.tokens import Principal, TokenError


@dataclass(frozen=True, slots=True)
class Standing:
    active: bool
    role: str
    token_version: int


def check_standing(principal: Principal, standing: Standing | None) -> None:
    """Raise ``TokenError("token_revoked")`` unless the account still stands behind the token."""
    if standing is None or not standing.active:
        raise TokenError("token_revoked", "this account is disabled; its tokens no longer work")
    if standing.role != principal.role or standing.token_version != principal.version:
        raise TokenError("token_revoked", "this account changed since the token was issued; log in again")


async def standing_of(session: AsyncSession, user_id: int) -> Standing | None:
    query = select(User.active, User.role, User.token_version).where(User.id == user_id)
    row = (await session.execute(query)).first()
    return None if row is None else Standing(bool(row.active), row.role, row.token_version)


async def admit(session: AsyncSession, principal: Principal) -> Principal:
    """The principal, if its account still stands behind it."""
    check_standing(principal, await standing_of(session, principal.user_id))
    return principal
