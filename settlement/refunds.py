"""Refund instructions: money the exchange owes back, and the file the bank pays from.

A refund is born with the posting that moves money to ``refunds_payable``
(Dr the source account / Cr ``refunds_payable``) and is due
:data:`REFUND_WORKING_DAYS` working days later on the Chinese calendar,
counted from the Asia/Shanghai date of the release (rules §1.5: released at
once, refunded within 5 WD). Paying it is the posting Dr
``refunds_payable`` / Cr ``bank_clearing``, keyed by the outgoing transfer.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound
from exchange.identity.models import User
from exchange.money import format_yuan
from exchange.spreadsheet import text_cell  # the bank's staff open these files in a spreadsheet
from listings.applications_models import Application
from listings.workdays import add_working_days, local_date
from settlement.double_entry import DuplicateReference, account, post, post_once
from settlement.models import LedgerAccount, LedgerTransaction, RefundInstruction

__all__ = [
    "BANK_CLEARING",
    "REFUNDS_PAYABLE",
    "REFUND_WORKING_DAYS",
    "SUSPENSE",
    "PaidReferenceInUse",
    "RefundAlreadyPaid",
    "RefundNotFound",
    "bank_clearing",
    "instruct_refund",
    "mark_refund_paid",
    "refund_csv",
    "refund_due",
    "refunds",
    "refunds_payable",
]

BANK_CLEARING = "bank_clearing"
SUSPENSE = "suspense"
REFUNDS_PAYABLE = "refunds_payable"
REFUND_WORKING_DAYS = 5

RefundStatus = Literal["pending", "paid"]

CSV_HEADER = ("refund_id", "payee_name", "payee_account", "amount", "due_date", "reference")


class RefundNotFound(NotFound):
    code = "refund_not_found"


class RefundAlreadyPaid(Conflict):
    """The refund was already paid by another transfer."""

    code = "refund_already_paid"


class PaidReferenceInUse(Conflict):
    """The outgoing transfer id is already recorded as the payment of another refund."""

    code = "paid_reference_in_use"


async def bank_clearing(session: AsyncSession) -> LedgerAccount:
    return await account(session, BANK_CLEARING, "bank_clearing")


async def refunds_payable(session: AsyncSession) -> LedgerAccount:
    return await account(session, REFUNDS_PAYABLE, "refunds_payable")


def refund_due(moment: datetime) -> date:
    """The due date of a refund released at ``moment``: 5 WD after its Shanghai date."""
    return add_working_days(local_date(moment), REFUND_WORKING_DAYS)


async def _refund_of(session: AsyncSession, transaction_id: int) -> RefundInstruction | None:
    query = select(RefundInstruction).where(RefundInstruction.transaction_id == transaction_id)
    return (await session.execute(query)).scalar_one_or_none()


async def instruct_refund(
    session: AsyncSession,
    *,
    source: LedgerAccount,
    amount: int,
    kind: str,
    reference: str,
    application_id: int | None = None,
    source_reference: str | None = None,
    payee_account: str | None = None,
    listing_id: int | None = None,
    memo: str = "",
    actor: str = "system",
    now: datetime | None = None,
) -> tuple[RefundInstruction, bool]:
    """Dr ``source`` / Cr ``refunds_payable`` and the instruction to pay it, once per ``reference``.

    Returns ``(refund, created)``; a repeat returns the refund booked the first time.
    """
    payable = await refunds_payable(session)
    txn, created = await post_once(
        session,
        kind=kind,
        reference=reference,
        legs=[(source, amount), (payable, -amount)],
        listing_id=listing_id,
        memo=memo,
        actor=actor,
    )
    if not created:
        found = await _refund_of(session, txn.id)
        if found is not None:
            return found, False
    at = now or utcnow()
    refund = RefundInstruction(
        application_id=application_id,
        source_reference=source_reference,
        payee_account=payee_account,
        amount=amount,
        due_date=refund_due(at),
        status="pending",
        created_at=at,
        transaction_id=txn.id,
    )
    session.add(refund)
    await session.flush()
    return refund, created


async def mark_refund_paid(
    session: AsyncSession,
    refund_id: int,
    *,
    paid_reference: str,
    actor: str,
    now: datetime | None = None,
) -> RefundInstruction:
    """Record the outgoing transfer ``paid_reference`` as the payment of a refund.

    Idempotent: the same transfer again returns the paid refund unchanged.
    Another transfer for a paid refund is :class:`RefundAlreadyPaid`; a
    transfer already recorded for another refund is :class:`PaidReferenceInUse`.
    """
    query = (
        select(RefundInstruction)
        .where(RefundInstruction.id == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    refund = (await session.execute(query)).scalar_one_or_none()
    if refund is None:
        raise RefundNotFound(f"no refund instruction {refund_id}")
    if refund.status == "paid":
        if refund.paid_reference == paid_reference:
            return refund
        raise RefundAlreadyPaid(
            f"refund {refund_id} was already paid by transfer {refund.paid_reference}",
            refund_id=refund_id,
        )
    taken = await session.execute(
        select(RefundInstruction.id).where(RefundInstruction.paid_reference == paid_reference)
    )
    if taken.first() is not None:
        raise PaidReferenceInUse(f"transfer {paid_reference} already paid another refund")
    release = await session.get(LedgerTransaction, refund.transaction_id)
    payable, bank = await refunds_payable(session), await bank_clearing(session)
    try:
        txn = await post(
            session,
            kind="refund_paid",
            reference=f"payout:{paid_reference}",
            legs=[(payable, refund.amount), (bank, -refund.amount)],
            listing_id=release.listing_id if release is not None else None,
            memo=f"refund {refund.id}",
            actor=actor,
        )
    except DuplicateReference as exc:  # a concurrent payment of another refund with this transfer
        raise PaidReferenceInUse(f"transfer {paid_reference} already paid another refund") from exc
    refund.status = "paid"
    refund.paid_at = now or utcnow()
    refund.paid_reference = paid_reference
    refund.paid_transaction_id = txn.id
    await session.flush()
    return refund


async def refunds(session: AsyncSession, status: RefundStatus | None = None) -> list[RefundInstruction]:
    """Refund instructions by due date (all, or of one status)."""
    query = select(RefundInstruction).order_by(RefundInstruction.due_date, RefundInstruction.id)
    if status is not None:
        query = query.where(RefundInstruction.status == status)
    return list((await session.execute(query)).scalars())


async def refund_csv(session: AsyncSession, status: RefundStatus = "pending") -> str:
    """The refunds of one status as a CSV file for the bank (UTF-8 text, CRLF lines, header row).

    Columns: ``refund_id``, ``payee_name`` (the bidder, when the money came
    through an application), ``payee_account`` (when known), ``amount`` in
    yuan (``"123.45"``), ``due_date`` (ISO), ``reference`` (the incoming bank
    reference for suspense money, else the release's ledger reference).
    """
    if status not in ("pending", "paid"):
        raise ValueError(f"unknown refund status {status!r}")
    query = (
        select(RefundInstruction, User.display_name, LedgerTransaction.reference)
        .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
        .outerjoin(Application, Application.id == RefundInstruction.application_id)
        .outerjoin(User, User.id == Application.bidder_id)
        .where(RefundInstruction.status == status)
        .order_by(RefundInstruction.due_date, RefundInstruction.id)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for refund, payee_name, release_reference in (await session.execute(query)).all():
        writer.writerow(
            (
                refund.id,
                text_cell(payee_name),
                text_cell(refund.payee_account),
                format_yuan(refund.amount),
                refund.due_date.isoformat(),
                text_cell(refund.source_reference or release_reference),
            )
        )
    return out.getvalue()
