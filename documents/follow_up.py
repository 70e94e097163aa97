"""The documents of issue 16's follow-up after the close: 催缴通知书 per payment reminder,
异议处理决定书 per answered objection and per resolution, 交易鉴证书 per fully paid line.

Each ``UNISSUED`` query finds the subjects without their document (by key, spelled in SQL) and
``documents.issuing`` issues them like the others, once per key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from fractions import Fraction

from sqlalchemy import String, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents import data
from documents.drafts import (
    RESOLUTION_ABBREVIATION,
    Draft,
    document_number,
    listing_info,
    not_issued,
    quantity,
)
from documents.formatting import price_label
from exchange.identity.models import User
from listings.consortia import Share, shares_of_application
from listings.consortium_shares import split
from listings.models import Listing
from listings.workdays import local_date
from settlement.followup import line_terms
from settlement.lines import FEE_LABEL, TRACKED_CLASSES
from settlement.notice_models import CollectionNotice, PaymentReminder
from settlement.objection_models import Objection
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine

ANSWERED = ("dismissed", "upheld", "stands", "annulled")
RESOLVED = ("stands", "annulled")


def reminder_key(reminder_id: int) -> str:
    return f"reminder:{reminder_id}"


def objection_key(objection_id: int) -> str:
    return f"objection:{objection_id}"


def resolution_key(objection_id: int) -> str:
    return f"objection-resolution:{objection_id}"


def certificate_key(line_id: int) -> str:
    return f"certificate:{line_id}"


UNISSUED_REMINDERS = select(PaymentReminder.id).where(
    not_issued(literal("reminder:") + cast(PaymentReminder.id, String))
)
UNISSUED_ANSWERS = select(Objection.id).where(
    Objection.answered_at.is_not(None),
    Objection.status.in_(ANSWERED),
    not_issued(literal("objection:") + cast(Objection.id, String)),
)
UNISSUED_RESOLUTIONS = select(Objection.id).where(
    Objection.resolved_at.is_not(None),
    Objection.status.in_(RESOLVED),
    not_issued(literal("objection-resolution:") + cast(Objection.id, String)),
)
UNISSUED_CERTIFICATES = (
    select(SettlementLine.id)
    .join(Settlement, Settlement.listing_id == SettlementLine.listing_id)
    .where(
        # Paid in full and past the 公示: a sale an objection may still annul is not certified.
        SettlementLine.status == "paid",
        Settlement.confirmed_at.is_not(None),
        not_issued(literal("certificate:") + cast(SettlementLine.id, String)),
    )
)


async def reminder_draft(session: AsyncSession, reminder_id: int) -> Draft | None:
    found = (
        await session.execute(
            select(PaymentReminder, SettlementLine, Listing, User)
            .join(SettlementLine, SettlementLine.id == PaymentReminder.line_id)
            .join(Listing, Listing.id == PaymentReminder.listing_id)
            .join(User, User.id == SettlementLine.bidder_id)
            .where(PaymentReminder.id == reminder_id)
        )
    ).first()
    if found is None:
        return None
    reminder, line, listing, user = found
    installment = (
        await session.execute(
            select(SettlementInstallment).where(
                SettlementInstallment.line_id == line.id,
                SettlementInstallment.seq == reminder.installment_seq,
            )
        )
    ).scalar_one_or_none()
    terms = line_terms(line, listing.asset_class)
    per_mille, grace = terms.late_fee_per_mille, terms.grace_days
    info = listing_info(listing)
    authority = (
        await session.execute(
            select(CollectionNotice.authority)
            .where(CollectionNotice.listing_id == listing.id)
            .order_by(CollectionNotice.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    fee_apart = (
        await session.execute(
            select(SettlementInstallment.id).where(
                SettlementInstallment.line_id == line.id, SettlementInstallment.label == FEE_LABEL
            )
        )
    ).first() is not None
    label = price_label(installment.label if installment is not None else "full", fee_apart)
    notice = data.PaymentReminder(
        listing=info,
        buyer=data.Party(name=user.display_name, credit_code=user.credit_code),
        bid_number=line.bid_number,
        installment_label=label,
        due_date=installment.due_date if installment is not None else reminder.issued_on,
        issued_on=reminder.issued_on,
        overdue_amount=reminder.overdue_amount,
        days_overdue=reminder.days_overdue,
        late_fee_accrued=reminder.late_fee_accrued,
        late_fee_per_mille=per_mille,
        grace_days=grace,
        payment_account=line.payment_account,
        rescission_proposed=reminder.kind == "rescission_proposed",
        # land and mining: the price is paid to the collecting authority (财综〔2021〕19号); the
        # fee, an installment of its own there, is paid to the exchange
        collected_by_authority=listing.asset_class in TRACKED_CLASSES and label != FEE_LABEL,
        authority=authority,
    )
    return Draft(
        reminder_key(reminder.id),
        "payment_reminder",
        "催缴通知书",
        notice,
        line.bidder_id,
        number=document_number(info, "payment_reminder", reminder.id),
    )


async def _objection(session: AsyncSession, objection_id: int) -> tuple[Objection, Listing] | None:
    found = (
        await session.execute(
            select(Objection, Listing)
            .join(Listing, Listing.id == Objection.listing_id)
            .where(Objection.id == objection_id)
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def answer_draft(session: AsyncSession, objection_id: int) -> Draft | None:
    """The answer (dismissed or upheld), addressed to the filer: it quotes the objection's reasons,
    which the public list of objections does not show (``settlement.objection_controllers``), so
    only the filer and the staff may download it. The filer's identity is not printed."""
    found = await _objection(session, objection_id)
    if found is None or found[0].answered_at is None:
        return None
    objection, listing = found
    answered_at = objection.answered_at
    assert answered_at is not None
    decision = "upheld" if objection.status in ("upheld", "stands", "annulled") else "dismissed"
    decided = data.ObjectionDecision(
        listing=(info := listing_info(listing)),
        objection_id=objection.id,
        filed_at=objection.created_at,
        reasons=objection.reasons,
        decision=decision,
        text=objection.answer or "—",
        decided_at=answered_at,
    )
    number = document_number(info, "objection_decision", objection.id)
    return Draft(
        objection_key(objection.id),
        "objection_decision",
        "异议处理决定书",
        decided,
        objection.filed_by,
        number=number,
    )


