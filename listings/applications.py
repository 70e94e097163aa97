"""Applications (报名): apply in the window, qualification, bid numbers, and staff reads of applicants.

Nobody but staff and the applicant can see an application: other bidders
cannot learn who applied, or how many. An application qualifies when its
deposit was paid in full before ``registration_closes_at`` and, under
pre-qualification (资格前审), an operator approved it; under post-qualification
(资格后审) payment alone qualifies and staff see no applicant until the close
(``listings.qualification``). Only then does it get its anonymous bid number.
A 挂牌 whose registration runs into the listing period admits each bidder to
the running auction as it qualifies (the ``on_qualified`` hooks).

A consortium (联合竞买, ``listings.consortia``) applies through its lead; it qualifies only once
every member confirmed with its own login (``listings.consortium_answers``), and a refusal, or no
confirmation by the deposit deadline, ends the application.

Every staff read of applicant data is appended to the listing's audit stream
(``applicants.read``: who read what).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.identity.models import User
from exchange.identity.tokens import Principal
from listings import consortia, declarations
from listings.applications_models import Application
from listings.hooks import ListingHooks
from listings.models import Listing
from listings.qualification import ensure_unsealed
from listings.registration_window import decisions_open, registration_open
from listings.services import get_listing, locked

BID_NUMBER_SPACE = (1000, 9999)  # four digits however many apply: the number says nothing


def deposit_account_number() -> str:
    """19 random digits: unguessable, unrelated to the bidder or the order of applications."""
    return "62" + "".join(str(secrets.randbelow(10)) for _ in range(17))


async def apply(
    session: AsyncSession,
    listing_id: int,
    bidder: Principal,
    declared: tuple[bool, bool, str | None] | None = None,
    hooks: ListingHooks | None = None,
    consortium: tuple[str, Sequence[consortia.MemberInput]] | None = None,
) -> tuple[Application, Listing]:
    """Apply; ``declared`` is (application form confirmed, commitment confirmed, version shown) when
    the client sent the declarations (``listings.declarations``), recorded with the application.
    ``hooks``' applicant checks may refuse the bidder (a registered right it could not receive);
    they run before anything is written. ``consortium`` is (the lead's share, the members) of a
    joint bid (``listings.consortia``): checked, then recorded with the application, every member
    ``invited`` until it confirms."""
    listing = await locked(session, listing_id)
    now = utcnow()
    declared_at, version = declarations.check(*declared, now) if declared is not None else (None, None)
    if not registration_open(listing, now):
        raise Conflict("registration for this listing is not open", code="registration_closed")
    exists = await session.execute(
        select(Application.id).where(
            Application.listing_id == listing_id, Application.bidder_id == bidder.user_id
        )
    )
    if exists.first() is not None:
        raise Conflict("you have already applied to this listing", code="already_applied")
    applicant = await session.get(User, bidder.user_id)
    own_code = applicant.credit_code if applicant is not None else None
    parties: list[consortia.Party] = []
    lead_bp = 0
    if consortium is not None:
        lead_bp, parties = consortia.checked_parties(own_code, *consortium)
    # only the applicant's own entity: the members are checked at their own confirmation, so that
    # naming an entity tells the lead nothing about whether it bids (sealed until the close)
    await consortia.check_applicant_free(session, listing_id, own_code)
    for check in hooks.check_applicant if hooks is not None else ():
        await check(session, listing, bidder.user_id)
    application = Application(
        listing_id=listing_id,
        bidder_id=bidder.user_id,
        status="pending",
        deposit_account=deposit_account_number(),
        deposit_due=listing.deposit,
        created_at=now,
        declared_at=declared_at,
        declaration_version=version,
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
        {"application_id": application.id, "bidder_id": bidder.user_id}
        | ({"declarations": version} if version is not None else {}),
    )
    if consortium is not None:
        assert applicant is not None and own_code is not None  # checked_parties requires the code
        await consortia.form(session, application, applicant, own_code, lead_bp, parties, now)
    await session.commit()
    return application, listing


async def visible_application(session: AsyncSession, application_id: int, caller: Principal) -> Application:
    """The application if the caller is its owner or staff; otherwise it does not exist.

    Staff get 403 ``applicants_sealed`` while its listing's applicants are sealed (资格后审).
    """
    application = await session.get(Application, application_id)
    if application is None or (not caller.is_staff and application.bidder_id != caller.user_id):
        raise NotFound("no such application")
    if caller.is_staff:
        ensure_unsealed(await get_listing(session, application.listing_id))
    return application


async def staff_applications(session: AsyncSession, listing_id: int) -> list[Application]:
    """Every application to a listing, for staff: 403 ``applicants_sealed`` while they are sealed."""
    ensure_unsealed(await get_listing(session, listing_id))
    query = select(Application).where(Application.listing_id == listing_id).order_by(Application.created_at)
    return list((await session.execute(query)).scalars())


async def record_read(
    session: AsyncSession, listing_id: int, reader: Principal, what: str, **subject: int
) -> None:
    """Audit a staff read of applicant data (who read what) and commit it.

    Under post-qualification the log is what shows that nobody looked before the close; under
    pre-qualification it shows who knew the applicants while bidding ran.
    """
    await append(
        session,
        f"listing:{listing_id}",
        f"user:{reader.user_id}",
        "applicants.read",
        {"what": what, **subject},
    )
    await session.commit()


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


async def qualify_if_ready(
    session: AsyncSession, application: Application, listing: Listing, hooks: ListingHooks
) -> bool:
    """Paid in full before the registration deadline, and approved unless qualification is post
    -> qualified with a bid number, and admitted to the auction if it already runs.

    The caller holds the listing row lock, which serialises bid-number draws.
    """
    admitted = application.status == "approved" or (
        listing.qualification == "post" and application.status == "pending"
    )
    if not admitted or application.paid_in_full_at is None:
        return False
    if application.paid_in_full_at >= listing.registration_closes_at:
        return False
    if await consortia.awaits_members(session, application.id):
        return False  # a consortium bids once every member confirmed (listings.consortium_answers)
    now = utcnow()
    application.status = "qualified"
    application.bid_number = await _new_bid_number(session, listing.id)
    application.qualified_at = now
    await session.flush()
    await append(
        session,
        listing.stream,
        "system",
        "application.qualified",
        {"application_id": application.id, "bid_number": application.bid_number},
    )
    for hook in hooks.on_qualified:
        await hook(session, application, now)
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
    now = utcnow()
    for lock in hooks.lock_auction:
        await lock(session, listing, now)
    if listing.qualification == "post":
        raise Conflict(
            "this listing qualifies applicants on payment (资格后审); its winner is reviewed after the close",
            code="post_qualification",
        )
    if application.status != "pending":
        raise Conflict(f"the application is already {application.status}", code="application_decided")
    if not decisions_open(listing, now):
        raise Conflict(f"the listing is {listing.status}", code="registration_closed")
    if approve and await consortia.awaits_members(session, application.id):
        if now >= listing.registration_closes_at:  # the lifecycle's sweep ends it as a refusal
            raise Conflict(
                "the deposit deadline passed before every member confirmed: the joint bid has lapsed",
                code="consortium_confirmation_closed",
            )
        raise Conflict(
            "a member of this consortium has not confirmed the joint bid yet",
            code="consortium_unconfirmed",
        )
    if not approve and not (reason and reason.strip()):
        raise Unprocessable(
            "a rejection needs a reason",
            code="reason_required",
            errors=[field_error("reason", "required when rejecting", "reason_required")],
        )
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
        await qualify_if_ready(session, application, listing, hooks)
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


async def mine(session: AsyncSession, bidder: Principal) -> list[Application]:
    query = (
        select(Application)
        .where(Application.bidder_id == bidder.user_id)
        .order_by(Application.created_at.desc())
    )
    return list((await session.execute(query)).scalars())
