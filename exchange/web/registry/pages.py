"""The registry's pages (issue 18): a holder's green responsibility account (绿色责任账户) with its
statement and delivery documents, the registrar's and operator's console, the public statistics.

Pages only read, through the registry's own views (``settlement.registry.statements``); every
change is posted by the page's forms to the JSON API (``/api/v1/registry``, app.js
``data-api-form``), where the roles and the rules live. Words come from
:mod:`documents.registry_words`, so a page and a PDF print a lot the same way."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import PathParameter
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select

from documents import registry_words as w
from documents.data import Office
from documents.registry_documents import KEYS, statement_pdf
from documents.render import Renderer
from documents.store import by_key
from exchange.clock import utcnow
from exchange.deps import MAX_ID, Session
from exchange.errors import ExchangeError, NotFound
from exchange.identity.tokens import Principal, Role
from exchange.web.i18n import lang_of
from exchange.web.pages import page, require_user, security_headers
from listings.workdays import local_date
from settlement.registry.issuance import holder_of_user
from settlement.registry.models import Delivery, Holder, Instrument, Offer
from settlement.registry.statements import green_account, statistics

STAFF: tuple[Role, ...] = ("operator", "auditor", "admin")
REGISTRY_STAFF: tuple[Role, ...] = (*STAFF, "registrar")
DeliveryId = Annotated[int, PathParameter(description="Delivery id", ge=1, le=MAX_ID)]
DocumentName = Annotated[
    str, PathParameter(description="record.pdf (交割单) or certificate.pdf (交易凭证)", max_length=32)
]
DOCUMENT_NAMES = {"record.pdf": "delivery_record", "certificate.pdf": "registry_certificate"}
API = "/api/v1/registry"
"""Where the forms post (settlement.registry.controllers)."""


class Words:
    """The registry's words in the page's language, for the templates."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def right(self, key: str) -> str:
        return w.word(w.RIGHT_TYPE_WORDS, key, self.lang)

    def sub_type(self, right_type: str, key: str) -> str:
        return w.sub_type_word(right_type, key, self.lang)

    def instrument(self, right_type: str, sub_type: str) -> str:
        return w.instrument_name(right_type, sub_type, self.lang)

    def amount(self, unit: str, quantity: int) -> str:
        return w.amount(unit, quantity, self.lang)

    def number(self, unit: str, quantity: int) -> str:
        return w.number(unit, quantity)

    def unit(self, unit: str) -> str:
        return w.word(w.UNIT_WORDS, unit, self.lang)

    def unit_price(self, unit: str, price: int, quantity: int) -> str:
        return w.unit_price(unit, price, quantity, self.lang)

    def validity(self, instrument: Any) -> str:
        return w.validity(instrument.valid_from, instrument.valid_until, self.lang)

    def origin(self, key: str) -> str:
        return w.word(w.ORIGIN_WORDS, key, self.lang)

    def delivery(self, key: str) -> str:
        return w.word(w.DELIVERY_STATUS_WORDS, key, self.lang)

    def permit(self, key: str | None) -> str:
        return "" if key is None else w.word(w.PERMIT_CHANGE_WORDS, key, self.lang)

    def pledge(self, key: str) -> str:
        return w.word(w.PLEDGE_STATUS_WORDS, key, self.lang)

    def offer(self, key: str) -> str:
        return w.word(w.OFFER_STATUS_WORDS, key, self.lang)

    def via(self, key: str) -> str:
        return w.word(w.VIA_WORDS, key, self.lang)


def _unit_of(right_type: str) -> str:
    return "kg/a" if right_type == "emission" else "m3/a"


def _pdf(content: bytes, filename: str, request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
            **security_headers(request),
        },
    )


def _issuer_parts(request: Request[Any, Any, Any]) -> tuple[Renderer, str, Office]:
    """The document issuer's render pool, public address and office (one pool per app)."""
    issuer = request.app.state.document_issuer
    return issuer.renderer, issuer.base_url, issuer.office


