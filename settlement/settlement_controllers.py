"""Settlement endpoints: a listing's settlement with the ledger behind it, the winner's review under
post-qualification (资格后审), and relisting after a default."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from sqlalchemy import select

from auctions.terms import from_units
from exchange.clock import utcnow
from exchange.deps import MAX_ID, AppSettings, CurrentUser, ListingId, Session
from exchange.errors import Forbidden, NotFound, Unprocessable, field_error
from exchange.identity.guards import requires
from exchange.identity.tokens import Principal
from exchange.money import MoneyFormatError, format_yuan, parse_yuan
from exchange.openapi import BANK_SIGNATURE, RAW_BODY
from exchange.vocabulary import InstallmentStatus, LineStatus, ListingOutcome, ReminderKind, SettlementStatus
from listings.attributes import UNITS
from listings.models import Listing
from listings.schemas import ListingStaffView
from listings.views import staff_view
from settlement import bank, defaults, followup, ledger, review
from settlement.lines import amount_paid, receivable_code
from settlement.models import LedgerAccount, LedgerEntry, LedgerTransaction
from settlement.notice_models import PaymentReminder
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine
from settlement.tracked import TRACKED_CLASSES, record_collection


class InstallmentView(msgspec.Struct):
    seq: int
    label: str
    """``contract``, ``first``, ``balance``, ``full``, ... (the asset class's payment schedule)."""
    due_date: date
    amount: str
    status: InstallmentStatus
    interest: str = "0.00"
    """Simple interest included in ``amount``."""


class ReminderView(msgspec.Struct):
    """A 催缴通知 (or the proposal of rescission) the day-end job issued."""

    id: int
    kind: ReminderKind
    installment_seq: int
    issued_on: date
    days_overdue: int
    overdue_amount: str
    late_fee_accrued: str


class SettlementLineView(msgspec.Struct):
    bid_number: str
    price: str
    """Total owed for this line before the deposit, in yuan."""
    fee: str
    deposit_applied: str
    amount_due: str
    """price + fee - deposit applied: what the winner pays on ``payment_account``."""
    amount_paid: str
    outstanding: str
    payment_account: str
    status: LineStatus
    installments: list[InstallmentView]
    application_id: int
    bidder_id: int
    quantity: str | None = None
    unit: str | None = None
    paid_at: datetime | None = None
    defaulted_at: datetime | None = None
    paid: str = "0.00"
    """Paid so far (to the exchange's account or tracked), as ``amount_paid``."""
    late_fees: str = "0.00"
    forfeited: str = "0.00"
    rescission_proposed_at: datetime | None = None
    rescinded_at: datetime | None = None
    tracked: bool = False
    """Land and mining: the price is paid to the tax bureau (财综〔2021〕19号), the exchange tracks it."""
    terms: dict[str, Any] | None = None
    """The payment terms of the line (a copy of the listing's at the close: ``terms_to_json``)."""
    reminders: list[ReminderView] = msgspec.field(default_factory=list)
    account: dict[str, str] | None = None
    """Where to pay: ``{"account_number": ...}``, or for a tracked line ``{"collected_by": "tax_bureau",
    "fee_account_number": ...}`` (the price to the tax bureau, the service fee and late fees to the exchange)."""


class SettlementLegView(msgspec.Struct):
    account: str
    side: Literal["debit", "credit"]
    amount: str


class SettlementTransactionView(msgspec.Struct):
    id: int
    kind: str
    reference: str
    memo: str
    at: datetime
    entries: list[SettlementLegView]


class SettlementView(msgspec.Struct):
    listing_id: int
    status: SettlementStatus
    outcome: ListingOutcome
    lines: list[SettlementLineView]
    transactions: list[SettlementTransactionView]
    """Every ledger transaction behind the settlement, each with all its legs (debit and credit)."""
    created_at: datetime
    server_time: datetime
    price: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None
    relisted_listing_id: int | None = None
    publicity_starts_at: datetime | None = None
    publicity_ends_at: datetime | None = None
    confirmed_at: datetime | None = None
    contract_due_on: date | None = None
    contract_signed_on: date | None = None
    annulled_reason: str | None = None


class ContractSigned(msgspec.Struct, forbid_unknown_fields=True):
    signed_on: date


class RescissionIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    application_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)] | None = None


class TrackedPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    application_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
    amount: Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]{1,2})?$")]
    paid_on: date
    authority: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class CollectionNoticeIn(TrackedPaymentIn, forbid_unknown_fields=True):
    listing_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class CollectionResult(msgspec.Struct):
    reference: str
    duplicate: bool
    listing_id: int
    application_id: int
    amount: str


class WinnerReview(msgspec.Struct, forbid_unknown_fields=True):
    """The review of a winner under post-qualification (资格后审): ``failed`` needs a reason."""

    verdict: Literal["passed", "failed"]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


async def _transactions(
    session: Session, listing_id: int, accounts: list[str] | None
) -> list[SettlementTransactionView]:
    """The listing's transactions (staff), or those touching the given accounts (a winner)."""
    if accounts is None:
        ids = select(LedgerTransaction.id).where(LedgerTransaction.listing_id == listing_id)
    else:
        ids = (
            select(LedgerEntry.transaction_id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerAccount.code.in_(accounts))
        )
    query = (
        select(LedgerTransaction, LedgerEntry.amount, LedgerAccount.code)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.id.in_(ids))
        .order_by(LedgerTransaction.id, LedgerEntry.id)
    )
    views: dict[int, SettlementTransactionView] = {}
    for txn, amount, code in (await session.execute(query)).all():
        view = views.get(txn.id)
        if view is None:
            view = views[txn.id] = SettlementTransactionView(
                id=txn.id,
                kind=txn.kind,
                reference=txn.reference,
                memo=txn.memo,
                at=txn.created_at,
                entries=[],
            )
        view.entries.append(
            SettlementLegView(
                account=code, side="debit" if amount > 0 else "credit", amount=format_yuan(abs(amount))
            )
        )
    return list(views.values())


async def _line_view(session: Session, listing: Listing, line: SettlementLine) -> SettlementLineView:
    query = (
        select(SettlementInstallment)
        .where(SettlementInstallment.line_id == line.id)
        .order_by(SettlementInstallment.seq)
    )
    rows = list((await session.execute(query)).scalars())
    paid = await amount_paid(session, line)
    outstanding = await ledger.balance(session, receivable_code(listing.id, line.application_id))
    unit = UNITS[listing.asset_class].quantity_unit if line.quantity is not None else None
    tracked = listing.asset_class in TRACKED_CLASSES
    due = line.amount_due + sum(r.interest for r in rows)
    reminders = (
        await session.execute(
            select(PaymentReminder).where(PaymentReminder.line_id == line.id).order_by(PaymentReminder.id)
        )
    ).scalars()
    return SettlementLineView(
        bid_number=line.bid_number,
        price=format_yuan(line.price),
        fee=format_yuan(line.fee),
        deposit_applied=format_yuan(line.deposit_applied),
        amount_due=format_yuan(due),
        amount_paid=format_yuan(paid),
        outstanding=format_yuan(max(outstanding, 0)),
        payment_account=line.payment_account,
        status=line.status,  # type: ignore[arg-type]
        installments=[
            InstallmentView(
                seq=r.seq,
                label=r.label,
                due_date=r.due_date,
                amount=format_yuan(r.amount),
                status=r.status,  # type: ignore[arg-type]
                interest=format_yuan(r.interest),
            )
            for r in rows
        ],
        application_id=line.application_id,
        bidder_id=line.bidder_id,
        quantity=from_units(listing.asset_class, line.quantity) if line.quantity is not None else None,
        unit=unit,
        paid_at=line.paid_at,
        defaulted_at=line.defaulted_at,
        paid=format_yuan(paid),
        late_fees=format_yuan(line.late_fees),
        forfeited=format_yuan(line.forfeited),
        rescission_proposed_at=line.rescission_proposed_at,
        rescinded_at=line.rescinded_at,
        tracked=tracked,
        terms=line.terms,
        reminders=[
            ReminderView(
                id=r.id,
                kind=r.kind,  # type: ignore[arg-type]
                installment_seq=r.installment_seq,
                issued_on=r.issued_on,
                days_overdue=r.days_overdue,
                overdue_amount=format_yuan(r.overdue_amount),
                late_fee_accrued=format_yuan(r.late_fee_accrued),
            )
            for r in reminders
        ],
        account=(
            {"collected_by": "tax_bureau", "fee_account_number": line.payment_account}
            if tracked
            else {"account_number": line.payment_account}
        ),
    )


