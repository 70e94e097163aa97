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

A consortium's purchase (联合竞买, ``listings.consortia``) is delivered into each party's own
holding by its share: the quantity leg credits every party's ``holding:<party>:<i>`` with its part
(``listings.consortium_shares.split``: whole smallest units, largest remainder, ties to the party
listed first, the lead; the parts sum to ``q``), and each party must be eligible (rule 5) and hold
a registry account in its credit code, else the delivery is refused like any other. The delivery
row's ``buyer_id`` stays the lead's holder; the audit entry records the split.

The service fee stays the exchange's (``fee_revenue``); late fees stay owed to the seller in
``late_fee_payable:<L>`` (paid out apart). The delivery row records both transactions' ids; its
reference is unique, so a sale is delivered once. After delivery the permit change (排污许可证 /
取水许可) is ``pending`` until the registrar confirms it (rule 6; 国办发〔2014〕38号 (十一)).

The buyer's eligibility is checked again at every delivery (rule 5): the lot may have expired
since the sale (even before the 00:01 expiry job), the registrar may have corrected where a party
is. A delivery that cannot happen is ``refused`` and the sale undone in the same transaction: the
winner's line is ``annulled`` as an annulment undoes it (nothing forfeited: the winner is not at
fault; price and fee reversed, deposit and payments refunded within 5 WD, references
``refused:<R>:*``), and the quantity goes back to the seller. When the failure comes while a bank
payment is booked or a sale confirmed, only the DvP (run in a SAVEPOINT) is rolled back: the money
is booked, then refunded, and the notice never fails on it (:func:`try_deliver`). Refusing rather
than parking the delivery for an operator: nothing an operator could do makes an expired lot or an
ineligible buyer deliverable, and the buyer's money must not wait on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange import messages
from exchange.after_commit import after_commit
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, ExchangeError, Forbidden, NotFound
from exchange.faults import crash_point
from exchange.identity.tokens import Principal
from listings.consortia import shares_of_application
from listings.consortium_shares import split
from listings.models import Listing
from listings.workdays import local_date
from settlement import ledger
from settlement.lines import load_installments, load_lines, load_settlement, seller_payable_code, set_status
from settlement.models import LedgerAccount
from settlement.notice_models import Notice
from settlement.registry import book
from settlement.registry.eligibility import needs_approval, trade_refusal
from settlement.registry.issuance import holder_of_user
from settlement.registry.models import Agreement, Delivery, Holder, Instrument, Offer, RegistryAccount
from settlement.registry.offers import STREAM, offer_of_listing, release_line
from settlement.settlement_models import Settlement, SettlementLine
from settlement.undo import undo_line

__all__ = [
    "CRASH_POINTS",
    "ConsortiumPart",
    "DeliveryRefused",
    "DeliveryState",
    "agreement_payable_code",
    "approve_delivery",
    "confirm_permit_change",
    "consortium_parts",
    "deliver",
    "on_line_paid",
    "refuse_delivery",
    "sale_reference",
    "try_deliver",
]

CRASH_POINTS = ("dvp:before_quantity", "dvp:between_legs", "dvp:after_legs", "dvp:after_commit")
"""The steps of :func:`deliver` where ``EXCHANGE_CRASH_AT`` kills the process (exchange.faults)."""
SYSTEM = "system"


class DeliveryState(Conflict):
    """The delivery is not in the state the action needs."""

    code = "registry_delivery_state"


