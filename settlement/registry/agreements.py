"""Negotiated transfers (协议转让): two holders agree quantity and price; the exchange checks
eligibility, publishes the agreement (公示), takes objections, then settles it delivery versus
payment.

1. :func:`create_agreement`: the seller's user (a bidder whose credit code is a registry holder)
   names the buyer by its credit code, or an operator acts for both; the buyer must be a holder
   the instrument may go to (:func:`settlement.registry.eligibility.check_trade`). The quantity
   leaves the seller's holding at once for the agreement's hold under the holding's lock, so an
   offer and an agreement can never sell the same unit. The 公示 runs the class's result
   publicity (``listings.profiles``: working days; seconds under the sandbox profile), and the
   agreement gets its own payment account number (``64`` + 17 digits: deposit accounts start
   ``62``, settlement payment accounts ``63``).
2. While the 公示 runs anyone logged in may object (:func:`file_objection`); an operator answers
   (:func:`answer_objection`): ``dismissed`` (the 公示 goes on) or ``upheld`` (the agreement is
   cancelled and the hold released). An open objection holds the confirmation.
3. :func:`confirm_due` / :func:`confirm_each`: once the 公示 is over with no objection open the
   agreement is confirmed and its price falls due.
4. :func:`book_agreement_payment` (called by the bank's notices): the buyer pays on the
   agreement's account; the payment that completes the price delivers
   (:func:`settlement.registry.delivery.deliver`: the quantity to the buyer and the price to the
   seller) in the same database transaction. A water abstraction right waits for the
   registrar's consent instead (取水许可和水资源费征收管理条例 art. 27).

Money (the money ledger, fen, debit positive; ``<A>`` the agreement), with each posting's reference:

- confirmation: Dr receivable:agreement:<A> P / Cr seller_payable:agreement:<A> P
  (``agreement:<A>:price``);
- a payment: Dr bank_clearing X / Cr receivable:agreement:<A> min(X, due), Cr suspense the excess
  (``bank:<txn_id>``), the excess back: Dr suspense / Cr refunds_payable, 5 WD
  (``suspense_refund:bank:<txn_id>``);
- delivery (DvP, :mod:`settlement.registry.delivery`): Dr seller_payable:agreement:<A> P /
  Cr refunds_payable P with the seller's payout instruction (``seller_payout:agreement:<A>``),
  with the quantity leg ``deliver:agreement:<A>`` in the same transaction;
- cancellation: Dr seller_payable:agreement:<A> P / Cr receivable P (``agreement:<A>:reverse``),
  then what was paid back: Dr receivable X / Cr refunds_payable X, 5 WD (``agreement:<A>:refund``).

So the receivable is the amount still due: P after the confirmation, 0 once paid in full (and 0
again after a cancellation); ``seller_payable`` is P until the delivery pays it out. Money that
arrives while nothing is owed (during the 公示, after a cancellation or the delivery) goes to
suspense and back within 5 WD, like a settlement's.

Quantity (the registry's ledger, debit positive): hold ``Dr order_hold:agreement:<A> q / Cr
holding:<seller>:<i> q`` (``agreement:<A>:hold``); release on cancellation, the reverse
(``agreement:<A>:release``); delivery order hold -> transit -> the buyer's holding.

Every step appends to the audit stream ``registry``. Nothing here commits, except
:func:`confirm_each`, the periodic job, which gives each agreement its own transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from exchange.identity.tokens import Principal
from exchange.money import MAX_FEN
from listings.profiles import default_publicity_working_days
from listings.workdays import local_date
from settlement import ledger
from settlement.deposits import book_receipt
from settlement.lines import account_number, publicity_end
from settlement.models import LedgerAccount
from settlement.registry import book, delivery, eligibility
from settlement.registry.issuance import NoRegistryAccount, holder_by_code, holder_of_user
from settlement.registry.models import (
    Agreement,
    AgreementObjection,
    Delivery,
    Holder,
    Instrument,
    RegistryAccount,
)

__all__ = [
    "STREAM",
    "AgreementPayment",
    "AgreementStateError",
    "answer_objection",
    "approve_agreement_delivery",
    "book_agreement_payment",
    "cancel_agreement",
    "confirm_agreement",
    "confirm_due",
    "confirm_each",
    "create_agreement",
    "file_objection",
    "get_agreement",
    "list_agreements",
    "lock_agreement",
    "objections_of",
    "publicity_days",
    "receivable_code",
    "refuse_agreement_delivery",
    "seller_payable_code",
]

log = logging.getLogger("settlement.registry.agreements")

STREAM = "registry"
MAX_REASONS = 4000
"""The longest objection or answer, as a listing's result objections allow."""
ASSET_CLASSES = {"emission": "emission_right", "water": "water_right"}
Decision = Literal["dismissed", "upheld", "dismiss", "uphold"]
_DECISIONS = {"dismissed": "dismissed", "dismiss": "dismissed", "upheld": "upheld", "uphold": "upheld"}


