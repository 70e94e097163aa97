"""The registry's console (issue 18) for the operator and the registrar.

The operator approves a holder's offer into a draft listing with a compact form whose fields are
the body of ``POST /api/v1/registry/offers/{id}/approve`` (a listing's creation body: the right's
attributes, the seller and, for a uniform-price auction, the quantity come from the offer), rejects
offers, and answers objections to agreements under 公示. The registrar issues (quantities typed in
t/a or m³/a), enters verified quantities, consents to or refuses deliveries and confirms permit
changes. Every form posts to the JSON API, which keeps the roles and the rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.clock import utcnow
from exchange.deps import Session
from exchange.web.i18n import lang_of
from exchange.web.pages import page, require_user
from exchange.web.registry.holder import API, REGISTRY_STAFF
from exchange.web.registry.words import EMISSION_SUB_TYPES, WATER_SUB_TYPES, Words
from listings.attribute_fields import ATTRIBUTE_FIELDS
from listings.workdays import SHANGHAI, local_date
from settlement.registry.models import Agreement, AgreementObjection, Delivery, Holder, Instrument, Offer

OFFER_METHODS = ("english", "listing", "uniform_price")
"""What a registered right is sold by: one buyer bidding up, or several buying lots at one price."""
SCHEDULE = (
    ("announce_at", "公告时间", "Announcement", timedelta(hours=1)),
    ("registration_opens_at", "报名开始", "Registration opens", timedelta(days=1, hours=1)),
    ("registration_closes_at", "报名截止", "Registration closes", timedelta(days=20, hours=1)),
    ("bidding_opens_at", "竞价开始", "Bidding opens", timedelta(days=21, hours=1)),
    ("bidding_closes_at", "竞价截止", "Bidding closes", timedelta(days=21, hours=3)),
)
"""The approval form's schedule, prefilled well inside the statutory leads (a week's notice for
emission rights); the operator moves it, and the draft stays editable until it is published."""


def _beijing(at: datetime) -> str:
    """The value of a ``datetime-local`` input in Beijing time, to the minute."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def schedule_defaults(now: datetime) -> list[tuple[str, str, str, str]]:
    start = now.replace(minute=0, second=0, microsecond=0)
    return [(key, zh, en, _beijing(start + offset)) for key, zh, en, offset in SCHEDULE]


def water_uses() -> tuple[tuple[str, str, str], ...]:
    for field in ATTRIBUTE_FIELDS["water_right"]:
        if field.key == "use":
            return tuple(field.choices)
    return ()


async def _pairs(session: AsyncSession, model: Any, *where: Any) -> list[Any]:
    query = select(model, Instrument).join(Instrument, Instrument.id == model.instrument_id)
    return list((await session.execute(query.where(*where).order_by(model.id))).all())


async def _open_objections(session: AsyncSession) -> list[Any]:
    query = (
        select(AgreementObjection, Agreement, Instrument)
        .join(Agreement, Agreement.id == AgreementObjection.agreement_id)
        .join(Instrument, Instrument.id == Agreement.instrument_id)
        .where(AgreementObjection.status == "open")
        .order_by(AgreementObjection.id)
    )
    return list((await session.execute(query)).all())


class RegistryConsole(Controller):
    path = "/console/registry"
    include_in_schema = False

    @get("/")
    async def console(self, request: Request[Any, Any, Any], session: Session) -> Template:
        user = require_user(request, *REGISTRY_STAFF)
        now = utcnow()
        return page(
            request,
            "registry/console.html",
            user=user,
            holders={h.id: h for h in (await session.execute(select(Holder))).scalars()},
            unverified=list(
                (
                    await session.execute(
                        select(Holder)
                        .where(Holder.verified_at.is_(None))
                        .order_by(Holder.created_at, Holder.id)
                    )
                ).scalars()
            ),
            awaiting=await _pairs(session, Delivery, Delivery.status == "awaiting_approval"),
            permits=await _pairs(
                session, Delivery, Delivery.status == "delivered", Delivery.permit_change == "pending"
            ),
            offers=await _pairs(session, Offer, Offer.status == "pending"),
            objections=await _open_objections(session),
            methods=OFFER_METHODS,
            schedule=schedule_defaults(now),
            water_uses=water_uses(),
            emission_sub_types=EMISSION_SUB_TYPES,
            water_sub_types=WATER_SUB_TYPES,
            rw=Words(lang_of(request)),
            api=API,
            today=local_date(now).isoformat(),
        )
