"""Compliance (履约): verified annual quantities, surrenders against them, shortfalls (rule 9).

The registrar enters a holder's verified emissions or water use for a year (an obligation);
the holder surrenders at least that much of matching rights valid in that year. Surrendered
units are final: they sit in ``surrendered:<i>``, a sink that never sends. A shortfall stays
owed as an open obligation, and a holder with one may not pledge (rule 8).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, get_args

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.identity.tokens import Principal
from listings.attribute_fields import WaterTradeType
from settlement.double_entry import DuplicateReference
from settlement.registry import book
from settlement.registry.eligibility import POLLUTANTS
from settlement.registry.models import RIGHT_TYPES, Holder, Instrument, Obligation, Surrender

__all__ = ["ComplianceRow", "compliance_of", "enter_verified", "open_shortfall", "surrender"]

MAX_REFERENCE = 150
"""A surrender's reference (the client's Idempotency-Key) fits the transactions' reference column
with its ``surrender:<holder>:`` prefix."""

SUB_TYPES: dict[str, tuple[str, ...]] = {"emission": POLLUTANTS, "water": get_args(WaterTradeType)}
"""What an obligation may name: exactly what an instrument may (issuance's validation), else
an obligation no instrument can ever meet would leave a shortfall, and a pledge ban, for good."""


@dataclass(frozen=True)
class ComplianceRow:
    obligation: Obligation
    surrendered: int
    shortfall: int
    compliant: bool


async def _obligation(
    session: AsyncSession, holder_id: int, right_type: str, sub_type: str, year: int
) -> Obligation | None:
    query = select(Obligation).where(
        Obligation.holder_id == holder_id,
        Obligation.right_type == right_type,
        Obligation.sub_type == sub_type,
        Obligation.year == year,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def enter_verified(
    session: AsyncSession,
    *,
    holder_id: int,
    right_type: str,
    sub_type: str,
    year: int,
    quantity: int,
    actor: Principal,
) -> Obligation:
    """Record the verified quantity of one holder, right and year; a repeat with the same
    quantity is the same obligation, with another a ``registry_obligation_conflict``."""
    errors: list[dict[str, Any]] = []
    if right_type not in RIGHT_TYPES:
        errors.append(field_error("right_type", "the right type is emission or water"))
    elif sub_type not in SUB_TYPES[right_type]:
        known = ", ".join(SUB_TYPES[right_type])
        what = "pollutant" if right_type == "emission" else "water trade type"
        errors.append(field_error("sub_type", f"an obligation names a {what}: {known}"))
    if not 2000 <= year <= 2100:
        errors.append(field_error("year", "the year of the verified quantity"))
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        errors.append(field_error("quantity", "the verified quantity is a whole number, not negative"))
    if errors:
        raise Unprocessable(
            "the verified quantity cannot be entered", code="registry_obligation_invalid", errors=errors
        )
    if await session.get(Holder, holder_id) is None:
        raise NotFound(f"registry holder {holder_id} does not exist", code="registry_not_found")
    found = await _obligation(session, holder_id, right_type, sub_type, year)
    if found is None:
        row = Obligation(
            holder_id=holder_id,
            right_type=right_type,
            sub_type=sub_type,
            year=year,
            verified_quantity=quantity,
            entered_by=actor.user_id,
            created_at=utcnow(),
        )
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:  # entered by a concurrent transaction since we looked
            found = await _obligation(session, holder_id, right_type, sub_type, year)
            if found is None:
                raise
        else:
            await append(
                session,
                book.STREAM,
                f"user:{actor.user_id}",
                "registry.obligation_entered",
                {
                    "obligation_id": row.id,
                    "holder_id": holder_id,
                    "right_type": right_type,
                    "sub_type": sub_type,
                    "year": year,
                    "quantity": quantity,
                },
            )
            return row
    if found.verified_quantity != quantity:
        raise Conflict(
            f"the verified quantity of {year} is already entered as {found.verified_quantity}",
            code="registry_obligation_conflict",
            obligation_id=found.id,
        )
    return found


def _same(found: Surrender, obligation: Obligation, instrument: Instrument, quantity: int) -> Surrender:
    if (found.obligation_id, found.instrument_id, found.quantity) != (obligation.id, instrument.id, quantity):
        raise Conflict(
            "this reference was used for another surrender",
            code="idempotency_conflict",
            surrender_id=found.id,
        )
    return found


async def _surrender_of(session: AsyncSession, transaction_id: int) -> Surrender | None:
    query = select(Surrender).where(Surrender.transaction_id == transaction_id)
    return (await session.execute(query)).scalar_one_or_none()


async def surrender(
    session: AsyncSession,
    *,
    obligation_id: int,
    instrument_id: int,
    quantity: int,
    actor: str,
    reference: str | None = None,
) -> Surrender:
    """Surrender ``quantity`` of the holder's instrument against the obligation: final.

    With a ``reference`` (the client's Idempotency-Key) a repeat of the same surrender returns
    the one booked, even when the holding is since spent; the same reference with another
    obligation, instrument or quantity is a 409 ``idempotency_conflict``. References are the
    holder's own: another holder's equal key is another surrender. Without one every call is a
    surrender of its own."""
    obligation = await session.get(Obligation, obligation_id)
    instrument = await session.get(Instrument, instrument_id)
    if obligation is None or instrument is None:
        raise NotFound("no such obligation or instrument", code="registry_not_found")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise Unprocessable(
            "the quantity to surrender is a positive whole number",
            errors=[field_error("quantity", "the quantity to surrender is a positive whole number")],
        )
    if reference is not None and not (0 < len(reference.strip()) <= MAX_REFERENCE):
        raise Unprocessable(
            f"a surrender's reference has 1 to {MAX_REFERENCE} characters",
            errors=[field_error("reference", f"a surrender's reference has 1 to {MAX_REFERENCE} characters")],
        )
    if reference is None:
        full = f"surrender:{obligation.id}:{uuid.uuid4().hex}"
    else:
        full = f"surrender:key:{obligation.holder_id}:{reference.strip()}"
        txn = await book.transaction_by_reference(session, full)
        booked = None if txn is None else await _surrender_of(session, txn.id)
        if booked is not None:
            return _same(booked, obligation, instrument, quantity)
    year_starts, year_ends = date(obligation.year, 1, 1), date(obligation.year + 1, 1, 1)
    if (
        instrument.right_type != obligation.right_type
        or instrument.sub_type != obligation.sub_type
        or not (instrument.valid_from < year_ends and instrument.valid_until > year_starts)
    ):
        raise Conflict(
            "the instrument is not a right of this obligation's kind valid in its year",
            code="registry_instrument_mismatch",
            obligation_id=obligation.id,
            instrument_id=instrument.id,
        )
    holding = await book.account(session, "holding", instrument.id, holder_id=obligation.holder_id)
    sink = await book.account(session, "surrendered", instrument.id)
    try:
        txn = await book.move(
            session,
            source=holding,
            target=sink,
            quantity=quantity,
            kind="surrender",
            reference=full,
            actor=actor,
            memo=f"{obligation.year} {obligation.right_type}/{obligation.sub_type}",
        )
    except DuplicateReference as exc:  # a concurrent surrender of another lot took the reference
        raise Conflict("this reference was used for another surrender", code="idempotency_conflict") from exc
    # a concurrent repeat may have booked it while we waited for the holding's lock: the move then
    # returned that transaction, which must not get a second surrender row
    booked = await _surrender_of(session, txn.id)
    if booked is not None:
        return _same(booked, obligation, instrument, quantity)
    row = Surrender(
        obligation_id=obligation.id,
        instrument_id=instrument.id,
        quantity=quantity,
        transaction_id=txn.id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def compliance_of(session: AsyncSession, holder_id: int) -> list[ComplianceRow]:
    """Every obligation of the holder, newest year first, with what was surrendered against it."""
    surrendered = (
        select(Surrender.obligation_id, func.coalesce(func.sum(Surrender.quantity), 0).label("total"))
        .group_by(Surrender.obligation_id)
        .subquery()
    )
    query = (
        select(Obligation, surrendered.c.total)
        .outerjoin(surrendered, surrendered.c.obligation_id == Obligation.id)
        .where(Obligation.holder_id == holder_id)
        .order_by(Obligation.year.desc(), Obligation.right_type, Obligation.sub_type)
    )
    rows = []
    for obligation, total in (await session.execute(query)).all():
        done = int(total or 0)
        shortfall = max(obligation.verified_quantity - done, 0)
        rows.append(ComplianceRow(obligation, done, shortfall, shortfall == 0))
    return rows


async def open_shortfall(session: AsyncSession, holder_id: int) -> int:
    """The quantity the holder still owes over all its obligations."""
    return sum(row.shortfall for row in await compliance_of(session, holder_id))
