"""Delivery versus payment (DvP, 交割): the quantity and the seller's money move together or not at all.

When a winner's line becomes paid in full (:func:`settlement.payments.book_payment` calls
:func:`on_line_paid` in the payment's own database transaction), the sale is delivered at once:
the quantity leg and the money leg are posted in that one transaction, so a crash at any point
leaves both or neither (rule 6; ``tests/integration/test_registry_kill.py`` kills the process
at each step). A water abstraction permit waits for the registrar's consent first
(取水许可和水资源费征收管理条例 art. 27): the delivery is recorded ``awaiting_approval`` with no
posting, and :func:`approve_delivery` delivers it later, again in one transaction.

The two legs (``q`` the quantity delivered, ``P`` the price owed to the seller on the line, its
interest included; ``<R>`` the delivery's reference, ``sale:<L>:<A>`` or ``agreement:<id>``):

===========  =================================================================  ===========================
ledger       entries                                                            reference
===========  =================================================================  ===========================
registry     Dr transit:<i> q / Cr order_hold q, then Dr holding:<buyer>:<i> q   ``deliver:<R>``
             / Cr transit:<i> q (one transaction: the exchange's settlement
             account passes the quantity on and nets to zero)
money        Dr seller_payable:<L> P / Cr refunds_payable P, with the            ``seller_payout:<R>``
             instruction to transfer P to the seller (kind ``seller_payout``,
             paid as any refund: Dr refunds_payable / Cr bank_clearing)
===========  =================================================================  ===========================

The service fee stays the exchange's (``fee_revenue``); late fees stay owed to the seller in
``late_fee_payable:<L>`` (paid out apart). The delivery row records both transactions' ids; its
reference is unique, so a sale is delivered once. After delivery the permit change (排污许可证 /
取水许可) is ``pending`` until the registrar confirms it (rule 6; 国办发〔2014〕38号 (十一)).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.after_commit import after_commit
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, Forbidden, NotFound
from exchange.faults import crash_point
from exchange.identity.tokens import Principal
from listings.models import Listing
from listings.workdays import local_date
from settlement import ledger
from settlement.lines import load_installments, seller_payable_code
from settlement.models import LedgerAccount
from settlement.registry import book
from settlement.registry.eligibility import needs_approval, trade_refusal
from settlement.registry.issuance import holder_of_user
from settlement.registry.models import Agreement, Delivery, Holder, Instrument, Offer, RegistryAccount
from settlement.registry.offers import STREAM, offer_of_listing, release_line
from settlement.settlement_models import Settlement, SettlementLine

__all__ = [
    "CRASH_POINTS",
    "DeliveryState",
    "agreement_payable_code",
    "approve_delivery",
    "confirm_permit_change",
    "deliver",
    "on_line_paid",
    "refuse_delivery",
    "sale_reference",
]

CRASH_POINTS = ("dvp:before_quantity", "dvp:between_legs", "dvp:after_legs", "dvp:after_commit")
"""The steps of :func:`deliver` where ``EXCHANGE_CRASH_AT`` kills the process (exchange.faults)."""
SYSTEM = "system"


class DeliveryState(Conflict):
    """The delivery is not in the state the action needs."""

    code = "registry_delivery_state"


def sale_reference(listing_id: int, application_id: int) -> str:
    return f"sale:{listing_id}:{application_id}"


def agreement_payable_code(agreement_id: int) -> str:
    """What the exchange owes the seller of a negotiated transfer (kind ``seller_payable``)."""
    return f"seller_payable:agreement:{agreement_id}"


def _permit_changes(instrument: Instrument) -> bool:
    """Whose permit a transfer changes: every emission right (排污许可证) and an abstraction permit."""
    return instrument.right_type == "emission" or needs_approval(instrument)


async def _delivery_by_reference(session: AsyncSession, reference: str) -> Delivery | None:
    query = select(Delivery).where(Delivery.reference == reference)
    return (await session.execute(query)).scalar_one_or_none()


async def _line_price(session: AsyncSession, line: SettlementLine) -> int:
    """What the line credited the seller: its price and the instalments' interest (not the fee)."""
    interest = sum(r.interest for r in await load_installments(session, line.id) if r.status != "void")
    return line.price + interest


