"""Objection (异议) endpoints: filing during a result's 公示, attachments, the public list, the
operator's answer and resolution (:mod:`settlement.objections`, :mod:`settlement.objection_decisions`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, PathParameter

from exchange.deps import MAX_ID, CurrentUser, ListingId, MaybeUser, Session
from exchange.identity.guards import authenticated, requires
from exchange.identity.tokens import Principal
from exchange.vocabulary import ObjectionStatus
from listings.documents_upload import MAX_BYTES
from settlement import objection_decisions, objections
from settlement.objection_models import MAX_REASONS, Objection

ObjectionId = Annotated[int, PathParameter(description="Objection id", ge=1, le=MAX_ID)]
AttachmentId = Annotated[int, PathParameter(description="Attachment id", ge=1, le=MAX_ID)]


class ObjectionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An objection to a result under 公示: its reasons (required, at most 4000 characters)."""

    reasons: Annotated[str, msgspec.Meta(max_length=MAX_REASONS)]


class ObjectionAnswer(msgspec.Struct, forbid_unknown_fields=True):
    """``dismissed``: the 公示 goes on; ``upheld``: the confirmation and contract steps wait."""

    decision: Literal["dismissed", "upheld"]
    answer: Annotated[str, msgspec.Meta(max_length=MAX_REASONS)]


class ObjectionResolution(msgspec.Struct, forbid_unknown_fields=True):
    """An upheld objection's outcome: the sale ``stands`` or is ``annulled`` (the reason is published)."""

    outcome: Literal["stands", "annulled"]
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASONS)]


@dataclass
class AttachmentUpload:
    """The upload form: one part named ``file``."""

    file: UploadFile


class ObjectionAttachmentView(msgspec.Struct):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class ObjectionView(msgspec.Struct, omit_defaults=True):
    """An objection as the caller may see it: the public never learns who filed it, nor its reasons;
    its filer sees its own reasons and attachments (``mine``); staff see everything."""

    id: int
    listing_id: int
    status: ObjectionStatus
    filed_at: datetime
    mine: bool
    """The caller filed it."""
    answer: str | None = None
    answered_at: datetime | None = None
    resolution_reason: str | None = None
    resolved_at: datetime | None = None
    reasons: str | None = None
    attachments: list[ObjectionAttachmentView] | None = None
    filed_by: int | None = None
    filer_name: str | None = None


def _view(record: objections.ObjectionRecord) -> ObjectionView:
    return ObjectionView(
        id=record.id,
        listing_id=record.listing_id,
        status=record.status,  # type: ignore[arg-type]
        filed_at=record.filed_at,
        mine=record.mine,
        answer=record.answer,
        answered_at=record.answered_at,
        resolution_reason=record.resolution_reason,
        resolved_at=record.resolved_at,
        reasons=record.reasons,
        attachments=None
        if record.attachments is None
        else [
            ObjectionAttachmentView(
                id=a.id, filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256
            )
            for a in record.attachments
        ],
        filed_by=record.filed_by,
        filer_name=record.filer_name,
    )


async def _one(session: Session, objection: Objection, caller: Principal) -> ObjectionView:
    return _view(await objections.record_of(session, objection, caller))


