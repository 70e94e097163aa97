"""A member's answer to a joint bid (联合竞买), and the end of a consortium that is refused or lapses.

Each member confirms or refuses with its own login (the account registered with its credit code)
before the deposit deadline. The last confirmation qualifies the application when it is approved
(or under 资格后审) and paid; a refusal ends it (``rejected``, the deposit released by the path of
a rejected application); a member that has not confirmed by the deadline lapses, which counts
as a refusal. Every writer here locks the listing, then the application (``listings.applications``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound
from exchange.identity.models import User
from exchange.identity.tokens import Principal
from listings import consortia
from listings.applications import locked_with_listing, qualify_if_ready
from listings.applications_models import Application, ConsortiumMember
from listings.hooks import ListingHooks
from listings.models import Listing
from listings.qualification import ensure_unsealed
from listings.services import get_listing


async def end_consortium(
    session: AsyncSession,
    application: Application,
    hooks: ListingHooks,
    member: ConsortiumMember,
    now: datetime,
) -> None:
    """A member refused, or lapsed: the application ends (``rejected``, the reason naming the
    member) and its deposit is released as a rejected application's is (the hooks)."""
    refused = member.status == "refused"
    application.status = "rejected"
    application.decision_reason = f"联合体成员{member.name}（{member.credit_code}）" + (
        "拒绝联合竞买" if refused else "未在保证金截止时间前确认联合竞买"
    )
    application.decided_at = now
    await session.flush()
    await append(
        session,
        application.stream,
        f"user:{member.user_id}" if refused and member.user_id is not None else "system",
        "consortium.refused" if refused else "consortium.lapsed",
        {"application_id": application.id, "credit_code": member.credit_code},
    )
    for hook in hooks.on_application_rejected:
        await hook(session, application, now)


async def lapse_if_overdue(
    session: AsyncSession, application: Application, listing: Listing, hooks: ListingHooks, now: datetime
) -> bool:
    """Past the deposit deadline with a member unconfirmed: the members that did not confirm lapse
    and the application ends (a refusal). The caller holds the listing's lock; True if it lapsed."""
    if now < listing.registration_closes_at or application.status in consortia.ENDED_APPLICATIONS:
        return False
    waiting = [m for m in await consortia.members_of(session, application.id) if m.status == "invited"]
    if not waiting:
        return False
    for member in waiting:
        member.status, member.decided_at = "lapsed", now
    await end_consortium(session, application, hooks, waiting[0], now)
    return True


async def lapse_unconfirmed(
    session: AsyncSession, listing: Listing, hooks: ListingHooks, now: datetime
) -> int:
    """At the opening of the bidding: every consortium of the listing still waiting for a member
    lapses, so its deposit goes back now and it can never be qualified late. The caller holds the
    listing's lock (the lifecycle's transition); returns how many lapsed."""
    waiting = await session.scalars(
        select(Application)
        .where(
            Application.listing_id == listing.id,
            Application.id.in_(
                select(ConsortiumMember.application_id).where(
                    ConsortiumMember.listing_id == listing.id, ConsortiumMember.status == "invited"
                )
            ),
        )
        .order_by(Application.id)
        .with_for_update()
    )
    return sum([await lapse_if_overdue(session, application, listing, hooks, now) for application in waiting])


async def respond(
    session: AsyncSession,
    application_id: int,
    caller: Principal,
    confirm: bool,
    reason: str | None,
    hooks: ListingHooks,
) -> tuple[Application, Listing]:
    """A member confirms or refuses the joint bid with its own login (commits).

    The caller's account must be registered with the credit code of a member (not the lead) of the
    application's consortium: otherwise 404, as for any application not one's own. 409
    ``consortium_confirmation_closed`` past the deposit deadline (the member lapsed, the
    application ended), ``consortium_member_decided`` once it answered or the application ended,
    ``consortium_member_bidding`` when its entity bids on the listing alone or in another
    consortium; the applicant checks of ``hooks`` refuse a member as they refuse an applicant (a
    registered right it could not receive: ``registry_no_account``...). The last confirmation
    qualifies the application if its deposit is in.
    """
    application, listing = await locked_with_listing(session, application_id)
    now = utcnow()
    for lock in hooks.lock_auction:
        await lock(session, listing, now)
    user = await session.get(User, caller.user_id)
    code = user.credit_code if user is not None else None
    members = await consortia.members_of(session, application.id)
    member = next((m for m in members if not m.lead and code and m.credit_code == code), None)
    if user is None or member is None:
        raise NotFound("no such application")
    lapsed_now = await lapse_if_overdue(session, application, listing, hooks, now)
    if lapsed_now:
        await session.commit()
    if lapsed_now or member.status == "lapsed":  # now, or when the bidding opened
        raise Conflict(
            "the deposit deadline has passed: the joint bid was not confirmed in time and has ended",
            code="consortium_confirmation_closed",
        )
    if member.status != "invited" or application.status in consortia.ENDED_APPLICATIONS:
        raise Conflict(
            f"this member has already answered ({member.status}), or the application has ended",
            code="consortium_member_decided",
        )
    if confirm:
        await consortia.check_confirming_free(session, listing.id, application.id, user)
        # each party receives its share: a registered right needs each to be able to receive it
        for check in hooks.check_applicant:
            await check(session, listing, user.id)
        member.status, member.user_id, member.decided_at = "confirmed", user.id, now
        member.name = user.display_name  # the registered name is the one documents print
        await session.flush()
        await append(
            session,
            application.stream,
            f"user:{user.id}",
            "consortium.confirmed",
            {"application_id": application.id, "credit_code": member.credit_code},
        )
        if not await consortia.awaits_members(session, application.id):
            await qualify_if_ready(session, application, listing, hooks)
    else:
        member.status, member.user_id, member.decided_at = "refused", user.id, now
        member.reason = reason
        await end_consortium(session, application, hooks, member, now)
    await session.commit()
    return application, listing


async def consortium_view_access(
    session: AsyncSession, application_id: int, caller: Principal
) -> tuple[Application, Listing, list[ConsortiumMember]]:
    """An application's consortium for its lead, one of its members (by credit code) or staff
    (403 ``applicants_sealed`` while sealed); otherwise, or without a consortium, 404."""
    application = await session.get(Application, application_id)
    if application is None:
        raise NotFound("no such application")
    listing = await get_listing(session, application.listing_id)
    if caller.is_staff:  # first: a 404 for a lone bidder would tell joint from lone under 资格后审
        ensure_unsealed(listing)
    members = await consortia.members_of(session, application.id)
    allowed = caller.is_staff or application.bidder_id == caller.user_id
    if not allowed and members:
        user = await session.get(User, caller.user_id)
        allowed = user is not None and any(m.credit_code == user.credit_code for m in members)
    if not allowed or not members:
        raise NotFound("no such consortium")
    return application, listing, members