async def on_line_paid(
    session: AsyncSession, listing: Listing, line: SettlementLine, now: datetime
) -> Delivery | None:
    """The winner's line is paid in full and the sale confirmed: deliver its quantity (or wait for
    the registrar's consent). Called when the line becomes paid, and for the lines already paid
    when the sale is confirmed (a sale is not delivered while its 公示 may still annul it).

    ``None`` for a listing sold without an offer (nothing in the registry), and for a buyer the
    registry cannot deliver to (no account: recorded in the registry's audit stream for the
    operator; the applicant check refuses such bidders at registration). A refused trade (the
    lot expired since) is recorded as a ``refused`` delivery; the quantity stays held until the
    sale is undone. Idempotent: the sale's delivery, once it exists, is returned as it is.
    """
    offer = await offer_of_listing(session, listing.id)
    if offer is None:
        return None
    settlement = await session.get(Settlement, listing.id)
    if settlement is None or settlement.confirmed_at is None:
        return None  # paid during the 公示: delivered at the confirmation (followup.confirm_if_due)
    reference = sale_reference(listing.id, line.application_id)
    existing = await _delivery_by_reference(session, reference)
    if existing is not None:
        return existing
    instrument = await session.get(Instrument, offer.instrument_id)
    assert instrument is not None
    buyer = await holder_of_user(session, line.bidder_id)
    if buyer is None:
        await append(
            session,
            STREAM,
            SYSTEM,
            "registry.delivery_blocked",
            {
                "listing_id": listing.id,
                "application_id": line.application_id,
                "reason": "registry_no_account",
            },
        )
        return None
    refusal = trade_refusal(instrument, buyer, local_date(now))
    status = "refused" if refusal else "awaiting_approval"
    delivery = Delivery(
        reference=reference,
        listing_id=listing.id,
        application_id=line.application_id,
        seller_id=offer.holder_id,
        buyer_id=buyer.id,
        instrument_id=instrument.id,
        quantity=line.quantity if line.quantity is not None else offer.quantity,
        price=await _line_price(session, line),
        status=status,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    if refusal is not None:
        await append(
            session,
            STREAM,
            SYSTEM,
            "registry.delivery_refused",
            {"delivery_id": delivery.id, "reference": reference, "reason": refusal},
        )
        return delivery
    if needs_approval(instrument):
        await append(
            session,
            STREAM,
            SYSTEM,
            "registry.delivery_awaiting_approval",
            {"delivery_id": delivery.id, "reference": reference, "quantity": delivery.quantity},
        )
        return delivery
    await deliver(session, delivery, seller_payable=await _listing_payable(session, listing.id), now=now)
    return delivery


async def _listing_payable(session: AsyncSession, listing_id: int) -> LedgerAccount:
    return await ledger.account(
        session, seller_payable_code(listing_id), "seller_payable", listing_id=listing_id
    )


async def _hold_of(session: AsyncSession, delivery: Delivery) -> RegistryAccount:
    """The order hold the delivery takes its quantity from: its offer's, or its agreement's."""
    hold_id: int | None = None
    if delivery.listing_id is not None:
        offer = (
            await session.execute(select(Offer).where(Offer.listing_id == delivery.listing_id))
        ).scalar_one_or_none()
        hold_id = offer.hold_account_id if offer is not None else None
    elif delivery.agreement_id is not None:
        agreement = await session.get(Agreement, delivery.agreement_id)
        hold_id = agreement.hold_account_id if agreement is not None else None
    hold = await session.get(RegistryAccount, hold_id) if hold_id is not None else None
    if hold is None:
        raise NotFound(f"delivery {delivery.reference} has no order hold", code="registry_not_found")
    return hold


async def _payee(session: AsyncSession, delivery: Delivery, listing_id: int | None) -> str:
    """Who the payout goes to, as the bank's staff read it: the holder, or the reserve's seller."""
    if delivery.seller_id is not None:
        seller = await session.get(Holder, delivery.seller_id)
        assert seller is not None
        return f"{seller.name} {seller.credit_code}"
    listing = await session.get(Listing, listing_id) if listing_id is not None else None
    if listing is not None and listing.seller_name:
        return f"{listing.seller_name} {listing.seller_credit_code or ''}".strip()
    return "政府储备"


async def deliver(
    session: AsyncSession,
    delivery: Delivery,
    *,
    seller_payable: LedgerAccount,
    now: datetime,
    actor: str = SYSTEM,
) -> None:
    """THE DvP: post the quantity leg and the money leg in the caller's transaction (never commits).

    Raises ``registry_insufficient`` (409) when the hold no longer has the quantity; a delivery
    already delivered is left as it is.
    """
    if delivery.status == "delivered":
        return
    reference = delivery.reference
    crash_point("dvp:before_quantity")
    hold = await _hold_of(session, delivery)
    transit = await book.account(session, "transit", delivery.instrument_id)
    holding = await book.account(session, "holding", delivery.instrument_id, holder_id=delivery.buyer_id)
    q = delivery.quantity
    await book.lock(session, hold)
    if await book.transaction_by_reference(session, f"deliver:{reference}") is None:
        held = await book.balance(session, hold.id)
        if held < q:
            raise book.InsufficientQuantity(
                f"{hold.code} holds {held}, not {q}", account=hold.code, available=held, requested=q
            )
    quantity_leg, _ = await book.post_once(
        session,
        kind="delivery",
        reference=f"deliver:{reference}",
        legs=[(transit, q), (hold, -q), (holding, q), (transit, -q)],
        listing_id=delivery.listing_id,
        memo="delivery versus payment",
        actor=actor,
    )
    crash_point("dvp:between_legs")
    payout, _ = await ledger.instruct_refund(
        session,
        source=seller_payable,
        amount=delivery.price,
        kind="seller_payout",
        reference=f"seller_payout:{reference}",
        source_reference=f"deliver:{reference}",
        payee_account=await _payee(session, delivery, delivery.listing_id),
        listing_id=delivery.listing_id,
        memo="the seller paid on delivery",
        actor=actor,
        now=now,
    )
    crash_point("dvp:after_legs")
    instrument = await session.get(Instrument, delivery.instrument_id)
    assert instrument is not None
    delivery.status, delivery.delivered_at = "delivered", now
    delivery.permit_change = "pending" if _permit_changes(instrument) else None
    delivery.registry_transaction_id = quantity_leg.id
    delivery.ledger_transaction_id = payout.transaction_id
    await session.flush()
    if delivery.listing_id is not None:
        offer = await offer_of_listing(session, delivery.listing_id)
        if offer is not None and await book.balance(session, offer.hold_account_id) == 0:
            offer.status = "sold"
    await append(
        session,
        STREAM,
        actor,
        "registry.delivered",
        {
            "delivery_id": delivery.id,
            "reference": reference,
            "quantity": q,
            "price": delivery.price,
            "registry_transaction_id": quantity_leg.id,
            "ledger_transaction_id": payout.transaction_id,
            "refund_id": payout.id,
        },
    )
    after_commit(session, _crash_after_commit)


async def _crash_after_commit() -> None:
    crash_point("dvp:after_commit")


def _registrar(actor: Principal) -> None:
    if actor.role != "registrar":
        raise Forbidden("only a registrar decides a delivery")


async def _locked_delivery(session: AsyncSession, delivery_id: int) -> Delivery:
    await session.flush()  # populate_existing would overwrite unflushed changes (autoflush is off)
    query = (
        select(Delivery)
        .where(Delivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    delivery = (await session.execute(query)).scalar_one_or_none()
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}", code="registry_not_found")
    return delivery


async def _lock_listing_of(session: AsyncSession, delivery_id: int) -> None:
    """Writers lock the listing first (the payment path's order), then the delivery."""
    listing_id = (
        await session.execute(select(Delivery.listing_id).where(Delivery.id == delivery_id))
    ).scalar_one_or_none()
    if listing_id is not None:
        await session.execute(select(Listing.id).where(Listing.id == listing_id).with_for_update())


async def approve_delivery(session: AsyncSession, delivery_id: int, actor: Principal) -> Delivery:
    """The approving authority consents (art. 27): the waiting delivery is delivered now, DvP."""
    _registrar(actor)
    await _lock_listing_of(session, delivery_id)
    delivery = await _locked_delivery(session, delivery_id)
    if delivery.status != "awaiting_approval":
        raise DeliveryState(f"the delivery is {delivery.status}, not awaiting approval")
    if delivery.listing_id is not None:
        payable = await _listing_payable(session, delivery.listing_id)
    else:
        assert delivery.agreement_id is not None
        payable = await ledger.account(
            session, agreement_payable_code(delivery.agreement_id), "seller_payable"
        )
    delivery.approved_by = actor.user_id
    await deliver(session, delivery, seller_payable=payable, now=utcnow(), actor=f"user:{actor.user_id}")
    return delivery


async def refuse_delivery(session: AsyncSession, delivery_id: int, reason: str, actor: Principal) -> Delivery:
    """The approving authority refuses the transfer: nothing is delivered, the seller gets the
    quantity back (an auction's line; an agreement's hold is its module's to release). The
    buyer's money is returned by undoing the sale (annulment), which this does not do."""
    _registrar(actor)
    await _lock_listing_of(session, delivery_id)
    delivery = await _locked_delivery(session, delivery_id)
    if delivery.status != "awaiting_approval":
        raise DeliveryState(f"the delivery is {delivery.status}, not awaiting approval")
    who = f"user:{actor.user_id}"
    delivery.status, delivery.approved_by = "refused", actor.user_id
    if delivery.listing_id is not None and delivery.application_id is not None:
        line = (
            await session.execute(
                select(SettlementLine).where(
                    SettlementLine.listing_id == delivery.listing_id,
                    SettlementLine.application_id == delivery.application_id,
                )
            )
        ).scalar_one_or_none()
        if line is not None:
            await release_line(session, line, f"transfer refused: {reason}", who)
    await session.flush()
    await append(
        session,
        STREAM,
        who,
        "registry.delivery_refused",
        {"delivery_id": delivery.id, "reference": delivery.reference, "reason": reason},
    )
    return delivery


async def confirm_permit_change(session: AsyncSession, delivery_id: int, actor: Principal) -> Delivery:
    """The registrar records that the permit (排污许可证 / 取水许可) now names the buyer."""
    _registrar(actor)
    delivery = await _locked_delivery(session, delivery_id)
    if delivery.status != "delivered" or delivery.permit_change != "pending":
        raise DeliveryState("no permit change of this delivery is pending")
    delivery.permit_change = "confirmed"
    await session.flush()
    await append(
        session,
        STREAM,
        f"user:{actor.user_id}",
        "registry.permit_changed",
        {"delivery_id": delivery.id, "reference": delivery.reference},
    )
    return delivery
