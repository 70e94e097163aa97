"""Settlement at the close: an auction's outcome becomes ledger postings, exactly once.

Accounts (kinds of :mod:`settlement.models`; debit positive, credit negative):

- ``deposit:<A>`` (liability): the bidder's deposit, a credit balance;
- ``receivable:<L>:<A>`` (asset): what winner application ``A`` of listing
  ``L`` still owes; its debit balance is the outstanding amount;
- ``seller_payable:<L>`` (liability): what the exchange owes the seller
  (出让人) of listing ``L``; ``fee_revenue`` (revenue): the exchange's fees.

Postings, each keyed by its reference (``P`` the line's price, ``F`` its
fee, ``D`` the deposit applied, ``I`` the installments' interest, ``X`` a
payment, ``T`` a tracked payment, ``LF`` late fees, ``K`` the deposit
forfeited):

========================  ====================================================  ====================================
event                     entries                                               reference
========================  ====================================================  ====================================
price due                 Dr receivable:<L>:<A> P / Cr seller_payable:<L> P     ``settle:<L>:<A>:price``
service fee               Dr receivable:<L>:<A> F / Cr fee_revenue F            ``settle:<L>:<A>:fee``
deposit applied (定金)     Dr deposit:<A> D / Cr receivable:<L>:<A> D            ``settle:<L>:<A>:deposit``
other deposits            Dr deposit:<B> / Cr refunds_payable (5 WD refund)     ``release:<B>:<n>``
instalment interest       Dr receivable I / Cr seller_payable I                 ``settle:<L>:<A>:interest``
payment received          Dr bank_clearing X / Cr receivable (/ Cr suspense)    ``bank:<txn_id>``
  any excess refunded     Dr suspense / Cr refunds_payable                      ``suspense_refund:bank:<txn_id>``
payment tracked (税务)     Dr seller_payable T / Cr receivable T                 ``collection:<reference>``
late fees (day end)       Dr receivable / Cr late_fee_payable:<L> (the change)  ``late_fee:<L>:<A>:<date>``
rescission: sale undone   Dr seller_payable P+I, Dr fee_revenue F / Cr recv.    ``rescind:<L>:<A>:reverse``
rescission: late fees     Dr late_fee_payable LF / Cr receivable LF             ``rescind:<L>:<A>:late_fees``
rescission: 定金 lost      Dr receivable K / Cr seller_payable K                 ``rescind:<L>:<A>:forfeit``
rescission: deposit back  Dr receivable D-K / Cr refunds_payable (5 WD)         ``rescind:<L>:<A>:deposit``
rescission: payments      Dr receivable X / Cr refunds_payable (5 WD)           ``rescind:<L>:<A>:refund``
rescission: tracked       Dr receivable T / Cr seller_payable T                 ``rescind:<L>:<A>:tracked``
annulment                 as a rescission with K = 0                            ``annul:<L>:<A>:...``
========================  ====================================================  ====================================

So after the close ``balance(receivable) = P + F - D`` (the amount due)
minus payments, plus interest and late fees once they are charged; a paid
line's receivable is 0. After a rescission (:mod:`settlement.followup`) the
receivable is 0 again, the seller is owed exactly the forfeited deposit
``K = min(D, 20% of P)`` (Civil Code art. 586; the late fees are reversed,
art. 588), the fee is not earned, the rest of the deposit and whatever the
winner had paid to the exchange is refunded within 5 WD, and tracked
payments are reversed (the tax bureau refunds them). Settlements in
``default`` (the instant default of earlier versions, references
``default:<L>:<A>:...``) stay as they were booked. Paying the seller out is
a later posting (Dr seller_payable / Cr bank_clearing), not part of this
module.

Line price: a single-unit mechanism's winner owes its price; a multi-unit
winner owes ``unit price x quantity / scale`` summed over its allocations
(``scale`` from :func:`auctions.terms.quantity_scale`), computed exactly and
rounded once to the fen, half up. The deposit applied is at most the price;
any excess is released like a loser's.

Under post-qualification (资格后审) a sale first waits in ``review``: the close
releases the other deposits as usual but opens no line, so no confirmation
is issued, until an operator has reviewed the winner (:mod:`settlement.review`
opens the lines with :func:`open_lines`, or fails the sale).

Exactly once: :func:`settle` takes the listing's row lock (the order every
writer of a listing uses), then claims the listing's ``settlements`` row by
primary key. A second caller, concurrent or after a crash, finds the row and
returns it. Everything runs in the caller's transaction; the postings, the
rows and the audit entries commit together or not at all.

The postings of payments are booked by :mod:`settlement.payments` (and
:mod:`settlement.tracked`), those after the 公示 (confirmation, interest, late
fees, rescission) by :mod:`settlement.followup`, the relisting after a
rescission by :mod:`settlement.defaults`; the rows and account codes they
share are in :mod:`settlement.lines`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auctions.mechanisms import Outcome
from auctions.models import Auction
from auctions.terms import quantity_scale
from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.db import is_postgres, unit_of_work
from exchange.settings import SettlementSettings
from exchange.settlement_terms import PaymentTerms, terms_to_json
from exchange.vocabulary import ListingOutcome, SettlementStatus
from listings.applications_models import Application
from listings.models import Listing
from listings.workdays import local_date
from settlement import deposits, ledger
from settlement.fees import round_half_up, service_fee
from settlement.followup import catch_up, confirm_if_due, listing_terms
from settlement.lines import (
    FEE_REVENUE,
    SYSTEM,
    account_number,
    load_settlement,
    lock_listing,
    publicity_end,
    receivable_code,
    seller_payable_code,
)
from settlement.models import LedgerAccount
from settlement.registry import offers as registry_offers
from settlement.schedule import rent_total
from settlement.settlement_models import Settlement, SettlementLine

__all__ = [
    "line_price",
    "open_lines",
    "pending_ids",
    "record_opened",
    "settle",
    "settle_listing",
    "settle_pending",
    "sweep",
]

log = logging.getLogger("settlement.closing")


def line_price(allocations: Iterable[tuple[int, int | None]], scale: int) -> int:
    """Fen owed for ``(price, quantity)`` allocations: price alone, or unit price x quantity / scale.

    Summed exactly, rounded once, half up.
    """
    total = Fraction(0)
    for price, quantity in allocations:
        total += price if quantity is None else Fraction(price * quantity, scale)
    return round_half_up(total)


async def _claim(session: AsyncSession, values: dict[str, Any]) -> Settlement | None:
    """Insert the settlement row; ``None`` if it exists (the primary key decides, whoever races)."""
    insert = pg_insert if is_postgres(session) else sqlite_insert
    inserted = await session.execute(
        insert(Settlement)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["listing_id"])
        .returning(Settlement.listing_id)
    )
    if inserted.scalar_one_or_none() is None:
        return None
    return await load_settlement(session, values["listing_id"])


async def settle(
    session: AsyncSession, listing_id: int, terms: SettlementSettings, *, now: datetime | None = None
) -> Settlement | None:
    """Settle a closed, failed or cancelled listing once; the existing settlement if already done.

    ``None`` while the listing is not final (or does not exist). Never commits.
    """
    settlement, _ = await _settle(session, listing_id, terms, now or utcnow())
    return settlement


async def _settle(
    session: AsyncSession, listing_id: int, terms: SettlementSettings, now: datetime
) -> tuple[Settlement | None, bool]:
    listing = await lock_listing(session, listing_id)
    if listing is None:
        return None, False
    existing = await load_settlement(session, listing_id)
    if existing is not None:
        return existing, False
    auction = await session.get(Auction, listing_id, populate_existing=True)
    decided = auction.decoded_outcome if auction is not None else None
    outcome: ListingOutcome
    if auction is not None and auction.status in ("closed", "failed") and decided is not None:
        outcome = "sold" if auction.status == "closed" else "failed"
    elif listing.status == "cancelled":
        outcome, decided = "cancelled", None
    else:
        return None, False
    first: SettlementStatus = "released"
    if outcome == "sold":
        first = "review" if listing.qualification == "post" else "publicity"
    settlement = await _claim(
        session,
        {
            "listing_id": listing_id,
            "status": first,
            "outcome": outcome,
            "price": decided.price if decided else None,
            "reason": decided.reason if decided else None,
            "decided_at": auction.closed_at if auction is not None and decided else None,
            # The outcome's JSON as the auction stored it, not re-encoded.
            "summary": auction.outcome if auction is not None and decided else None,
            "created_at": now,
            "updated_at": now,
        },
    )
    if settlement is None:  # only without the listing lock (SQLite serialises instead)
        return await load_settlement(session, listing_id), False
    if outcome == "sold":
        assert decided is not None
        await _settle_sale(session, listing, settlement, decided, terms, now)
    else:
        await deposits.release_all(session, listing, now)
        await registry_offers.release_listing(session, listing_id, f"sale {outcome}", SYSTEM)
        await append(session, listing.stream, SYSTEM, "settlement.released", {"outcome": outcome})
    return settlement, True


async def _settle_sale(
    session: AsyncSession,
    listing: Listing,
    settlement: Settlement,
    outcome: Outcome,
    terms: SettlementSettings,
    now: datetime,
) -> None:
    applications = list(
        (
            await session.execute(
                select(Application)
                .where(Application.listing_id == listing.id)
                .order_by(Application.id)  # one order on every database: the audit chain records it
                .with_for_update()
            )
        ).scalars()
    )
    by_number = {a.bid_number: a for a in applications if a.bid_number}
    missing = {w.bidder for w in outcome.winners} - set(by_number)
    if missing:
        raise RuntimeError(
            f"listing {listing.id}: no application behind winning bid numbers {sorted(missing)}"
        )
    winners = {by_number[w.bidder].id for w in outcome.winners}
    if any(w.quantity is not None for w in outcome.winners):  # a multi-unit sale: the rest goes back
        sold = sum(w.quantity or 0 for w in outcome.winners)
        await registry_offers.release_unsold(session, listing.id, sold, SYSTEM)
    review = settlement.status == "review"
    lines = [] if review else await open_lines(session, listing, settlement, by_number, terms, now)
    for application in applications:
        if application.id in winners:
            continue
        if application.status != "rejected":
            application.status = "closed"
        await _release(session, listing, application.id, "not a winner", now)
    if review:
        numbers = sorted({w.bidder for w in outcome.winners})
        await append(session, listing.stream, SYSTEM, "settlement.review", {"bid_numbers": numbers})
    else:
        since = local_date(outcome.decided_at)
        await record_opened(session, listing, settlement, lines, now, since=since, terms=terms)


async def open_lines(
    session: AsyncSession,
    listing: Listing,
    settlement: Settlement,
    by_number: dict[str, Application],
    terms: SettlementSettings,
    now: datetime,
) -> list[SettlementLine]:
    """A line per winner of the settled outcome (``by_number``: the applications behind the bid
    numbers): the price due, the fee, the deposit applied and a copy of the listing's payment
    terms. The installments wait for the anchor event (:mod:`settlement.followup`). The caller
    holds the listing's lock, and records them (:func:`record_opened`)."""
    outcome = settlement.decoded_summary
    assert outcome is not None
    scale = quantity_scale(listing.asset_class)
    allocations: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for winner in outcome.winners:
        allocations[winner.bidder].append((winner.price, winner.quantity))
    payment_terms = listing_terms(listing, terms)
    lines = []
    for number in sorted(allocations):
        parts = allocations[number]
        quantities = [q for _, q in parts if q is not None]
        lines.append(
            await _open_line(
                session,
                listing,
                by_number[number],
                number,
                price=rent_total(line_price(parts, scale), payment_terms),
                quantity=sum(quantities) if quantities else None,
                payment_terms=payment_terms,
                terms=terms,
                now=now,
            )
        )
    return lines


