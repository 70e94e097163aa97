"""Read access to the audit log for auditors and administrators.

A listing's stream records who applied and how many qualified: under post-qualification
(资格后审) it stays sealed until the close (403 ``applicants_sealed``), like every other staff
view of the applicants (``listings.qualification``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import select

from exchange.audit import chain
from exchange.audit.models import AuditEntry
from exchange.deps import MAX_ID, Session
from exchange.identity.guards import requires
from listings.models import Listing
from listings.qualification import ensure_unsealed

Stream = Annotated[str, PathParameter(description="Audit stream: a listing id or 'system'", max_length=64)]


class AuditEntryView(msgspec.Struct):
    stream: str
    seq: int
    actor: str
    action: str
    payload: dict[str, Any]
    at: datetime
    prev_hash: str
    hash: str


class ChainVerification(msgspec.Struct):
    stream: str
    ok: bool
    entries: int
    head: str
    broken_at: int | None = None
    reason: str | None = None
    recorded_by: str | None = None
    """What recorded a head the chain no longer holds (a document, an auction's close); else null."""
    recorded_head: str | None = None


async def _readable(session: Session, stream: str) -> None:
    prefix, _, number = stream.partition(":")
    if prefix == "listing" and number.isascii() and number.isdigit() and int(number) < 2**63:
        listing = await session.get(Listing, int(number))
        if listing is not None:
            ensure_unsealed(listing)


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    guards = [requires("auditor", "admin")]

    @get("/", operation_id="listAuditStreams", summary="Names of all audit streams")
    async def list_streams(self, session: Session) -> list[str]:
        return await chain.streams(session)

    @get("/{stream:str}", operation_id="getAuditStream", summary="Entries of one stream, in order")
    async def entries(
        self,
        session: Session,
        stream: Stream,
        after_seq: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> list[AuditEntryView]:
        await _readable(session, stream)
        query = (
            select(AuditEntry)
            .where(AuditEntry.stream == stream, AuditEntry.seq > after_seq)
            .order_by(AuditEntry.seq)
            .limit(limit)
        )
        rows = (await session.execute(query)).scalars()
        return [
            AuditEntryView(
                stream=e.stream,
                seq=e.seq,
                actor=e.actor,
                action=e.action,
                payload=e.payload,
                at=e.at,
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in rows
        ]

    @get(
        "/{stream:str}/verify",
        operation_id="verifyAuditStream",
        summary="Recompute one hash chain and check the heads recorded outside it",
    )
    async def verify(self, session: Session, stream: Stream, state: State) -> ChainVerification:
        # The domains know where heads are recorded (documents, closes); the app hands that in as
        # ``recorded_heads``, since the kernel must not import them. Missing, it is a 500, not a pass.
        await _readable(session, stream)
        recorded: chain.RecordedHeads = state.recorded_heads
        report = await chain.verify_stream(session, stream, recorded)
        return ChainVerification(
            stream=report.stream,
            ok=report.ok,
            entries=report.entries,
            head=report.head,
            broken_at=report.broken_at,
            reason=report.reason,
            recorded_by=report.recorded_by,
            recorded_head=report.recorded_head,
        )
