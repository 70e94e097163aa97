"""公示 and objections (异议): filing during a result's 公示, attachments, what each reader sees.

A sold listing's result is on display from its settlement's opening to ``publicity_ends_at``
(:mod:`settlement.closing` sets both). While it runs (settlement ``publicity`` or ``on_hold``) any
logged-in user may file objections with reasons and attachments; an operator answers each
(:mod:`settlement.objection_decisions`):

- ``dismissed``: the 公示 goes on;
- ``upheld``: the settlement goes ``on_hold`` (异议处理中) and the confirmation and contract steps
  wait; an operator then resolves it: the sale ``stands`` (back to ``publicity``; the settlement's
  sweep confirms once the period is over and nothing else blocks) or is ``annulled``
  (:func:`settlement.annulment.annul_sale`, with its reason published).

:func:`blocks_confirmation` is the gate the settlement's sweep asks. This module imports nothing
of the settlement's flow (the close, the annulment), so the close may import it. Every step is
audited in the listing's stream under the listing's row lock.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import as_utc, utcnow
from exchange.errors import Conflict, NotFound, RateLimited, Unprocessable
from exchange.identity.models import User
from exchange.identity.tokens import Principal
from exchange.metrics import RATE_LIMITED
from exchange.redis_batch import CommandBatcher
from listings.documents_upload import upload_fields
from listings.models import Listing
from settlement.lines import load_settlement, lock_listing
from settlement.objection_models import MAX_REASONS, Objection, ObjectionAttachment
from settlement.settlement_models import Settlement

__all__ = [
    "FILING_LIMIT",
    "FILING_WINDOW_SECONDS",
    "MAX_ATTACHMENTS",
    "OPEN_STATUSES",
    "PUBLICITY_STATUSES",
    "FilingLimiter",
    "ObjectionRecord",
    "attach",
    "blocks_confirmation",
    "fetch_attachment",
    "file_objection",
    "in_publicity",
    "listed",
    "published_settlement",
    "record_of",
]

OPEN_STATUSES = ("filed", "upheld")
"""An objection in one of these still holds the confirmation: unanswered, or upheld and unresolved."""
PUBLICITY_STATUSES = ("publicity", "on_hold")
"""The settlement's statuses during which its result is under 公示."""
MAX_ATTACHMENTS = 20
"""Attachments an objection may carry (each checked like an application's documents)."""
FILING_LIMIT = 5
FILING_WINDOW_SECONDS = 600
"""At most ``FILING_LIMIT`` objections per user in a fixed window of this many seconds."""


