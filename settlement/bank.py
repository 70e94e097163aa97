"""The bank's signed notices: deposits arriving on application sub-accounts.

A notice is trusted only with a valid ``X-Signature`` (HMAC-SHA256 of the raw
body with ``EXCHANGE_BANK_SECRET``, compared in constant time); without one it
is 401 and books nothing. Notices are idempotent by ``txn_id``: the same
notice twice (or twenty times at the same moment) books once, the same
``txn_id`` with another body is 409.

What the exchange cannot book is 422 ``notice_invalid`` with the field, and
books nothing: an amount that is not positive or beyond ``MAX_FEN``
(``exchange.money``), or an implausible ``paid_at`` — later than the
exchange's clock plus ``CLOCK_SKEW``, or earlier than the account it was paid
into existed (the application, for a deposit account; the settlement line,
for a payment account). An unknown account has no such lower bound.

``paid_at`` is the bank's word and is only recorded. What counts is when the
exchange received the money (``received_at``, its own clock): a deposit
received at or after ``registration_closes_at`` qualifies no one, whatever its
``paid_at`` says, and an application's ``paid_in_full_at`` is the time the
notice completing its deposit was received. Money that cannot qualify anyone —
an unknown account, a rejected or closed application, a dead listing, a
deposit received after ``registration_closes_at`` — is booked to suspense with
a refund instruction. It is never silently accepted, and never qualifies anyone.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import msgspec
from sqlalchemy import BigInteger, String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from exchange.audit.chain import SYSTEM_STREAM, append
from exchange.clock import utcnow
from exchange.db import Base, BigId, UTCDateTime
from exchange.errors import Conflict, Unauthenticated, Unprocessable, field_error
from exchange.money import MoneyFormatError, parse_yuan
from listings.applications import qualify_if_ready
from listings.applications_models import Application
from listings.hooks import ListingHooks
from listings.models import Listing
from settlement import ledger, payments
from settlement.registry import agreements
from settlement.settlement_models import SettlementLine

# A bank clock a little ahead of ours is normal; a notice from the future is not.
CLOCK_SKEW = timedelta(minutes=5)

Outcome = Literal["deposit", "suspense"]


class BankNotice(Base):
    __tablename__ = "bank_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(64), unique=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)


class NoticeIn(msgspec.Struct, forbid_unknown_fields=True):
    txn_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    account: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z-]+$")]
    amount: Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]{1,2})?$")]
    paid_at: Annotated[datetime, msgspec.Meta(tz=True)]


class NoticeResult(msgspec.Struct):
    txn_id: str
    outcome: str
    duplicate: bool
    reason: str | None = None


def sign(secret: str, body: bytes) -> str:
    """The bank's ``X-Signature``: hex HMAC-SHA256 of the raw body (the demo and the benchmarks sign too)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str | None, signer: str = "the bank") -> None:
    """401 ``signature_invalid`` unless ``signature`` is the HMAC of ``body`` with ``signer``'s key."""
    expected = sign(secret, body)
    if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
        raise Unauthenticated(f"the notice is not signed with {signer}'s key", code="signature_invalid")


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", code="notice_invalid", errors=[field_error(field, message)])


def parse_notice(body: bytes) -> NoticeIn:
    try:
        notice = msgspec.json.decode(body, type=NoticeIn)
    except msgspec.ValidationError as exc:
        raise Unprocessable(f"the notice is not valid: {exc}", code="notice_invalid") from exc
    except msgspec.DecodeError as exc:
        raise Unprocessable("the notice is not JSON", code="notice_invalid") from exc
    try:  # a year-1 or year-9999 date with an offset lies outside what UTC can hold
        notice.paid_at = notice.paid_at.astimezone(UTC)
    except OverflowError as exc:
        raise _invalid("paid_at", "not a date the exchange can record") from exc
    if notice.paid_at > utcnow() + CLOCK_SKEW:
        raise _invalid("paid_at", "later than the exchange's clock allows")
    return notice


def _amount(notice: NoticeIn) -> int:
    try:
        amount = parse_yuan(notice.amount)
    except MoneyFormatError as exc:
        raise _invalid("amount", str(exc)) from exc
    if amount <= 0:
        raise _invalid("amount", "must be positive")
    return amount


async def _check_paid_at(session: AsyncSession, notice: NoticeIn) -> None:
    """Money cannot be paid into an account before the exchange opened it.

    A backdated ``paid_at`` decides nothing any more (``received_at`` does), but a
    notice that contradicts the exchange's own records is refused rather than booked.
    """
    opened = (
        await session.execute(
            select(Application.created_at).where(Application.deposit_account == notice.account)
        )
    ).scalar_one_or_none()
    if opened is None:
        opened = (
            await session.execute(
                select(SettlementLine.created_at).where(SettlementLine.payment_account == notice.account)
            )
        ).scalar_one_or_none()
    if opened is not None and notice.paid_at < opened:
        raise _invalid("paid_at", f"earlier than the account {notice.account} was opened")


