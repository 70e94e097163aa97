"""The sandbox's bank: "simulate a bank transfer" of an application's deposit (sandbox profile only).

A newcomer trying the exchange (``make demo``, a training system) has no bank to pay a deposit
with. Under the ``sandbox`` profile an applicant (or an operator) may ask the exchange to play
the bank: it writes the bank's deposit notice for what the application still owes, to the
application's own deposit account, signs it with ``EXCHANGE_BANK_SECRET`` exactly as the bank
does (``settlement.bank.sign``) and books it through the webhook's own steps (signature check,
parsing, ``settlement.bank.receive``). So the money arrives as a real deposit would: ledger
entries, the audit log (``deposit.received`` by ``bank``, a ``SANDBOX-`` transaction id),
qualification when the deposit is complete, suspense with a refund when it cannot count (the
registration is over, the application rejected).

Under any other profile the operation does not exist: 404 ``not_found`` for every caller, before
any credential is looked at, so a statutory exchange cannot be talked into booking money no bank
sent.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from exchange.clock import utcnow
from exchange.deps import MAX_ID, AppSettings, CurrentUser, Session
from exchange.errors import Conflict, NotFound
from exchange.identity.guards import requires
from exchange.money import format_yuan
from listings.applications import visible_application
from listings.hooks import ListingHooks
from settlement import bank
from settlement.deposits import held_deposit

SANDBOX = "sandbox"
TXN_PREFIX = "SANDBOX-"
"""Every simulated transfer's ``txn_id`` starts so: the ledger and the audit log tell them apart."""


class SandboxTransfer(msgspec.Struct, forbid_unknown_fields=True):
    application_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class SandboxTransferResult(msgspec.Struct):
    application_id: int
    txn_id: str
    account: str
    """The application's deposit account the money was paid into."""
    amount: str
    """Yuan, two decimals: what the application still owed."""
    paid_at: datetime
    outcome: str
    """``deposit`` (booked to the application) or ``suspense`` (held for a refund, with ``reason``)."""
    reason: str | None = None


def sandbox_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Outside the sandbox the operation is absent: 404, whoever asks."""
    if connection.app.state.settings.profile != SANDBOX:
        raise NotFound("no such resource")


def deposit_notice(account: str, amount: int, paid_at: datetime) -> bytes:
    """The bank's notice of ``amount`` fen paid into ``account``, as the bank writes its body."""
    notice = bank.NoticeIn(
        txn_id=f"{TXN_PREFIX}{secrets.token_hex(8)}",
        account=account,
        amount=format_yuan(amount),
        paid_at=paid_at,
    )
    return msgspec.json.encode(notice)


class SandboxBankController(Controller):
    path = "/api/v1/sandbox"
    tags = ["settlement"]
    guards = [sandbox_only]  # before the role guard: absent outside the sandbox, not 401 or 403

    @post(
        "/bank-transfers",
        operation_id="simulateBankTransfer",
        guards=[requires("bidder", "operator")],
        status_code=201,
        summary="Sandbox only: the bank pays an application's outstanding deposit (模拟银行转账)",
        description="Only under the sandbox profile (EXCHANGE_PROFILE=sandbox); under any other "
        "profile it is 404 not_found for everyone. The application's owner or an operator asks; "
        "anyone else's application is 404. The exchange writes the bank's deposit notice for what "
        "the application still owes (deposit due less what has arrived) to the application's own "
        "deposit account, signs it with the bank's key as the bank does (X-Signature, HMAC-SHA256) "
        "and books it through the same steps as POST /api/v1/bank/notifications: the deposit "
        "arrives, and qualifies the application when complete; money that cannot count (after the "
        "registration deadline, a rejected application) goes to suspense with a refund. 409 "
        "deposit_already_paid when nothing is owed.",
    )
    async def transfer(
        self,
        data: JSONBody[SandboxTransfer],
        request: Request[Any, Any, Any],
        session: Session,
        user: CurrentUser,
        settings: AppSettings,
    ) -> SandboxTransferResult:
        application = await visible_application(session, data.application_id, user)
        owed = application.deposit_due - await held_deposit(session, application.id)
        account = application.deposit_account
        # end the read: the booking starts its own transaction and locks the listing first, as
        # every writer does (a read transaction upgraded to a write is what SQLite refuses)
        await session.rollback()
        if owed <= 0:
            raise Conflict("the deposit has arrived in full", code="deposit_already_paid")
        body = deposit_notice(account, owed, utcnow())
        secret = settings.security.bank_secret
        # From here on what the webhook (settlement.controllers.BankController) does with a notice
        # the bank sent: signed as the bank signs and checked as the webhook checks, so the simulated
        # notice takes every step a real one takes (the check cannot fail here; it is the same step).
        bank.verify_signature(secret, body, bank.sign(secret, body))
        notice = bank.parse_notice(body)
        hooks: ListingHooks = request.app.state.listing_hooks
        booked = await bank.receive(session, body, notice, hooks)
        return SandboxTransferResult(
            application_id=data.application_id,
            txn_id=booked.txn_id,
            account=account,
            amount=notice.amount,
            paid_at=notice.paid_at,
            outcome=booked.outcome,
            reason=booked.reason,
        )