class HolderPages(Controller):
    path = "/registry"
    include_in_schema = False

    @get("/")
    async def account(self, request: Request[Any, Any, Any], session: Session) -> Template:
        user = require_user(request)
        holder = await holder_of_user(session, user.user_id)
        account = await green_account(session, holder.id) if holder is not None else None
        instruments: dict[int, Instrument] = {}
        if account is not None:
            ids = {t.instrument_id for t in (*account.acquisitions, *account.sales)}
            ids |= {p.instrument_id for p in account.pledges} | {s.instrument_id for s in account.surrenders}
            if ids:
                rows = (await session.execute(select(Instrument).where(Instrument.id.in_(ids)))).scalars()
                instruments = {row.id: row for row in rows}
        return page(
            request,
            "registry/account.html",
            user=user,
            account=account,
            instruments=instruments,
            rw=Words(lang_of(request)),
            unit_of=_unit_of,
            api=API,
        )

    @get("/statement.pdf")
    async def statement(self, request: Request[Any, Any, Any], session: Session) -> Response[bytes]:
        user = require_user(request)
        holder = await holder_of_user(session, user.user_id)
        account = await green_account(session, holder.id) if holder is not None else None
        if account is None:
            raise NotFound("you have no registry account", code="registry_no_account")
        renderer, base_url, office = _issuer_parts(request)
        pdf = await statement_pdf(session, renderer, account, base_url=base_url, office=office)
        return _pdf(pdf, f"statement-{local_date(utcnow()):%Y%m%d}.pdf", request)

    @get("/deliveries/{delivery_id:int}/{name:str}")
    async def delivery_document(
        self, request: Request[Any, Any, Any], session: Session, delivery_id: DeliveryId, name: DocumentName
    ) -> Response[bytes]:
        """The 交割单 (``record``) or 交易凭证 (``certificate``) of a delivery: to either party and the staff."""
        user = require_user(request)
        kind = DOCUMENT_NAMES.get(name)
        delivery = await session.get(Delivery, delivery_id)
        if kind is None or delivery is None:
            raise NotFound(f"no document {name} of delivery {delivery_id}")
        await _may_read(session, user, delivery)
        document = await by_key(session, KEYS[kind](delivery_id), with_pdf=True)
        if document is None:
            raise NotFound(
                "the document is not issued yet; it follows the delivery within a minute",
                code="registry_document_pending",
            )
        return _pdf(document.pdf, f"{kind}-{delivery_id}.pdf", request)

    @get("/statistics")
    async def statistics(self, request: Request[Any, Any, Any], session: Session) -> Template:
        rows = await statistics(session)
        return page(request, "registry/statistics.html", rows=rows, rw=Words(lang_of(request)))


async def _may_read(session: Any, user: Principal, delivery: Delivery) -> None:
    if user.role in REGISTRY_STAFF:
        return
    holder = await holder_of_user(session, user.user_id)
    if holder is None or holder.id not in (delivery.buyer_id, delivery.seller_id):
        raise ExchangeError(
            "this document is for the parties and the staff only", code="forbidden", status=403
        )


class RegistryConsole(Controller):
    path = "/console/registry"
    include_in_schema = False

    @get("/")
    async def console(self, request: Request[Any, Any, Any], session: Session) -> Template:
        user = require_user(request, *REGISTRY_STAFF)
        holders = {h.id: h for h in (await session.execute(select(Holder))).scalars()}
        awaiting = list(
            (
                await session.execute(
                    select(Delivery, Instrument)
                    .join(Instrument, Instrument.id == Delivery.instrument_id)
                    .where(Delivery.status == "awaiting_approval")
                    .order_by(Delivery.id)
                )
            ).all()
        )
        permits = list(
            (
                await session.execute(
                    select(Delivery, Instrument)
                    .join(Instrument, Instrument.id == Delivery.instrument_id)
                    .where(Delivery.status == "delivered", Delivery.permit_change == "pending")
                    .order_by(Delivery.id)
                )
            ).all()
        )
        offers = list(
            (
                await session.execute(
                    select(Offer, Instrument)
                    .join(Instrument, Instrument.id == Offer.instrument_id)
                    .where(Offer.status == "pending")
                    .order_by(Offer.id)
                )
            ).all()
        )
        return page(
            request,
            "registry/console.html",
            user=user,
            holders=holders,
            awaiting=awaiting,
            permits=permits,
            offers=offers,
            rw=Words(lang_of(request)),
            api=API,
            today=local_date(utcnow()).isoformat(),
        )


PAGES: list[ControllerRouterHandler] = [HolderPages, RegistryConsole]