async def blocks_confirmation(session: AsyncSession, listing_id: int) -> bool:
    """True while any objection to the listing's result is ``filed`` or ``upheld``."""
    query = (
        select(Objection.id)
        .where(Objection.listing_id == listing_id, Objection.status.in_(OPEN_STATUSES))
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


def in_publicity(settlement: Settlement, now: datetime) -> bool:
    """Whether the result is under 公示 at ``now``: objections may be filed."""
    ends = settlement.publicity_ends_at
    return settlement.status in PUBLICITY_STATUSES and ends is not None and now < as_utc(ends)


class FilingLimiter:
    """Objections a user may file per fixed window: Redis when configured (every instance shares the
    counts), memory otherwise. It stops scripts flooding a result; a person never meets it.

    Only objections actually filed count: :meth:`check` takes a place in the window before the
    filing (so concurrent requests cannot all slip past the limit) and :meth:`release` gives it
    back when the filing fails (no 公示, no reasons, no result)."""

    def __init__(
        self,
        redis: CommandBatcher | None,
        prefix: str,
        limit: int = FILING_LIMIT,
        window: int = FILING_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self.limit = limit
        self.window = window
        self.clock = clock
        self._local: dict[tuple[int, int], int] = defaultdict(int)

    def _key(self, user_id: int, window: int) -> str:
        return f"{self._prefix}:ratelimit:objections:{user_id}:{window}"

    async def check(self, user_id: int) -> int:
        """Take a place in the current window (429 ``rate_limited`` when it is full); the window's
        number, for :meth:`release`."""
        now = self.clock()
        window = int(now // self.window)
        if self._redis is not None:
            key = self._key(user_id, window)
            count = int(await self._redis.call("INCR", key))
            if count == 1:
                await self._redis.call("EXPIRE", key, self.window + 1)
        else:
            if len(self._local) > 10_000:
                self._local = defaultdict(int, {k: v for k, v in self._local.items() if k[1] >= window})
            self._local[(user_id, window)] += 1
            count = self._local[(user_id, window)]
        if count > self.limit:
            RATE_LIMITED.labels(limit="objection").inc()
            await self.release(user_id, window)
            retry = max(1, int((window + 1) * self.window - now))
            raise RateLimited(
                f"at most {self.limit} objections per {self.window // 60} minutes per user",
                headers={"Retry-After": str(retry)},
            )
        return window

    async def release(self, user_id: int, window: int) -> None:
        """Give back a place taken by :meth:`check` for a filing that did not happen."""
        if self._redis is not None:
            key = self._key(user_id, window)
            await self._redis.call("DECR", key)
            await self._redis.call("EXPIRE", key, self.window + 1)  # never a key without an expiry
        elif self._local.get((user_id, window), 0) > 0:
            self._local[(user_id, window)] -= 1


async def published_settlement(session: AsyncSession, listing_id: int, *, lock: bool) -> Settlement:
    """The settlement of a listing whose result is published (not under the winner's review); 404
    ``result_not_found`` otherwise. With ``lock`` the listing's row is locked first."""
    if lock:
        listing = await lock_listing(session, listing_id)
    else:
        listing = await session.get(Listing, listing_id)
    settlement = await load_settlement(session, listing_id) if listing is not None else None
    if settlement is None or settlement.status == "review":
        raise NotFound("no published result for this listing", code="result_not_found")
    return settlement


async def file_objection(
    session: AsyncSession, listing_id: int, reasons: str, caller: Principal
) -> Objection:
    """File an objection while the listing's result is under 公示 (409 ``publicity_closed`` else)."""
    text = reasons.strip()
    if not text:
        raise Unprocessable("an objection must state its reasons", code="reasons_required")
    if len(text) > MAX_REASONS:
        raise Unprocessable(f"reasons may be at most {MAX_REASONS} characters", code="reasons_too_long")
    settlement = await published_settlement(session, listing_id, lock=True)
    now = utcnow()
    if not in_publicity(settlement, now):
        raise Conflict("this result is not under 公示: objections are closed", code="publicity_closed")
    objection = Objection(
        listing_id=listing_id, filed_by=caller.user_id, reasons=text, status="filed", created_at=now
    )
    session.add(objection)
    await session.flush()
    await append(
        session,
        objection.stream,
        f"user:{caller.user_id}",
        "objection.filed",
        {"objection_id": objection.id, "reasons": text},
        at=now,
    )
    return objection


async def _own_objection(session: AsyncSession, objection_id: int, caller: Principal) -> Objection:
    objection = await session.get(Objection, objection_id)
    if objection is None or objection.filed_by != caller.user_id:
        raise NotFound("no such objection", code="objection_not_found")
    return objection


async def attach(
    session: AsyncSession, objection_id: int, filename: str, data: bytes, caller: Principal
) -> ObjectionAttachment:
    """The filer adds a PDF, PNG or JPEG (the limits of an application's documents) while it is filed."""
    objection = await _own_objection(session, objection_id, caller)
    await lock_listing(session, objection.listing_id)
    await session.refresh(objection)
    if objection.status != "filed":
        raise Conflict(f"the objection is {objection.status}", code="objection_answered")
    fields = upload_fields(filename, data)
    count = (
        await session.execute(
            select(func.count())
            .select_from(ObjectionAttachment)
            .where(ObjectionAttachment.objection_id == objection_id)
        )
    ).scalar_one()
    if count >= MAX_ATTACHMENTS:
        raise Conflict("too many documents on this objection", code="too_many_documents")
    attachment = ObjectionAttachment(objection_id=objection_id, content=data, created_at=utcnow(), **fields)
    session.add(attachment)
    await session.flush()
    await append(
        session,
        objection.stream,
        f"user:{caller.user_id}",
        "objection.attachment_added",
        {"objection_id": objection_id, "attachment_id": attachment.id, "sha256": attachment.sha256},
    )
    return attachment


async def fetch_attachment(
    session: AsyncSession, objection_id: int, attachment_id: int, caller: Principal
) -> ObjectionAttachment:
    """An attachment, for its filer and for staff (404 for anyone else: it does not exist for them)."""
    objection = await session.get(Objection, objection_id)
    if objection is None or not (caller.is_staff or objection.filed_by == caller.user_id):
        raise NotFound("no such objection", code="objection_not_found")
    attachment = await session.get(ObjectionAttachment, attachment_id)
    if attachment is None or attachment.objection_id != objection_id:
        raise NotFound("no such attachment", code="attachment_not_found")
    return attachment


@dataclass(frozen=True)
class AttachmentRecord:
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectionRecord:
    """One objection as a reader may see it: the public gets no reasons, filer or attachments; the
    filer sees its own reasons and attachments; staff see everything."""

    id: int
    listing_id: int
    status: str
    filed_at: datetime
    answer: str | None
    answered_at: datetime | None
    resolution_reason: str | None
    resolved_at: datetime | None
    mine: bool
    reasons: str | None = None
    attachments: tuple[AttachmentRecord, ...] | None = None
    filed_by: int | None = None
    filer_name: str | None = None


async def record_of(session: AsyncSession, objection: Objection, caller: Principal | None) -> ObjectionRecord:
    """One objection as ``caller`` may see it."""
    staff = caller is not None and caller.is_staff
    mine = caller is not None and objection.filed_by == caller.user_id
    reasons: str | None = None
    attachments: tuple[AttachmentRecord, ...] | None = None
    filed_by: int | None = None
    filer_name: str | None = None
    if staff or mine:
        reasons = objection.reasons
        rows = await session.execute(
            select(ObjectionAttachment)
            .where(ObjectionAttachment.objection_id == objection.id)
            .order_by(ObjectionAttachment.created_at, ObjectionAttachment.id)
        )
        attachments = tuple(
            AttachmentRecord(a.id, a.filename, a.content_type, a.size, a.sha256) for a in rows.scalars()
        )
    if staff:
        filed_by = objection.filed_by
        user = await session.get(User, objection.filed_by)
        filer_name = user.display_name if user is not None else None
    return ObjectionRecord(
        id=objection.id,
        listing_id=objection.listing_id,
        status=objection.status,
        filed_at=as_utc(objection.created_at),
        answer=objection.answer,
        answered_at=as_utc(objection.answered_at) if objection.answered_at else None,
        resolution_reason=objection.resolution_reason,
        resolved_at=as_utc(objection.resolved_at) if objection.resolved_at else None,
        mine=mine,
        reasons=reasons,
        attachments=attachments,
        filed_by=filed_by,
        filer_name=filer_name,
    )


async def listed(session: AsyncSession, listing_id: int, caller: Principal | None) -> list[ObjectionRecord]:
    """The objections to a published result, oldest first, as ``caller`` may see them."""
    await published_settlement(session, listing_id, lock=False)
    query = (
        select(Objection)
        .where(Objection.listing_id == listing_id)
        .order_by(Objection.created_at, Objection.id)
    )
    return [
        await record_of(session, objection, caller) for objection in (await session.execute(query)).scalars()
    ]
