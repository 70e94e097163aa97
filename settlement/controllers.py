"""Settlement endpoints: the bank's notices, bidders' accounts, refunds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy import select

from exchange.audit.chain import SYSTEM_STREAM, append
from exchange.deps import MAX_ID, AppSettings, CurrentUser, Session
from exchange.errors import NotFound, Unprocessable
from exchange.identity.guards import requires
from exchange.money import format_yuan
from exchange.openapi import BANK_SIGNATURE, RAW_BODY
from exchange.spreadsheet import csv_response
from listings.applications import record_read
from listings.hooks import ListingHooks
from listings.qualification import ensure_unsealed, sealed_among
from listings.services import get_listing
from settlement import bank, ledger
from settlement.models import LedgerAccount, RefundInstruction

staff_only = [requires("operator", "auditor", "admin")]


class EntryView(msgspec.Struct):
    transaction_id: int
    kind: str
    amount: str
    at: datetime


class AccountView(msgspec.Struct):
    code: str
    kind: str
    balance: str
    """Positive: what the exchange holds for the account's owner (a deposit), in yuan."""
    entries: list[EntryView]
    application_id: int | None = None
    listing_id: int | None = None


class MyAccounts(msgspec.Struct):
    accounts: list[AccountView]
    total_held: str


class RefundView(msgspec.Struct):
    id: int
    amount: str
    due_date: date
    status: str
    application_id: int | None = None
    source_reference: str | None = None
    paid_reference: str | None = None
    paid_at: datetime | None = None


class RefundPaid(msgspec.Struct, forbid_unknown_fields=True):
    paid_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RefundNotice(msgspec.Struct, forbid_unknown_fields=True):
    refund_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
    transfer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    paid_at: Annotated[datetime, msgspec.Meta(tz=True)]


async def account_view(session: Session, account: LedgerAccount, *, for_staff: bool = False) -> AccountView:
    """The account with its entries. Staff reading one of the exchange's own accounts (bank clearing,
    suspense, ...) see no entry of a listing whose applicants are sealed (资格后审): deposits of one
    amount, counted, would number its applicants. They appear once the listing ends."""
    entries = await ledger.entries_of(session, account)
    transactions = {
        t.id: t for t in await ledger.transactions_of(session, [e.transaction_id for e in entries])
    }
    if for_staff:
        sealed = await sealed_among(session, {t.listing_id for t in transactions.values() if t.listing_id})
        entries = [e for e in entries if transactions[e.transaction_id].listing_id not in sealed]
    # Liabilities to bidders are credit balances; show them as the positive amount held.
    return AccountView(
        code=account.code,
        kind=account.kind,
        balance=format_yuan(-sum(e.amount for e in entries)),
        entries=[
            EntryView(
                transaction_id=e.transaction_id,
                kind=transactions[e.transaction_id].kind,
                amount=format_yuan(-e.amount),
                at=transactions[e.transaction_id].created_at,
            )
            for e in entries
        ],
        application_id=account.application_id,
        listing_id=account.listing_id,
    )


def _refund_view(refund: RefundInstruction) -> RefundView:
    return RefundView(
        id=refund.id,
        amount=format_yuan(refund.amount),
        due_date=refund.due_date,
        status=refund.status,
        application_id=refund.application_id,
        source_reference=refund.source_reference,
        paid_reference=refund.paid_reference,
        paid_at=refund.paid_at,
    )