class AgreementStateError(Conflict):
    """The agreement is not in a state that allows this step."""

    code = "registry_agreement_state"


def receivable_code(agreement_id: int) -> str:
    return f"receivable:agreement:{agreement_id}"


def seller_payable_code(agreement_id: int) -> str:
    """What the exchange owes the seller until the delivery pays it out (the delivery's own code)."""
    return delivery.agreement_payable_code(agreement_id)


def publicity_days(instrument: Instrument) -> int:
    """The 公示 of the instrument's class under the statutory profile (the sandbox counts it in seconds)."""
    return default_publicity_working_days(ASSET_CLASSES[instrument.right_type], "statutory")


def _actor(principal: Principal) -> str:
    return f"user:{principal.user_id}"


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        f"{field}: {message}", code="registry_agreement_invalid", errors=[field_error(field, message)]
    )


def _check_terms(quantity: int, price: int) -> None:
    for field, value, limit in (("quantity", quantity, MAX_FEN), ("price", price, MAX_FEN)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
            raise _invalid(field, f"must be a positive integer no larger than {limit}")


async def _check_seller(session: AsyncSession, seller: Holder, actor: Principal) -> None:
    """Operators act for both parties; a bidder only for the holder of its own credit code."""
    if actor.role == "operator":
        return
    if actor.role == "bidder":
        own = await holder_of_user(session, actor.user_id)
        if own is not None and own.id == seller.id:
            return
        raise Forbidden(
            "only the seller's own account or an operator may make its agreement",
            code="registry_not_seller",
        )
    raise Forbidden("only the seller or an operator may make an agreement", code="registry_not_seller")


async def lock_agreement(session: AsyncSession, agreement_id: int) -> Agreement:
    """The agreement's row under lock (404 ``registry_not_found`` without one)."""
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(Agreement)
        .where(Agreement.id == agreement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    agreement = (await session.execute(query)).scalar_one_or_none()
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id}", code="registry_not_found")
    return agreement


async def get_agreement(session: AsyncSession, agreement_id: int) -> Agreement:
    agreement = await session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id}", code="registry_not_found")
    return agreement


async def list_agreements(
    session: AsyncSession, *, holder_id: int | None = None, status: str | None = None
) -> list[Agreement]:
    """Agreements, newest first; ``holder_id``: those it sells or buys in."""
    query = select(Agreement).order_by(Agreement.id.desc())
    if holder_id is not None:
        query = query.where((Agreement.seller_id == holder_id) | (Agreement.buyer_id == holder_id))
    if status is not None:
        query = query.where(Agreement.status == status)
    return list((await session.execute(query)).scalars())


async def objections_of(session: AsyncSession, agreement_id: int) -> list[AgreementObjection]:
    query = (
        select(AgreementObjection)
        .where(AgreementObjection.agreement_id == agreement_id)
        .order_by(AgreementObjection.id)
    )
    return list((await session.execute(query)).scalars())


# -- making an agreement --------------------------------------------------------------------------


