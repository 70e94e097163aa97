"""Application endpoints: bidders apply and see their own; operators decide (资格前审).

Staff reads of applicants are refused while a listing's applicants are sealed (资格后审, 403
``applicants_sealed``) and audited otherwise (``applications.record_read``).

A consortium (联合竞买) applies through its lead with ``consortium`` in the apply body; each member
answers with its own login (``POST /applications/{id}/consortium/confirmation``) and finds its
invitations at ``GET /consortia/invitations`` (``listings.consortia``, docs/joint-bidding.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, PathParameter

from exchange.clock import utcnow
from exchange.deps import MAX_ID, CurrentUser, ListingId, Session
from exchange.identity.guards import requires
from exchange.identity.models import User
from exchange.money import format_yuan
from listings import applications, consortia, consortium_answers, documents_upload
from listings.applications_models import Application, ApplicationDocument, ConsortiumMember
from listings.consortium_shares import format_share
from listings.hooks import ListingHooks
from listings.models import Listing
from listings.services import get_listing

ApplicationId = Annotated[int, PathParameter(description="Application id", ge=1, le=MAX_ID)]


class Declarations(msgspec.Struct, forbid_unknown_fields=True):
    """The bidder confirms the 竞买申请书 and the 竞买承诺书 (``listings.declarations``)."""

    application_form: bool
    commitment: bool
    version: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    """The version of the texts the client showed; 409 ``declarations_outdated`` when not current."""


Share = Annotated[
    str,
    msgspec.Meta(
        max_length=16,
        description='A percentage, a decimal string with at most two places ("40", "33.34"): '
        "above 0 and below 100; the shares of a consortium sum to exactly 100",
        examples=["40", "33.34"],
    ),
]


class ConsortiumMemberRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A member of the joint bid as the lead names it."""

    credit_code: Annotated[str, msgspec.Meta(max_length=32)]
    """Its unified social credit code (checked with its check character); it confirms with the
    account registered with this code."""
    name: Annotated[str, msgspec.Meta(max_length=200)]
    share: Share


class ConsortiumRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A joint bid (联合竞买): the applicant leads it with ``lead_share``, beside ``members``."""

    lead_share: Share
    members: Annotated[list[ConsortiumMemberRequest], msgspec.Meta(max_length=consortia.MAX_MEMBERS)]


class ApplicationRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The apply body, optional: clients that send none apply without recorded declarations."""

    declarations: Declarations | None = None
    consortium: ConsortiumRequest | None = None
    """A joint bid; absent when the applicant bids alone."""


class ConsortiumMemberView(msgspec.Struct, omit_defaults=True):
    credit_code: str
    name: str
    share: str
    """Percent, two places."""
    lead: bool
    status: str
    """``confirmed`` (the lead always), ``invited``, ``refused`` or ``lapsed`` (not confirmed by the
    deposit deadline)."""
    decided_at: datetime | None = None


class ConsortiumView(msgspec.Struct, omit_defaults=True):
    """A joint bid: its parties with their shares, and whether every member confirmed."""

    application_id: int
    listing_id: int
    status: str
    """``awaiting`` confirmations, ``confirmed``, ``refused``, ``lapsed`` or ``ended`` (rejected by
    the operator while a member was still invited): the last three ended it."""
    confirm_by: datetime
    """The deposit deadline: a member that has not confirmed by then counts as refusing."""
    members: list[ConsortiumMemberView]
    application_status: str | None = None
    server_time: datetime | None = None


class ConsortiumAnswer(msgspec.Struct, forbid_unknown_fields=True):
    """A member's answer to the joint bid."""

    confirm: bool
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    """Why it refuses (optional)."""


class ApplicationCreated(msgspec.Struct, omit_defaults=True):
    id: int
    status: str
    deposit_account: str
    deposit_due: str
    deposit_deadline: datetime
    declared_at: datetime | None = None
    consortium: ConsortiumView | None = None


@dataclass
class DocumentUpload:
    """The upload form: one part named ``file``.

    A bare ``UploadFile`` body took the first file part of any name, and a form
    without one crashed in Litestar (a 500); a missing ``file`` is now 400
    ``validation_failed`` naming the field.
    """

    file: UploadFile


class DocumentView(msgspec.Struct):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class ApplicationView(msgspec.Struct, omit_defaults=True):
    id: int
    listing_id: int
    status: str
    deposit_account: str
    deposit_due: str
    deposit_paid: str
    deposit_deadline: datetime
    bid_number: str | None = None
    decision_reason: str | None = None
    documents: list[DocumentView] = msgspec.field(default_factory=list)
    declared_at: datetime | None = None
    """When the bidder confirmed the 竞买申请书 and 竞买承诺书; absent when it did not send them."""
    paid_in_full_at: datetime | None = None
    """When the deposit arrived in full (by the bank's booking time)."""
    consortium: ConsortiumView | None = None
    """The joint bid this application makes, if it is one."""


class StaffApplicationView(ApplicationView, omit_defaults=True):
    bidder_id: int | None = None
    bidder_name: str | None = None
    credit_code: str | None = None


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    approve: bool
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