async def resolution_draft(session: AsyncSession, objection_id: int) -> Draft | None:
    """The resolution of an upheld objection (the sale stands or fails, with the reason), public;
    the objection's reasons are not quoted (the answer to the filer quotes them)."""
    found = await _objection(session, objection_id)
    if found is None or found[0].resolved_at is None or found[0].status not in RESOLVED:
        return None
    objection, listing = found
    resolved_at = objection.resolved_at
    assert resolved_at is not None
    info = listing_info(listing)
    decided = data.ObjectionDecision(
        listing=info,
        objection_id=objection.id,
        filed_at=objection.created_at,
        reasons=None,
        decision=objection.status,
        text=objection.resolution_reason or "—",
        public=True,
        decided_at=resolved_at,
        resolution=True,
    )
    number = document_number(info, "objection_decision", objection.id, abbreviation=RESOLUTION_ABBREVIATION)
    return Draft(resolution_key(objection.id), "objection_decision", "异议复核决定书", decided, number=number)


def _joint_buyer(shares: Sequence[Share], total: int | None, unit: str) -> data.Party:
    """A consortium's 受让方 on its 交易鉴证书: every party with its credit code, share and part of
    the quantity (the lead's name alone would certify the whole purchase to the lead)."""
    parts = split(total, [s.share_bp for s in shares]) if total else [None] * len(shares)
    named = [
        f"{s.name}（统一社会信用代码 {s.credit_code}，份额 {s.share}%"
        + (f"，{part:,} {unit}" if part is not None and unit else "")
        + ("，牵头人）" if s.lead else "）")
        for s, part in zip(shares, parts, strict=True)
    ]
    return data.Party(name="；".join(named) + "（联合竞买）")


async def certificate_draft(session: AsyncSession, line_id: int) -> Draft | None:
    found = (
        await session.execute(
            select(SettlementLine, Settlement, Listing, User)
            .join(Settlement, Settlement.listing_id == SettlementLine.listing_id)
            .join(Listing, Listing.id == SettlementLine.listing_id)
            .join(User, User.id == SettlementLine.bidder_id)
            .where(
                SettlementLine.id == line_id,
                SettlementLine.status == "paid",
                Settlement.confirmed_at.is_not(None),
            )
        )
    ).first()
    if found is None:
        return None
    line, settlement, listing, user = found
    amount = quantity(listing.asset_class, line.quantity)
    paid_on: date = local_date(line.paid_at or settlement.updated_at)
    info = listing_info(listing)
    shares = await shares_of_application(session, line.application_id)
    certificate = data.TransactionCertificate(
        listing=info,
        buyer=_joint_buyer(shares, line.quantity, info.quantity_unit)
        if shares
        else data.Party(name=user.display_name, credit_code=user.credit_code),
        bid_number=line.bid_number,
        decided_at=settlement.decided_at or settlement.created_at,
        price=line.price,
        paid=line.price,
        paid_in_full_on=paid_on,
        unit_price=Fraction(line.price) / Fraction(amount) if amount else None,
        quantity=amount,
        contract_signed_on=settlement.contract_signed_on,
    )
    return Draft(
        certificate_key(line.id),
        "transaction_certificate",
        "交易鉴证书",
        certificate,
        line.bidder_id,
        number=document_number(info, "transaction_certificate", line.bid_number),
    )
