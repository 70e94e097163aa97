"""Public result pages (成交公示): every finished listing, and one with its statistics and documents.

They read the same records as ``GET /api/v1/results`` so the page and the API never disagree.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Template
from litestar.types import ControllerRouterHandler

from documents.results import all_finished, finished, result_of
from documents.results_controllers import public_documents, result_view
from exchange.deps import ListingId, Session
from exchange.web.pages import page

PAGE_SIZE = 20


class ResultPages(Controller):
    path = "/results"
    include_in_schema = False

    @get("/", name="results")
    async def results(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        page_number: Annotated[int, QueryParameter(name="page", ge=1, le=100000)] = 1,
    ) -> Template:
        rows = await all_finished(session, (page_number - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        items = [
            result_view(await result_of(session, listing, auction), [])
            for listing, auction in rows[:PAGE_SIZE]
        ]
        return page(
            request,
            "results/list.html",
            items=items,
            page_number=page_number,
            has_next=len(rows) > PAGE_SIZE,
        )

    @get("/{listing_id:int}", name="result_detail")
    async def result(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        listing_id: ListingId,
    ) -> Template:
        listing, auction = await finished(session, listing_id)
        record = await result_of(session, listing, auction)
        return page(
            request,
            "results/detail.html",
            result=result_view(record, await public_documents(session, listing_id)),
            opened_at=record.opened_at,
            closed_at=record.closed_at,
        )


PAGES: list[ControllerRouterHandler] = [ResultPages]
