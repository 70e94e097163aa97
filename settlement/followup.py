"""After the hammer: the 公示, the confirmation, the contract, late fees, reminders and rescission.

The flow of a sold settlement (statuses of :data:`exchange.vocabulary.SettlementStatus`):

1. The close (or the passed review) opens the lines and puts the settlement in ``publicity``
   until ``publicity_ends_at`` (:func:`publicity_end`): the end of the listing's
   ``publicity_working_days``-th working day after the Shanghai date of the close (or of the
   review), i.e. Shanghai midnight of the next day. Under the sandbox profile those working days
   are seconds from the opening; 0 means no 公示.
2. :func:`confirm_if_due` (the periodic sweep, under the listing lock, exactly once): when the
   公示 is over and no objection blocks it (``settlement.objections.blocks_confirmation``), the
   sale is confirmed (``confirmed_at``; the 成交确认书 is due) and the contract is due within
   ``contract_working_days`` WD (``contract_due_on``). Terms anchored on the confirmation get
   their installments now (``pending_payment``); terms anchored on the contract wait in
   ``awaiting_contract`` until an operator records the signing (:func:`sign_contract`).
3. The day-end job (:func:`day_end`; daily after Shanghai midnight, and the periodic sweep as
   catch-up) handles each line still owing money, for the day that has just ended:

   - late fees (:mod:`settlement.late_fees`): the increase since the last posting is posted as
     ``Dr receivable:<L>:<A> / Cr late_fee_payable:<L>`` (owed to the seller), reference
     ``late_fee:<L>:<A>:<date>``, so the receivable includes the fees (a backdated tracked
     payment may lower the total: the difference is then posted the other way);
   - reminders: a ``payment_reminders`` row (and an in-app notice to the winner) per overdue
     installment on the first day it is overdue and then every 7 days; the documents part
     issues a 催缴通知书 per row;
   - when an installment is overdue more than ``grace_days`` (land 60) days, rescission is
     proposed once (``rescission_proposed_at``, a ``rescission_proposed`` row and a notice).
     Nothing is forfeited automatically.

4. An operator confirms a proposed rescission (:func:`rescind`): the sale is undone; the
   deposit applied is forfeited to the seller up to 20% of the line's price (Civil Code art.
   586: 定金 may not exceed 20% of the contract's value); the rest of the deposit and every
   payment is refunded within 5 WD; the accrued late fees are reversed (Civil Code art. 588: the
   creditor takes the 定金 or the 违约金, not both: the exchange applies the 定金). Tracked
   payments (collected by the tax bureau) are reversed in the ledger; the authority refunds them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.errors import Conflict, Unprocessable, field_error
from exchange.settings import SettlementSettings
from exchange.settlement_terms import DEFAULT_PAYMENT_TERMS, PaymentTerms, terms_from_json
from listings.models import Listing
from listings.services import terms_of
from listings.workdays import add_working_days, local_date, working_day_on_or_after
from settlement import ledger
from settlement.late_fees import Due, accrued, overdue_on
from settlement.lines import (
    FEE_LABEL,
    SYSTEM,
    TRACKED_CLASSES,
    WAITING,
    late_fee_code,
    load_lines,
    load_settlement,
    lock_line,
    lock_listing,
    locked_settlement,
    mark_installments,
    payments_by_date,
    receivable_code,
    seller_payable_code,
    set_status,
)
from settlement.notice_models import Notice, PaymentReminder
from settlement.objections import blocks_confirmation
from settlement.registry import delivery as registry_delivery
from settlement.registry import offers as registry_offers
from settlement.schedule import plan
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine
from settlement.undo import undo_line

__all__ = [
    "FORFEIT_CAP",
    "REMINDER_EVERY_DAYS",
    "catch_up",
    "confirm_each",
    "confirm_if_due",
    "confirm_pending",
    "day_end",
    "follow_line",
    "forfeitable",
    "line_terms",
    "listing_terms",
    "propose_unsigned",
    "rescind",
    "run_day_end",
    "sign_contract",
]

log = logging.getLogger("settlement.followup")

REMINDER_EVERY_DAYS = 7
FORFEIT_CAP = (20, 100)
"""定金 at most 20% of the contract's value (Civil Code art. 586)."""


