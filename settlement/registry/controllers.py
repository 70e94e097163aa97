"""The registry's API under /api/v1/registry: accounts, issuance, offers, agreements, deliveries,
pledges, obligations and surrenders, and the public statistics (OpenAPI documented).

Thin: each handler checks who the caller is to the resource, calls the registry's services
(:mod:`settlement.registry.issuance`, ``offers``, ``agreements``, ``delivery``, ``pledges``,
``compliance``) and commits. A bidder acts for the holder whose credit code its account
carries and sees only that holder, and trades only once the registrar has verified where it is
(``registry_account_unverified``); staff (registrar, operator, auditor, admin) hold nothing
(rule 10). Nothing here names the applicants or bidders of a running listing: an offer shows
its listing, a delivery exists only once a sale settles.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.clock import utcnow
from exchange.deps import MAX_ID, AppSettings, CurrentUser, MaybeUser, Session
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.identity.codes import normalised
from exchange.identity.guards import authenticated, requires
from exchange.identity.models import User
from exchange.identity.tokens import Principal, Role
from exchange.money import MoneyFormatError, format_yuan, parse_yuan
from exchange.spreadsheet import csv_response, csv_text, number_cell, text_cell
from listings.controllers import defaults_of
from listings.schemas import ListingCreate, ListingStaffView
from listings.views import staff_view
from settlement.registry import agreements, compliance, delivery, issuance, offers, pledges, statements
from settlement.registry.models import (
    Agreement,
    AgreementObjection,
    Delivery,
    Holder,
    Instrument,
    Obligation,
    Offer,
    Pledge,
    RegistryAccount,
    RegistryEntry,
    Surrender,
)
from settlement.registry.schemas import (
    AgreementCreate,
    AgreementObjectionAnswer,
    AgreementObjectionCreate,
    AgreementObjectionView,
    AgreementView,
    ComplianceView,
    DeliveryView,
    GreenAccountView,
    HolderCreate,
    HolderVerify,
    HolderView,
    HoldingView,
    InstrumentDetail,
    InstrumentView,
    IssuanceCreate,
    IssuanceView,
    MovementPage,
    MovementView,
    ObligationCreate,
    ObligationView,
    OfferCreate,
    OfferView,
    PledgeCreate,
    PledgeEnforce,
    PledgeLineView,
    PledgeView,
    RegistryReason,
    StatisticsView,
    SurrenderCreate,
    SurrenderLineView,
    SurrenderView,
    TradeView,
)

STAFF: tuple[Role, ...] = ("registrar", "operator", "auditor", "admin")
registrar_only = [requires("registrar")]
operator_only = [requires("operator")]
staff_only = [requires(*STAFF)]
EXPORT_SCHEMA_VERSION = "1"
STATISTICS_COLUMNS = (
    "right_type",
    "sub_type",
    "region_code",
    "unit",
    "issued",
    "volume_traded",
    "value",
    "average_unit_price",
    "trades",
    "holders",
)
"""The CSV's columns, read by name: new ones go at the end, none is renamed or dropped."""
_TEXT_COLUMNS = frozenset({"right_type", "sub_type", "region_code", "unit"})


OfferId = Annotated[int, PathParameter(description="Offer id", ge=1, le=MAX_ID)]
InstrumentId = Annotated[int, PathParameter(description="Instrument id", ge=1, le=MAX_ID)]
AgreementId = Annotated[int, PathParameter(description="Agreement id", ge=1, le=MAX_ID)]
AgreementObjectionId = Annotated[int, PathParameter(description="Agreement objection id", ge=1, le=MAX_ID)]
DeliveryId = Annotated[int, PathParameter(description="Delivery id", ge=1, le=MAX_ID)]
PledgeId = Annotated[int, PathParameter(description="Pledge id", ge=1, le=MAX_ID)]
CreditCodePath = Annotated[
    str,
    PathParameter(
        description="The holder's unified social credit code (18 characters, GB 32100)",
        pattern=r"^[0-9A-Za-z]{18}$",
        examples=[Example(value="91320505MA1XXXXX0X")],
    ),
]
Page = Annotated[int, QueryParameter(ge=1, le=100000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=100,
        description="The surrender's idempotency key (or the body's ``reference``): a repeat answers "
        "the surrender booked the first time",
    ),
]


# -- who the caller is to the registry


async def _holder_by_code(session: AsyncSession, credit_code: str) -> Holder:
    holder = await issuance.holder_by_code(session, credit_code)
    if holder is None:
        raise NotFound(f"no registry account for credit code {credit_code}", code="registry_not_found")
    return holder


async def _own_holder(session: AsyncSession, user: Principal) -> Holder:
    """The holder a bidder acts for; 409 ``registry_no_account`` without one."""
    holder = await issuance.holder_of_user(session, user.user_id)
    if holder is None:
        raise Conflict(
            "open a registry account first (POST /api/v1/registry/holders)", code="registry_no_account"
        )
    return holder


