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

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.identity.tokens import Principal
from settlement.registry import book
from settlement.registry.models import RIGHT_TYPES, Holder, Instrument, Obligation, Surrender

__all__ = ["ComplianceRow", "compliance_of", "enter_verified", "open_shortfall", "surrender"]


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
    errors = []
    if right_type not in RIGHT_TYPES:
        errors.append(field_error("right_type", "the right type is emission or water"))
    if not sub_type.strip():
        errors.append(field_error("sub_type", "name the pollutant or the water trade type", "required"))
    if not 2000 <= year <= 2100:
        errors.append(field_error("year", "the year of the verified quantity"))
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        errors.append(field_error("quantity", "the verified quantity is a whole number, not negative"))
    if errors:
        raise Unprocessable("the verified quantity cannot be entered", errors=errors)
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


async def surrender(
    session: AsyncSession, *, obligation_id: int, instrument_id: int, quantity: int, actor: str
) -> Surrender:
    """Surrender ``quantity`` of the holder's instrument against the obligation: final."""
    obligation = await session.get(Obligation, obligation_id)
    instrument = await session.get(Instrument, instrument_id)
    if obligation is None or instrument is None:
        raise NotFound("no such obligation or instrument", code="registry_not_found")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise Unprocessable(
            "the quantity to surrender is a positive whole number",
            errors=[field_error("quantity", "the quantity to surrender is a positive whole number")],
        )
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
    txn = await book.move(
        session,
        source=holding,
        target=sink,
        quantity=quantity,
        kind="surrender",
        # a surrender is a decision of its own each time: nothing to repeat safely
        reference=f"surrender:{obligation.id}:{uuid.uuid4().hex}",
        actor=actor,
        memo=f"{obligation.year} {obligation.right_type}/{obligation.sub_type}",
    )
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
