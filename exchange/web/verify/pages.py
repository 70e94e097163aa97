"""``/verify/{sha256}`` and ``/verify?number=<number>``: the verification page a document's QR code
and printed address lead to, Chinese first (``?lang=en`` for English).

A PDF cannot contain its own SHA-256, so the QR code holds the document's number; the page shows
the stored original's SHA-256, which the holder compares with the digest of the file in hand
(or looks up by digest, the first address). Same rules as the JSON API
(``GET /api/v1/documents/verify``): by digest, any document is named (metadata only); by number,
a document that is not public only to whoever may download it, since numbers are guessable.
Read-only: nothing is changed, so nothing is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import PathParameter, QueryParameter
from litestar.response import Template
from litestar.types import ControllerRouterHandler

from documents import store
from documents.controllers import info, is_sha256, may_read
from documents.models import Document
from exchange.deps import Session
from exchange.web.pages import page, web_user


class VerifyPages(Controller):
    path = "/verify"
    include_in_schema = False

    @get("/", name="verify_by_number")
    async def by_number(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        number: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Template:
        document: Document | None = None
        if number:
            found = await store.by_number(session, number.strip())
            if found is not None and may_read(found, web_user(request)):
                document = found
        return self._answer(request, document, number=number, digest=None)

    @get("/{sha256:str}", name="verify_by_digest")
    async def by_digest(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        sha256: Annotated[str, PathParameter(max_length=200)],
    ) -> Template:
        digest = sha256.strip().lower()
        document = await store.by_sha256(session, digest) if is_sha256(digest) else None
        return self._answer(request, document, number=None, digest=digest)

    def _answer(
        self,
        request: Request[Any, Any, Any],
        document: Document | None,
        *,
        number: str | None,
        digest: str | None,
    ) -> Template:
        asked = number is not None or digest is not None
        return page(
            request,
            "verify/document.html",
            status_code=404 if asked and document is None else 200,
            document=info(document) if document is not None else None,
            downloadable=document is not None and may_read(document, web_user(request)),
            number=number,
            digest=digest,
        )


PAGES: list[ControllerRouterHandler] = [VerifyPages]