def listing_terms(listing: Listing, settings: SettlementSettings) -> PaymentTerms:
    """The listing's payment terms (frozen at publication), or its class's default for older listings."""
    return terms_of(listing, settings.payment_terms)


def line_terms(line: SettlementLine, asset_class: str) -> PaymentTerms:
    return terms_from_json(line.terms) if line.terms else DEFAULT_PAYMENT_TERMS[asset_class]


async def _notify(
    session: AsyncSession, user_id: int, listing_id: int, kind: str, title: str, body: str, now: datetime
) -> None:
    session.add(
        Notice(user_id=user_id, listing_id=listing_id, kind=kind, title=title, body=body, created_at=now)
    )


async def _create_installments(
    session: AsyncSession, listing: Listing, line: SettlementLine, anchor_on: date, actor: str
) -> None:
    terms = line_terms(line, listing.asset_class)
    rows = plan(
        terms,
        price=line.price,
        fee=line.fee,
        deposit_applied=line.deposit_applied,
        anchor_on=anchor_on,
        fee_apart=listing.asset_class in TRACKED_CLASSES,  # the price goes to the tax bureau
        with_interest=line.status != "paid",  # paid in full before the anchor: nothing to bear interest
    )
    session.add_all(
        SettlementInstallment(
            line_id=line.id,
            seq=i.seq,
            label=i.label,
            due_date=i.due_date,
            amount=i.amount,
            interest=i.interest,
            status="pending",
        )
        for i in rows
    )
    interest = sum(i.interest for i in rows)
    if interest:
        receivable = await ledger.account(
            session, receivable_code(listing.id, line.application_id), "receivable"
        )
        seller = await ledger.account(session, seller_payable_code(listing.id), "seller_payable")
        await ledger.post_once(
            session,
            kind="interest_charged",
            reference=f"settle:{listing.id}:{line.application_id}:interest",
            legs=[(receivable, interest), (seller, -interest)],
            listing_id=listing.id,
            memo="instalment interest",
            actor=actor,
        )
    await session.flush()
    await mark_installments(session, line)
    if (
        line.status == "pending_payment"
        and await ledger.balance(session, receivable_code(listing.id, line.application_id)) <= 0
    ):
        line.status, line.paid_at = "paid", utcnow()
    await append(
        session,
        listing.stream,
        actor,
        "settlement.installments",
        {
            "application_id": line.application_id,
            "anchor_on": anchor_on.isoformat(),
            "installments": [
                {
                    "label": i.label,
                    "due_date": i.due_date.isoformat(),
                    "amount": i.amount,
                    "interest": i.interest,
                }
                for i in rows
            ],
        },
    )


async def confirm_if_due(
    session: AsyncSession, listing: Listing, settlement: Settlement, now: datetime
) -> bool:
    """Confirm the sale if its 公示 is over and no objection blocks it; the caller holds the listing lock."""
    if settlement.status != "publicity" or settlement.publicity_ends_at is None:
        return False
    if settlement.publicity_ends_at > now or await blocks_confirmation(session, listing.id):
        return False
    lines = await load_lines(session, listing.id)
    terms = line_terms(lines[0], listing.asset_class) if lines else DEFAULT_PAYMENT_TERMS[listing.asset_class]
    confirmed_on = local_date(now)
    settlement.confirmed_at, settlement.updated_at = now, now
    settlement.contract_due_on = add_working_days(confirmed_on, terms.contract_working_days)
    if terms.anchor == "confirmation":
        settlement.status = "pending_payment"
        for line in lines:
            if line.status in ("pending_payment", "paid"):
                await _create_installments(session, listing, line, confirmed_on, SYSTEM)
    else:
        settlement.status = "awaiting_contract"
    set_status(settlement, lines, now)
    for line in lines:
        if line.status == "paid":  # paid during the 公示 (or by the deposit alone): delivered now
            await registry_delivery.on_line_paid(session, listing, line, now)
    await append(
        session,
        listing.stream,
        SYSTEM,
        "settlement.confirmed",
        {
            "status": settlement.status,
            "contract_due_on": settlement.contract_due_on.isoformat(),
            "anchor": terms.anchor,
        },
    )
    for line in lines:
        await _notify(
            session,
            line.bidder_id,
            listing.id,
            "confirmed",
            "成交确认",
            f"您竞得的标的（{listing.title}）公示期满，成交已确认。"
            + (
                f"请于{settlement.contract_due_on.isoformat()}前签订合同。"
                if terms.anchor == "contract"
                else "请按付款计划按期付款。"
            ),
            now,
        )
    return True


