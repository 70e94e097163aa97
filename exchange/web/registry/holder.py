"""A holder's pages (issue 18): the green responsibility account (绿色责任账户) with its forms —
open the account, offer, surrender (履约) against an open obligation, pledge, agree a negotiated
transfer (协议转让) — its agreements as seller and as buyer, the statement and the delivery
documents.

Pages only read; every change is posted by the page's forms to the JSON API
(``/api/v1/registry``, app.js ``data-api-form``), where the roles and the rules live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import PathParameter
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
from exchange.web.registry.words import Words, unit_of
from listings.workdays import local_date
from settlement.double_entry import balance
from settlement.registry.agreements import list_agreements, receivable_code
from settlement.registry.issuance import holder_of_user
from settlement.registry.models import Agreement, Delivery, Holder, Instrument
from settlement.registry.statements import ComplianceLine, GreenAccount, HoldingLine, green_account

REGISTRY_STAFF: tuple[Role, ...] = ("operator", "auditor", "admin", "registrar")
DeliveryId = Annotated[int, PathParameter(description="Delivery id", ge=1, le=MAX_ID)]
DocumentName = Annotated[
    str, PathParameter(description="record.pdf (交割单) or certificate.pdf (交易凭证)", max_length=32)
]
DOCUMENT_NAMES = {"record.pdf": "delivery_record", "certificate.pdf": "registry_certificate"}
API = "/api/v1/registry"
"""Where the forms post (settlement.registry.controllers)."""


@dataclass(frozen=True, slots=True)
class OpenObligation:
    """An obligation with a shortfall and the holdings that may be surrendered against it."""

    line: ComplianceLine
    holdings: tuple[HoldingLine, ...]


@dataclass(frozen=True, slots=True)
class AgreementLine:
    """One agreement seen from one side; ``due`` (fen) is what the buyer still has to pay."""

    agreement: Agreement
    instrument: Instrument
    selling: bool
    counterparty: str
    due: int | None


def _valid_in(line: HoldingLine, year: int) -> bool:
    i = line.instrument
    return i.valid_from < date(year + 1, 1, 1) and i.valid_until > date(year, 1, 1)


def open_obligations(account: GreenAccount) -> list[OpenObligation]:
    """Each obligation short of its verified quantity, with the available holdings of its right
    valid in its year (what ``compliance.surrender`` accepts)."""
    found = []
    for line in account.compliance:
        if line.shortfall <= 0:
            continue
        matching = tuple(
            h
            for h in account.holdings
            if h.available > 0
            and h.instrument.right_type == line.right_type
            and h.instrument.sub_type == line.sub_type
            and _valid_in(h, line.year)
        )
        found.append(OpenObligation(line, matching))
    return found


async def agreement_lines(session: AsyncSession, holder: Holder) -> list[AgreementLine]:
    """The holder's agreements, newest first, with the counterparty's name and, for a confirmed
    purchase, the amount still due on its payment account."""
    rows = await list_agreements(session, holder_id=holder.id)
    if not rows:
        return []
    ids = {a.instrument_id for a in rows}
    instruments = {
        i.id: i for i in (await session.execute(select(Instrument).where(Instrument.id.in_(ids)))).scalars()
    }
    parties = {a.seller_id for a in rows} | {a.buyer_id for a in rows}
    names = {
        h.id: h.name for h in (await session.execute(select(Holder).where(Holder.id.in_(parties)))).scalars()
    }
    lines = []
    for a in rows:
        selling = a.seller_id == holder.id
        due = None
        if not selling and a.status == "confirmed":
            due = await balance(session, receivable_code(a.id))
        other = a.buyer_id if selling else a.seller_id
        lines.append(AgreementLine(a, instruments[a.instrument_id], selling, names.get(other, ""), due))
    return lines


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


async def _instruments_of(session: AsyncSession, account: GreenAccount) -> dict[int, Instrument]:
    ids = {t.instrument_id for t in (*account.acquisitions, *account.sales)}
    ids |= {p.instrument_id for p in account.pledges} | {s.instrument_id for s in account.surrenders}
    if not ids:
        return {}
    rows = (await session.execute(select(Instrument).where(Instrument.id.in_(ids)))).scalars()
    return {row.id: row for row in rows}


class HolderPages(Controller):
    path = "/registry"
    include_in_schema = False

    @get("/")
    async def account(self, request: Request[Any, Any, Any], session: Session) -> Template:
        user = require_user(request)
        holder = await holder_of_user(session, user.user_id) if user.role == "bidder" else None
        account = await green_account(session, holder.id) if holder is not None else None
        context: dict[str, Any] = {}
        if holder is not None and account is not None:
            context = {
                "instruments": await _instruments_of(session, account),
                "obligations": open_obligations(account),
                "agreements": await agreement_lines(session, holder),
                "available": [h for h in account.holdings if h.available > 0],
            }
        return page(
            request,
            "registry/account.html",
            user=user,
            account=account,
            rw=Words(lang_of(request)),
            unit_of=unit_of,
            api=API,
            **context,
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


async def _may_read(session: AsyncSession, user: Principal, delivery: Delivery) -> None:
    if user.role in REGISTRY_STAFF:
        return
    holder = await holder_of_user(session, user.user_id)
    if holder is None or holder.id not in (delivery.buyer_id, delivery.seller_id):
        raise ExchangeError(
            "this document is for the parties and the staff only", code="forbidden", status=403
        )
