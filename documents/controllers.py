"""Document download, listing and verification.

``GET /api/v1/documents/{id}`` serves the PDF: public documents to anyone,
the others to staff (operator, auditor, admin) and to the document's
``owner_id`` (the winner for a confirmation, the bidder for a refund notice).
``GET /api/v1/documents?listing_id=`` lists a listing's documents the caller
may download by the same rule, so a bidder finds its own confirmation.

Verification. A PDF cannot contain its own SHA-256 (printing it would change
it), so each document prints its number (文件编号, e.g. ``2026-00042-QR-317``; see
``documents.drafts.document_number``), the listing's audit-chain head and the verification
address ``<base_url>/api/v1/documents/verify``:

* ``GET /api/v1/documents/verify/{sha256}``: whoever holds the file computes
  its digest and asks; the answer names the document (number, kind, title,
  listing, time, audit head, size) or is a 404. Any changed byte changes the
  digest, so a doctored copy is not found.
* ``GET /api/v1/documents/verify?number=<number>``: whoever holds a paper
  copy looks the number up and gets the digest of the stored original.

Both answer for non-public documents too (metadata only, never the content):
confirming that a document exists is what verification is for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import or_, select

from documents import store
from documents.models import Document
from exchange.clock import utcnow
from exchange.deps import MAX_ID, MaybeUser, Session
from exchange.errors import Forbidden, NotFound, Unauthenticated
from exchange.identity.tokens import Principal
from listings import services

DocumentId = Annotated[int, PathParameter(description="Document id", ge=1, le=MAX_ID)]
ListingId = Annotated[int, QueryParameter(description="The listing whose documents to list", ge=1, le=MAX_ID)]
Sha256 = Annotated[str, PathParameter(description="SHA-256 of the PDF file, 64 hex digits", max_length=200)]
HEX = frozenset("0123456789abcdef")
STAFF = frozenset({"operator", "auditor", "admin"})


class DocumentInfo(msgspec.Struct):
    """What a document is, as the verification endpoints answer."""

    id: int
    number: str
    """The printed document number (文件编号)."""
    key: str
    kind: str
    title: str
    listing_id: int | None
    created_at: datetime
    sha256: str
    audit_head: str
    size: int
    public: bool
    url: str


def info(document: Document) -> DocumentInfo:
    return DocumentInfo(
        id=document.id,
        number=document.number,
        key=document.key,
        kind=document.kind,
        title=document.title,
        listing_id=document.listing_id,
        created_at=document.created_at,
        sha256=document.sha256,
        audit_head=document.audit_head,
        size=document.size,
        public=document.public,
        url=f"/api/v1/documents/{document.id}",
    )


def may_read(document: Document, principal: Principal | None) -> bool:
    """Public documents: anyone. Others: staff, and the owner (the winner's confirmation)."""
    if document.public:
        return True
    if principal is None:
        return False
    return principal.role in STAFF or (
        document.owner_id is not None and principal.user_id == document.owner_id
    )


def is_sha256(text: str) -> bool:
    return len(text) == 64 and HEX.issuperset(text)


class DocumentController(Controller):
    path = "/api/v1/documents"
    tags = ["documents"]

    @get(
        "/",
        operation_id="listDocuments",
        summary="A listing's documents the caller may download",
        description=(
            "Public documents (announcements, result announcement, bid record) for everyone; "
            "a bidder also sees its own confirmation (成交确认书) and refund notices; staff see all. "
            "Metadata only: download each from its `url`."
        ),
    )
    async def documents(
        self, session: Session, principal: MaybeUser, listing_id: ListingId
    ) -> list[DocumentInfo]:
        if principal is None or principal.role not in STAFF:
            # A listing not yet announced does not exist for the public, nor do its documents.
            await services.published_listing(session, listing_id, utcnow())
        query = select(Document).where(Document.listing_id == listing_id).order_by(Document.id)
        if principal is None:
            query = query.where(Document.public.is_(True))
        elif principal.role not in STAFF:
            query = query.where(or_(Document.public.is_(True), Document.owner_id == principal.user_id))
        return [info(document) for document in (await session.execute(query)).scalars()]

    @get(
        "/{document_id:int}",
        operation_id="getDocument",
        summary="The PDF of a document",
        media_type="application/pdf",
    )
    async def download(
        self, session: Session, principal: MaybeUser, document_id: DocumentId
    ) -> Response[bytes]:
        document = await store.by_id(session, document_id, with_pdf=True)
        if document is None:
            raise NotFound(f"no document {document_id}")
        if not may_read(document, principal):
            if principal is None:
                raise Unauthenticated("this document is not public; sign in")
            raise Forbidden("this document is for the exchange's staff and its addressee only")
        cache = "public, max-age=86400, immutable" if document.public else "private, no-store"
        return Response(
            document.pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{document.kind}-{document.id}.pdf"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": cache,
                "ETag": f'"{document.sha256}"',
                "X-Document-SHA256": document.sha256,
            },
        )

    @get(
        "/verify/{sha256:str}",
        operation_id="verifyDocument",
        summary="What the document with this SHA-256 is, or 404 (non-public documents too, metadata only)",
    )
    async def verify(self, session: Session, sha256: Sha256) -> DocumentInfo:
        digest = sha256.strip().lower()
        if not is_sha256(digest):
            raise NotFound("no such document: a SHA-256 is 64 hexadecimal digits")
        document = await store.by_sha256(session, digest)
        if document is None:
            raise NotFound("no document issued by this exchange has this SHA-256")
        return info(document)

    @get(
        "/verify",
        operation_id="findDocumentByNumber",
        summary="Look a printed document number up: the stored original's SHA-256 and metadata",
    )
    async def by_number(
        self,
        session: Session,
        principal: MaybeUser,
        number: Annotated[str, QueryParameter(min_length=1, max_length=200)],
    ) -> DocumentInfo:
        document = await store.by_number(session, number)
        # A private document's number is answered only to whoever may read it: numbers are
        # guessable (2026-00042-TH-<n>), and walking them must not reveal who was refunded when.
        if document is None or not may_read(document, principal):
            raise NotFound(f"no document numbered {number!r}")
        return info(document)
