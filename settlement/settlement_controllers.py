"""Settlement endpoints: a listing's settlement with the ledger behind it, the winner's review under
post-qualification (资格后审), and relisting after a default."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody
from sqlalchemy import select

from auctions.terms import from_units
from exchange.clock import utcnow
from exchange.deps import AppSettings, CurrentUser, ListingId, Session
from exchange.errors import Forbidden, NotFound
from exchange.identity.guards import requires
from exchange.identity.tokens import Principal
from exchange.money import format_yuan
from exchange.vocabulary import InstallmentStatus, LineStatus, ListingOutcome, SettlementStatus
from listings.attributes import UNITS
from listings.models import Listing
from listings.schemas import ListingStaffView
from listings.views import staff_view
from settlement import defaults, ledger, review
from settlement.lines import amount_paid, receivable_code
from settlement.models import LedgerAccount, LedgerEntry, LedgerTransaction
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine


class InstallmentView(msgspec.Struct):
    seq: int
    label: str
    """``contract``, ``first``, ``balance``, ``full``, ... (the asset class's payment schedule)."""
    due_date: date
    amount: str
    status: InstallmentStatus


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
    rows = (
        await session.execute(
            select(SettlementInstallment)
            .where(SettlementInstallment.line_id == line.id)
            .order_by(SettlementInstallment.seq)
        )
    ).scalars()
    paid = await amount_paid(session, line)
    outstanding = await ledger.balance(session, receivable_code(listing.id, line.application_id))
    unit = UNITS[listing.asset_class].quantity_unit if line.quantity is not None else None
    return SettlementLineView(
        bid_number=line.bid_number,
        price=format_yuan(line.price),
        fee=format_yuan(line.fee),
        deposit_applied=format_yuan(line.deposit_applied),
        amount_due=format_yuan(line.amount_due),
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
            )
            for r in rows
        ],
        application_id=line.application_id,
        bidder_id=line.bidder_id,
        quantity=from_units(listing.asset_class, line.quantity) if line.quantity is not None else None,
        unit=unit,
        paid_at=line.paid_at,
        defaulted_at=line.defaulted_at,
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
        "/{listing_id:int}/relist",
        operation_id="relistDefaulted",
        guards=[requires("operator")],
        status_code=201,
        summary="After a default: a new draft listing copying this one (audited in both listings)",
    )
    async def relist(self, session: Session, user: CurrentUser, listing_id: ListingId) -> ListingStaffView:
        listing = await defaults.relist(session, listing_id, user)
        await session.commit()
        return staff_view(listing, utcnow())