async def create_agreement(
    session: AsyncSession,
    *,
    seller: Holder,
    buyer_credit_code: str,
    instrument_id: int,
    quantity: int,
    price: int,
    actor: Principal,
    profile: str = "statutory",
    now: datetime | None = None,
) -> Agreement:
    """Record an agreement, encumber its quantity and start its 公示; ``price`` is the whole price in fen.

    Refused before anything is written: 422 ``registry_agreement_invalid`` (terms, a holder
    selling to itself), 403 ``registry_not_seller``, 409 ``registry_no_account`` (the buyer has no
    registry account), 404 ``registry_not_found`` (the instrument), the eligibility codes
    (``registry_out_of_basin``, ``registry_out_of_region``, ``registry_expired``) and 409
    ``registry_insufficient`` (the seller's available holding is short).
    """
    now = now or utcnow()
    _check_terms(quantity, price)
    await _check_seller(session, seller, actor)
    buyer = await holder_by_code(session, buyer_credit_code)
    if buyer is None:
        raise NoRegistryAccount(f"{buyer_credit_code} has no registry account", credit_code=buyer_credit_code)
    if buyer.id == seller.id:
        raise _invalid("buyer_credit_code", "the buyer must be another holder than the seller")
    instrument = await session.get(Instrument, instrument_id)
    if instrument is None:
        raise NotFound(f"no instrument {instrument_id}", code="registry_not_found")
    eligibility.check_trade(instrument, buyer, local_date(now))
    holding = await book.account(session, "holding", instrument.id, holder_id=seller.id)
    await book.lock(session, holding)
    available = await book.balance(session, holding.id)
    if available < quantity:  # checked before the row exists, so a refusal leaves nothing behind
        raise book.InsufficientQuantity(
            f"the seller holds {available} available, the agreement needs {quantity}"
        )
    agreement = Agreement(
        seller_id=seller.id,
        buyer_id=buyer.id,
        instrument_id=instrument.id,
        quantity=quantity,
        price=price,
        status="publicity",
        # the hold's code carries the agreement's id, which exists only once the row does
        hold_account_id=holding.id,
        payment_account=account_number("64"),
        publicity_ends_at=publicity_end(now, local_date(now), publicity_days(instrument), profile),
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(agreement)
    await session.flush()
    hold = await book.account(
        session, "order_hold", instrument.id, holder_id=seller.id, key=f"agreement:{agreement.id}"
    )
    agreement.hold_account_id = hold.id
    await book.move(
        session,
        source=holding,
        target=hold,
        quantity=quantity,
        kind="agreement_hold",
        reference=f"agreement:{agreement.id}:hold",
        actor=_actor(actor),
        memo=f"协议转让 {agreement.id}",
    )
    await session.flush()
    await append(
        session,
        STREAM,
        _actor(actor),
        "agreement.created",
        {
            "agreement_id": agreement.id,
            "seller_id": seller.id,
            "buyer_id": buyer.id,
            "instrument_id": instrument.id,
            "quantity": quantity,
            "price": price,
            "payment_account": agreement.payment_account,
            "publicity_ends_at": agreement.publicity_ends_at.isoformat(),
        },
        at=now,
    )
    return agreement


# -- objections -----------------------------------------------------------------------------------


async def _has_open_objection(session: AsyncSession, agreement_id: int) -> bool:
    query = select(
        exists().where(AgreementObjection.agreement_id == agreement_id, AgreementObjection.status == "open")
    )
    return bool((await session.execute(query)).scalar())


async def file_objection(
    session: AsyncSession, agreement_id: int, reasons: str, actor: Principal, *, now: datetime | None = None
) -> AgreementObjection:
    """Anyone logged in objects while the 公示 runs (409 ``publicity_closed`` after it)."""
    now = now or utcnow()
    text = reasons.strip()
    if not text:
        raise Unprocessable("an objection must state its reasons", code="reasons_required")
    if len(text) > MAX_REASONS:
        raise Unprocessable(f"reasons may be at most {MAX_REASONS} characters", code="reasons_too_long")
    agreement = await lock_agreement(session, agreement_id)
    if agreement.status != "publicity":
        raise AgreementStateError(f"the agreement is {agreement.status}: objections are closed")
    if now >= agreement.publicity_ends_at:
        raise Conflict("the agreement's 公示 is over: objections are closed", code="publicity_closed")
    objection = AgreementObjection(
        agreement_id=agreement.id, filed_by=actor.user_id, reasons=text, status="open", filed_at=now
    )
    session.add(objection)
    await session.flush()
    await append(
        session,
        STREAM,
        _actor(actor),
        "agreement.objection_filed",
        {"agreement_id": agreement.id, "objection_id": objection.id, "reasons": text},
        at=now,
    )
    return objection


async def answer_objection(
    session: AsyncSession,
    objection_id: int,
    decision: Decision,
    answer: str,
    actor: Principal,
    *,
    now: datetime | None = None,
) -> AgreementObjection:
    """An operator answers an open objection: ``dismissed`` (the 公示 goes on; the confirmation
    waits for its end and for no other objection open) or ``upheld`` (the agreement is cancelled
    and its quantity released to the seller); the verbs ``dismiss`` / ``uphold`` are accepted too."""
    now = now or utcnow()
    if actor.role != "operator":
        raise Forbidden("only an operator answers objections", code="forbidden")
    status = _DECISIONS.get(decision)
    if status is None:
        raise _invalid("decision", "dismissed or upheld")
    text = answer.strip()
    if not text:
        raise Unprocessable("an answer must state its reasons", code="reasons_required")
    if len(text) > MAX_REASONS:
        raise Unprocessable(f"an answer may be at most {MAX_REASONS} characters", code="reasons_too_long")
    found = await session.get(AgreementObjection, objection_id)
    if found is None:
        raise NotFound("no such objection", code="objection_not_found")
    await lock_agreement(session, found.agreement_id)  # the agreement first, like every writer
    await session.refresh(found, with_for_update=True)
    if found.status != "open":
        raise Conflict(f"the objection is {found.status}", code="objection_answered")
    found.status = status
    found.answer, found.answered_by, found.answered_at = text, actor.user_id, now
    await session.flush()
    await append(
        session,
        STREAM,
        _actor(actor),
        f"agreement.objection_{found.status}",
        {"agreement_id": found.agreement_id, "objection_id": found.id, "answer": text},
        at=now,
    )
    if status == "upheld":
        await cancel_agreement(
            session, found.agreement_id, reason=f"异议成立: {text}", actor=_actor(actor), now=now
        )
    return found


# -- confirmation ---------------------------------------------------------------------------------


async def _due_ids(session: AsyncSession, now: datetime) -> list[int]:
    query = (
        select(Agreement.id)
        .where(Agreement.status == "publicity", Agreement.publicity_ends_at <= now)
        .order_by(Agreement.id)
    )
    return [int(i) for i in (await session.execute(query)).scalars()]


async def _money_accounts(session: AsyncSession, agreement_id: int) -> tuple[LedgerAccount, LedgerAccount]:
    receivable = await ledger.account(session, receivable_code(agreement_id), "receivable")
    payable = await ledger.account(session, seller_payable_code(agreement_id), "seller_payable")
    return receivable, payable


async def confirm_agreement(session: AsyncSession, agreement_id: int, now: datetime) -> bool:
    """Confirm one agreement if its 公示 is over and no objection is open; the price falls due."""
    agreement = await lock_agreement(session, agreement_id)
    if agreement.status != "publicity" or agreement.publicity_ends_at > now:
        return False
    if await _has_open_objection(session, agreement.id):
        return False
    receivable, payable = await _money_accounts(session, agreement.id)
    await ledger.post_once(
        session,
        kind="price_due",
        reference=f"agreement:{agreement.id}:price",
        legs=[(receivable, agreement.price), (payable, -agreement.price)],
        memo=f"协议转让 {agreement.id}",
        actor="system",
    )
    agreement.status, agreement.confirmed_at = "confirmed", now
    await session.flush()
    await append(
        session,
        STREAM,
        "system",
        "agreement.confirmed",
        {
            "agreement_id": agreement.id,
            "price": agreement.price,
            "payment_account": agreement.payment_account,
        },
        at=now,
    )
    return True


async def confirm_due(session: AsyncSession, now: datetime | None = None) -> int:
    """Confirm, in the caller's transaction, every agreement whose 公示 is over with no objection
    open; returns how many."""
    now = now or utcnow()
    confirmed = 0
    for agreement_id in await _due_ids(session, now):
        confirmed += await confirm_agreement(session, agreement_id, now)
    return confirmed


async def confirm_each(sessions: async_sessionmaker[AsyncSession], now: datetime | None = None) -> None:
    """The periodic job: :func:`confirm_agreement` for each one due, each in its own transaction, so
    one failing agreement holds back no other (the next run retries it)."""
    now = now or utcnow()
    async with sessions() as session:
        ids = await _due_ids(session, now)
    for agreement_id in ids:
        try:
            async with unit_of_work(sessions) as session:
                await confirm_agreement(session, agreement_id, now)
        except Exception:
            log.exception("confirming agreement %s failed; the next run retries", agreement_id)


# -- cancellation ---------------------------------------------------------------------------------


async def cancel_agreement(
    session: AsyncSession, agreement_id: int, *, reason: str, actor: str, now: datetime | None = None
) -> Agreement:
    """Cancel an agreement not yet delivered: the quantity back to the seller's holding, the price no
    longer due, whatever the buyer paid refunded within 5 WD. An objection upheld, a withdrawal by
    an operator, an expired instrument, a delivery the registrar refused all end here.
    Idempotent: cancelling a cancelled agreement does nothing (409 once it was delivered)."""
    now = now or utcnow()
    agreement = await lock_agreement(session, agreement_id)
    if agreement.status == "cancelled":
        return agreement
    if agreement.status == "delivered":
        raise AgreementStateError("the agreement was delivered: it can no longer be cancelled")
    hold = await session.get(RegistryAccount, agreement.hold_account_id)
    assert hold is not None
    held = await book.balance(session, hold.id)
    if held:
        holding = await book.account(
            session, "holding", agreement.instrument_id, holder_id=agreement.seller_id
        )
        await book.move(
            session,
            source=hold,
            target=holding,
            quantity=held,
            kind="agreement_release",
            reference=f"agreement:{agreement.id}:release",
            actor=actor,
            memo=reason,
        )
    refunded = 0
    if agreement.confirmed_at is not None:
        receivable, payable = await _money_accounts(session, agreement.id)
        await ledger.post_once(
            session,
            kind="sale_reversed",
            reference=f"agreement:{agreement.id}:reverse",
            legs=[(payable, agreement.price), (receivable, -agreement.price)],
            memo=reason,
            actor=actor,
        )
        refunded = -await ledger.balance(session, receivable.id)
        if refunded > 0:
            await ledger.instruct_refund(
                session,
                source=receivable,
                amount=refunded,
                kind="agreement_refund",
                reference=f"agreement:{agreement.id}:refund",
                memo=reason,
                actor=actor,
                now=now,
            )
    waiting = await _delivery_of(session, agreement.id)
    if waiting is not None and waiting.status == "awaiting_approval":
        waiting.status = "refused"  # nothing left to deliver: a later consent must not find it open
    agreement.status, agreement.reason = "cancelled", reason
    await session.flush()
    await append(
        session,
        STREAM,
        actor,
        "agreement.cancelled",
        {"agreement_id": agreement.id, "released": held, "refunded": refunded, "reason": reason},
        at=now,
    )
    return agreement


# -- payment and delivery -------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementPayment:
    """What a bank notice on an agreement's payment account did."""

    outcome: str
    """``payment`` (applied to the price) or ``suspense`` (nothing owed: refunded in 5 WD)."""
    agreement_id: int
    applied: int
    refunded: int
    outstanding: int
    status: str
    """The agreement's status after the notice (``delivered`` when it completed the price)."""
    reason: str | None = None
    duplicate: bool = False
    delivery_id: int | None = None


async def _delivery_of(session: AsyncSession, agreement_id: int) -> Delivery | None:
    query = select(Delivery).where(Delivery.reference == f"agreement:{agreement_id}")
    return (await session.execute(query)).scalar_one_or_none()


async def _deliver(session: AsyncSession, agreement: Agreement, now: datetime) -> Delivery:
    """Paid in full: deliver now (both legs in this transaction), or wait for the registrar's consent."""
    found = await _delivery_of(session, agreement.id)
    if found is not None:
        return found
    instrument = await session.get(Instrument, agreement.instrument_id)
    assert instrument is not None
    waits = eligibility.needs_approval(instrument)
    row = Delivery(
        reference=f"agreement:{agreement.id}",
        agreement_id=agreement.id,
        seller_id=agreement.seller_id,
        buyer_id=agreement.buyer_id,
        instrument_id=agreement.instrument_id,
        quantity=agreement.quantity,
        price=agreement.price,
        status="awaiting_approval",
        created_at=now,
    )
    session.add(row)
    await session.flush()
    if not waits:
        _, payable = await _money_accounts(session, agreement.id)
        failure = await delivery.try_deliver(session, row, seller_payable=payable, now=now, actor="bank")
        if failure is not None:  # never fails the bank notice: the agreement is undone, its buyer refunded
            await cancel_agreement(
                session, agreement.id, reason=f"交割未完成（{failure}）", actor="bank", now=now
            )
            return row
        agreement.status = "delivered"
    await session.flush()
    await append(
        session,
        STREAM,
        "bank",
        "agreement.delivered" if not waits else "agreement.awaiting_approval",
        {"agreement_id": agreement.id, "delivery_id": row.id},
        at=now,
    )
    return row


async def book_agreement_payment(
    session: AsyncSession, *, account: str, amount: int, txn_id: str, paid_at: datetime
) -> AgreementPayment | None:
    """Book money received on an agreement's payment account; ``None`` if ``account`` is not one.

    Applied to the price due (``bank:<txn_id>``, idempotent by ``txn_id``); the excess, or money
    arriving while nothing is owed (during the 公示, after a cancellation or the delivery), goes
    to suspense and is refunded within 5 WD. The payment that completes the price delivers in the
    same transaction. Never commits.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be positive integer fen, got {amount!r}")
    found = (
        await session.execute(select(Agreement.id).where(Agreement.payment_account == account))
    ).scalar_one_or_none()
    if found is None:
        return None
    agreement = await lock_agreement(session, found)
    if paid_at < agreement.created_at:
        message = f"earlier than the account {account} was opened"
        raise Unprocessable(
            f"paid_at: {message}", code="notice_invalid", errors=[field_error("paid_at", message)]
        )
    reference = f"bank:{txn_id}"
    receivable = await ledger.account(session, receivable_code(agreement.id), "receivable")
    previous = await ledger.transaction_by_reference(session, reference)
    if previous is not None:
        outcome = "payment" if previous.kind == "payment_received" else "suspense"
        outstanding = max(await ledger.balance(session, receivable.id), 0)
        return AgreementPayment(outcome, agreement.id, 0, 0, outstanding, agreement.status, duplicate=True)
    outstanding = await ledger.balance(session, receivable.id) if agreement.status == "confirmed" else 0
    applied, excess, reason = await book_receipt(
        session,
        receivable=receivable,
        outstanding=outstanding,
        amount=amount,
        reference=reference,
        refused=f"agreement_{agreement.status}",
        memo=f"协议转让 {agreement.id}",
    )
    now = utcnow()
    await append(
        session,
        STREAM,
        "bank",
        "agreement.payment",
        {
            "agreement_id": agreement.id,
            "txn_id": txn_id,
            "amount": amount,
            "applied": applied,
            "refunded": excess,
        },
        at=now,
    )
    delivered: Delivery | None = None
    if applied and await ledger.balance(session, receivable.id) <= 0:
        delivered = await _deliver(session, agreement, now)
    return AgreementPayment(
        "payment" if applied else "suspense",
        agreement.id,
        applied,
        excess,
        outstanding - applied,
        agreement.status,
        reason,
        delivery_id=delivered.id if delivered is not None else None,
    )


# -- the registrar's decision on a delivery that waits (water abstraction, art. 27) ----------------


async def _lock_agreement_of(session: AsyncSession, delivery_id: int) -> Agreement | None:
    """The agreement first, like the payment path, which then takes the registry's audit head."""
    agreement_id = (
        await session.execute(select(Delivery.agreement_id).where(Delivery.id == delivery_id))
    ).scalar_one_or_none()
    return None if agreement_id is None else await lock_agreement(session, agreement_id)


async def approve_agreement_delivery(session: AsyncSession, delivery_id: int, actor: Principal) -> Delivery:
    """The registrar consents: the agreement is delivered now, both legs in this transaction."""
    agreement = await _lock_agreement_of(session, delivery_id)
    row = await delivery.approve_delivery(session, delivery_id, actor)
    if agreement is not None:
        agreement.status = "delivered"
        await session.flush()
        await append(
            session,
            STREAM,
            _actor(actor),
            "agreement.delivered",
            {"agreement_id": agreement.id, "delivery_id": row.id},
        )
    return row


async def refuse_agreement_delivery(
    session: AsyncSession, delivery_id: int, reason: str, actor: Principal
) -> Delivery:
    """The registrar refuses the transfer: the agreement is cancelled, the quantity goes back to the
    seller and the buyer's money back to the buyer (5 WD)."""
    agreement = await _lock_agreement_of(session, delivery_id)
    row = await delivery.refuse_delivery(session, delivery_id, reason, actor)
    if agreement is not None:
        await cancel_agreement(session, agreement.id, reason=f"转让未获批准: {reason}", actor=_actor(actor))
    return row