async def confirm_pending(session: AsyncSession, now: datetime) -> int:
    """Confirm every settlement whose 公示 is over (each re-checked under its listing lock)."""
    query = (
        select(Settlement.listing_id)
        .where(Settlement.status == "publicity", Settlement.publicity_ends_at <= now)
        .order_by(Settlement.listing_id)
    )
    count = 0
    for listing_id in list((await session.execute(query)).scalars()):
        listing = await lock_listing(session, listing_id)
        settlement = await load_settlement(session, listing_id)
        if listing is not None and settlement is not None:
            count += await confirm_if_due(session, listing, settlement, now)
    return count


async def confirm_each(sessions: async_sessionmaker[AsyncSession], now: datetime) -> bool:
    """:func:`confirm_pending`, each settlement in its own transaction: one that cannot be confirmed
    yet (say its contract deadline falls in a year no calendar covers) does not hold back the
    others. Returns whether every one succeeded."""
    async with sessions() as session:
        query = select(Settlement.listing_id).where(
            Settlement.status == "publicity", Settlement.publicity_ends_at <= now
        )
        due = sorted((await session.execute(query)).scalars())
    ok = True
    for listing_id in due:
        try:
            async with unit_of_work(sessions) as session:
                listing = await lock_listing(session, listing_id)
                settlement = await load_settlement(session, listing_id)
                if listing is not None and settlement is not None:
                    await confirm_if_due(session, listing, settlement, now)
        except Exception:
            ok = False
            log.exception("confirming the sale of listing %s failed; the next run retries", listing_id)
    return ok


async def sign_contract(session: AsyncSession, listing_id: int, signed_on: date, actor: str) -> Settlement:
    """Record the contract signing of a settlement ``awaiting_contract``; installments count from it."""
    listing, settlement = await locked_settlement(session, listing_id)
    if settlement.status != "awaiting_contract":
        raise Conflict(
            f"this settlement does not wait for a contract; it is {settlement.status}",
            code="contract_not_expected",
        )
    now = utcnow()
    assert settlement.confirmed_at is not None
    confirmed_on = local_date(settlement.confirmed_at)
    if signed_on > local_date(now) or signed_on < confirmed_on:
        raise Unprocessable(
            f"signed_on must lie between the confirmation ({confirmed_on.isoformat()}) and today",
            code="contract_date_invalid",
            errors=[field_error("signed_on", "between the confirmation and today", "contract_date_invalid")],
        )
    settlement.contract_signed_on, settlement.status, settlement.updated_at = (
        signed_on,
        "pending_payment",
        now,
    )
    lines = await load_lines(session, listing_id)
    for line in lines:
        if line.status in ("pending_payment", "paid"):
            await _create_installments(session, listing, line, signed_on, actor)
    set_status(settlement, lines, now)
    await append(
        session, listing.stream, actor, "settlement.contract_signed", {"signed_on": signed_on.isoformat()}
    )
    return settlement


# -- the day-end job ------------------------------------------------------------------------------


