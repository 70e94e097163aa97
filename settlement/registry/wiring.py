"""What the registry plugs into the listings' hooks (``create_app`` calls :func:`register`).

- ``check_applicant``: a listing that sells an offer admits only bidders the registry could
  deliver to: one whose enterprise has a registry account (409 ``registry_no_account``) and may
  acquire the instrument (``registry_out_of_region``, ``registry_out_of_basin``,
  ``registry_expired``: :mod:`settlement.registry.eligibility`). Checked when the bidder
  applies, before anything is written, and again at delivery.
- ``on_cancelled``: a cancelled listing (also a draft, which settlement never sees) gives its
  offer's hold back to the seller.
- ``check_edit``: the draft of an offer keeps the right, quantity, method and seller the offer
  fixed (409 ``registry_listing_fixed``): a winner must receive what it paid for, and a
  uniform-price sale may not sell more than the hold.
- ``check_publish``: the draft still matches its offer, and its sale settles before the lot's
  validity ends (``registry_expired``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from exchange.clock import utcnow
from exchange.errors import Conflict
from listings.hooks import ListingHooks
from listings.models import Listing
from listings.workdays import local_date
from settlement.registry.eligibility import check_trade
from settlement.registry.issuance import holder_of_user
from settlement.registry.models import Instrument
from settlement.registry.offers import (
    check_fixed_edit,
    check_listing_matches,
    offer_of_listing,
    release_listing,
)


async def check_applicant(session: AsyncSession, listing: Listing, user_id: int) -> None:
    """Refuse a bidder the registry could not deliver this listing's offer to (nothing is written)."""
    offer = await offer_of_listing(session, listing.id)
    if offer is None:
        return
    buyer = await holder_of_user(session, user_id)
    if buyer is None:
        raise Conflict(
            "this listing sells a registered right: the buyer needs a registry account "
            "in the name of its enterprise (credit code)",
            code="registry_no_account",
        )
    instrument = await session.get(Instrument, offer.instrument_id)
    assert instrument is not None
    check_trade(instrument, buyer, local_date(utcnow()))


async def release_cancelled(session: AsyncSession, listing: Listing, now: datetime) -> None:
    await release_listing(session, listing.id, f"listing cancelled: {listing.status_reason or ''}", "system")


async def check_edit(session: AsyncSession, listing: Listing, fields: Mapping[str, Any]) -> None:
    """Refuse an edit of what the listing's offer fixed (nothing is written)."""
    offer = await offer_of_listing(session, listing.id)
    if offer is not None:
        check_fixed_edit(listing, offer, dict(fields))


async def check_publish(session: AsyncSession, listing: Listing) -> None:
    """Refuse to publish a draft that no longer sells what its offer holds, or too late to settle."""
    offer = await offer_of_listing(session, listing.id)
    if offer is not None:
        await check_listing_matches(session, listing, offer)


def register(hooks: ListingHooks) -> None:
    """Register the registry's listing hooks."""
    hooks.check_applicant.append(check_applicant)
    hooks.on_cancelled.append(release_cancelled)
    hooks.check_edit.append(check_edit)
    hooks.check_publish.append(check_publish)