async def record_opened(
    session: AsyncSession,
    listing: Listing,
    settlement: Settlement,
    lines: list[SettlementLine],
    now: datetime,
    *,
    since: date,
    terms: SettlementSettings,
) -> None:
    """The 公示 of the sale (``publicity`` until ``publicity_ends_at``, counted from ``since``), the
    audit entry of the sale settled, and the confirmation at once when there is no 公示."""
    days = listing.publicity_working_days or 0
    settlement.status, settlement.updated_at = "publicity", now
    settlement.publicity_starts_at = now
    settlement.publicity_ends_at = publicity_end(now, since, days, terms.profile)
    await append(
        session,
        listing.stream,
        SYSTEM,
        "settlement.opened",
        {
            "price": settlement.price,
            "status": settlement.status,
            "lines": len(lines),
            "publicity_ends_at": settlement.publicity_ends_at.isoformat(),
        },
    )
    await confirm_if_due(session, listing, settlement, now)


async def _release(
    session: AsyncSession, listing: Listing, application_id: int, reason: str, now: datetime
) -> None:
    refund = await ledger.release_deposit(
        session, application_id=application_id, reason=reason, actor=SYSTEM, now=now
    )
    if refund is not None:
        await append(
            session,
            listing.stream,
            SYSTEM,
            "deposit.released",
            {
                "application_id": application_id,
                "amount": refund.amount,
                "refund_id": refund.id,
                "due_date": refund.due_date.isoformat(),
            },
        )


