"""Issuing documents: render once per idempotency key, store the PDF with its SHA-256.

Issuing is idempotent by ``key`` (e.g. ``confirmation:42``): a key already
stored returns the stored document, so there is never a second, different
confirmation. :func:`render` runs in the render pool, outside any transaction
(the issuer reads in a snapshot, renders, then stores); two concurrent first
issues may both render, but the unique key lets exactly one row in (``ON
CONFLICT DO NOTHING``) and both return that row. Nothing here commits: the
document, and its ``document.issued`` audit entry, belong to the caller's
transaction.

The PDF cannot print its own SHA-256, so it prints its number (``number``: the one people read,
``2026-00042-QR-317``, derived by ``documents.drafts.document_number``; the key when none is
given), the
listing's audit-chain head, the verification page ``<base_url>/verify`` (by digest:
``/verify/<sha256>``; by number: ``/verify?number=<number>``, which its QR code holds) and the
JSON API beside it; see ``documents/controllers.py`` and ``exchange/web/verify``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from documents.data import PDF_TEMPLATE_BY_KIND, DocumentData, DocumentKind, Office, Stamp
from documents.models import Document
from documents.qr import qr_svg
from documents.render import PdfMetadata, Renderer
from exchange.audit.chain import SYSTEM_STREAM, append, head_of
from exchange.clock import isoformat, utcnow
from exchange.db import is_postgres
from exchange.errors import Conflict

VERIFY_PATH = "/verify"
"""The verification page for people (``exchange/web/verify``); programs use ``/api/v1/documents/verify``."""


def verify_url(base_url: str) -> str:
    """The verification address printed in a document, under ``base_url`` (``EXCHANGE_PUBLIC_URL``)."""
    return base_url.rstrip("/") + VERIFY_PATH


def listing_stream(listing_id: int | None) -> str:
    return f"listing:{listing_id}" if listing_id is not None else SYSTEM_STREAM


async def listing_audit_head(session: AsyncSession, listing_id: int) -> str:
    """The head of the listing's audit chain, to pass as ``audit_head``."""
    return await head_of(session, listing_stream(listing_id))


async def by_key(session: AsyncSession, key: str, *, with_pdf: bool = False) -> Document | None:
    query = select(Document).where(Document.key == key)
    if with_pdf:
        query = query.options(undefer(Document.pdf))
    return (await session.execute(query)).scalar_one_or_none()


async def by_id(session: AsyncSession, document_id: int, *, with_pdf: bool = False) -> Document | None:
    query = select(Document).where(Document.id == document_id)
    if with_pdf:
        query = query.options(undefer(Document.pdf))
    return (await session.execute(query)).scalar_one_or_none()


async def by_number(session: AsyncSession, number: str) -> Document | None:
    """The document printed with this number (文件编号), without its bytes."""
    query = select(Document).where(Document.number == number.strip())
    return (await session.execute(query)).scalar_one_or_none()


async def by_sha256(session: AsyncSession, sha256: str) -> Document | None:
    """The document whose bytes have this SHA-256 (hex, any case), without its bytes."""
    query = select(Document).where(Document.sha256 == sha256.strip().lower())
    return (await session.execute(query)).scalar_one_or_none()


@dataclass(frozen=True)
class Rendered:
    """A document rendered and not yet stored: what :func:`store` inserts."""

    key: str
    number: str
    kind: DocumentKind
    title: str
    template: str
    issued_at: datetime
    verify_url: str
    audit_head: str
    pdf: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


async def render(
    renderer: Renderer,
    *,
    key: str,
    kind: DocumentKind,
    title: str,
    data: DocumentData,
    audit_head: str,
    base_url: str,
    template: str | None = None,
    office: Office | None = None,
    number: str | None = None,
) -> Rendered:
    """Render ``data`` with ``template`` (default ``<kind>.html``), stamped with its ``number``
    (default: the ``key``) and ``audit_head``.

    Call it outside any transaction: on SQLite a transaction that writes holds the whole
    database's write lock from its first statement, and a render takes seconds."""
    issued_at = utcnow()
    url = verify_url(base_url)
    office = office or Office()
    number = number or key
    stamp = Stamp(
        number=number,
        kind=kind,
        title=title,
        audit_head=audit_head,
        issued_at=issued_at,
        verify_url=url,
        issuer=office.name,
        office=office,
    )
    stamp = dataclasses.replace(stamp, qr_svg=qr_svg(stamp.number_url))
    template = template or PDF_TEMPLATE_BY_KIND[kind]
    metadata = PdfMetadata(
        title=title, created=issued_at, subject=f"{kind} {number}", keywords=(kind, number)
    )
    pdf = await renderer.render(template, {"doc": data, "stamp": stamp}, metadata)
    return Rendered(key, number, kind, title, template, issued_at, url, audit_head, pdf)