async def settlement_view(session: Session, listing_id: int, user: Principal) -> SettlementView:
    """Staff see everything; a winner sees its own lines and the transactions on its own accounts."""
    query = select(SettlementLine).where(SettlementLine.listing_id == listing_id).order_by(SettlementLine.id)
    lines = list((await session.execute(query)).scalars())
    accounts: list[str] | None = None
    if not user.is_staff:
        lines = [line for line in lines if line.bidder_id == user.user_id]
        if not lines:
            raise Forbidden("only staff and the winners of this listing may see its settlement")
        accounts = [ledger.deposit_code(line.application_id) for line in lines] + [
            receivable_code(listing_id, line.application_id) for line in lines
        ]
    settlement = await session.get(Settlement, listing_id)
    listing = await session.get(Listing, listing_id)
    if settlement is None or listing is None:
        raise NotFound(f"listing {listing_id} has no settlement yet", code="settlement_not_found")
    return SettlementView(
        listing_id=listing_id,
        status=settlement.status,  # type: ignore[arg-type]
        outcome=settlement.outcome,  # type: ignore[arg-type]
        lines=[await _line_view(session, listing, line) for line in lines],
        transactions=await _transactions(session, listing_id, accounts),
        created_at=settlement.created_at,
        server_time=utcnow(),
        price=format_yuan(settlement.price) if settlement.price is not None else None,
        reason=settlement.reason,
        decided_at=settlement.decided_at,
        relisted_listing_id=settlement.relisted_listing_id,
        publicity_starts_at=settlement.publicity_starts_at,
        publicity_ends_at=settlement.publicity_ends_at,
        confirmed_at=settlement.confirmed_at,
        contract_due_on=settlement.contract_due_on,
        contract_signed_on=settlement.contract_signed_on,
        annulled_reason=settlement.annulled_reason,
    )