def _document_view(d: ApplicationDocument) -> DocumentView:
    return DocumentView(
        id=d.id, filename=d.filename, content_type=d.content_type, size=d.size, sha256=d.sha256
    )


def consortium_view(
    application: Application, listing: Listing, members: list[ConsortiumMember]
) -> ConsortiumView | None:
    if not members:
        return None
    now = utcnow()
    return ConsortiumView(
        application_id=application.id,
        listing_id=application.listing_id,
        status=consortia.status_of(
            members, listing.registration_closes_at, now, application_status=application.status
        ),
        confirm_by=listing.registration_closes_at,
        members=[
            ConsortiumMemberView(
                credit_code=m.credit_code,
                name=m.name,
                share=format_share(m.share_bp),
                lead=m.lead,
                status=m.status,
                decided_at=m.decided_at,
            )
            for m in members
        ],
        application_status=application.status,
        server_time=now,
    )


def provide_hooks(state: State) -> ListingHooks:
    hooks: ListingHooks = state.listing_hooks
    return hooks


async def _view(
    session: Session, application: Application, hooks: ListingHooks, *, staff: bool
) -> ApplicationView | StaffApplicationView:
    listing = await get_listing(session, application.listing_id)
    view = ApplicationView(
        id=application.id,
        listing_id=application.listing_id,
        status=application.status,
        deposit_account=application.deposit_account,
        deposit_due=format_yuan(application.deposit_due),
        deposit_paid=format_yuan(await hooks.deposit_paid(session, application.id)),
        deposit_deadline=listing.registration_closes_at,
        bid_number=application.bid_number,
        decision_reason=application.decision_reason,
        documents=[_document_view(d) for d in await documents_upload.listed(session, application.id)],
        declared_at=application.declared_at,
        paid_in_full_at=application.paid_in_full_at,
        consortium=consortium_view(application, listing, await consortia.members_of(session, application.id)),
    )
    if not staff:
        return view
    bidder = await session.get(User, application.bidder_id)
    return StaffApplicationView(
        **msgspec.structs.asdict(view),
        bidder_id=application.bidder_id,
        bidder_name=bidder.display_name if bidder else None,
        credit_code=bidder.credit_code if bidder else None,
    )