class BankController(Controller):
    path = "/api/v1/bank"
    tags = ["settlement"]
    security = [{BANK_SIGNATURE: []}]  # no bearer token: the bank signs each body

    @post(
        "/notifications",
        operation_id="bankDepositNotice",
        status_code=200,
        summary="The bank's deposit notice, signed: X-Signature = hex HMAC-SHA256 of the raw body",
        opt={RAW_BODY: bank.NoticeIn},
    )
    async def notification(
        self, request: Request[Any, Any, Any], session: Session, settings: AppSettings
    ) -> bank.NoticeResult:
        body = await request.body()
        bank.verify_signature(settings.security.bank_secret, body, request.headers.get("x-signature"))
        hooks: ListingHooks = request.app.state.listing_hooks
        return await bank.receive(session, body, bank.parse_notice(body), hooks)

    @post(
        "/refund-notifications",
        operation_id="bankRefundNotice",
        status_code=200,
        summary="The bank confirms an outgoing refund transfer (signed like deposit notices)",
        opt={RAW_BODY: RefundNotice},
    )
    async def refund_notification(
        self, request: Request[Any, Any, Any], session: Session, settings: AppSettings
    ) -> RefundView:
        body = await request.body()
        bank.verify_signature(settings.security.bank_secret, body, request.headers.get("x-signature"))
        try:
            notice = msgspec.json.decode(body, type=RefundNotice)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise Unprocessable(f"the notice is not valid: {exc}", code="notice_invalid") from exc
        refund = await ledger.mark_refund_paid(
            session, notice.refund_id, paid_reference=notice.transfer_id, actor="bank"
        )
        await append(
            session,
            SYSTEM_STREAM,
            "bank",
            "refund.paid",
            {"refund_id": refund.id, "transfer": notice.transfer_id},
        )
        await session.commit()
        return _refund_view(refund)


class AccountController(Controller):
    path = "/api/v1/accounts"
    tags = ["settlement"]

    @get(
        "/me",
        operation_id="getMyAccounts",
        guards=[requires("bidder")],
        summary="My deposits and their entries",
    )
    async def me(self, session: Session, user: CurrentUser) -> MyAccounts:
        owned = await ledger.balances_for_owner(session, user.user_id)
        views = [await account_view(session, account) for account, _ in owned]
        return MyAccounts(accounts=views, total_held=format_yuan(-sum(balance for _, balance in owned)))

    @get(
        "/{code:str}",
        operation_id="getAccount",
        guards=staff_only,
        summary="Any ledger account (staff); an applicant's deposit is audited, and sealed under 资格后审",
    )
    async def account(
        self, session: Session, user: CurrentUser, code: Annotated[str, PathParameter(max_length=64)]
    ) -> AccountView:
        found = (
            await session.execute(select(LedgerAccount).where(LedgerAccount.code == code))
        ).scalar_one_or_none()
        if found is None:
            raise NotFound("no such account")
        if found.application_id is None or found.listing_id is None:
            return await account_view(session, found, for_staff=True)
        # an applicant's account (its deposit): the same rules as reading its application
        ensure_unsealed(await get_listing(session, found.listing_id))
        view = await account_view(session, found)
        await record_read(session, found.listing_id, user, found.kind, application_id=found.application_id)
        return view


class RefundController(Controller):
    path = "/api/v1/refunds"
    tags = ["settlement"]
    guards = staff_only

    @get("/", operation_id="listRefunds", summary="Refund instructions")
    async def refunds(
        self,
        session: Session,
        status: Annotated[str | None, QueryParameter(pattern="^(pending|paid)$")] = None,
    ) -> list[RefundView]:
        query = select(RefundInstruction).order_by(RefundInstruction.due_date, RefundInstruction.id)
        if status:
            query = query.where(RefundInstruction.status == status)
        return [_refund_view(r) for r in (await session.execute(query)).scalars()]

    @get(
        "/file",
        operation_id="refundFile",
        summary="Pending refunds as a CSV file for the bank (UTF-8 with a BOM, opens in a spreadsheet)",
        media_type="text/csv",
    )
    async def file(self, session: Session) -> Response[str]:
        return csv_response(await ledger.refund_csv(session), "refunds.csv")

    @post(
        "/{refund_id:int}/paid",
        operation_id="markRefundPaid",
        guards=[requires("operator")],
        status_code=200,
        summary="Record that a refund was transferred (audited)",
    )
    async def paid(
        self,
        data: JSONBody[RefundPaid],
        session: Session,
        user: CurrentUser,
        refund_id: Annotated[int, PathParameter(ge=1, le=MAX_ID)],
    ) -> RefundView:
        refund = await ledger.mark_refund_paid(
            session, refund_id, paid_reference=data.paid_reference, actor=f"user:{user.user_id}"
        )
        await append(
            session,
            SYSTEM_STREAM,
            f"user:{user.user_id}",
            "refund.paid",
            {"refund_id": refund.id, "transfer": data.paid_reference},
        )
        await session.commit()
        return _refund_view(refund)