async def _last_reminder(session: AsyncSession, line_id: int, seq: int) -> date | None:
    query = select(func.max(PaymentReminder.issued_on)).where(
        PaymentReminder.line_id == line_id, PaymentReminder.installment_seq == seq
    )
    found = (await session.execute(query)).scalar_one_or_none()
    return found if isinstance(found, date) else None


async def _claims(
    session: AsyncSession, line: SettlementLine, rows: list[SettlementInstallment]
) -> list[tuple[list[Due], list[tuple[date, int]]]]:
    """The line's installments with the payments that pay them: all of them, or for a tracked line
    the fee (paid to the exchange) and the price (tracked payments) apart (:func:`split_by_channel`)."""
    dues = [(r.label, Due(r.seq, r.due_date, r.amount)) for r in rows]
    if not any(label == FEE_LABEL for label, _ in dues):
        return [([d for _, d in dues], await payments_by_date(session, line))]
    return [
        (
            [d for label, d in dues if label == FEE_LABEL],
            await payments_by_date(session, line, ["payment_received"]),
        ),
        (
            [d for label, d in dues if label != FEE_LABEL],
            await payments_by_date(session, line, ["payment_tracked"]),
        ),
    ]


async def _follow_line(
    session: AsyncSession, listing: Listing, line: SettlementLine, now: datetime
) -> dict[str, Any]:
    today = local_date(now)
    day = today - timedelta(days=1)  # the day that has just ended
    terms = line_terms(line, listing.asset_class)
    rows = [r for r in await mark_installments(session, line) if r.status != "void"]
    claims = await _claims(session, line, rows)
    total = sum(accrued(dues, paid, terms.late_fee_per_mille, day) for dues, paid in claims)
    done: dict[str, Any] = {"late_fees": 0, "reminders": 0, "proposed": False}
    if total != line.late_fees:
        change = total - line.late_fees
        receivable = await ledger.account(
            session, receivable_code(listing.id, line.application_id), "receivable"
        )
        payable = await ledger.account(
            session, late_fee_code(listing.id), "seller_payable", listing_id=listing.id
        )
        reference = f"late_fee:{listing.id}:{line.application_id}:{day.isoformat()}"
        if await ledger.transaction_by_reference(session, reference) is not None:
            # the day's total changed after it was posted (a backdated tracked payment)
            reference = f"{reference}:{total}"
        _, created = await ledger.post_once(
            session,
            kind="late_fee_charged" if change > 0 else "late_fee_adjusted",
            reference=reference,
            legs=[(receivable, change), (payable, -change)],
            listing_id=listing.id,
            memo=f"late fees through {day.isoformat()}: {total}",
            actor=SYSTEM,
        )
        if created:
            line.late_fees = total
            done["late_fees"] = change
    overdue = [o for dues, paid in claims for o in overdue_on(dues, paid, day)]
    propose = (
        line.rescission_proposed_at is None
        and bool(overdue)
        and max(o.days for o in overdue) > terms.grace_days
    )
    for o in overdue:
        last = await _last_reminder(session, line.id, o.seq)
        first_of_proposal = propose and o is max(overdue, key=lambda x: x.days)
        if not first_of_proposal and last is not None and (today - last).days < REMINDER_EVERY_DAYS:
            continue
        if last == today:
            continue
        kind = "rescission_proposed" if first_of_proposal else "reminder"
        session.add(
            PaymentReminder(
                listing_id=listing.id,
                application_id=line.application_id,
                line_id=line.id,
                installment_seq=o.seq,
                issued_on=today,
                overdue_amount=o.unpaid,
                late_fee_accrued=total,
                days_overdue=o.days,
                kind=kind,
                created_at=now,
            )
        )
        done["reminders"] += 1
        title = "拟解除合同通知" if kind == "rescission_proposed" else "催缴通知"
        body = (
            f"您竞得的标的（{listing.title}）第{o.seq}期款项逾期{o.days}日，未付{o.unpaid / 100:.2f}元，"
            f"已产生违约金{total / 100:.2f}元。"
            + (
                "逾期已超过宽限期，交易机构拟报请解除合同。"
                if kind == "rescission_proposed"
                else "请尽快付款。"
            )
        )
        await _notify(session, line.bidder_id, listing.id, kind, title, body, now)
    if propose:
        line.rescission_proposed_at = now
        done["proposed"] = True
    if any(done.values()):
        await session.flush()
        await append(
            session,
            listing.stream,
            SYSTEM,
            "settlement.follow_up",
            {"application_id": line.application_id, "day": day.isoformat(), "late_fees": total, **done},
        )
    return done