class ApplicationController(Controller):
    path = "/api/v1"
    tags = ["registration"]
    dependencies = {"hooks": Provide(provide_hooks, sync_to_thread=False)}

    @post(
        "/listings/{listing_id:int}/applications",
        operation_id="applyToListing",
        guards=[requires("bidder")],
        summary="Apply to a listing (报名); returns the deposit account for this application",
    )
    async def apply(
        self,
        session: Session,
        user: CurrentUser,
        listing_id: ListingId,
        hooks: NamedDependency[ListingHooks],
        data: JSONBody[ApplicationRequest | None] = None,
    ) -> ApplicationCreated:
        given = data.declarations if data is not None else None
        declared = (given.application_form, given.commitment, given.version) if given is not None else None
        joint = data.consortium if data is not None else None
        consortium = (
            (
                joint.lead_share,
                [consortia.MemberInput(m.credit_code, m.name, m.share) for m in joint.members],
            )
            if joint is not None
            else None
        )
        application, listing = await applications.apply(
            session, listing_id, user, declared, hooks=hooks, consortium=consortium
        )
        members = await consortia.members_of(session, application.id) if joint is not None else []
        return ApplicationCreated(
            id=application.id,
            status=application.status,
            deposit_account=application.deposit_account,
            deposit_due=format_yuan(application.deposit_due),
            deposit_deadline=listing.registration_closes_at,
            declared_at=application.declared_at,
            consortium=consortium_view(application, listing, members),
        )

    @get(
        "/listings/{listing_id:int}/applications",
        operation_id="listApplications",
        guards=[requires("operator", "auditor", "admin")],
        summary="Every application to a listing (staff only; audited; 403 applicants_sealed under 资格后审 until the close)",
    )
    async def of_listing(
        self, session: Session, user: CurrentUser, hooks: NamedDependency[ListingHooks], listing_id: ListingId
    ) -> list[StaffApplicationView]:
        views = [
            await _view(session, a, hooks, staff=True)
            for a in await applications.staff_applications(session, listing_id)
        ]
        await applications.record_read(session, listing_id, user, "applications")
        return views  # type: ignore[return-value]

    @get(
        "/applications/mine",
        operation_id="listMyApplications",
        guards=[requires("bidder")],
        summary="The caller's own applications",
    )
    async def mine(
        self, session: Session, user: CurrentUser, hooks: NamedDependency[ListingHooks]
    ) -> list[ApplicationView]:
        return [await _view(session, a, hooks, staff=False) for a in await applications.mine(session, user)]

    @get(
        "/applications/{application_id:int}",
        operation_id="getApplication",
        guards=[requires("bidder", "operator", "auditor", "admin")],
        summary="One application: its owner or staff only",
    )
    async def detail(
        self,
        session: Session,
        user: CurrentUser,
        hooks: NamedDependency[ListingHooks],
        application_id: ApplicationId,
    ) -> ApplicationView | StaffApplicationView:
        application = await applications.visible_application(session, application_id, user)
        view = await _view(session, application, hooks, staff=user.is_staff)
        if user.is_staff:
            await applications.record_read(
                session, application.listing_id, user, "application", application_id=application.id
            )
        return view

    @post(
        "/applications/{application_id:int}/decision",
        operation_id="decideApplication",
        guards=[requires("operator")],
        status_code=200,
        summary="Approve or reject an application (资格审查)",
    )
    async def decide(
        self,
        data: JSONBody[Decision],
        session: Session,
        user: CurrentUser,
        hooks: NamedDependency[ListingHooks],
        application_id: ApplicationId,
    ) -> StaffApplicationView:
        application = await applications.decide(
            session, application_id, data.approve, data.reason, user, hooks
        )
        return await _view(session, application, hooks, staff=True)  # type: ignore[return-value]

    @get(
        "/applications/{application_id:int}/consortium",
        operation_id="getConsortium",
        guards=[requires("bidder", "operator", "auditor", "admin")],
        summary="A joint bid's parties and confirmations (联合竞买): its lead, its members (by credit code) or staff",
    )
    async def consortium(
        self, session: Session, user: CurrentUser, application_id: ApplicationId
    ) -> ConsortiumView:
        application, listing, members = await consortium_answers.consortium_view_access(
            session, application_id, user
        )
        view = consortium_view(application, listing, members)
        assert view is not None  # consortium_view_access found members
        if user.is_staff:
            await applications.record_read(
                session, application.listing_id, user, "consortium", application_id=application.id
            )
        return view

    @post(
        "/applications/{application_id:int}/consortium/confirmation",
        operation_id="answerConsortium",
        guards=[requires("bidder")],
        status_code=200,
        summary="A member confirms or refuses a joint bid with its own login, before the deposit deadline",
        description=(
            "Only the account registered with a member's credit code may answer (404 otherwise). "
            "A refusal ends the application and releases its deposit. 409 "
            "`consortium_confirmation_closed` past the deposit deadline (which counts as a "
            "refusal), `consortium_member_decided` once answered, `consortium_member_bidding` "
            "when the member's entity bids on the listing alone or in another consortium."
        ),
    )
    async def answer(
        self,
        data: JSONBody[ConsortiumAnswer],
        session: Session,
        user: CurrentUser,
        hooks: NamedDependency[ListingHooks],
        application_id: ApplicationId,
    ) -> ConsortiumView:
        application, listing = await consortium_answers.respond(
            session, application_id, user, data.confirm, data.reason, hooks
        )
        view = consortium_view(application, listing, await consortia.members_of(session, application.id))
        assert view is not None
        return view

    @get(
        "/consortia/invitations",
        operation_id="listConsortiumInvitations",
        guards=[requires("bidder")],
        summary="The joint bids naming the caller's enterprise (by its credit code) as a member",
    )
    async def invitations(self, session: Session, user: CurrentUser) -> list[ConsortiumView]:
        me = await session.get(User, user.user_id)
        if me is None or not me.credit_code:
            return []
        views = []
        for membership in await consortia.invitations(session, me.credit_code):
            application = await session.get(Application, membership.application_id)
            assert application is not None
            listing = await get_listing(session, application.listing_id)
            view = consortium_view(application, listing, await consortia.members_of(session, application.id))
            if view is not None:
                views.append(view)
        return views

    @post(
        "/applications/{application_id:int}/documents",
        operation_id="attachApplicationDocument",
        guards=[requires("bidder")],
        summary="Attach a PDF, PNG or JPEG (at most 5 MiB) to one's own application",
    )
    async def attach(
        self,
        data: Annotated[DocumentUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        session: Session,
        user: CurrentUser,
        application_id: ApplicationId,
    ) -> DocumentView:
        content = await data.file.read(documents_upload.MAX_BYTES + 1)
        filename = data.file.filename or "document"
        d = await documents_upload.attach(session, application_id, filename, content, user)
        return DocumentView(
            id=d.id, filename=d.filename, content_type=d.content_type, size=d.size, sha256=d.sha256
        )

    @get(
        "/applications/{application_id:int}/documents/{document_id:int}",
        operation_id="getApplicationDocument",
        guards=[requires("bidder", "operator", "auditor", "admin")],
        summary="Download an attachment (its owner or staff only)",
        media_type="application/octet-stream",
    )
    async def document(
        self,
        session: Session,
        user: CurrentUser,
        application_id: ApplicationId,
        document_id: Annotated[int, PathParameter(ge=1, le=MAX_ID)],
    ) -> Response[bytes]:
        d = await documents_upload.fetch(session, application_id, document_id, user)
        if user.is_staff:
            application = await applications.visible_application(session, application_id, user)
            await applications.record_read(
                session,
                application.listing_id,
                user,
                "document",
                application_id=application_id,
                document_id=d.id,
            )
        return Response(
            d.data,
            media_type=d.content_type,
            headers={
                "Content-Disposition": f'attachment; filename="document-{d.id}"',
                "X-Content-Type-Options": "nosniff",
            },
        )