class SettlementController(Controller):
    path = "/api/v1/settlements"
    tags = ["settlement"]

    @get(
        "/{listing_id:int}",
        operation_id="getSettlement",
        guards=[requires("operator", "auditor", "admin", "bidder")],
        summary="A listing's settlement: lines, installments, status and every ledger entry behind it",
        description="Staff see the whole settlement; a winner sees its own lines and accounts; "
        "any other bidder gets 403.",
    )
    async def detail(self, session: Session, user: CurrentUser, listing_id: ListingId) -> SettlementView:
        return await settlement_view(session, listing_id, user)

    @post(
        "/{listing_id:int}/review",
        operation_id="reviewWinner",
        guards=[requires("operator")],
        status_code=200,
        summary="资格后审: review the winner after the close; passed settles the sale, failed fails it",
        description="Only a settlement in ``review`` (a sale under post-qualification) takes it: else 409 "
        "``review_not_pending``. A failed review needs a reason (422 ``reason_required``); the winner's "
        "deposit is forfeited or refunded as its asset class's profile says.",
    )
    async def winner_review(
        self,
        data: JSONBody[WinnerReview],
        session: Session,
        user: CurrentUser,
        settings: AppSettings,
        listing_id: ListingId,
    ) -> SettlementView:
        await review.review_winner(session, listing_id, data.verdict, data.reason, user, settings.settlement)
        await session.commit()
        return await settlement_view(session, listing_id, user)

    @post(
        "/{listing_id:int}/contract",
        operation_id="recordContractSigned",
        guards=[requires("operator")],
        status_code=200,
        summary="Record the contract signing; the installments count from it (anchor: contract)",
        description="Only a settlement ``awaiting_contract`` (409 ``contract_not_expected``); ``signed_on`` "
        "between the confirmation and today (422 ``contract_date_invalid``). Audited.",
    )
    async def contract(
        self, data: JSONBody[ContractSigned], session: Session, user: CurrentUser, listing_id: ListingId
    ) -> SettlementView:
        await followup.sign_contract(session, listing_id, data.signed_on, f"user:{user.user_id}")
        await session.commit()
        return await settlement_view(session, listing_id, user)

    @post(
        "/{listing_id:int}/rescission",
        operation_id="confirmRescission",
        guards=[requires("operator")],
        status_code=200,
        summary="Confirm a proposed rescission (解除): deposit forfeited up to 20% of the price, the rest refunded",
        description="Only when the day-end job proposed it after the grace (409 ``rescission_not_proposed``). "
        "Forfeits min(deposit applied, 20% of the line's price) to the seller, refunds the rest of the "
        "deposit and every payment within 5 WD, reverses the late fees. Audited.",
    )
    async def rescission(
        self, data: JSONBody[RescissionIn], session: Session, user: CurrentUser, listing_id: ListingId
    ) -> SettlementView:
        await followup.rescind(session, listing_id, data.application_id, data.reason, f"user:{user.user_id}")
        await session.commit()
        return await settlement_view(session, listing_id, user)

    @post(
        "/{listing_id:int}/payments",
        operation_id="recordTrackedPayment",
        guards=[requires("operator")],
        status_code=200,
        summary="Record a payment collected by the tax bureau (land, mining; 财综〔2021〕19号) from its notice",
        description="Posted as ``payment_tracked`` (Dr seller_payable / Cr receivable). Idempotent by "
        "``reference`` (409 ``notice_duplicate`` with another body); 409 ``not_tracked`` for other classes.",
    )
    async def tracked_payment(
        self, data: JSONBody[TrackedPaymentIn], session: Session, user: CurrentUser, listing_id: ListingId
    ) -> SettlementView:
        await _record(session, listing_id, data, f"user:{user.user_id}")
        await session.commit()
        return await settlement_view(session, listing_id, user)

    @post(
        "/{listing_id:int}/relist",
        operation_id="relistDefaulted",
        guards=[requires("operator")],
        status_code=201,
        summary="After a rescission: a new draft listing copying this one (audited in both listings)",
    )
    async def relist(self, session: Session, user: CurrentUser, listing_id: ListingId) -> ListingStaffView:
        listing = await defaults.relist(session, listing_id, user)
        await session.commit()
        return staff_view(listing, utcnow())


async def _record(session: Session, listing_id: int, data: TrackedPaymentIn, actor: str) -> CollectionResult:
    try:
        amount = parse_yuan(data.amount)
    except MoneyFormatError as exc:
        raise Unprocessable(
            str(exc), code="notice_invalid", errors=[field_error("amount", str(exc))]
        ) from exc
    notice, created = await record_collection(
        session,
        listing_id=listing_id,
        application_id=data.application_id,
        amount=amount,
        paid_on=data.paid_on,
        authority=data.authority,
        reference=data.reference,
        raw=msgspec.to_builtins(data),
        actor=actor,
    )
    return CollectionResult(
        reference=notice.reference,
        duplicate=not created,
        listing_id=notice.listing_id,
        application_id=notice.application_id,
        amount=format_yuan(notice.amount),
    )


class CollectionController(Controller):
    path = "/api/v1/settlements"
    tags = ["settlement"]
    security = [{BANK_SIGNATURE: []}]  # no bearer token: the collecting authority signs each body

    @post(
        "/collection-notices",
        operation_id="collectionNotice",
        status_code=200,
        summary="The tax bureau's collection notice (财综〔2021〕19号), signed: X-Signature = hex HMAC-SHA256 "
        "of the raw body with EXCHANGE_COLLECTOR_SECRET",
        opt={RAW_BODY: CollectionNoticeIn},
    )
    async def collection_notice(
        self, request: Request[Any, Any, Any], session: Session, settings: AppSettings
    ) -> CollectionResult:
        body = await request.body()
        bank.verify_signature(
            settings.security.collector_secret,
            body,
            request.headers.get("x-signature"),
            signer="the collecting authority",
        )
        try:
            data = msgspec.json.decode(body, type=CollectionNoticeIn)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise Unprocessable(f"the notice is not valid: {exc}", code="notice_invalid") from exc
        result = await _record(session, data.listing_id, data, "collector")
        await session.commit()
        return result
