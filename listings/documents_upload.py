"""Attachments to an application: small, of a few known types, checked by their bytes."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable
from exchange.identity.tokens import Principal
from listings.applications import visible_application
from listings.applications_models import ApplicationDocument

MAX_BYTES = 5 * 1024 * 1024
MAX_PER_APPLICATION = 20
OPEN_STATUSES = ("pending", "approved")
"""An application takes documents until it is decided against or has qualified."""
# Trust the content, not the client's Content-Type or file name.
SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


def sniff(data: bytes) -> str | None:
    return next((kind for magic, kind in SIGNATURES.items() if data.startswith(magic)), None)


def safe_filename(name: str) -> str:
    keep = "".join(
        c for c in name.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable() and c not in '"<>|:*?'
    )
    return (keep.strip(". ") or "document")[:200]


def upload_fields(filename: str, data: bytes) -> dict[str, Any]:
    """The columns of a checked upload (:func:`checked_upload`): its safe file name, content type,
    size and SHA-256; the row's own columns (its owner, the bytes) are the caller's."""
    return {
        "filename": safe_filename(filename),
        "content_type": checked_upload(data),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def checked_upload(data: bytes) -> str:
    """The content type of an uploaded document, by its bytes; 422 ``document_too_large``,
    ``document_empty`` or ``document_type_not_allowed``. Application documents and objection
    attachments (``settlement.objections``) take the same files."""
    if len(data) > MAX_BYTES:
        raise Unprocessable(
            f"a document may be at most {MAX_BYTES // (1024 * 1024)} MiB", code="document_too_large"
        )
    if not data:
        raise Unprocessable("the document is empty", code="document_empty")
    kind = sniff(data)
    if kind is None:
        raise Unprocessable("only PDF, PNG and JPEG documents are accepted", code="document_type_not_allowed")
    return kind


async def attach(
    session: AsyncSession, application_id: int, filename: str, data: bytes, caller: Principal
) -> ApplicationDocument:
    application = await visible_application(session, application_id, caller)
    if application.bidder_id != caller.user_id:
        raise NotFound("no such application")
    if application.status not in OPEN_STATUSES:
        raise Conflict(f"the application is {application.status}", code="application_decided")
    fields = upload_fields(filename, data)
    count = len(
        (
            await session.execute(
                select(ApplicationDocument.id).where(ApplicationDocument.application_id == application_id)
            )
        ).all()
    )
    if count >= MAX_PER_APPLICATION:
        raise Conflict("too many documents on this application", code="too_many_documents")
    document = ApplicationDocument(application_id=application_id, data=data, created_at=utcnow(), **fields)
    session.add(document)
    await session.flush()
    await append(
        session,
        application.stream,
        f"user:{caller.user_id}",
        "application.document_attached",
        {"application_id": application_id, "document_id": document.id, "sha256": document.sha256},
    )
    await session.commit()
    return document


async def fetch(
    session: AsyncSession, application_id: int, document_id: int, caller: Principal
) -> ApplicationDocument:
    await visible_application(session, application_id, caller)
    document = await session.get(ApplicationDocument, document_id)
    if document is None or document.application_id != application_id:
        raise NotFound("no such document")
    return document


async def listed(session: AsyncSession, application_id: int) -> list[ApplicationDocument]:
    """The attachments' names, sizes and digests; not their bytes (up to 20 of 5 MiB each), which a
    list never shows."""
    query = (
        select(ApplicationDocument)
        .options(defer(ApplicationDocument.data, raiseload=True))
        .where(ApplicationDocument.application_id == application_id)
    )
    return list((await session.execute(query.order_by(ApplicationDocument.created_at))).scalars())
