"""Joint bidding (联合竞买): a consortium applies as one bidder, with one bid number.

The lead applicant (牵头人) applies with its own share and its members, each named by its unified
social credit code, with a name and a share (``listings.consortium_shares``: exact basis points
summing to 100 %). Each member confirms, or refuses, with its own login (the account registered
with that credit code, as the registry and the identity code identify a legal entity) before the
deposit is due (``registration_closes_at``). Until every member has confirmed, the application
is neither approved (资格前审) nor qualified, so it gets no bid number and cannot bid. A refusal
ends the application (``rejected``, its deposit released by the ordinary path); a member that has
not confirmed by the deadline is ``lapsed``, which counts as a refusal.

One legal entity, one bidder (shared rules §1.2 and docs/rules.md §2), by credit code, both ways
round: an entity that confirmed a live consortium (a lead confirms by applying) may not apply
alone or lead another (409 ``in_consortium``), and a member may not confirm while its entity bids
on the listing alone or in another consortium (409 ``consortium_member_bidding``). "Live": the
application is neither rejected nor closed. Only the party's own confirmation counts: naming an
entity neither blocks it (an invitation it has not answered takes nothing) nor tells the lead
anything about it, since who bids is sealed until the close (资格后审 in particular). Each check
tells the caller only about its own entity, and no error carries another's credit code.

This module reads, validates and records the parties; ``listings.applications`` writes the
application around them, ``listings.consortium_answers`` the members' answers and the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.errors import Conflict, Unprocessable, field_error
from exchange.identity.codes import CodeError, validate_credit_code
from exchange.identity.models import User
from listings.applications_models import Application, ConsortiumMember
from listings.consortium_shares import ShareError, format_share, parse_share, shares_complete

ConsortiumStatus = Literal["awaiting", "confirmed", "refused", "lapsed", "ended"]
"""``awaiting`` members' confirmations; every member ``confirmed``; ended because one ``refused``,
or one had not confirmed by the deposit deadline (``lapsed``), or ``ended`` otherwise while a member
was still invited (the operator rejected the application)."""

ENDED_APPLICATIONS = ("rejected", "closed")
MAX_MEMBERS = 20


@dataclass(frozen=True, slots=True)
class MemberInput:
    """A member as the lead names it (the API's body, before any check)."""

    credit_code: str
    name: str
    share: str


@dataclass(frozen=True, slots=True)
class Party:
    """A checked party: normalised credit code, name, share in basis points."""

    credit_code: str
    name: str
    share_bp: int


@dataclass(frozen=True, slots=True)
class Share:
    """A party as documents and results name it."""

    credit_code: str
    name: str
    share_bp: int
    lead: bool

    @property
    def share(self) -> str:
        return format_share(self.share_bp)


def _invalid(code: str, message: str, field: str) -> Unprocessable:
    return Unprocessable(message, code=code, errors=[field_error(field, message, code)])


def checked_parties(
    lead_code: str | None, lead_share: str, members: Sequence[MemberInput]
) -> tuple[int, list[Party]]:
    """The lead's share and the members, checked: 422 with a code for the first thing wrong.

    ``consortium_lead_code_required`` (the lead has no credit code), ``consortium_members_required``
    (no member besides the lead), ``credit_code_invalid`` (a member's code fails its check
    character), ``consortium_member_duplicate`` (a credit code twice, the lead's included),
    ``consortium_shares_invalid`` (a share that is no percentage above 0 and below 100 with at most
    two places, or shares that do not sum to exactly 100 %).
    """
    if not lead_code:
        raise Unprocessable(
            "a consortium is led by an enterprise registered with its unified social credit code",
            code="consortium_lead_code_required",
        )
    if not members:
        raise _invalid(
            "consortium_members_required",
            "a consortium has at least one member besides the lead",
            "consortium.members",
        )
    if len(members) > MAX_MEMBERS:
        raise _invalid(
            "consortium_members_too_many",
            f"a consortium has at most {MAX_MEMBERS} members",
            "consortium.members",
        )
    try:
        lead_bp = parse_share(lead_share)
    except ShareError as exc:
        raise _invalid("consortium_shares_invalid", exc.message, "consortium.lead_share") from exc
    seen = {lead_code}
    parties: list[Party] = []
    for i, member in enumerate(members):
        where = f"consortium.members[{i}]"
        try:
            code = validate_credit_code(member.credit_code)
        except CodeError as exc:
            raise _invalid("credit_code_invalid", exc.message, f"{where}.credit_code") from exc
        if code in seen:
            raise _invalid(
                "consortium_member_duplicate",
                f"the credit code {code} is named twice in the consortium",
                f"{where}.credit_code",
            )
        seen.add(code)
        name = member.name.strip()
        if not name:
            raise _invalid("consortium_name_required", "every member needs its name", f"{where}.name")
        try:
            share = parse_share(member.share)
        except ShareError as exc:
            raise _invalid("consortium_shares_invalid", exc.message, f"{where}.share") from exc
        parties.append(Party(code, name, share))
    if not shares_complete([lead_bp, *(p.share_bp for p in parties)]):
        total = format_share(lead_bp + sum(p.share_bp for p in parties))
        raise _invalid(
            "consortium_shares_invalid",
            f"the shares sum to {total} percent, not 100",
            "consortium.members",
        )
    return lead_bp, parties


async def members_of(session: AsyncSession, application_id: int) -> list[ConsortiumMember]:
    """The parties of an application's consortium, the lead first; empty for a bidder alone."""
    query = (
        select(ConsortiumMember)
        .where(ConsortiumMember.application_id == application_id)
        .order_by(ConsortiumMember.position)
    )
    return list((await session.execute(query)).scalars())


async def awaits_members(session: AsyncSession, application_id: int) -> bool:
    """Whether a member of the application's consortium has not confirmed (none for a bidder alone)."""
    query = select(ConsortiumMember.id).where(
        ConsortiumMember.application_id == application_id, ConsortiumMember.status != "confirmed"
    )
    return (await session.execute(query.limit(1))).first() is not None


def status_of(
    members: Sequence[ConsortiumMember],
    deadline: datetime,
    now: datetime,
    *,
    application_status: str | None = None,
) -> ConsortiumStatus:
    """The consortium's state, also before a lapse is written: past the deadline, unconfirmed is
    lapsed. An application ended otherwise (the operator rejected it) awaits nothing any more."""
    statuses = {m.status for m in members}
    if "refused" in statuses:
        return "refused"
    if "lapsed" in statuses:
        return "lapsed"
    if statuses <= {"confirmed"}:
        return "confirmed"
    if application_status in ENDED_APPLICATIONS:
        return "ended"
    return "lapsed" if now >= deadline else "awaiting"


async def confirmed_codes(
    session: AsyncSession, listing_id: int, *, except_application: int | None = None
) -> set[str]:
    """Credit codes of the confirmed parties (leads included) of every live consortium on the
    listing: an invitation not (yet) confirmed takes nobody, so naming an entity cannot block it."""
    query = (
        select(ConsortiumMember.credit_code)
        .join(Application, Application.id == ConsortiumMember.application_id)
        .where(
            ConsortiumMember.listing_id == listing_id,
            ConsortiumMember.status == "confirmed",
            Application.status.not_in(ENDED_APPLICATIONS),
        )
    )
    if except_application is not None:
        query = query.where(ConsortiumMember.application_id != except_application)
    return set((await session.execute(query)).scalars())


async def applies_itself(session: AsyncSession, listing_id: int, code: str) -> bool:
    """Whether an account of the entity ``code`` has a live application of its own on the listing."""
    query = (
        select(Application.id)
        .join(User, Application.bidder_id == User.id)
        .where(
            Application.listing_id == listing_id,
            Application.status.not_in(ENDED_APPLICATIONS),
            User.credit_code == code,
        )
    )
    return (await session.execute(query.limit(1))).first() is not None


async def form(
    session: AsyncSession,
    application: Application,
    lead: User,
    lead_code: str,
    lead_bp: int,
    parties: Sequence[Party],
    now: datetime,
) -> None:
    """The consortium's rows: the lead ``confirmed`` (applying is its confirmation), the others invited."""
    rows = [
        (lead_code, lead.display_name, lead_bp, True),
        *((p.credit_code, p.name, p.share_bp, False) for p in parties),
    ]
    for position, (code, name, share, is_lead) in enumerate(rows):
        session.add(
            ConsortiumMember(
                application_id=application.id,
                listing_id=application.listing_id,
                credit_code=code,
                name=name,
                share_bp=share,
                lead=is_lead,
                position=position,
                status="confirmed" if is_lead else "invited",
                user_id=lead.id if is_lead else None,
                decided_at=now if is_lead else None,
                created_at=now,
            )
        )
    await session.flush()
    await append(
        session,
        application.stream,
        f"user:{lead.id}",
        "consortium.formed",
        {
            "application_id": application.id,
            "parties": [{"credit_code": code, "share_bp": share} for code, _, share, _ in rows],
        },
    )


async def check_applicant_free(session: AsyncSession, listing_id: int, code: str | None) -> None:
    """409 ``in_consortium``: the applicant's entity confirmed a live consortium on the listing.

    Applying (alone or as a lead) checks only the applicant's own entity: the members a lead
    names are checked at their own confirmation, so the lead learns nothing about who bids."""
    if code and code in await confirmed_codes(session, listing_id):
        raise Conflict(
            "your enterprise has confirmed a joint bid on this listing: it may not also apply "
            "alone or in another consortium (one legal entity, one bidder)",
            code="in_consortium",
        )


async def check_confirming_free(
    session: AsyncSession, listing_id: int, application_id: int, member: User
) -> None:
    """409 ``consortium_member_bidding`` at a member's confirmation: its own entity applies on the
    listing itself or confirmed another live consortium. It learns only about itself."""
    code = member.credit_code or ""
    if await applies_itself(session, listing_id, code) or code in await confirmed_codes(
        session, listing_id, except_application=application_id
    ):
        raise Conflict(
            "your enterprise already bids on this listing, alone or in another consortium: "
            "one legal entity, one bidder",
            code="consortium_member_bidding",
        )


async def invitations(session: AsyncSession, credit_code: str) -> list[ConsortiumMember]:
    """The memberships (not leads) naming this credit code, newest first."""
    query = (
        select(ConsortiumMember)
        .where(ConsortiumMember.credit_code == credit_code, ConsortiumMember.lead.is_(False))
        .order_by(ConsortiumMember.created_at.desc(), ConsortiumMember.id)
    )
    return list((await session.execute(query)).scalars())


async def shares_by_bid_number(session: AsyncSession, listing_id: int) -> dict[str, list[Share]]:
    """The parties behind each consortium's bid number on the listing, the lead first."""
    query = (
        select(Application.bid_number, ConsortiumMember)
        .join(Application, Application.id == ConsortiumMember.application_id)
        .where(Application.listing_id == listing_id, Application.bid_number.is_not(None))
        .order_by(ConsortiumMember.application_id, ConsortiumMember.position)
    )
    found: dict[str, list[Share]] = {}
    for number, member in (await session.execute(query)).all():
        if number is None:
            continue
        found.setdefault(number, []).append(
            Share(member.credit_code, member.name, member.share_bp, member.lead)
        )
    return found


async def shares_of_application(session: AsyncSession, application_id: int) -> list[Share]:
    """The parties of one application's consortium, the lead first; empty for a bidder alone."""
    return [
        Share(m.credit_code, m.name, m.share_bp, m.lead) for m in await members_of(session, application_id)
    ]


def joint_name(shares: Sequence[Share]) -> str:
    """How a consortium is named where one name is printed: every party, the lead first."""
    return "、".join(s.name for s in shares) + "（联合竞买）"