class DeliveryRefused(Conflict):
    """The delivery may not happen now (rule 5: eligibility is checked again at delivery); ``code``
    is the problem (``registry_expired``, ``registry_out_of_basin``...)."""

    def __init__(self, code: str, delivery: Delivery) -> None:
        super().__init__(
            f"the delivery {delivery.reference} is refused: {code}",
            code=code,
            delivery_id=delivery.id,
        )


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
    operator; the applicant check refuses such bidders at registration). A delivery that cannot
    happen (the lot expired since, the buyer no longer eligible, the hold short) never fails the
    caller, which is booking a bank payment or confirming a sale: the DvP runs in a SAVEPOINT and,
    when it fails, only it is rolled back and the delivery is ``refused``, the sale undone and the
    buyer refunded (:func:`_refuse_sale`). Idempotent: the sale's delivery, once it exists, is
    returned as it is.
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
    delivery = Delivery(
        reference=reference,
        listing_id=listing.id,
        application_id=line.application_id,
        seller_id=offer.holder_id,
        buyer_id=buyer.id,
        instrument_id=instrument.id,
        quantity=line.quantity if line.quantity is not None else offer.quantity,
        price=await _line_price(session, line),
        status="awaiting_approval",
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    refusal = await _refusal(session, delivery, instrument, local_date(now))
    if refusal is not None:
        await _refuse_sale(session, delivery, refusal, SYSTEM, now)
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
    failure = await try_deliver(
        session, delivery, seller_payable=await _listing_payable(session, listing.id), now=now
    )
    if failure is not None:
        await _refuse_sale(session, delivery, failure, SYSTEM, now)
    return delivery


@dataclass(frozen=True, slots=True)
class ConsortiumPart:
    """One party's part of a consortium's delivery: the registry's documents print each."""

    credit_code: str
    name: str
    share_bp: int
    lead: bool
    quantity: int
    holder: Holder | None
    """``None`` when the party has no registry account in its credit code (never delivered)."""


async def consortium_parts(session: AsyncSession, delivery: Delivery) -> list[ConsortiumPart]:
    """A consortium's parties with their parts of the delivery, the lead first (the split the
    quantity leg books, recomputed from the stored shares); empty for a buyer alone."""
    shares = (
        await shares_of_application(session, delivery.application_id)
        if delivery.application_id is not None
        else []
    )
    if not shares:
        return []
    parts = split(delivery.quantity, [s.share_bp for s in shares])
    codes = [s.credit_code for s in shares]
    found = await session.execute(select(Holder).where(Holder.credit_code.in_(codes)))
    holders = {h.credit_code: h for h in found.scalars()}
    return [
        ConsortiumPart(s.credit_code, s.name, s.share_bp, s.lead, part, holders.get(s.credit_code))
        for s, part in zip(shares, parts, strict=True)
    ]


async def _receivers(session: AsyncSession, delivery: Delivery) -> list[tuple[Holder | None, int]]:
    """Who receives how much: the buyer all of it, or a consortium's parties each its share
    (``None`` for a party without a registry account in its credit code)."""
    parts = await consortium_parts(session, delivery)
    if not parts:
        return [(await session.get(Holder, delivery.buyer_id), delivery.quantity)]
    return [(p.holder, p.quantity) for p in parts]


async def _refusal(
    session: AsyncSession, delivery: Delivery, instrument: Instrument, today: date
) -> str | None:
    """Why the delivery may not happen today (rule 5, again at delivery), or ``None``: the lot
    expired, the buyer (each party of a consortium) out of its region or basin or without an
    account, either party's account not (or no longer) verified by the registrar."""
    seller = await session.get(Holder, delivery.seller_id) if delivery.seller_id is not None else None
    for receiver, _ in await _receivers(session, delivery):
        if receiver is None:
            return "registry_no_account"
        refusal = trade_refusal(instrument, receiver, today, seller=seller)
        if refusal is not None:
            return refusal
    return None


async def try_deliver(
    session: AsyncSession,
    delivery: Delivery,
    *,
    seller_payable: LedgerAccount,
    now: datetime,
    actor: str = SYSTEM,
) -> str | None:
    """:func:`deliver` in a SAVEPOINT: ``None`` once delivered, else the failure's problem code with
    nothing of the DvP posted (the caller's transaction, say a bank payment, goes on and commits).

    Only domain failures (:class:`~exchange.errors.ExchangeError`) are caught: a database error
    still fails the caller, whose retry (the bank's next notice) then finds everything as before.
    """
    try:
        async with session.begin_nested():
            await deliver(session, delivery, seller_payable=seller_payable, now=now, actor=actor)
    except ExchangeError as failure:
        # the savepoint's rollback expired what it had changed: read the row again (async: no lazy loads)
        await session.refresh(delivery)
        await append(
            session,
            STREAM,
            actor,
            "registry.delivery_failed",
            {"delivery_id": delivery.id, "reference": delivery.reference, "reason": failure.code},
        )
        return failure.code
    return None


async def _line_of(session: AsyncSession, delivery: Delivery) -> SettlementLine | None:
    query = select(SettlementLine).where(
        SettlementLine.listing_id == delivery.listing_id,
        SettlementLine.application_id == delivery.application_id,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _refuse_sale(
    session: AsyncSession, delivery: Delivery, reason: str, actor: str, now: datetime
) -> None:
    """A sale's delivery is refused (the registrar's refusal, or a failure at delivery): the
    delivery is ``refused``; the winner's line is undone as an annulment is (nothing forfeited:
    the winner is not at fault; the price and fee reversed, the deposit and every payment refunded
    within 5 WD: :func:`settlement.undo.undo_line`) and ``annulled``; its quantity goes back to the
    seller; the settlement records the reason. An agreement's delivery is only marked: its module
    cancels the agreement and refunds its buyer. The caller holds the listing lock."""
    delivery.status = "refused"
    await session.flush()
    if delivery.listing_id is None:
        return
    line = await _line_of(session, delivery)
    assert line is not None
    text = _reason_text(reason)
    undone: dict[str, object] = {}
    if line.status in ("pending_payment", "paid"):
        undone = await undo_line(
            session,
            line,
            forfeit=0,
            stem=f"refused:{delivery.reference}",
            memo=f"delivery refused: {reason}",
            actor=actor,
        )
        line.status = "annulled"
    await release_line(session, line, f"delivery refused: {reason}", actor)
    settlement = await load_settlement(session, delivery.listing_id)
    assert settlement is not None
    settlement.annulled_reason = text
    set_status(settlement, await load_lines(session, delivery.listing_id), now)
    listing = await session.get(Listing, delivery.listing_id)
    assert listing is not None
    session.add(
        Notice(
            user_id=line.bidder_id,
            listing_id=listing.id,
            kind="delivery_refused",
            title="交割未完成通知",
            body=f"您竞得的标的（{listing.title}）未能交割（{text}），成交无效。"
            "已付款项和保证金于5个工作日内全额退还。",
            created_at=now,
        )
    )
    await session.flush()
    await append(
        session,
        listing.stream,
        actor,
        "settlement.delivery_refused",
        {**undone, "application_id": line.application_id, "reason": reason},
    )
    await append(
        session,
        STREAM,
        actor,
        "registry.delivery_refused",
        {"delivery_id": delivery.id, "reference": delivery.reference, "reason": reason},
    )


def _reason_text(reason: str) -> str:
    """A problem code in words (the settlement's reason is shown on the result page); free text as it is."""
    return (
        f"交割未完成：{messages.detail(reason, 'zh')}" if messages.known(reason) else f"交割未完成：{reason}"
    )


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

    Checks the buyer's eligibility again first (rule 5: an instrument that expired since the sale,
    even before the 00:01 expiry job, is not delivered): :class:`DeliveryRefused` (409, the
    problem's code). Raises ``registry_insufficient`` (409) when the hold no longer has the
    quantity; a delivery already delivered is left as it is. A caller that must not fail on
    these runs it through :func:`try_deliver`.
    """
    if delivery.status == "delivered":
        return
    reference = delivery.reference
    instrument = await session.get(Instrument, delivery.instrument_id)
    assert instrument is not None
    problem = await _refusal(session, delivery, instrument, local_date(now))
    if problem is not None:
        raise DeliveryRefused(problem, delivery)
    crash_point("dvp:before_quantity")
    hold = await _hold_of(session, delivery)
    transit = await book.account(session, "transit", delivery.instrument_id)
    receivers = [(r, part) for r, part in await _receivers(session, delivery) if r is not None and part > 0]
    holdings = [
        (await book.account(session, "holding", delivery.instrument_id, holder_id=r.id), part)
        for r, part in receivers
    ]
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
        legs=[(transit, q), (hold, -q), *holdings, (transit, -q)],
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
        }
        | (  # a consortium's parts, by share
            {"split": [{"holder_id": r.id, "quantity": part} for r, part in receivers]}
            if len(receivers) > 1
            else {}
        ),
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
    """The approving authority consents (art. 27): the waiting delivery is delivered now, DvP.

    A buyer no longer eligible (the lot expired while the delivery waited) is refused with 409 and
    the problem's code (:func:`deliver`): the registrar then refuses the delivery, which undoes it."""
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
    quantity back and an auction's winner its money (the sale undone, nothing forfeited:
    :func:`_refuse_sale`), in this transaction; an agreement's module cancels the agreement and
    refunds its buyer (:func:`settlement.registry.agreements.refuse_agreement_delivery`)."""
    _registrar(actor)
    await _lock_listing_of(session, delivery_id)
    delivery = await _locked_delivery(session, delivery_id)
    if delivery.status != "awaiting_approval":
        raise DeliveryState(f"the delivery is {delivery.status}, not awaiting approval")
    delivery.approved_by = actor.user_id
    who = f"user:{actor.user_id}"
    await _refuse_sale(session, delivery, reason, who, utcnow())
    if delivery.listing_id is None:
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