async def _caller_holder_id(session: AsyncSession, user: Principal) -> int | None:
    if user.role != "bidder":
        return None
    holder = await issuance.holder_of_user(session, user.user_id)
    return holder.id if holder is not None else None


def _actor(user: Principal) -> str:
    return f"user:{user.user_id}"


def _verified_seller(holder: Holder) -> Holder:
    """A holder sells only once the registrar has verified it, as it buys (eligibility)."""
    if holder.verified_at is None:
        raise Conflict(
            "the registry account's region and basin are not yet verified by the registrar: "
            "it may not trade until they are",
            code="registry_account_unverified",
            seller=holder.credit_code,
        )
    return holder


def _not_found(what: str, ident: int) -> NotFound:
    return NotFound(f"no {what} {ident}", code="registry_not_found")


async def _agreement_of(session: AsyncSession, delivery_id: int) -> int | None:
    found = await session.execute(select(Delivery.agreement_id).where(Delivery.id == delivery_id))
    return found.scalar_one_or_none()


def _price(text: str, field: str = "price") -> int:
    try:
        fen = parse_yuan(text)
    except MoneyFormatError as exc:
        raise Unprocessable(str(exc), errors=[field_error(field, str(exc), "money_invalid")]) from exc
    if fen <= 0:
        message = "the price must be a positive amount"
        raise Unprocessable(message, errors=[field_error(field, message, "money_invalid")])
    return fen


# -- views


def _holder_view(holder: Holder) -> HolderView:
    return HolderView(
        id=holder.id,
        credit_code=holder.credit_code,
        name=holder.name,
        region_code=holder.region_code,
        basin=holder.basin,
        created_at=holder.created_at,
        verified=holder.verified_at is not None,
        verified_at=holder.verified_at,
    )


def _instrument_view(i: Instrument | statements.InstrumentInfo) -> InstrumentView:
    return InstrumentView(
        id=i.id,
        right_type=i.right_type,
        sub_type=i.sub_type,
        region_code=i.region_code,
        basin=i.basin,
        water_source=i.water_source,
        unit=i.unit,
        valid_from=i.valid_from,
        valid_until=i.valid_until,
        origin=i.origin,
        permit_reference=i.permit_reference,
    )


def _trade_view(t: statements.Trade) -> TradeView:
    return TradeView(
        delivery_id=t.delivery_id,
        instrument_id=t.instrument_id,
        quantity=t.quantity,
        price=format_yuan(t.price),
        via="agreement" if t.via == "agreement" else "auction",
        listing_id=t.listing_id,
        agreement_id=t.agreement_id,
        counterparty=t.counterparty,
        status=t.status,
        permit_change=t.permit_change,
        delivered_at=t.delivered_at,
    )


def green_account_view(account: statements.GreenAccount, holder: Holder) -> GreenAccountView:
    """The JSON of a green responsibility account (the pages and the PDF read the dataclass)."""
    return GreenAccountView(
        holder=_holder_view(holder),
        holdings=[
            HoldingView(
                instrument=_instrument_view(h.instrument),
                available=h.available,
                held=h.held,
                pledged=h.pledged,
                frozen=h.frozen,
                total=h.total,
            )
            for h in account.holdings
        ],
        acquisitions=[_trade_view(t) for t in account.acquisitions],
        sales=[_trade_view(t) for t in account.sales],
        pledges=[
            PledgeLineView(
                id=p.id,
                instrument_id=p.instrument_id,
                quantity=p.quantity,
                pledgee_name=p.pledgee_name,
                contract_reference=p.contract_reference,
                status=p.status,
                created_at=p.created_at,
                ended_at=p.ended_at,
            )
            for p in account.pledges
        ],
        surrenders=[
            SurrenderLineView(
                id=s.id,
                obligation_id=s.obligation_id,
                year=s.year,
                instrument_id=s.instrument_id,
                quantity=s.quantity,
                created_at=s.created_at,
            )
            for s in account.surrenders
        ],
        compliance=[
            ComplianceView(
                obligation_id=c.obligation_id,
                year=c.year,
                right_type=c.right_type,
                sub_type=c.sub_type,
                verified=c.verified,
                surrendered=c.surrendered,
                shortfall=c.shortfall,
                compliant=c.compliant,
            )
            for c in account.compliance
        ],
        compliant=account.compliant,
        audit_head=account.audit_head,
    )


async def _account_of(session: AsyncSession, holder: Holder) -> GreenAccountView:
    account = await statements.green_account(session, holder.id)
    if account is None:  # the holder was just read: only a bug gets here
        raise _not_found("holder", holder.id)
    return green_account_view(account, holder)


