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
from exchange.vocabulary import LISTING_STATUS_LABELS, QUANTITY_UNIT_LABELS, Label
from exchange.web.console.listing_form import (
    ASSET_FORMS,
    COMMON_FIELDS,
    METHOD_FIELDS,
    METHODS,
    RATIO,
    SCHEDULE_FIELDS,
    Field,
)
from exchange.web.console.todo import todo
from exchange.web.i18n import lang_of
from exchange.web.pages import page, require_user
from exchange.web.payment_terms import describe, percent
from listings import services, workdays
from listings.attribute_fields import attribute_rows
from listings.models import FINAL_STATUSES, LIVE_STATUSES
from listings.models import Listing as ListingRow
from listings.qualification import applicants_sealed
from listings.schemas import ListingStaffView
from listings.views import public_view, staff_view
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


def _field_labels() -> dict[str, Label]:
    """Every field of the listing form by its API path, so a problem about a field names it as the form does."""
    labels = {
        "schedule": Label("时间安排", "Schedule"),
        "seller": Label("出让人（转让方）", "Seller"),
        "announcement_number": Label("公告文号", "Announcement number"),
        "publicity_working_days": Label("成交公示期", "Result on display (公示)"),
        "payment_terms": Label("付款条件", "Payment terms"),
        "attributes": Label("标的属性", "Attributes"),
        "reason": Label("原因", "Reason"),
    }
    for part, zh, en, _, _ in SELLER_PARTS:
        labels[f"seller.{part}"] = Label(zh, en)
    for f in (*COMMON_FIELDS, *SCHEDULE_FIELDS, *METHOD_FIELDS):
        labels[f.name] = Label(f.zh, f.en)
    for asset in ASSET_FORMS:
        for item in asset.items:
            labels[item.name] = Label(item.zh, item.en)
            for member in getattr(item, "fields", ()):
                labels[member.name] = Label(f"{item.zh}：{member.zh}", f"{item.en}: {member.en}")
    return labels


FIELD_LABELS = _field_labels()


def _param_value(field: Field, value: Any, params: dict[str, Any]) -> Label:
    """A method parameter as people read it: a choice by its label, a share as a percentage, a
    quantity with its unit, an amount in yuan; never the API's code."""
    if field.choices:
        found = next((Label(zh, en) for v, zh, en in field.choices if v == value), None)
        return found or Label(str(value), str(value))
    if field.unit == RATIO:
        text = f"{percent(value)}%"
        return Label(text, text)
    if field.name in ("quantity", "lot"):
        unit = QUANTITY_UNIT_LABELS.get(str(params.get("unit")), Label("", ""))
        return Label(f"{value} {unit.zh}".strip(), f"{value} {unit.en}".strip())
    if field.unit is not None:  # seconds; the one amount (the price cap) has its own row
        return Label(f"{value} {field.unit.zh}", f"{value} {field.unit.en}")
    return Label(str(value), str(value))


def method_rows(view: ListingStaffView) -> list[tuple[Label, Label]]:
    """The listing's method parameters as (label, value) rows, in the form's order. The price cap
    and the qualification mode have rows of their own on the page."""
    params = view.method_params
    return [
        (Label(f.zh, f.en), _param_value(f, params[f.name], params))
        for f in METHOD_FIELDS
        if f.name not in ("price_cap", "qualification") and params.get(f.name) is not None
    ]


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
        return page(
            request,
            "console/dashboard.html",
            groups=groups,
            calendar=_calendar(),
            todo=await todo(session, utcnow()),
        )

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
            method_rows=method_rows(view),
            field_labels={k: v.in_language(lang_of(request)) for k, v in FIELD_LABELS.items()},
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
            # a draft's publish dialog shows the listing as the public will get it (no reserve)
            preview=public_view(row, utcnow()) if row.status == "draft" else None,
        )


PAGES: list[ControllerRouterHandler] = [ListingConsole]