async def store(
    session: AsyncSession,
    rendered: Rendered,
    *,
    listing_id: int | None,
    public: bool,
    owner_id: int | None = None,
    actor: str = "system",
    audit: bool = True,
) -> Document:
    """Store ``rendered`` unless its key is taken; return the row stored under the key (PDF loaded).

    ``public``: anyone may download it (announcements, results, bid records
    after the close); otherwise staff and ``owner_id`` (the winner, for a
    confirmation) only. ``audit``: append ``document.issued`` (id, key,
    kind, sha256) to the listing's audit stream when the row is new, so the
    chain records every document.
    """
    key, kind, pdf, digest = rendered.key, rendered.kind, rendered.pdf, rendered.sha256
    meta: dict[str, Any] = {
        "number": rendered.number,
        "template": rendered.template,
        "issued_at": isoformat(rendered.issued_at),
        "verify_url": rendered.verify_url,
    }
    values: dict[str, Any] = {
        "listing_id": listing_id,
        "kind": kind,
        "key": key,
        "number": rendered.number,
        "sha256": digest,
        "size": len(pdf),
        "pdf": pdf,
        "title": rendered.title,
        "metadata": meta,
        "public": public,
        "owner_id": owner_id,
        "audit_head": rendered.audit_head,
        "created_at": rendered.issued_at,
    }
    insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = (
        insert(Document.__table__)  # type: ignore[arg-type]
        .values(values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Document.__table__.c.id)
    )
    new_id = (await session.execute(statement)).scalar_one_or_none()
    document = await by_key(session, key, with_pdf=True)
    if document is None:  # pragma: no cover - the conflicting row was rolled back between the statements
        raise Conflict(f"document {key!r} is being issued concurrently; retry", code="document_conflict")
    _check_same(document, kind, listing_id)
    if new_id is not None and audit:
        await append(
            session,
            listing_stream(listing_id),
            actor,
            "document.issued",
            {
                "document_id": new_id,
                "key": key,
                "number": rendered.number,
                "kind": kind,
                "sha256": digest,
                "size": len(pdf),
            },
            at=rendered.issued_at,
        )
    return document


async def issue(
    session: AsyncSession,
    *,
    key: str,
    kind: DocumentKind,
    listing_id: int | None,
    public: bool,
    title: str,
    data: DocumentData,
    audit_head: str,
    renderer: Renderer,
    base_url: str,
    template: str | None = None,
    owner_id: int | None = None,
    actor: str = "system",
    audit: bool = True,
    office: Office | None = None,
    number: str | None = None,
) -> Document:
    """:func:`render` and :func:`store` in the caller's transaction, once per ``key``: a key
    already stored returns its row without rendering. (The issuer renders between two
    transactions instead, see :mod:`documents.issuing`.)"""
    existing = await by_key(session, key, with_pdf=True)
    if existing is not None:
        _check_same(existing, kind, listing_id)
        return existing
    rendered = await render(
        renderer,
        key=key,
        kind=kind,
        title=title,
        data=data,
        audit_head=audit_head,
        base_url=base_url,
        template=template,
        office=office,
        number=number,
    )
    return await store(
        session, rendered, listing_id=listing_id, public=public, owner_id=owner_id, actor=actor, audit=audit
    )


def _check_same(document: Document, kind: str, listing_id: int | None) -> None:
    if document.kind != kind or document.listing_id != listing_id:
        raise Conflict(
            f"key {document.key!r} already names a {document.kind} of listing {document.listing_id}",
            code="document_key_conflict",
        )


async def make_public(session: AsyncSession, document_id: int) -> None:
    """Publish a document issued as non-public (a bid record once the auction has closed)."""
    await session.execute(update(Document).where(Document.id == document_id).values(public=True))
