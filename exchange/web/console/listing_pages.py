"""The operator console's listing pages: the dashboard, the creation form and one listing.

Pages only read (through the same views the JSON API uses, so staff see what
the API shows staff); every change is posted by the page's script to the JSON
API, where the role checks and the rules live.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import func, select

from exchange.clock import utcnow
from exchange.deps import ListingId, Session
from exchange.errors import Conflict
from exchange.identity.tokens import Role
from exchange.settlement_terms import terms_to_json
from exchange.vocabulary import LISTING_STATUS_LABELS
from exchange.web.console.listing_form import (
    ASSET_FORMS,
    COMMON_FIELDS,
    METHOD_FIELDS,
    METHODS,
    SCHEDULE_FIELDS,
)
from exchange.web.pages import page, require_user
from exchange.web.payment_terms import describe
from listings import services, workdays
from listings.attribute_fields import attribute_rows
from listings.models import FINAL_STATUSES, LIVE_STATUSES
from listings.models import Listing as ListingRow
from listings.qualification import applicants_sealed
from listings.views import staff_view
from listings.workdays import SHANGHAI, local_date
from settlement import objections
from settlement.settlement_models import Settlement

STAFF: tuple[Role, ...] = ("operator", "auditor", "admin")
PER_STATUS = 20


def _staff(request: Request[Any, Any, Any], *roles: Role) -> None:
    require_user(request, *(roles or STAFF))


def _calendar() -> dict[str, Any]:
    """How far working days can be counted, and the first year to import when next year is missing."""
    last = workdays.last_covered_day()
    next_year = local_date(utcnow()).year + 1
    return {
        "last_covered_day": last,
        "imported_years": workdays.imported_years(),
        "missing_year": last.year + 1 if last.year < next_year else None,
    }


SELLER_PARTS: tuple[tuple[str, str, str, int, tuple[str, str] | None], ...] = (
    ("name", "出让人（转让方）名称", "Seller", 128, None),
    (
        "credit_code",
        "统一社会信用代码",
        "Unified social credit code",
        18,
        ("18 位，按 GB 32100 校验", "18 characters, checked (GB 32100)"),
    ),
    ("address", "地址", "Address", 256, None),
    ("contact", "联系人及电话", "Contact and telephone", 128, None),
)


def _form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What the creation and edit forms share: the fields, and each class's default payment terms."""
    settings = request.app.state.settings
    return {
        "assets": ASSET_FORMS,
        "common": COMMON_FIELDS,
        "schedule": SCHEDULE_FIELDS,
        "methods": METHODS,
        "method_fields": METHOD_FIELDS,
        "seller_parts": SELLER_PARTS,
        "default_terms": {k: terms_to_json(v) for k, v in settings.settlement.payment_terms.items()},
        "sandbox": settings.profile == "sandbox",
    }


class ListingConsole(Controller):
    path = "/console"
    include_in_schema = False

    @get("/", name="console")
    async def dashboard(self, request: Request[Any, Any, Any], session: Session) -> Template:
        _staff(request)
        counts = dict(
            (await session.execute(select(ListingRow.status, func.count()).group_by(ListingRow.status))).all()
        )
        groups = []
        for status, (zh, en) in LISTING_STATUS_LABELS.items():
            query = (
                select(ListingRow)
                .where(ListingRow.status == status)
                .order_by(ListingRow.id.desc())
                .limit(PER_STATUS)
            )
            rows = list((await session.execute(query)).scalars())
            groups.append(
                {"status": status, "zh": zh, "en": en, "count": counts.get(status, 0), "rows": rows}
            )
        return page(request, "console/dashboard.html", groups=groups, calendar=_calendar())

    @get("/listings/new")
    async def new_listing(self, request: Request[Any, Any, Any]) -> Template:
        # Only operators may create listings (the API's rule), so only they get the form.
        _staff(request, "operator")
        return page(request, "console/new.html", **_form(request))

    @get("/listings/{listing_id:int}/edit")
    async def edit_listing(
        self, request: Request[Any, Any, Any], session: Session, listing_id: ListingId
    ) -> Template:
        """The creation form, filled in with a draft; saved with PATCH (the API allows it for drafts only)."""
        _staff(request, "operator")
        row = await services.get_listing(session, listing_id)
        if row.status != "draft":
            raise Conflict(
                f"only a draft can be edited; this listing is {row.status}", code="listing_not_draft"
            )
        return page(
            request,
            "console/new.html",
            **_form(request),
            draft=msgspec.to_builtins(staff_view(row, utcnow())),
        )

    @get("/listings/{listing_id:int}")
    async def listing(
        self, request: Request[Any, Any, Any], session: Session, listing_id: ListingId
    ) -> Template:
        user = require_user(request, *STAFF)
        row = await services.get_listing(session, listing_id)
        view = staff_view(row, utcnow())
        settlement = await session.get(Settlement, listing_id)
        # a published sale's 公示: its objections with their filers, reasons and files (staff only)
        published = settlement is not None and settlement.outcome == "sold" and settlement.status != "review"
        # datetime-local values for the resume form: Beijing wall-clock time to the second.
        schedule_local = {
            name: getattr(view.schedule, name).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S")
            for name in view.schedule.__struct_fields__
            if name != "extension_seconds"
        }
        return page(
            request,
            "console/listing.html",
            listing=view,
            operator=user.role == "operator",
            live=view.status in LIVE_STATUSES,
            final=view.status in FINAL_STATUSES,
            method_fields=METHOD_FIELDS,
            schedule_fields=SCHEDULE_FIELDS,
            schedule_local=schedule_local,
            attributes=attribute_rows(view.asset_class, view.attributes),
            terms_zh=describe(view.payment_terms, "zh"),
            terms_en=describe(view.payment_terms, "en"),
            # 资格后审: no applicant on the page until the close, then the winner's review
            sealed=applicants_sealed(row),
            review=settlement is not None and settlement.status == "review",
            settlement=settlement if published else None,
            objections=await objections.listed(session, listing_id, user) if published else None,
            sandbox=request.app.state.settings.profile == "sandbox",
        )


PAGES: list[ControllerRouterHandler] = [ListingConsole]