async def _claim(
    session: AsyncSession, notice: NoticeIn, amount: int, digest: str, received_at: datetime
) -> BankNotice | None:
    """Insert the notice; ``None`` when its txn_id was already booked (this one waits for that commit)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = await session.execute(
        insert(BankNotice)
        .values(
            txn_id=notice.txn_id,
            body_sha256=digest,
            account=notice.account,
            amount=amount,
            paid_at=notice.paid_at,
            received_at=received_at,
        )
        .on_conflict_do_nothing(index_elements=["txn_id"])
        .returning(BankNotice.id)
    )
    notice_id = inserted.scalar_one_or_none()
    return None if notice_id is None else await session.get(BankNotice, notice_id)


async def _previous(session: AsyncSession, txn_id: str, digest: str) -> NoticeResult:
    row = (await session.execute(select(BankNotice).where(BankNotice.txn_id == txn_id))).scalar_one()
    if row.body_sha256 != digest:
        raise Conflict("this txn_id was already booked with a different body", code="txn_conflict")
    return NoticeResult(txn_id=txn_id, outcome=row.outcome or "", duplicate=True, reason=row.reason)


async def _target(
    session: AsyncSession, account: str, hooks: ListingHooks, now: datetime
) -> tuple[Application | None, Listing | None]:
    """The application behind an account, locked listing-first like every other writer (then the
    running auction's row, which a qualification may admit the bidder to)."""
    found = (
        await session.execute(
            select(Application.id, Application.listing_id).where(Application.deposit_account == account)
        )
    ).first()
    if found is None:
        return None, None
    listing = (
        await session.execute(select(Listing).where(Listing.id == found.listing_id).with_for_update())
    ).scalar_one()
    for lock in hooks.lock_auction:
        await lock(session, listing, now)
    application = (
        await session.execute(select(Application).where(Application.id == found.id).with_for_update())
    ).scalar_one()
    return application, listing


def _suspense_reason(
    application: Application | None, listing: Listing | None, received_at: datetime
) -> str | None:
    if application is None or listing is None:
        return "unknown_account"
    if application.status in ("rejected", "closed"):
        return f"application_{application.status}"
    if listing.status in ("cancelled", "failed", "closed"):
        return f"listing_{listing.status}"
    if received_at >= listing.registration_closes_at:
        return "after_deadline"
    return None


async def receive(session: AsyncSession, body: bytes, notice: NoticeIn, hooks: ListingHooks) -> NoticeResult:
    """Book one verified notice; commits. A deposit that completes an application may qualify it
    (``listings.applications.qualify_if_ready``), and ``hooks`` admit it to a running auction."""
    amount = _amount(notice)
    await _check_paid_at(session, notice)
    digest = hashlib.sha256(body).hexdigest()
    received_at = utcnow()
    row = await _claim(session, notice, amount, digest, received_at)
    if row is None:
        result = await _previous(session, notice.txn_id, digest)
        await session.rollback()
        return result
    payment = await payments.book_payment(
        session, account=notice.account, amount=amount, txn_id=notice.txn_id, paid_at=notice.paid_at
    ) or await agreements.book_agreement_payment(
        session, account=notice.account, amount=amount, txn_id=notice.txn_id, paid_at=notice.paid_at
    )
    if payment is not None:  # a winner paying its settlement, or a buyer its agreement: not a deposit
        row.outcome, row.reason = payment.outcome, payment.reason
        await session.commit()
        return NoticeResult(
            txn_id=notice.txn_id, outcome=payment.outcome, duplicate=False, reason=payment.reason
        )
    application, listing = await _target(session, notice.account, hooks, received_at)
    reason = _suspense_reason(application, listing, received_at)
    reference = f"bank:{notice.txn_id}"
    if reason is not None:
        await ledger.book_suspense(session, amount=amount, reference=reference, memo=reason)
        await append(
            session,
            SYSTEM_STREAM,
            "bank",
            "deposit.suspense",
            {"txn_id": notice.txn_id, "amount": amount, "reason": reason},
        )
        row.outcome, row.reason = "suspense", reason
    else:
        assert application is not None and listing is not None
        await _book_deposit(session, application, listing, amount, reference, notice, received_at, hooks)
        row.outcome = "deposit"
    await session.commit()
    return NoticeResult(txn_id=notice.txn_id, outcome=row.outcome, duplicate=False, reason=reason)


async def _book_deposit(
    session: AsyncSession,
    application: Application,
    listing: Listing,
    amount: int,
    reference: str,
    notice: NoticeIn,
    received_at: datetime,
    hooks: ListingHooks,
) -> None:
    await ledger.book_deposit(
        session,
        application_id=application.id,
        owner_id=application.bidder_id,
        listing_id=listing.id,
        amount=amount,
        reference=reference,
    )
    await append(
        session,
        listing.stream,
        "bank",
        "deposit.received",
        {"application_id": application.id, "txn_id": notice.txn_id, "amount": amount},
    )
    held = await ledger.held_deposit(session, application.id)
    if held >= application.deposit_due and application.paid_in_full_at is None:
        application.paid_in_full_at = received_at
        await qualify_if_ready(session, application, listing, hooks)