async def propose_unsigned(session: AsyncSession, now: datetime) -> int:
    """Propose the rescission of every sale whose contract was not signed by its deadline (the
    announcement: "逾期不签订的，保证金不予退还"); an operator confirms it as any other (the 定金
    capped as always). A deadline on a weekend or holiday moves to the next working day (Civil Code
    art. 203). Returns how many lines were proposed. Never commits."""
    today = local_date(now)
    query = (
        select(Settlement.listing_id, Settlement.contract_due_on)
        .where(Settlement.status == "awaiting_contract", Settlement.contract_due_on < today)
        .order_by(Settlement.listing_id)
    )
    proposed = 0
    for listing_id, due in (await session.execute(query)).all():
        if due is None or working_day_on_or_after(due) >= today:
            continue
        listing, settlement = await locked_settlement(session, listing_id)
        if settlement.status != "awaiting_contract":
            continue
        for line in await load_lines(session, listing_id):
            if line.status != "pending_payment" or line.rescission_proposed_at is not None:
                continue
            line.rescission_proposed_at = now
            proposed += 1
            await append(
                session,
                listing.stream,
                SYSTEM,
                "settlement.rescission_proposed",
                {
                    "application_id": line.application_id,
                    "reason": "contract_not_signed",
                    "due": due.isoformat(),
                },
            )
            await _notify(
                session,
                line.bidder_id,
                listing_id,
                "rescission_proposed",
                "拟解除合同通知",
                f"您竞得的标的（{listing.title}）未在{due.isoformat()}前签订合同，交易机构拟报请解除成交。",
                now,
            )
    return proposed


NOT_FOLLOWED = tuple(sorted(WAITING | {"released"}))
"""Settlements whose lines owe nothing yet (or any more). Another line's rescission or annulment
does not stop the follow-up of a line still owing (a multi-unit sale has a line per winner: one
winner's refused delivery annuls its line, and the settlement reads ``annulled``, while the others
still owe); an annulled sale's own lines owe nothing (annulled, never ``pending_payment``)."""


def _due_lines(today: date) -> Any:
    """Lines still owing money with an installment due before yesterday, or with late fees posted."""
    return (
        select(SettlementLine.id, SettlementLine.listing_id)
        .join(Settlement, Settlement.listing_id == SettlementLine.listing_id)
        .where(
            SettlementLine.status == "pending_payment",
            Settlement.status.not_in(NOT_FOLLOWED),
            exists().where(
                and_(
                    SettlementInstallment.line_id == SettlementLine.id,
                    SettlementInstallment.status == "pending",
                    SettlementInstallment.due_date < today - timedelta(days=1),
                )
            )
            | (SettlementLine.late_fees != 0),
        )
        .order_by(SettlementLine.listing_id, SettlementLine.id)
    )


async def follow_line(session: AsyncSession, listing_id: int, line_id: int, now: datetime) -> bool:
    """The day-end follow-up of one line, under its listing's lock; whether anything changed."""
    listing = await lock_listing(session, listing_id)
    assert listing is not None
    settlement = await load_settlement(session, listing_id)
    line = await lock_line(session, line_id)
    if line.status != "pending_payment" or settlement is None or settlement.status in NOT_FOLLOWED:
        return False
    done = await _follow_line(session, listing, line, now)
    return any(done.values())


