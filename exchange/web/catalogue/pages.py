"""Public pages of the catalogue: the list of listings and one listing's announcement.

Both read the public view (``has_reserve``, never the reserve) with the same
visibility rule as the API: drafts and not-yet-announced listings do not exist
for the public.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select

from documents.models import Document
from documents.wording import wording_for
from exchange.clock import utcnow
from exchange.deps import ListingId, Session
from exchange.identity.tokens import Principal
from exchange.settlement_terms import terms_to_json
from exchange.vocabulary import ASSET_CLASSES, LISTING_STATUSES, METHODS, AssetClass, ListingStatus, Method
from exchange.web.i18n import lang_of
from exchange.web.pages import page, web_user
from exchange.web.payment_terms import describe
from listings import registration_window, services
from listings.applications import application_of
from listings.applications_models import Application
from listings.attribute_fields import attribute_rows
from listings.schemas import CatalogueFilters, Sort
from listings.views import public_view

PAGE_SIZE = 20
PUBLIC_STATUSES = [s for s in LISTING_STATUSES if s != "draft"]


async def announcement_documents(session: Session, listing_id: int) -> list[Document]:
    query = (
        select(Document)
        .where(
            Document.listing_id == listing_id,
            Document.public.is_(True),
            Document.kind == "listing_announcement",
        )
        .order_by(Document.id)
    )
    return list((await session.execute(query)).scalars())


async def own_application(session: Session, listing_id: int, user: Principal | None) -> Application | None:
    """The viewer's application to the listing, when the viewer is a bidder."""
    if user is None or user.role != "bidder":
        return None
    return await application_of(session, listing_id, user.user_id)


class CataloguePages(Controller):
    path = "/"
    include_in_schema = False

    @get("/", name="catalogue")
    async def catalogue(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        asset_class: Annotated[AssetClass | None, QueryParameter()] = None,
        status: Annotated[ListingStatus | None, QueryParameter()] = None,
        method: Annotated[Method | None, QueryParameter()] = None,
        region: Annotated[str | None, QueryParameter(max_length=100)] = None,
        sort: Annotated[Sort, QueryParameter()] = "-id",
        page_number: Annotated[int, QueryParameter(name="page", ge=1, le=100000)] = 1,
    ) -> Template:
        now = utcnow()
        rows, total = await services.catalogue(
            session,
            CatalogueFilters(asset_class, status, method, region, sort),
            public=True,
            page=page_number,
            page_size=PAGE_SIZE,
            now=now,
        )
        filters = {
            "asset_class": asset_class,
            "status": status,
            "method": method,
            "region": region,
            "sort": sort,
        }
        return page(
            request,
            "catalogue/catalogue.html",
            items=[public_view(row, now) for row in rows],
            total=total,
            page_number=page_number,
            pages=max(1, -(-total // PAGE_SIZE)),
            filters=filters,
            keep={k: v for k, v in filters.items() if v},
            asset_classes=ASSET_CLASSES,
            methods=METHODS,
            statuses=PUBLIC_STATUSES,
            sorts=get_args(Sort),
        )

    @get("/listings/{listing_id:int}", name="listing_detail")
    async def detail(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        listing_id: ListingId,
    ) -> Template:
        now = utcnow()
        row = await services.published_listing(session, listing_id, now)
        user = web_user(request)
        application = await own_application(session, listing_id, user)
        registration_open = registration_window.registration_open(row, now)
        return page(
            request,
            "catalogue/detail.html",
            listing=public_view(row, now),
            attributes=attribute_rows(row.asset_class, row.attributes),
            announcements=await announcement_documents(session, listing_id),
            seller_word=wording_for(row.asset_class, row.attributes).seller,
            payment_terms=describe(terms_to_json(services.terms_of(row)), lang_of(request)),
            application=application,
            registration_open=registration_open,
            hall_open=row.status in ("bidding", "closed", "failed", "suspended")
            or (application is not None and application.status == "qualified" and row.status != "cancelled"),
            sandbox=request.app.state.settings.profile == "sandbox",
        )


PAGES: list[ControllerRouterHandler] = [CataloguePages]
