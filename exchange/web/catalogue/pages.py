"""Public pages of the catalogue: the list of listings and one listing's announcement.

Both read the public view (``has_reserve``, never the reserve) with the same
visibility rule as the API: drafts and not-yet-announced listings do not exist
for the public.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

import msgspec
from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select

from documents.formatting import local, yuan
from documents.models import Document
from documents.wording import wording_for
from exchange.clock import utcnow
from exchange.deps import ListingId, Session
from exchange.errors import ExchangeError
from exchange.identity.models import User
from exchange.identity.tokens import Principal
from exchange.settlement_terms import terms_to_json
from exchange.vocabulary import ASSET_CLASSES, LISTING_STATUSES, METHODS
from exchange.web.i18n import lang_of
from exchange.web.pages import page, web_user
from exchange.web.payment_terms import describe
from listings import declarations, registration_window, services
from listings.applications import application_of
from listings.applications_models import Application
from listings.attribute_fields import attribute_rows
from listings.declarations import ApplicationForm
from listings.models import Listing
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


async def application_form(
    session: Session, row: Listing, user: Principal, exchange_name: str
) -> ApplicationForm | None:
    """The 竞买申请书 filled for this bidder and listing, as the apply form shows it."""
    bidder = await session.get(User, user.user_id)
    if bidder is None:
        return None
    if bidder.kind == "individual" and bidder.id_number:
        # the page shows the form to whoever looks at the screen: enough of the number to recognise it
        code, label = f"{bidder.id_number[:6]}{'*' * 8}{bidder.id_number[-4:]}", ID_NUMBER
    else:
        code, label = bidder.credit_code or "", CREDIT_CODE
    return ApplicationForm(
        exchange=exchange_name,
        bidder=bidder.display_name,
        code_label=label,
        code=code,
        number=row.announcement_number or "",
        title=row.title,
        start_price=yuan(row.start_price),
        deposit=yuan(row.deposit),
        deadline=f"{local(row.registration_closes_at):%Y-%m-%d %H:%M:%S}",
    )


CREDIT_CODE = ("统一社会信用代码", "unified social credit code")
ID_NUMBER = ("居民身份证号码", "resident ID number")


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
        asset_class: Annotated[str | None, QueryParameter(max_length=32)] = None,
        status: Annotated[str | None, QueryParameter(max_length=32)] = None,
        method: Annotated[str | None, QueryParameter(max_length=32)] = None,
        region: Annotated[str | None, QueryParameter(max_length=100)] = None,
        sort: Annotated[str | None, QueryParameter(max_length=32)] = None,
        page_number: Annotated[int, QueryParameter(name="page", ge=1, le=100000)] = 1,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> Template:
        now = utcnow()
        # The filter form sends every field, "全部" as an empty value: empty means no filter here,
        # where the API's enum parameters would refuse it.
        given = {"asset_class": asset_class, "status": status, "method": method, "region": region}
        given |= {"sort": sort, "q": (q or "").strip()}
        try:
            chosen = msgspec.convert({k: v for k, v in given.items() if v}, CatalogueFilters)
        except msgspec.ValidationError as exc:
            raise ExchangeError(str(exc), code="validation_failed", status=400) from exc
        rows, total = await services.catalogue(
            session, chosen, public=True, page=page_number, page_size=PAGE_SIZE, now=now
        )
        filters = {
            field: getattr(chosen, field) for field in ("q", "asset_class", "status", "method", "region")
        }
        filters["sort"] = chosen.sort
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
        form = None
        if registration_open and application is None and user is not None and user.role == "bidder":
            form = await application_form(
                session, row, user, request.app.state.settings.documents.exchange_name
            )
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
            # the hall while there is an auction to come or running; after it, the result (and its record)
            hall_open=row.status in ("bidding", "suspended")
            or (
                application is not None
                and application.status == "qualified"
                and row.status not in ("closed", "failed", "cancelled")
            ),
            sandbox=request.app.state.settings.profile == "sandbox",
            application_form=form.text(lang_of(request)) if form is not None else None,
            commitments=declarations.COMMITMENTS,
            declaration_version=declarations.VERSION,
        )


PAGES: list[ControllerRouterHandler] = [CataloguePages]