class ObjectionController(Controller):
    path = "/api/v1"
    tags = ["objections"]

    @post(
        "/results/{listing_id:int}/objections",
        operation_id="fileObjection",
        guards=[authenticated],
        summary="File an objection (异议) to a result while its 公示 runs",
        description="Anyone logged in may file, several times. 404 ``result_not_found`` without a "
        "published result; 409 ``publicity_closed`` outside the 公示; 422 ``reasons_required`` without "
        "reasons; 429 ``rate_limited`` beyond 5 objections per 10 minutes.",
    )
    async def file(
        self,
        data: JSONBody[ObjectionCreate],
        session: Session,
        user: CurrentUser,
        state: State,
        listing_id: ListingId,
    ) -> ObjectionView:
        limiter: objections.FilingLimiter = state.objection_limiter
        window = await limiter.check(user.user_id)
        try:
            objection = await objections.file_objection(session, listing_id, data.reasons, user)
            await session.commit()
        except BaseException:
            await limiter.release(user.user_id, window)  # only objections filed count
            raise
        return await _one(session, objection, user)

    @get(
        "/results/{listing_id:int}/objections",
        operation_id="listObjections",
        summary="The objections to a result: status, dates, answer and resolution",
        description="Public, without the filer's identity or reasons; the filer also sees its own "
        "reasons and attachments, staff see everything. 404 ``result_not_found`` without a published result.",
    )
    async def objections(
        self, session: Session, principal: MaybeUser, listing_id: ListingId
    ) -> list[ObjectionView]:
        return [_view(record) for record in await objections.listed(session, listing_id, principal)]

    @post(
        "/objections/{objection_id:int}/attachments",
        operation_id="attachObjectionDocument",
        guards=[authenticated],
        summary="Attach a PDF, PNG or JPEG (at most 5 MiB) to one's own objection while it is unanswered",
        description="404 ``objection_not_found`` for anyone but the filer; 409 ``objection_answered`` once "
        "answered; the limits and codes of an application's documents.",
    )
    async def attach(
        self,
        data: Annotated[AttachmentUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        session: Session,
        user: CurrentUser,
        objection_id: ObjectionId,
    ) -> ObjectionAttachmentView:
        content = await data.file.read(MAX_BYTES + 1)
        a = await objections.attach(session, objection_id, data.file.filename or "document", content, user)
        await session.commit()
        return ObjectionAttachmentView(
            id=a.id, filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256
        )

    @get(
        "/objections/{objection_id:int}/attachments/{attachment_id:int}",
        operation_id="getObjectionAttachment",
        guards=[authenticated],
        summary="Download an objection's attachment (its filer or staff only)",
        media_type="application/octet-stream",
    )
    async def attachment(
        self, session: Session, user: CurrentUser, objection_id: ObjectionId, attachment_id: AttachmentId
    ) -> Response[bytes]:
        a = await objections.fetch_attachment(session, objection_id, attachment_id, user)
        return Response(
            a.content,
            media_type=a.content_type,
            headers={
                "Content-Disposition": f'attachment; filename="objection-{objection_id}-{a.id}"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )

    @post(
        "/objections/{objection_id:int}/answer",
        operation_id="answerObjection",
        guards=[requires("operator")],
        status_code=200,
        summary="Answer an objection: dismissed (the 公示 goes on) or upheld (the confirmation waits)",
        description="Only a ``filed`` objection (409 ``objection_not_filed``); 422 ``answer_required``; "
        "409 ``settlement_annulled`` to uphold one once the sale was annulled. "
        "Upheld puts the settlement ``on_hold``. The filer gets an in-app notice.",
    )
    async def answer(
        self, data: JSONBody[ObjectionAnswer], session: Session, user: CurrentUser, objection_id: ObjectionId
    ) -> ObjectionView:
        objection = await objection_decisions.answer(session, objection_id, data.decision, data.answer, user)
        await session.commit()
        return await _one(session, objection, user)

    @post(
        "/objections/{objection_id:int}/resolve",
        operation_id="resolveObjection",
        guards=[requires("operator")],
        status_code=200,
        summary="Resolve an upheld objection: the sale stands, or is annulled with its reason published",
        description="Only an ``upheld`` objection (409 ``objection_not_upheld``); 422 ``reason_required``. "
        "``stands`` returns the settlement to ``publicity`` once no other upheld objection holds it; "
        "``annulled`` annuls the sale (deposits back, payments refunded).",
    )
    async def resolve(
        self,
        data: JSONBody[ObjectionResolution],
        session: Session,
        user: CurrentUser,
        objection_id: ObjectionId,
    ) -> ObjectionView:
        objection = await objection_decisions.resolve(session, objection_id, data.outcome, data.reason, user)
        await session.commit()
        return await _one(session, objection, user)
