"""The registry's public pages (issue 18): the statistics per right and region, and the
negotiated transfers (协议转让) under 公示 with their objections, to which anyone logged in may
object while the 公示 runs (the form posts to ``POST /api/v1/registry/agreements/{id}/objections``).

The API has no list of agreements, so the pages read them through
:func:`settlement.registry.agreements.list_agreements`. Shown: what a 公示 publishes (the
parties' names, the right, quantity, price and dates); never a payment account or who objected."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import PathParameter
from litestar.response import Template
from sqlalchemy import select

from exchange.clock import utcnow
from exchange.deps import MAX_ID, Session
from exchange.web.i18n import lang_of
from exchange.web.pages import page
from exchange.web.registry.holder import API
from exchange.web.registry.words import Words
from settlement.registry.agreements import get_agreement, list_agreements, objections_of
from settlement.registry.models import Holder, Instrument
from settlement.registry.statements import statistics

AgreementId = Annotated[int, PathParameter(description="Agreement id", ge=1, le=MAX_ID)]


async def _names(session: Any, ids: set[int]) -> dict[int, str]:
    rows = (await session.execute(select(Holder).where(Holder.id.in_(ids)))).scalars()
    return {h.id: h.name for h in rows}


class PublicPages(Controller):
    path = "/registry"
    include_in_schema = False

    @get("/statistics")
    async def statistics(self, request: Request[Any, Any, Any], session: Session) -> Template:
        rows = await statistics(session)
        return page(request, "registry/statistics.html", rows=rows, rw=Words(lang_of(request)))

    @get("/agreements")
    async def agreements(self, request: Request[Any, Any, Any], session: Session) -> Template:
        rows = await list_agreements(session, status="publicity")
        names = await _names(session, {a.seller_id for a in rows} | {a.buyer_id for a in rows})
        ids = {a.instrument_id for a in rows}
        instruments = {
            i.id: i
            for i in (await session.execute(select(Instrument).where(Instrument.id.in_(ids)))).scalars()
        }
        return page(
            request,
            "registry/agreements.html",
            agreements=rows,
            names=names,
            instruments=instruments,
            rw=Words(lang_of(request)),
        )

    @get("/agreements/{agreement_id:int}")
    async def agreement(
        self, request: Request[Any, Any, Any], session: Session, agreement_id: AgreementId
    ) -> Template:
        agreement = await get_agreement(session, agreement_id)
        instrument = await session.get(Instrument, agreement.instrument_id)
        names = await _names(session, {agreement.seller_id, agreement.buyer_id})
        running = agreement.status == "publicity" and utcnow() < agreement.publicity_ends_at
        return page(
            request,
            "registry/agreement.html",
            agreement=agreement,
            instrument=instrument,
            names=names,
            objections=await objections_of(session, agreement.id),
            running=running,
            rw=Words(lang_of(request)),
            api=API,
        )
