"""Joint bids (联合竞买) as a bidder's ``/me`` shows them: to the lead, each party's answer on its
application; to a member, the joint bids naming its credit code, to confirm or refuse.

Read only, from the consortium's rows (``listings.consortia``), in the same terms as the API's
``ConsortiumView`` (``listings.applications_controllers``): the status is computed at ``now``, so a
consortium whose deposit deadline has passed reads ``lapsed`` before the lifecycle writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from exchange.identity.models import User
from listings import consortia
from listings.applications_models import Application, ConsortiumMember
from listings.consortium_shares import format_share
from listings.models import Listing
from listings.services import get_listing

__all__ = ["Invitation", "JointBid", "JointParty", "invitations_of", "joint_bid_of"]


@dataclass(frozen=True)
class JointParty:
    credit_code: str
    name: str
    share: str
    """Percent, two places (``33.33``)."""
    lead: bool
    status: str
    """``confirmed`` (the lead always), ``invited``, ``refused`` or ``lapsed``."""
    decided_at: datetime | None
    reason: str | None
    """Why a member refused, when it said."""


@dataclass(frozen=True)
class JointBid:
    application_id: int
    status: consortia.ConsortiumStatus
    confirm_by: datetime
    parties: list[JointParty]

    @property
    def lead(self) -> JointParty:
        return self.parties[0]


@dataclass(frozen=True)
class Invitation:
    """A joint bid naming the viewer as a member, with the viewer's own place in it."""

    joint: JointBid
    listing: Listing
    application_status: str
    me: JointParty

    @property
    def may_answer(self) -> bool:
        """Whether the buttons show: the member has not answered and the joint bid is still waiting
        (the server refuses any other answer, 409, so the page does not offer it)."""
        return self.me.status == "invited" and self.joint.status == "awaiting"


def _joint(
    application: Application, members: list[ConsortiumMember], deadline: datetime, now: datetime
) -> JointBid:
    parties = [
        JointParty(
            credit_code=m.credit_code,
            name=m.name,
            share=format_share(m.share_bp),
            lead=m.lead,
            # the lapse is written only when the bidding opens: past the deadline it reads so already
            status="lapsed" if m.status == "invited" and now >= deadline else m.status,
            decided_at=m.decided_at,
            reason=m.reason,
        )
        for m in members
    ]
    status = consortia.status_of(members, deadline, now, application_status=application.status)
    return JointBid(application.id, status, deadline, parties)


async def joint_bid_of(
    session: AsyncSession, application: Application, listing: Listing, now: datetime
) -> JointBid | None:
    """The joint bid an application makes, for its lead; ``None`` for a bidder alone."""
    members = await consortia.members_of(session, application.id)
    if not members:
        return None
    return _joint(application, members, listing.registration_closes_at, now)


async def invitations_of(session: AsyncSession, user_id: int, now: datetime) -> list[Invitation]:
    """The joint bids naming the user's credit code as a member, newest first (none for an
    individual: a consortium's parties are enterprises)."""
    user = await session.get(User, user_id)
    if user is None or not user.credit_code:
        return []
    found = []
    for membership in await consortia.invitations(session, user.credit_code):
        application = await session.get(Application, membership.application_id)
        if application is None:
            continue
        listing = await get_listing(session, application.listing_id)
        joint = _joint(
            application,
            await consortia.members_of(session, application.id),
            listing.registration_closes_at,
            now,
        )
        me = next(p for p in joint.parties if p.credit_code == membership.credit_code)
        found.append(Invitation(joint, listing, application.status, me))
    return found
