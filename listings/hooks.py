"""Where downstream packages plug into listing events.

Listings sits upstream of auctions and settlement and must not import them;
``create_app`` registers their handlers here. Each hook runs inside the
transaction of the event, so the listing change and its consequences (an
auction opened, deposits released) commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from listings.applications_models import Application
from listings.models import Listing

ListingHook = Callable[[AsyncSession, Listing, datetime], Awaitable[None]]
ApplicationHook = Callable[[AsyncSession, Application, datetime], Awaitable[None]]
DepositQuery = Callable[[AsyncSession, int], Awaitable[int]]
ApplicantCheck = Callable[[AsyncSession, Listing, int], Awaitable[None]]
"""Raises a problem (an ``ExchangeError``) when the user may not apply to the listing."""
EditCheck = Callable[[AsyncSession, Listing, Mapping[str, Any]], Awaitable[None]]
"""Raises a problem when the draft may not take these new column values (``listing`` still has the old)."""
PublishCheck = Callable[[AsyncSession, Listing], Awaitable[None]]
"""Raises a problem when the draft may not be published as it stands."""


async def _nothing_paid(session: AsyncSession, application_id: int) -> int:
    return 0


@dataclass
class ListingHooks:
    on_bidding_open: list[ListingHook] = field(default_factory=list)
    """The auction engine opens the auction."""
    on_cancelled: list[ListingHook] = field(default_factory=list)
    """Settlement releases every deposit."""
    on_suspended: list[ListingHook] = field(default_factory=list)
    """The auction engine stops taking bids."""
    on_resumed: list[ListingHook] = field(default_factory=list)
    """The auction engine takes bids again."""
    on_application_rejected: list[ApplicationHook] = field(default_factory=list)
    """Settlement releases that application's deposit."""
    lock_auction: list[ListingHook] = field(default_factory=list)
    """A write that holds the listing's lock and may touch its auction (a registration that may
    qualify a bidder; suspending, resuming, cancelling): the auction engine locks the auction's row
    next, before anything takes the listing's audit head. The bid path takes the row, then the
    head; the other order could deadlock with it."""
    on_qualified: list[ApplicationHook] = field(default_factory=list)
    """The auction engine admits the new bidder to its running auction (挂牌 with late registration)."""
    deposit_paid: DepositQuery = _nothing_paid
    """Settlement answers how much an application has paid (fen)."""
    check_applicant: list[ApplicantCheck] = field(default_factory=list)
    """A bidder applies: the registry refuses one it could not deliver a registered right to
    (no registry account, outside the right's region or basin). Runs before anything is written."""
    check_edit: list[EditCheck] = field(default_factory=list)
    """An operator edits a draft: the registry refuses a change to what an offer fixed (the right,
    its quantity, the method and the seller). Runs before anything is written."""
    check_publish: list[PublishCheck] = field(default_factory=list)
    """A draft is published: the registry checks it still sells what its offer holds, and that
    the sale can settle before the right expires. Runs before anything is written."""
