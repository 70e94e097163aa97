"""The catch-up that issues the documents of a listing's life: the announcement, and at the close
the result, the bid record, the winners' confirmations and the refund notices.

An outbox by query rather than events: a periodic job finds published
listings without their announcement, finished auctions without their
result announcement and bid record, settlement lines without their
confirmation (成交确认书) and released deposits without their refund notice,
and issues them. The facts (the close, the settlement, the release) commit
first and the documents follow, so a crash in between only delays a
document. Issuing is idempotent by document key, so a crash, a restart or
two instances doing it at once still give one document each; rendering
happens in the process pool, never on the bid path.

What each document says is built by the module of its kind
(:mod:`documents.listing_announcement`, :mod:`~documents.result_announcement`,
:mod:`~documents.bid_record`, :mod:`~documents.confirmation`,
:mod:`~documents.refund_notice`); this module decides when, and issues it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auctions.models import Auction
from documents import (
    bid_record,
    confirmation,
    follow_up,
    listing_announcement,
    refund_notice,
    registry_documents,
    result_announcement,
)
from documents.data import Office
from documents.drafts import Draft
from documents.models import Document
from documents.pades import PdfSigning, signing_from
from documents.render import Renderer
from documents.results import FINISHED
from documents.store import by_key, listing_audit_head, render, store
from exchange.audit.chain import read_snapshot
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.metrics import DOCUMENT_QUEUE
from exchange.scheduling import Timers
from exchange.settings import DocumentSettings
from listings.models import Listing
from settlement.review import result_awaits_review

log = logging.getLogger("documents.issuing")

CATCH_UP_SECONDS = 5.0

AfterClose = Callable[[AsyncSession, Listing, Auction], Awaitable[Draft]]


class DocumentIssuer:
    """The catch-up job: every published fact gets its document, once.

    It owns the render pool (started at the first document), which signs every PDF with
    ``pdf_signing``, and prints ``settings.public_url`` in every document; ``aclose`` stops the pool.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], timers: Timers, settings: DocumentSettings
    ) -> None:
        self._sessions = sessions
        self._timers = timers
        self._pdf_signing = signing_from(settings)
        self._renderer = Renderer(
            workers=settings.workers, timeout=settings.timeout_seconds, signing=self._pdf_signing
        )
        self._base_url = settings.public_url
        self._office = Office(
            name=settings.exchange_name,
            deposit_bank=settings.deposit_bank,
            deposit_account_name=settings.deposit_account_name,
            contact=settings.contact,
            sandbox=settings.sandbox,
        )

    @property
    def renderer(self) -> Renderer:
        """The render pool, shared with documents rendered on demand (the registry's statement)."""
        return self._renderer

    @property
    def pdf_signing(self) -> PdfSigning:
        """The key and certificates every PDF is signed with (published at ``GET /api/v1/keys``)."""
        return self._pdf_signing

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def office(self) -> Office:
        return self._office

    async def _missing(self, key: Callable[[int], str], query: Any) -> list[int]:
        async with self._sessions() as session:
            ids = set((await session.execute(query)).scalars())
            if not ids:
                return []
            keys = {key(i) for i in ids}
            have = set((await session.execute(select(Document.key).where(Document.key.in_(keys)))).scalars())
        return sorted(i for i in ids if key(i) not in have)

    async def catch_up(self) -> int:
        issued = 0
        # Not before its announcement date: until then the listing does not exist for the public.
        announced = select(Listing.id).where(
            Listing.status != "draft", Listing.published_at.is_not(None), Listing.announce_at <= utcnow()
        )
        issued += await self._each(
            await self._missing(listing_announcement.key, announced), self._listing_announcement
        )
        # a sale under post-qualification waits for its winner's review: the result must say how it ended
        closed = select(Auction.listing_id).where(Auction.status.in_(FINISHED), ~result_awaits_review())
        after_close: tuple[tuple[Callable[[int], str], AfterClose], ...] = (
            (result_announcement.key, result_announcement.draft),
            (bid_record.key, bid_record.draft),
        )
        for key, draft in after_close:
            issued += await self._each(
                await self._missing(key, closed), partial(self._after_close, draft=draft)
            )
        issued += await self._each(await self._ids(confirmation.UNISSUED), self._confirm)
        issued += await self._each(await self._ids(refund_notice.UNISSUED), self._notify)
        follow: tuple[tuple[Any, Callable[[AsyncSession, int], Awaitable[Draft | None]]], ...] = (
            (follow_up.UNISSUED_REMINDERS, follow_up.reminder_draft),
            (follow_up.UNISSUED_ANSWERS, follow_up.answer_draft),
            (follow_up.UNISSUED_RESOLUTIONS, follow_up.resolution_draft),
            (follow_up.UNISSUED_CERTIFICATES, follow_up.certificate_draft),
        )
        for query, work in follow:
            issued += await self._each(await self._ids(query), work)
        issued += await registry_documents.catch_up(
            self._sessions, self._renderer, base_url=self._base_url, office=self._office
        )
        return issued

    async def _ids(self, query: Any) -> list[int]:
        async with self._sessions() as session:
            return sorted(set((await session.execute(query)).scalars()))

    async def _each(
        self, subjects: list[int], work: Callable[[AsyncSession, int], Awaitable[Draft | None]]
    ) -> int:
        """Issue each subject's document, as many at once as the render pool has workers (a storm of
        closes leaves thousands), counted in ``DOCUMENT_QUEUE`` until it is done.

        The gauge holds what this round has found and not yet issued: each kind is looked for
        once the kinds before it are issued, so a storm's backlog shows kind after kind.
        Added and taken away (never set): every app of a process shares the gauge.
        """
        waiting = len(subjects)
        DOCUMENT_QUEUE.inc(waiting)
        issued = 0
        queue = iter(subjects)  # shared by the lanes: each subject is taken once

        async def lane() -> None:
            nonlocal issued, waiting
            for subject in queue:
                issued += await self._guarded(subject, work)
                waiting -= 1
                DOCUMENT_QUEUE.dec()

        try:
            async with asyncio.TaskGroup() as lanes:
                for _ in range(min(self._renderer.workers, len(subjects))):
                    lanes.create_task(lane())
        finally:
            DOCUMENT_QUEUE.dec(waiting)  # a round cancelled half way (shutdown): the next one finds them
        return issued

    async def _guarded(
        self, subject: int, work: Callable[[AsyncSession, int], Awaitable[Draft | None]]
    ) -> int:
        """One subject's document: read in a snapshot, render, then store in a short transaction.

        Nothing is locked while the PDF renders (seconds, more under load): on SQLite
        a writing transaction holds the whole database, and on PostgreSQL the store
        takes the listing's audit-chain head, which every bid of the listing needs.
        The stamp's audit head is the one read; entries appended meanwhile follow it.
        A failure is logged and retried next round.
        """
        try:
            async with self._sessions() as session, read_snapshot(session) as snapshot:
                draft = await work(snapshot, subject)
                if draft is None:
                    return 0
                if await by_key(snapshot, draft.key) is not None:
                    return 1
                head = await listing_audit_head(snapshot, draft.listing_id)
            rendered = await render(
                self._renderer,
                key=draft.key,
                number=draft.printed_number,
                kind=draft.kind,
                title=draft.title,
                data=draft.data,
                audit_head=head,
                base_url=self._base_url,
                office=self._office,
            )
            async with unit_of_work(self._sessions) as session:
                await store(
                    session,
                    rendered,
                    listing_id=draft.listing_id,
                    public=draft.public,
                    owner_id=draft.owner_id,
                )
            return 1
        except Exception:
            name = getattr(work, "__name__", None) or repr(work)  # a partial has no name
            log.exception("issuing documents (%s of %s) failed; the next round retries", name, subject)
            return 0

    async def _listing_announcement(self, session: AsyncSession, listing_id: int) -> Draft | None:
        listing = await session.get(Listing, listing_id)
        if listing is None:
            return None
        return listing_announcement.draft(listing)

    async def _after_close(self, session: AsyncSession, listing_id: int, draft: AfterClose) -> Draft | None:
        listing = await session.get(Listing, listing_id)
        auction = await session.get(Auction, listing_id)
        if listing is None or auction is None:
            return None
        return await draft(session, listing, auction)

    async def _confirm(self, session: AsyncSession, line_id: int) -> Draft | None:
        return await confirmation.draft(session, line_id)

    async def _notify(self, session: AsyncSession, refund_id: int) -> Draft | None:
        return await refund_notice.draft(session, refund_id)

    def start(self) -> None:
        self._timers.every("documents:catch-up", CATCH_UP_SECONDS, self.catch_up)

    async def aclose(self) -> None:
        """Stop the render workers (the app's shutdown)."""
        await self._renderer.aclose()
