"""In-app notices to a user (催缴通知, 成交确认, 解除合同通知, ...): list mine, mark one read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import PathParameter
from sqlalchemy import select

from exchange.audit.chain import SYSTEM_STREAM, append
from exchange.clock import utcnow
from exchange.deps import MAX_ID, CurrentUser, Session
from exchange.errors import NotFound
from exchange.identity.guards import requires
from settlement.notice_models import Notice

ANYONE = [requires("bidder", "operator", "auditor", "admin", "registrar")]


class NoticeView(msgspec.Struct):
    id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    listing_id: int | None = None
    read_at: datetime | None = None


def _view(notice: Notice) -> NoticeView:
    return NoticeView(
        id=notice.id,
        kind=notice.kind,
        title=notice.title,
        body=notice.body,
        created_at=notice.created_at,
        listing_id=notice.listing_id,
        read_at=notice.read_at,
    )


class NoticeController(Controller):
    path = "/api/v1/notices"
    tags = ["settlement"]

    @get("/me", operation_id="getMyNotices", guards=ANYONE, summary="My in-app notices, newest first")
    async def mine(self, session: Session, user: CurrentUser) -> list[NoticeView]:
        query = select(Notice).where(Notice.user_id == user.user_id).order_by(Notice.id.desc())
        return [_view(n) for n in (await session.execute(query)).scalars()]

    @post(
        "/{notice_id:int}/read",
        operation_id="readNotice",
        guards=ANYONE,
        status_code=200,
        summary="Mark one of my notices read (audited)",
    )
    async def read(
        self,
        session: Session,
        user: CurrentUser,
        notice_id: Annotated[int, PathParameter(ge=1, le=MAX_ID)],
    ) -> NoticeView:
        notice = await session.get(Notice, notice_id)
        if notice is None or notice.user_id != user.user_id:
            raise NotFound("no such notice", code="notice_not_found")
        if notice.read_at is None:
            notice.read_at = utcnow()
            await append(
                session, SYSTEM_STREAM, f"user:{user.user_id}", "notice.read", {"notice_id": notice.id}
            )
            await session.commit()
        return _view(notice)