def _offer_view(o: Offer) -> OfferView:
    return OfferView(
        id=o.id,
        holder_id=o.holder_id,
        instrument_id=o.instrument_id,
        quantity=o.quantity,
        status=o.status,
        listing_id=o.listing_id,
        created_at=o.created_at,
        decided_at=o.decided_at,
        reason=o.reason,
    )


async def _agreement_view(session: AsyncSession, a: Agreement, caller: Principal | None) -> AgreementView:
    seller = await session.get(Holder, a.seller_id)
    buyer = await session.get(Holder, a.buyer_id)
    assert seller is not None and buyer is not None
    party = False
    if caller is not None and caller.role == "bidder":
        party = await _caller_holder_id(session, caller) in (a.seller_id, a.buyer_id)
    shown = party or (caller is not None and caller.role in STAFF)
    # the public sees who deals while the 公示 invites objections and once the transfer is made,
    # not the codes of a negotiation that came to nothing
    coded = shown or a.status in ("publicity", "delivered")
    return AgreementView(
        id=a.id,
        seller=seller.name,
        seller_credit_code=seller.credit_code if coded else None,
        buyer=buyer.name,
        buyer_credit_code=buyer.credit_code if coded else None,
        instrument_id=a.instrument_id,
        quantity=a.quantity,
        price=format_yuan(a.price),
        status=a.status,
        publicity_ends_at=a.publicity_ends_at,
        created_at=a.created_at,
        confirmed_at=a.confirmed_at,
        reason=a.reason,
        payment_account=a.payment_account if shown else None,
    )


def _objection_view(o: AgreementObjection) -> AgreementObjectionView:
    return AgreementObjectionView(
        id=o.id,
        agreement_id=o.agreement_id,
        status=o.status,
        filed_at=o.filed_at,
        answer=o.answer,
        answered_at=o.answered_at,
    )