async def day_end(session: AsyncSession, now: datetime) -> int:
    """Late fees, reminders and rescission proposals of every line still owing money, in this one
    transaction; returns how many lines changed. Running it twice the same day changes nothing the
    second time. Never commits."""
    changed = 0
    for line_id, listing_id in (await session.execute(_due_lines(local_date(now)))).all():
        changed += await follow_line(session, listing_id, line_id, now)
    return changed


async def run_day_end(
    sessions: async_sessionmaker[AsyncSession], now: datetime | None = None, *, complete: bool = False
) -> int:
    """The job: confirmations due, then the day-end follow-up of each line in its own transaction
    (one failing line does not hold back the others; the next run retries it). Returns how many
    lines changed or, with ``complete``, whether every step succeeded (1) or not (0)."""
    moment = now or utcnow()
    ok = await confirm_each(sessions, moment)
    try:
        async with unit_of_work(sessions) as session:
            await propose_unsigned(session, moment)
    except Exception:
        ok = False
        log.exception("proposing rescissions of unsigned contracts failed; the next run retries")
    async with sessions() as session:
        due = (await session.execute(_due_lines(local_date(moment)))).all()
    changed = 0
    for line_id, listing_id in due:
        try:
            async with unit_of_work(sessions) as session:
                changed += await follow_line(session, listing_id, line_id, moment)
        except Exception:
            ok = False
            log.exception("the follow-up of line %s failed; the next run retries", line_id)
    return int(ok) if complete else changed


_followed_on: dict[int, date] = {}
"""Per session factory (an app): the Shanghai date whose day-end follow-up the sweep completed."""


async def catch_up(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The periodic sweep's part: confirm what is due every time; the day-end follow-up once a day
    (the first sweep after Shanghai midnight, in case the daily job did not run), and again after
    a failure. The daily job (:func:`run_day_end`) runs it whatever this says."""
    now = utcnow()
    today = local_date(now)
    if _followed_on.get(id(sessions)) == today:
        await confirm_each(sessions, now)
        return
    if await run_day_end(sessions, now, complete=True):
        _followed_on[id(sessions)] = today


# -- undoing a sale: rescission (settlement.undo does the ledger) -----------------------------------------------------


def forfeitable(line: SettlementLine) -> int:
    """min(deposit applied, 20% of the line's price) (Civil Code art. 586), in whole fen."""
    share, whole = FORFEIT_CAP
    return min(line.deposit_applied, line.price * share // whole)


async def rescind(
    session: AsyncSession, listing_id: int, application_id: int | None, reason: str, actor: str
) -> Settlement:
    """Confirm a proposed rescission (of one winner's line, or of every proposed line). Never commits."""
    listing, settlement = await locked_settlement(session, listing_id)
    lines = await load_lines(session, listing_id)
    proposed = [
        line
        for line in lines
        if line.rescission_proposed_at is not None
        and line.status == "pending_payment"
        and (application_id is None or line.application_id == application_id)
    ]
    if not proposed:
        raise Conflict("no rescission of this settlement is proposed", code="rescission_not_proposed")
    now = utcnow()
    for line in proposed:
        done = await undo_line(
            session,
            line,
            forfeit=forfeitable(line),
            stem=f"rescind:{listing_id}:{line.application_id}",
            memo=f"rescinded: {reason}",
            actor=actor,
        )
        line.status, line.rescinded_at = "rescinded", now
        await registry_offers.release_line(session, line, f"rescinded: {reason}", actor)  # never delivered
        await append(session, listing.stream, actor, "settlement.rescinded", {**done, "reason": reason})
        await _notify(
            session,
            line.bidder_id,
            listing_id,
            "rescinded",
            "解除合同通知",
            f"您竞得的标的（{listing.title}）的成交已解除（{reason}）。"
            f"没收定金{done['forfeited'] / 100:.2f}元，其余款项于5个工作日内退还。",
            now,
        )
    set_status(settlement, lines, now)
    settlement.updated_at = now
    return settlement