async def _open_line(
    session: AsyncSession,
    listing: Listing,
    application: Application,
    bid_number: str,
    *,
    price: int,
    quantity: int | None,
    payment_terms: PaymentTerms,
    terms: SettlementSettings,
    now: datetime,
) -> SettlementLine:
    deposit = await ledger.find_account(session, ledger.deposit_code(application.id))
    held = 0
    if deposit is not None:
        await session.execute(
            select(LedgerAccount.id).where(LedgerAccount.id == deposit.id).with_for_update()
        )
        held = -await ledger.balance(session, deposit.id)
    applied = max(0, min(held, price))
    fee = service_fee(listing.asset_class, price, terms.fee_schedules)
    line = SettlementLine(
        listing_id=listing.id,
        application_id=application.id,
        bidder_id=application.bidder_id,
        bid_number=bid_number,
        quantity=quantity,
        price=price,
        deposit_applied=applied,
        fee=fee,
        amount_due=price + fee - applied,
        payment_account=account_number("63"),
        status="pending_payment",
        created_at=now,
        terms=terms_to_json(payment_terms),
    )
    session.add(line)
    await session.flush()
    receivable = await ledger.account(
        session,
        receivable_code(listing.id, application.id),
        "receivable",
        application_id=application.id,
        listing_id=listing.id,
    )
    seller = await ledger.account(
        session, seller_payable_code(listing.id), "seller_payable", listing_id=listing.id
    )
    stem = f"settle:{listing.id}:{application.id}"
    postings: list[tuple[str, str, int, list[ledger.Leg]]] = [
        ("price_due", "price", price, [(receivable, price), (seller, -price)]),
    ]
    if fee:
        revenue = await ledger.account(session, FEE_REVENUE, "fee_revenue")
        postings.append(("fee_charged", "fee", fee, [(receivable, fee), (revenue, -fee)]))
    if applied and deposit is not None:
        postings.append(("deposit_applied", "deposit", applied, [(deposit, applied), (receivable, -applied)]))
    for kind, suffix, amount, legs in postings:
        if amount:
            await ledger.post_once(
                session,
                kind=kind,
                reference=f"{stem}:{suffix}",
                legs=legs,
                listing_id=listing.id,
                actor=SYSTEM,
            )
    if held > applied:
        await _release(session, listing, application.id, "deposit in excess of the price", now)
    if line.amount_due == 0:
        line.status, line.paid_at = "paid", now
    await session.flush()
    await append(
        session,
        listing.stream,
        SYSTEM,
        "settlement.line",
        {
            "application_id": application.id,
            "bid_number": bid_number,
            "quantity": quantity,
            "price": price,
            "fee": fee,
            "deposit_applied": applied,
            "amount_due": line.amount_due,
            "anchor": payment_terms.anchor,
        },
    )
    return line


