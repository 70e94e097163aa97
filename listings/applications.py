"""Applications (报名): apply in the window, operator decides, qualification, bid numbers.

Nobody but staff and the applicant can see an application: other bidders
cannot learn who applied, or how many. An application is qualified when it
is approved and its deposit was paid in full before ``registration_closes_at``;
only then does it get its anonymous bid number.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.identity.tokens import Principal
from listings.applications_models import Application
from listings.hooks import ListingHooks
from listings.models import Listing
from listings.services import locked

BID_NUMBER_SPACE = (1000, 9999)  # four digits however many apply: the number says nothing


def deposit_account_number() -> str:
    """19 random digits: unguessable, unrelated to the bidder or the order of applications."""
    return "62" + "".join(str(secrets.randbelow(10)) for _ in range(17))


async def apply(session: AsyncSession, listing_id: int, bidder: Principal) -> tuple[Application, Listing]:
    listing = await locked(session, listing_id)
    now = utcnow()
    if listing.status != "registration" or not (
        listing.registration_opens_at <= now < listing.registration_closes_at
    ):
        raise Conflict("registration for this listing is not open", code="registration_closed")
    exists = await session.execute(
        select(Application.id).where(
            Application.listing_id == listing_id, Application.bidder_id == bidder.user_id
        )
    )
    if exists.first() is not None:
        raise Conflict("you have already applied to this listing", code="already_applied")
    application = Application(
        listing_id=listing_id,
        bidder_id=bidder.user_id,
        status="pending",
        deposit_account=deposit_account_number(),
        deposit_due=listing.deposit,
        created_at=now,
    )
    session.add(application)
    try:
        await session.flush()
    except IntegrityError as exc:  # two requests of the same bidder at once
        await session.rollback()
        raise Conflict("you have already applied to this listing", code="already_applied") from exc
    await append(
        session,
        listing.stream,
        f"user:{bidder.user_id}",
        "application.submitted",
        {"application_id": application.id, "bidder_id": bidder.user_id},
    )
    await session.commit()
    return application, listing


async def visible_application(session: AsyncSession, application_id: int, caller: Principal) -> Application:
    """The application if the caller is its owner or staff; otherwise it does not exist."""
    application = await session.get(Application, application_id)
    if application is None or (not caller.is_staff and application.bidder_id != caller.user_id):
        raise NotFound("no such application")
    return application


async def locked_with_listing(session: AsyncSession, application_id: int) -> tuple[Application, Listing]:
    """Lock the listing, then the application: every writer takes them in this order (no deadlocks)."""
    listing_id = (
        await session.execute(select(Application.listing_id).where(Application.id == application_id))
    ).scalar_one_or_none()
    if listing_id is None:
        raise NotFound("no such application")
    listing = await locked(session, listing_id)
    query = select(Application).where(Application.id == application_id).with_for_update()
    return (await session.execute(query)).scalar_one(), listing


async def _new_bid_number(session: AsyncSession, listing_id: int) -> str:
    taken = set(
        (
            await session.execute(
                select(Application.bid_number).where(
                    Application.listing_id == listing_id, Application.bid_number.is_not(None)
                )
            )
        ).scalars()
    )
    low, high = BID_NUMBER_SPACE
    while True:
        number = str(low + secrets.randbelow(high - low + 1))
        if number not in taken:
            return number


async def qualify_if_ready(session: AsyncSession, application: Application, listing: Listing) -> bool:
    """Approved + paid in full before the registration deadline -> qualified with a bid number.

    The caller holds the listing row lock, which serialises bid-number draws.
    """
    if application.status != "approved" or application.paid_in_full_at is None:
        return False
    if application.paid_in_full_at >= listing.registration_closes_at:
        return False
    application.status = "qualified"
    application.bid_number = await _new_bid_number(session, listing.id)
    application.qualified_at = utcnow()
    await session.flush()
    await append(
        session,
        listing.stream,
        "system",
        "application.qualified",
        {"application_id": application.id, "bid_number": application.bid_number},
    )
    return True


async def decide(
    session: AsyncSession,
    application_id: int,
    approve: bool,
    reason: str | None,
    operator: Principal,
    hooks: ListingHooks,
) -> Application:
    application, listing = await locked_with_listing(session, application_id)
    if application.status != "pending":
        raise Conflict(f"the application is already {application.status}", code="application_decided")
    if listing.status not in ("registration", "announced"):
        raise Conflict(f"the listing is {listing.status}", code="registration_closed")
    if not approve and not (reason and reason.strip()):
        raise Unprocessable(
            "a rejection needs a reason",
            code="reason_required",
            errors=[field_error("reason", "required when rejecting", "reason_required")],
        )
    now = utcnow()
    application.status = "approved" if approve else "rejected"
    application.decision_reason = reason
    application.decided_by = operator.user_id
    application.decided_at = now
    await append(
        session,
        listing.stream,
        f"user:{operator.user_id}",
        "application.approved" if approve else "application.rejected",
        {"application_id": application.id, "reason": reason},
    )
    if approve:
        await qualify_if_ready(session, application, listing)
    else:
        for hook in hooks.on_application_rejected:
            await hook(session, application, now)
    await session.commit()
    return application


async def application_of(session: AsyncSession, listing_id: int, bidder_id: int) -> Application | None:
    """A bidder's application to a listing (a bidder applies once per listing)."""
    query = select(Application).where(
        Application.listing_id == listing_id, Application.bidder_id == bidder_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def applications_of(session: AsyncSession, listing_id: int) -> list[Application]:
    query = select(Application).where(Application.listing_id == listing_id).order_by(Application.created_at)
    return list((await session.execute(query)).scalars())


async def mine(session: AsyncSession, bidder: Principal) -> list[Application]:
    query = (
        select(Application)
        .where(Application.bidder_id == bidder.user_id)
        .order_by(Application.created_at.desc())
    )
    return list((await session.execute(query)).scalars())
