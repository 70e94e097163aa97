"""Public result pages (成交公示): every finished listing, and one with its statistics and documents.

They read the same records as ``GET /api/v1/results`` so the page and the API never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Template
from litestar.types import ControllerRouterHandler

from documents.results import all_finished, finished, result_of
from documents.results_controllers import public_documents, result_view
from exchange.clock import as_utc, utcnow
from exchange.deps import ListingId, Session
from exchange.identity.tokens import Principal
from exchange.web.pages import page, web_user
from listings.models import Listing
from listings.workdays import local_date
from settlement.lines import load_settlement
from settlement.objections import ObjectionRecord, in_publicity, listed

PAGE_SIZE = 20


def chinese_date(day: date) -> str:
    """``2026年12月7日``."""
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class Publicity:
    """The result's 公示 as the page shows it: the period, whether objections may be filed now, the
    objection route (the seller's contact) and the objections so far."""

    status: str
    """The settlement's status (``publicity``, ``on_hold``, ``annulled``, ...)."""
    starts_on: date
    ends_on: date | None
    """The last day of the 公示 (its end is midnight after it, Beijing time)."""
    ends_at: datetime | None
    working_days: int | None
    """The listing's 公示 in working days; ``None`` under the sandbox profile, which counts seconds."""
    seconds: int | None
    """Under the sandbox profile: the 公示 in seconds (its working days count as seconds)."""
    open: bool
    annulled_reason: str | None
    seller_name: str | None
    seller_contact: str | None
    objections: list[ObjectionRecord]


async def publicity_of(
    session: Session, listing: Listing, user: Principal | None, *, sandbox: bool
) -> Publicity | None:
    """``None`` for a result without a 公示: no settlement yet, the winner under review, or no sale."""
    settlement = await load_settlement(session, listing.id)
    if settlement is None or settlement.status == "review" or settlement.outcome != "sold":
        return None
    ends_at = as_utc(settlement.publicity_ends_at) if settlement.publicity_ends_at else None
    return Publicity(
        status=settlement.status,
        starts_on=local_date(settlement.publicity_starts_at or settlement.created_at),
        ends_on=local_date(ends_at - timedelta(microseconds=1)) if ends_at else None,
        ends_at=ends_at,
        working_days=None if sandbox else listing.publicity_working_days,
        seconds=listing.publicity_working_days if sandbox else None,
        open=in_publicity(settlement, utcnow()),
        annulled_reason=settlement.annulled_reason,
        seller_name=listing.seller_name,
        seller_contact=listing.seller_contact,
        objections=await listed(session, listing.id, user),
    )


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
            quantity_unit=listing.method_params.get("unit"),
            opened_at=record.opened_at,
            closed_at=record.closed_at,
            publicity=await publicity_of(
                session, listing, web_user(request), sandbox=request.app.state.settings.profile == "sandbox"
            ),
            chinese_date=chinese_date,
        )


PAGES: list[ControllerRouterHandler] = [ResultPages]
