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
from exchange.clock import utcnow
from exchange.deps import ListingId, Session
from exchange.identity.tokens import Principal
from exchange.web.console.listing_form import attribute_rows as form_rows
from exchange.web.i18n import lang_of
from exchange.web.pages import page, web_user
from listings import services
from listings.applications import application_of
from listings.applications_models import Application
from listings.schemas import AssetClass, CatalogueFilters, Method, Sort, Status
from listings.views import public_view

PAGE_SIZE = 20
PUBLIC_STATUSES = [s for s in get_args(Status) if s != "draft"]

# Keys of the attribute schemas (listings/attributes.py) as bidders read them.
ATTRIBUTE_LABELS: dict[str, tuple[str, str]] = {
    "parcel_code": ("地块编号", "Parcel"),
    "location": ("位置", "Location"),
    "admin_division_code": ("行政区划代码", "Division code"),
    "area_m2": ("出让面积（m²）", "Area (m²)"),
    "land_use": ("土地用途", "Land use"),
    "mixed_use_shares": ("用途比例", "Use shares"),
    "plot_ratio": ("容积率", "Plot ratio"),
    "building_density": ("建筑密度", "Building density"),
    "green_ratio": ("绿地率", "Green ratio"),
    "term_years": ("年限（年）", "Term (years)"),
    "supply_mode": ("供应方式", "Supply mode"),
    "standard_land": ("标准地指标", "Standard-land indicators"),
    "right_type": ("矿业权类型", "Right type"),
    "mineral": ("矿种", "Mineral"),
    "area_km2": ("矿区面积（km²）", "Area (km²)"),
    "boundary": ("拐点坐标", "Corner points"),
    "crs": ("坐标系", "Coordinate system"),
    "reserves": ("资源储量", "Reserves"),
    "production_scale": ("生产规模", "Production scale"),
    "pollutant": ("污染物", "Pollutant"),
    "quantity": ("数量", "Quantity"),
    "unit": ("单位", "Unit"),
    "region": ("使用区域", "Region"),
    "region_code": ("区划代码", "Region code"),
    "basin": ("流域", "Basin"),
    "validity_years": ("有效期（年）", "Validity (years)"),
    "trade_type": ("交易类型", "Trade type"),
    "water_source": ("水源", "Water source"),
    "volume": ("水量（m³/年）", "Volume (m³/year)"),
    "use": ("用途", "Use"),
    "ip_type": ("知识产权类型", "IP type"),
    "registration_number": ("登记号", "Registration number"),
    "holder": ("权利人", "Holder"),
    "transaction_form": ("交易方式", "Transaction form"),
    "state_owned": ("国有资产", "State-owned"),
    # nested keys
    "investment_wan_yuan_per_mu": ("投资强度（万元/亩）", "Investment (10k yuan/mu)"),
    "output_wan_yuan_per_mu": ("亩均产出（万元/亩）", "Output (10k yuan/mu)"),
    "tax_wan_yuan_per_mu": ("亩均税收（万元/亩）", "Tax (10k yuan/mu)"),
    "energy_tce_per_wan_yuan": ("单位能耗（吨标煤/万元）", "Energy (tce/10k yuan)"),
    "residential": ("住宅", "Residential"),
    "commercial": ("商业", "Commercial"),
    "tourism": ("旅游", "Tourism"),
    "entertainment": ("娱乐", "Entertainment"),
    "industrial": ("工业", "Industrial"),
    "public_services": ("公共服务", "Public services"),
}


def attribute_rows(asset_class: str, attributes: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    """The class attributes as (label, text) rows, labelled and with choices named as the listing form has them.

    Nested values (plot ratio, reserves, corner points) are written out flat.
    """
    side = 1 if lang == "en" else 0
    rows = []
    for (key, zh, en), (_, value_zh, value_en) in form_rows(asset_class, attributes):
        name = (zh, en)[side] if zh != key else ATTRIBUTE_LABELS.get(key, (key, key))[side]
        value = attributes[key]
        scalar = not isinstance(value, bool | dict | list | tuple)
        rows.append((name, (value_zh, value_en)[side] if scalar else _text(value, lang)))
    return rows


def _text(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return ("Yes" if value else "No") if lang == "en" else ("是" if value else "否")
    if isinstance(value, dict):
        if set(value) <= {"min", "max"}:
            return f"{value.get('min') or '–'} ~ {value.get('max') or '–'}"
        if set(value) == {"quantity", "unit"}:
            return f"{value['quantity']} {value['unit']}"
        side = 1 if lang == "en" else 0
        return "; ".join(
            f"{ATTRIBUTE_LABELS.get(k, (k, k))[side]}: {_text(v, lang)}" for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return "; ".join(_text(v, lang) for v in value)
    return "" if value is None else str(value)


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
        status: Annotated[Status | None, QueryParameter()] = None,
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
            asset_classes=get_args(AssetClass),
            methods=get_args(Method),
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
        registration_open = (
            row.status == "registration" and row.registration_opens_at <= now < row.registration_closes_at
        )
        return page(
            request,
            "catalogue/detail.html",
            listing=public_view(row, now),
            attributes=attribute_rows(row.asset_class, row.attributes, lang_of(request)),
            announcements=await announcement_documents(session, listing_id),
            application=application,
            registration_open=registration_open,
            hall_open=row.status in ("bidding", "closed", "failed", "suspended")
            or (application is not None and application.status == "qualified" and row.status != "cancelled"),
        )


PAGES: list[ControllerRouterHandler] = [CataloguePages]