# -- sweeps ---------------------------------------------------------------------------------------


async def pending_ids(session: AsyncSession) -> list[int]:
    """Listings that closed, failed or were cancelled after publication and have no settlement yet."""
    unsettled = ~exists().where(Settlement.listing_id == Listing.id)
    query = (
        select(Listing.id)
        .outerjoin(Auction, Auction.listing_id == Listing.id)
        .where(
            unsettled,
            (Auction.status.in_(("closed", "failed")))
            | ((Listing.status == "cancelled") & Listing.published_at.is_not(None)),
        )
        .order_by(Listing.id)
    )
    return list((await session.execute(query)).scalars())


async def settle_pending(sessions: async_sessionmaker[AsyncSession], terms: SettlementSettings) -> int:
    """Settle every listing that needs it, each in its own transaction; returns how many this call settled.

    The start-up catch-up and the periodic sweep: a crash between a close and
    its settlement is settled here, once (see :func:`settle`).
    """
    async with sessions() as session:
        ids = await pending_ids(session)
    settled = 0
    for listing_id in ids:
        try:
            async with unit_of_work(sessions) as session:
                _, created = await _settle(session, listing_id, terms, utcnow())
        except Exception:
            log.exception("settling listing %s failed; the next sweep retries", listing_id)
            continue
        settled += created
    return settled


async def settle_listing(
    sessions: async_sessionmaker[AsyncSession], terms: SettlementSettings, listing_id: int
) -> None:
    """Settle one listing in its own transaction, right after its close; failures are left to the sweep."""
    try:
        async with unit_of_work(sessions) as session:
            await _settle(session, listing_id, terms, utcnow())
    except Exception:
        log.exception("settling listing %s failed; the next sweep retries", listing_id)


async def sweep(sessions: async_sessionmaker[AsyncSession], terms: SettlementSettings) -> None:
    """The periodic job: settle what closed, confirm the sales whose 公示 is over, and catch up the
    day-end follow-up once a day (late fees, reminders, rescission proposals; idempotent per day)."""
    await settle_pending(sessions, terms)
    await catch_up(sessions)
