"""Relisting after a rescission: a new draft copying the listing, once per settlement.

The instant default of earlier versions (a missed due date forfeited the deposit the next day)
is gone: late payments accrue late fees and an operator rescinds after the grace
(:mod:`settlement.followup`). Settlements that defaulted under the old rule keep their
``default`` status and can be relisted just the same.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from auctions.terms import from_units
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict
from exchange.identity.tokens import Principal
from listings.models import Listing
from listings.services import as_create, validated_fields
from settlement.lines import (
    load_lines,
    locked_settlement,
)

__all__ = ["relist"]


# -- relisting ------------------------------------------------------------------------------------


async def relist(session: AsyncSession, listing_id: int, actor: Principal) -> Listing:
    """A new draft copying a listing whose settlement was rescinded (or defaulted, old rows); once.

    Multi-unit listings are relisted for the quantity rescinded. Never commits.
    """
    old, settlement = await locked_settlement(session, listing_id)
    if settlement.status not in ("rescinded", "default"):
        raise Conflict(
            f"only a rescinded settlement can be relisted; this one is {settlement.status}",
            code="settlement_not_in_default",
        )
    if settlement.relisted_listing_id is not None:
        raise Conflict(
            f"already relisted as listing {settlement.relisted_listing_id}",
            code="already_relisted",
            relisted_listing_id=settlement.relisted_listing_id,
        )
    body = as_create(old)
    defaulted = [
        line for line in await load_lines(session, listing_id) if line.status in ("rescinded", "default")
    ]
    quantities = [line.quantity for line in defaulted if line.quantity is not None]
    if body.quantity is not None and quantities and len(quantities) == len(defaulted):
        body = msgspec.structs.replace(body, quantity=from_units(old.asset_class, sum(quantities)))
    fields = validated_fields(body)
    now = utcnow()
    new = Listing(**fields, status="draft", created_by=actor.user_id, created_at=now, updated_at=now)
    session.add(new)
    await session.flush()
    who = f"user:{actor.user_id}"
    audit = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}
    await append(session, new.stream, who, "listing.created", {**audit, "relisted_from": old.id})
    await append(session, old.stream, who, "settlement.relisted", {"listing_id": new.id})
    settlement.relisted_listing_id, settlement.updated_at = new.id, now
    return new