def _delivery_view(d: Delivery) -> DeliveryView:
    return DeliveryView(
        id=d.id,
        reference=d.reference,
        listing_id=d.listing_id,
        agreement_id=d.agreement_id,
        seller_id=d.seller_id,
        buyer_id=d.buyer_id,
        instrument_id=d.instrument_id,
        quantity=d.quantity,
        price=format_yuan(d.price),
        status=d.status,
        permit_change=d.permit_change,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


def _pledge_view(p: Pledge) -> PledgeView:
    return PledgeView(
        id=p.id,
        holder_id=p.holder_id,
        instrument_id=p.instrument_id,
        quantity=p.quantity,
        pledgee_name=p.pledgee_name,
        pledgee_code=p.pledgee_code,
        contract_reference=p.contract_reference,
        status=p.status,
        created_at=p.created_at,
        ended_at=p.ended_at,
    )


def statistics_view(row: statements.StatisticsRow) -> StatisticsView:
    price = row.average_unit_price
    return StatisticsView(
        right_type=row.right_type,
        sub_type=row.sub_type,
        region_code=row.region_code,
        unit=row.unit,
        issued=row.issued,
        volume_traded=row.volume_traded,
        value=format_yuan(row.value),
        average_unit_price=None if price is None else str(price),
        trades=row.trades,
        holders=row.holders,
    )


# -- controllers


class HolderController(Controller):
    path = "/api/v1/registry/holders"
    tags = ["registry"]

    @post(
        "/",
        operation_id="openRegistryAccount",
        guards=[requires("bidder", "registrar")],
        summary="Open a registry account (登记账户): a bidder its own enterprise's, a registrar anyone's",
        description="One account per credit code (rule 1), idempotent: the same values return the same "
        "holder, other values are 409 ``registry_holder_conflict``. A bidder's enterprise credit code "
        "and name are taken from its account (422 ``registry_enterprise_only`` for an account without "
        "a credit code); a registrar names them. The credit code of a staff account is 409 "
        "``registry_staff_account`` (rule 10).",
    )
    async def open(self, data: JSONBody[HolderCreate], session: Session, user: CurrentUser) -> HolderView:
        if user.role == "bidder":
            if data.credit_code is not None or data.name is not None:
                message = "a bidder opens its own enterprise's account: leave out credit_code and name"
                raise Unprocessable(
                    message,
                    errors=[
                        field_error(name, message, "not_applicable")
                        for name, value in (("credit_code", data.credit_code), ("name", data.name))
                        if value is not None
                    ],
                )
            account = await session.get(User, user.user_id)
            if account is None or not account.credit_code:
                raise Unprocessable(
                    "only an enterprise with a unified social credit code holds a registry account",
                    code="registry_enterprise_only",
                )
            credit_code, name = account.credit_code, account.display_name
        else:
            missing = [n for n, v in (("credit_code", data.credit_code), ("name", data.name)) if v is None]
            if missing:
                raise Unprocessable(
                    "a registrar names the enterprise: credit_code and name",
                    errors=[field_error(n, "required", "required") for n in missing],
                )
            assert data.credit_code is not None and data.name is not None
            credit_code, name = data.credit_code, data.name
        holder = await issuance.open_account(
            session,
            credit_code=credit_code,
            name=name,
            region_code=data.region_code,
            basin=data.basin,
            actor=_actor(user),
            registrar=user if user.role == "registrar" else None,
        )
        await session.commit()
        return _holder_view(holder)

    @get(
        "/",
        operation_id="listRegistryHolders",
        guards=staff_only,
        summary="Registry accounts, oldest first; ``verified=false``: those waiting for the registrar",
        description="An account an enterprise opened itself trades nothing until the registrar "
        "verifies its region and basin (POST ``/{credit_code}/verify``).",
    )
    async def holders(
        self,
        session: Session,
        verified: Annotated[bool | None, QueryParameter(required=False)] = None,
        page: Page = 1,
        page_size: PageSize = 50,
    ) -> list[HolderView]:
        found = await issuance.list_holders(
            session, verified=verified, offset=(page - 1) * page_size, limit=page_size
        )
        return [_holder_view(h) for h in found]

    @post(
        "/{credit_code:str}/verify",
        operation_id="verifyRegistryAccount",
        guards=registrar_only,
        status_code=200,
        summary="Verify a holder's region and basin (correcting them): from now on it may trade",
        description="Records who verified and when (audited). The body may correct ``region_code`` "
        "and ``basin`` (null: no basin); left out, the declared values stand. Verifying again with "
        "other values corrects them again. 404 ``registry_not_found``.",
    )
    async def verify(
        self, data: JSONBody[HolderVerify], session: Session, user: CurrentUser, credit_code: CreditCodePath
    ) -> HolderView:
        holder = await _holder_by_code(session, credit_code)
        verified = await issuance.verify_account(
            session, holder=holder, registrar=user, region_code=data.region_code, basin=data.basin
        )
        await session.commit()
        return _holder_view(verified)

    @get(
        "/me",
        operation_id="getMyGreenAccount",
        guards=[requires("bidder")],
        summary="The caller's green responsibility account (绿色责任账户)",
        description="Holdings by instrument (available, on offer, pledged, frozen), acquisitions and "
        "sales (deliveries), pledges, surrenders, compliance per verified obligation, and the "
        "registry's audit head. 404 ``registry_not_found`` before the account is opened.",
    )
    async def mine(self, session: Session, user: CurrentUser) -> GreenAccountView:
        holder = await issuance.holder_of_user(session, user.user_id)
        if holder is None:
            raise NotFound("you have no registry account yet", code="registry_not_found")
        return await _account_of(session, holder)

    @get(
        "/me/movements",
        operation_id="listMyRegistryMovements",
        guards=[requires("bidder")],
        summary="The entries on the caller's registry accounts, newest first",
        description="Every change of a holding, order hold, pledge or freeze of the caller's holder, "
        "signed (positive in). 404 ``registry_not_found`` before the account is opened.",
    )
    async def movements(
        self, session: Session, user: CurrentUser, page: Page = 1, page_size: PageSize = 50
    ) -> MovementPage:
        holder = await issuance.holder_of_user(session, user.user_id)
        if holder is None:
            raise NotFound("you have no registry account yet", code="registry_not_found")
        items, total = await statements.movements(
            session, holder.id, offset=(page - 1) * page_size, limit=page_size
        )
        return MovementPage(
            items=[
                MovementView(
                    entry_id=m.entry_id,
                    transaction_id=m.transaction_id,
                    kind=m.kind,
                    instrument_id=m.instrument_id,
                    account_kind=m.account_kind,
                    amount=m.amount,
                    memo=m.memo,
                    at=m.at,
                )
                for m in items
            ],
            page=page,
            page_size=page_size,
            total=total,
        )

    @get(
        "/{credit_code:str}",
        operation_id="getGreenAccount",
        guards=staff_only,
        summary="A holder's green responsibility account, by credit code (staff)",
        description="404 ``registry_not_found`` without an account for the credit code.",
    )
    async def one(self, session: Session, credit_code: CreditCodePath) -> GreenAccountView:
        return await _account_of(session, await _holder_by_code(session, credit_code))


class InstrumentController(Controller):
    path = "/api/v1/registry/instruments"
    tags = ["registry"]

    @post(
        "/",
        operation_id="issueInstrument",
        guards=registrar_only,
        summary="Issue (初始分配): a new instrument, its cap into the reserve, to a holder if named",
        description="Idempotent by ``reference``. 422 ``registry_issuance_invalid`` with field errors "
        "(validity, region, sub-type, legal basis); 409 ``registry_no_account`` for a "
        "``holder_credit_code`` without a registry account.",
    )
    async def issue(
        self, data: JSONBody[IssuanceCreate], session: Session, user: CurrentUser
    ) -> IssuanceView:
        instrument, txn = await issuance.issue(
            session,
            issuance.Issuance(
                right_type=data.right_type,
                sub_type=data.sub_type,
                region_code=data.region_code,
                basin=data.basin,
                water_source=data.water_source,
                valid_from=data.valid_from,
                valid_until=data.valid_until,
                origin=data.origin,
                permit_reference=data.permit_reference,
                legal_basis=data.legal_basis,
                quantity=data.quantity,
                holder_credit_code=data.holder_credit_code,
                reference=data.reference,
            ),
            user,
        )
        await session.commit()
        return IssuanceView(instrument=_instrument_view(instrument), transaction_id=txn.id)

    @get(
        "/{instrument_id:int}",
        operation_id="getInstrument",
        guards=[authenticated],
        summary="One instrument: its right, region, validity and origin; staff also see its issuance",
        description="404 ``registry_not_found``.",
    )
    async def one(
        self, session: Session, user: CurrentUser, instrument_id: InstrumentId
    ) -> InstrumentDetail | InstrumentView:
        instrument = await session.get(Instrument, instrument_id)
        if instrument is None:
            raise _not_found("instrument", instrument_id)
        if user.role not in STAFF:
            return _instrument_view(instrument)
        amounts = dict(
            (
                await session.execute(
                    select(RegistryAccount.kind, func.coalesce(func.sum(RegistryEntry.amount), 0))
                    .join(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
                    .where(
                        RegistryAccount.instrument_id == instrument_id,
                        RegistryAccount.kind.in_(("issuance", "reserve")),
                    )
                    .group_by(RegistryAccount.kind)
                )
            ).all()
        )
        base = msgspec.structs.asdict(_instrument_view(instrument))
        return InstrumentDetail(
            **base,
            legal_basis=instrument.legal_basis,
            issued=-int(amounts.get("issuance", 0)),
            in_reserve=int(amounts.get("reserve", 0)),
            created_at=instrument.created_at,
        )


class OfferController(Controller):
    path = "/api/v1/registry/offers"
    tags = ["registry"]

    @post(
        "/",
        operation_id="makeOffer",
        guards=[requires("bidder", "registrar")],
        summary="Offer quantity for sale: a holder from its holding, a registrar from the reserve",
        description="The quantity is encumbered at once (two offers never sell the same unit). "
        "409 ``registry_no_account`` for a bidder without an account; 409 ``registry_insufficient`` "
        "beyond what is available; 409 ``registry_expired`` for a lot past its validity; 404 "
        "``registry_not_found`` for an unknown instrument.",
    )
    async def make(self, data: JSONBody[OfferCreate], session: Session, user: CurrentUser) -> OfferView:
        holder = _verified_seller(await _own_holder(session, user)) if user.role == "bidder" else None
        offer = await offers.make_offer(
            session, holder=holder, instrument_id=data.instrument_id, quantity=data.quantity, actor=user
        )
        await session.commit()
        return _offer_view(offer)

    @get(
        "/",
        operation_id="listOffers",
        guards=[requires("bidder", *STAFF)],
        summary="Offers, newest first: staff see all, a holder its own",
    )
    async def offers(
        self, session: Session, user: CurrentUser, page: Page = 1, page_size: PageSize = 50
    ) -> list[OfferView]:
        query = select(Offer).order_by(Offer.id.desc()).offset((page - 1) * page_size).limit(page_size)
        if user.role == "bidder":
            holder_id = await _caller_holder_id(session, user)
            if holder_id is None:
                return []
            query = query.where(Offer.holder_id == holder_id)
        return [_offer_view(o) for o in (await session.execute(query)).scalars()]

    @post(
        "/{offer_id:int}/approve",
        operation_id="approveOffer",
        guards=operator_only,
        status_code=200,
        summary="Approve a pending offer into a draft listing (body: a listing's creation body)",
        description="The asset class, the right's attributes, the seller and (uniform price) the quantity "
        "come from the offer and its instrument, whatever the body says; the rest is validated as any "
        "listing (422 ``listing_invalid``). 409 ``registry_offer_state`` unless pending.",
    )
    async def approve(
        self,
        data: JSONBody[ListingCreate],
        session: Session,
        user: CurrentUser,
        settings: AppSettings,
        offer_id: OfferId,
    ) -> ListingStaffView:
        listing = await offers.approve_offer(session, offer_id, data, user, defaults_of(settings))
        await session.commit()
        return staff_view(listing, utcnow())

    @post(
        "/{offer_id:int}/reject",
        operation_id="rejectOffer",
        guards=operator_only,
        status_code=200,
        summary="Reject a pending offer: its quantity goes back to the seller",
        description="409 ``registry_offer_state`` unless pending; 422 ``reason_required``.",
    )
    async def reject(
        self, data: JSONBody[RegistryReason], session: Session, user: CurrentUser, offer_id: OfferId
    ) -> OfferView:
        offer = await offers.reject_offer(session, offer_id, data.reason, user)
        await session.commit()
        return _offer_view(offer)


class AgreementController(Controller):
    path = "/api/v1/registry/agreements"
    tags = ["registry"]

    @post(
        "/",
        operation_id="createAgreement",
        guards=[requires("bidder", "operator")],
        summary="A negotiated transfer (协议转让): published for its 公示, then paid and delivered",
        description="A bidder sells from its own holding; an operator acting for both parties names the "
        "seller (``seller_credit_code``). Both must hold registry accounts (409 ``registry_no_account``); "
        "the buyer must be eligible (409 ``registry_out_of_region`` / ``registry_out_of_basin`` / "
        "``registry_expired``); 409 ``registry_insufficient`` beyond the available holding.",
    )
    async def create(
        self, data: JSONBody[AgreementCreate], session: Session, user: CurrentUser, settings: AppSettings
    ) -> AgreementView:
        if user.role == "bidder":
            if data.seller_credit_code is not None:
                message = "a bidder sells its own holding: leave out seller_credit_code"
                raise Unprocessable(
                    message, errors=[field_error("seller_credit_code", message, "not_applicable")]
                )
            seller = await _own_holder(session, user)
        else:
            if data.seller_credit_code is None:
                raise Unprocessable(
                    "an operator names the seller",
                    errors=[field_error("seller_credit_code", "required", "required")],
                )
            seller = await _holder_by_code(session, data.seller_credit_code)
        agreement = await agreements.create_agreement(
            session,
            seller=_verified_seller(seller),
            buyer_credit_code=normalised(data.buyer_credit_code),
            instrument_id=data.instrument_id,
            quantity=data.quantity,
            price=_price(data.price),
            actor=user,
            profile=settings.profile,
        )
        await session.commit()
        return await _agreement_view(session, agreement, user)

    @get(
        "/{agreement_id:int}",
        operation_id="getAgreement",
        summary="An agreement: public while under 公示 (parties, terms, dates); parties and staff also "
        "see the payment account",
        description="404 ``registry_not_found``.",
    )
    async def one(self, session: Session, principal: MaybeUser, agreement_id: AgreementId) -> AgreementView:
        agreement = await session.get(Agreement, agreement_id)
        if agreement is None:
            raise _not_found("agreement", agreement_id)
        return await _agreement_view(session, agreement, principal)

    @post(
        "/{agreement_id:int}/objections",
        operation_id="fileAgreementObjection",
        guards=[authenticated],
        summary="Object to an agreement while its 公示 runs (anyone logged in)",
        description="409 ``publicity_closed`` outside the 公示; 404 ``registry_not_found``.",
    )
    async def object(
        self,
        data: JSONBody[AgreementObjectionCreate],
        session: Session,
        user: CurrentUser,
        agreement_id: AgreementId,
    ) -> AgreementObjectionView:
        objection = await agreements.file_objection(session, agreement_id, data.reasons, user)
        await session.commit()
        return _objection_view(objection)

    @post(
        "/objections/{objection_id:int}/answer",
        operation_id="answerAgreementObjection",
        guards=operator_only,
        status_code=200,
        summary="Answer an objection: dismissed (the 公示 goes on) or upheld (the agreement is cancelled)",
        description="409 ``objection_answered`` once answered; 404 ``registry_not_found``.",
    )
    async def answer(
        self,
        data: JSONBody[AgreementObjectionAnswer],
        session: Session,
        user: CurrentUser,
        objection_id: AgreementObjectionId,
    ) -> AgreementObjectionView:
        objection = await agreements.answer_objection(session, objection_id, data.decision, data.answer, user)
        await session.commit()
        return _objection_view(objection)


class DeliveryController(Controller):
    path = "/api/v1/registry/deliveries"
    tags = ["registry"]

    @get(
        "/{delivery_id:int}",
        operation_id="getDelivery",
        guards=[requires("bidder", *STAFF)],
        summary="A delivery (交割): its quantity, price, status and permit change (its parties and staff)",
        description="404 ``registry_not_found`` for anyone but its parties and staff.",
    )
    async def one(self, session: Session, user: CurrentUser, delivery_id: DeliveryId) -> DeliveryView:
        found = await session.get(Delivery, delivery_id)
        if found is None:
            raise _not_found("delivery", delivery_id)
        if user.role == "bidder" and await _caller_holder_id(session, user) not in (
            found.seller_id,
            found.buyer_id,
        ):
            raise _not_found("delivery", delivery_id)
        return _delivery_view(found)

    @post(
        "/{delivery_id:int}/approve",
        operation_id="approveDelivery",
        guards=registrar_only,
        status_code=200,
        summary="Consent to a water abstraction permit's transfer (art. 27): the delivery is made",
        description="409 ``registry_delivery_state`` unless awaiting approval.",
    )
    async def approve(self, session: Session, user: CurrentUser, delivery_id: DeliveryId) -> DeliveryView:
        if await _agreement_of(session, delivery_id) is None:
            done = await delivery.approve_delivery(session, delivery_id, user)
        else:  # the agreement is delivered (or cancelled) with it
            done = await agreements.approve_agreement_delivery(session, delivery_id, user)
        await session.commit()
        return _delivery_view(done)

    @post(
        "/{delivery_id:int}/refuse",
        operation_id="refuseDelivery",
        guards=registrar_only,
        status_code=200,
        summary="Refuse consent: nothing is delivered, the quantity goes back to the seller",
        description="409 ``registry_delivery_state`` unless awaiting approval; 422 ``reason_required``.",
    )
    async def refuse(
        self, data: JSONBody[RegistryReason], session: Session, user: CurrentUser, delivery_id: DeliveryId
    ) -> DeliveryView:
        if await _agreement_of(session, delivery_id) is None:
            done = await delivery.refuse_delivery(session, delivery_id, data.reason, user)
        else:
            done = await agreements.refuse_agreement_delivery(session, delivery_id, data.reason, user)
        await session.commit()
        return _delivery_view(done)

    @post(
        "/{delivery_id:int}/permit-change",
        operation_id="confirmPermitChange",
        guards=registrar_only,
        status_code=200,
        summary="Confirm the permit change (排污许可证 / 取水许可) after a delivery",
        description="409 ``registry_delivery_state`` unless delivered with the change pending.",
    )
    async def permit_change(
        self, session: Session, user: CurrentUser, delivery_id: DeliveryId
    ) -> DeliveryView:
        done = await delivery.confirm_permit_change(session, delivery_id, user)
        await session.commit()
        return _delivery_view(done)


class PledgeController(Controller):
    path = "/api/v1/registry/pledges"
    tags = ["registry"]

    @post(
        "/",
        operation_id="pledge",
        guards=[requires("bidder", "registrar")],
        summary="Pledge (质押) part of a holding to a named pledgee: frozen until released or enforced",
        description="A bidder pledges its own holding; a registrar registers one for a named holder. "
        "409 ``registry_pledge_refused`` for a free allocation or a holder with a shortfall (rule 8); "
        "409 ``registry_insufficient`` beyond the available holding.",
    )
    async def create(self, data: JSONBody[PledgeCreate], session: Session, user: CurrentUser) -> PledgeView:
        if user.role == "bidder":
            if data.holder_credit_code is not None:
                message = "a bidder pledges its own holding: leave out holder_credit_code"
                raise Unprocessable(
                    message, errors=[field_error("holder_credit_code", message, "not_applicable")]
                )
            holder = await _own_holder(session, user)
        else:
            if data.holder_credit_code is None:
                raise Unprocessable(
                    "a registrar names the holder",
                    errors=[field_error("holder_credit_code", "required", "required")],
                )
            holder = await _holder_by_code(session, data.holder_credit_code)
        made = await pledges.pledge(
            session,
            holder_id=holder.id,
            instrument_id=data.instrument_id,
            quantity=data.quantity,
            pledgee_name=data.pledgee_name,
            pledgee_code=normalised(data.pledgee_code),
            contract_reference=data.contract_reference,
            actor=_actor(user),
        )
        await session.commit()
        return _pledge_view(made)

    @post(
        "/{pledge_id:int}/release",
        operation_id="releasePledge",
        guards=registrar_only,
        status_code=200,
        summary="Release a pledge (the pledgee consented): the quantity is the holder's again",
        description="409 ``registry_pledge_state`` unless active; 404 ``registry_not_found``.",
    )
    async def release(self, session: Session, user: CurrentUser, pledge_id: PledgeId) -> PledgeView:
        released = await pledges.release_pledge(session, pledge_id, _actor(user))
        await session.commit()
        return _pledge_view(released)

    @post(
        "/{pledge_id:int}/enforce",
        operation_id="enforcePledge",
        guards=registrar_only,
        status_code=200,
        summary="Enforce a pledge: the quantity moves to the creditor's holding",
        description="The creditor must hold a registry account (404 ``registry_not_found``) and be "
        "eligible for the instrument; 409 ``registry_pledge_state`` unless active.",
    )
    async def enforce(
        self, data: JSONBody[PledgeEnforce], session: Session, user: CurrentUser, pledge_id: PledgeId
    ) -> PledgeView:
        creditor = await _holder_by_code(session, data.creditor_credit_code)
        enforced = await pledges.enforce_pledge(session, pledge_id, creditor.id, _actor(user))
        await session.commit()
        return _pledge_view(enforced)


class ComplianceController(Controller):
    path = "/api/v1/registry"
    tags = ["registry"]

    @post(
        "/obligations",
        operation_id="enterVerifiedQuantity",
        guards=registrar_only,
        summary="Enter a holder's verified annual emissions or water use (the quantity to surrender)",
        description="Idempotent per holder, right, sub-type and year; another quantity for the same is 409.",
    )
    async def obligation(
        self, data: JSONBody[ObligationCreate], session: Session, user: CurrentUser
    ) -> ObligationView:
        holder = await _holder_by_code(session, data.holder_credit_code)
        entered = await compliance.enter_verified(
            session,
            holder_id=holder.id,
            right_type=data.right_type,
            sub_type=data.sub_type,
            year=data.year,
            quantity=data.quantity,
            actor=user,
        )
        await session.commit()
        return ObligationView(
            id=entered.id,
            holder_id=entered.holder_id,
            right_type=entered.right_type,
            sub_type=entered.sub_type,
            year=entered.year,
            verified_quantity=entered.verified_quantity,
            created_at=entered.created_at,
        )

    @post(
        "/surrenders",
        operation_id="surrender",
        guards=[requires("bidder")],
        summary="Surrender (履约) quantity against one of the caller's obligations; final",
        description="404 ``registry_not_found`` for another holder's obligation; 409 "
        "``registry_instrument_mismatch`` for an instrument of another right or year; 409 "
        "``registry_insufficient`` beyond the available holding.",
    )
    async def surrender(
        self,
        data: JSONBody[SurrenderCreate],
        session: Session,
        user: CurrentUser,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[SurrenderView]:
        if idempotency_key is not None and data.reference is not None and idempotency_key != data.reference:
            message = "the Idempotency-Key header and the body's reference differ: send one"
            raise Unprocessable(message, errors=[field_error("reference", message, "invalid")])
        reference = idempotency_key if idempotency_key is not None else data.reference
        holder = await _own_holder(session, user)
        obligation = await session.get(Obligation, data.obligation_id)
        if obligation is None or obligation.holder_id != holder.id:
            raise _not_found("obligation", data.obligation_id)
        before = await session.execute(select(func.max(Surrender.id)))
        newest = before.scalar_one_or_none() or 0
        done: Surrender = await compliance.surrender(
            session,
            obligation_id=obligation.id,
            instrument_id=data.instrument_id,
            quantity=data.quantity,
            actor=_actor(user),
            reference=reference,
        )
        await session.commit()
        view = SurrenderView(
            id=done.id,
            obligation_id=done.obligation_id,
            instrument_id=done.instrument_id,
            quantity=done.quantity,
            transaction_id=done.transaction_id,
            created_at=done.created_at,
        )
        # a replay answers 200 with the surrender booked the first time, as a replayed bid does
        return Response(view, status_code=201 if done.id > newest else 200)


class StatisticsController(Controller):
    path = "/api/v1/registry/statistics"
    tags = ["registry"]
    security = [{}]

    @get(
        "/",
        operation_id="registryStatistics",
        summary="Public statistics per right, pollutant or water trade type and region (no login)",
        description="Issued quantity, volume and value delivered, the average unit price (yuan per "
        "unit), the number of trades and of holders. Names no holder.",
    )
    async def statistics(self, session: Session) -> list[StatisticsView]:
        return [statistics_view(row) for row in await statements.statistics(session)]

    @get(
        "/export.json",
        operation_id="exportRegistryStatisticsJson",
        summary="Open data: the registry statistics as JSON",
    )
    async def export_json(self, session: Session) -> dict[str, Any]:
        rows = [statistics_view(row) for row in await statements.statistics(session)]
        return {"schema_version": EXPORT_SCHEMA_VERSION, "statistics": msgspec.to_builtins(rows)}

    @get(
        "/export.csv",
        operation_id="exportRegistryStatisticsCsv",
        summary="Open data: the registry statistics as CSV (UTF-8 with a BOM, one row per right and region)",
        description="As the results' export: a byte-order mark, CRLF lines, numbers as numbers, no "
        "formulas. Columns are read by name; new ones are only ever added at the end.",
        media_type="text/csv",
    )
    async def export_csv(self, session: Session) -> Response[str]:
        rows = []
        for row in await statements.statistics(session):
            cells = msgspec.to_builtins(statistics_view(row))
            rows.append(
                [
                    text_cell(cells[c]) if c in _TEXT_COLUMNS else number_cell(cells[c])
                    for c in STATISTICS_COLUMNS
                ]
            )
        return csv_response(csv_text(STATISTICS_COLUMNS, rows), "registry-statistics.csv")


REGISTRY_CONTROLLERS: list[type[Controller]] = [
    HolderController,
    InstrumentController,
    OfferController,
    AgreementController,
    DeliveryController,
    PledgeController,
    ComplianceController,
    StatisticsController,
]
