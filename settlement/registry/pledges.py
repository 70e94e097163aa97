"""Pledges (质押) of rights to a named creditor (docs/rules.md section 7, rule 8).

A pledge moves quantity from the holding to its own account ``pledged:<id>``: locked, neither
sold, surrendered nor pledged again, until released (back to the holding) or enforced (to the
creditor's holding). Only paid-for rights may be pledged (Ningxia 2021), or quantity the holder
acquired by trade (a price was paid for it too): a lot of free origin is pledgeable up to what
the holder received by delivery and has not pledged already. A holder with an open compliance
shortfall may not pledge.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import append
from exchange.clock import utcnow
from exchange.errors import Conflict, NotFound, Unprocessable, field_error
from exchange.identity.codes import CodeError, validate_credit_code
from settlement.registry import book
from settlement.registry.compliance import open_shortfall
from settlement.registry.eligibility import TradeRefused, check_trade
from settlement.registry.issuance import today
from settlement.registry.models import (
    Holder,
    Instrument,
    Pledge,
    RegistryAccount,
    RegistryEntry,
    RegistryTransaction,
)

__all__ = ["DELIVERY_KIND", "PledgeRefused", "enforce_pledge", "pledge", "pledgeable", "release_pledge"]

DELIVERY_KIND = "delivery"
"""The kind of the registry transaction that puts bought quantity in the buyer's holding."""


class PledgeRefused(Conflict):
    code = "registry_pledge_refused"


async def pledgeable(session: AsyncSession, holder: Holder, instrument: Instrument) -> int:
    """How much of the instrument the holder may pledge now (before its holding balance)."""
    holding = await book.account(session, "holding", instrument.id, holder_id=holder.id)
    held = await book.balance(session, holding.id)
    if instrument.origin == "paid":
        return held
    bought = select(func.coalesce(func.sum(RegistryEntry.amount), 0)).join(
        RegistryTransaction, RegistryTransaction.id == RegistryEntry.transaction_id
    )
    bought = bought.where(
        RegistryEntry.account_id == holding.id,
        RegistryEntry.amount > 0,
        RegistryTransaction.kind == DELIVERY_KIND,
    )
    pledged = select(func.coalesce(func.sum(Pledge.quantity), 0)).where(
        Pledge.holder_id == holder.id, Pledge.instrument_id == instrument.id, Pledge.status != "released"
    )
    acquired = int((await session.execute(bought)).scalar_one() or 0)
    used = int((await session.execute(pledged)).scalar_one() or 0)
    return max(min(held, acquired - used), 0)


async def pledge(
    session: AsyncSession,
    *,
    holder_id: int,
    instrument_id: int,
    quantity: int,
    pledgee_name: str,
    pledgee_code: str,
    contract_reference: str,
    actor: str,
) -> Pledge:
    """Pledge ``quantity`` of the holder's instrument to the pledgee."""
    errors = []
    try:
        pledgee_code = validate_credit_code(pledgee_code)
    except CodeError as exc:
        errors.append(field_error("pledgee_code", exc.message, exc.reason))
    if not pledgee_name.strip():
        errors.append(field_error("pledgee_name", "name the pledgee", "required"))
    if not contract_reference.strip():
        errors.append(field_error("contract_reference", "the pledge contract's reference", "required"))
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        errors.append(field_error("quantity", "the quantity is a positive whole number"))
    if errors:
        raise Unprocessable("the pledge is not valid", errors=errors)
    holder = await session.get(Holder, holder_id)
    instrument = await session.get(Instrument, instrument_id)
    if holder is None or instrument is None:
        raise NotFound("no such holder or instrument", code="registry_not_found")
    if today() >= instrument.valid_until:
        raise TradeRefused("registry_expired", instrument, holder)
    holding = await book.account(session, "holding", instrument.id, holder_id=holder.id)
    await book.lock(session, holding)
    if await open_shortfall(session, holder.id) > 0:
        raise PledgeRefused("a holder with an open compliance shortfall may not pledge", reason="shortfall")
    available = await pledgeable(session, holder, instrument)
    # a paid-for lot that is merely short is ``registry_insufficient`` (from the move below)
    if available < quantity and instrument.origin != "paid":
        raise PledgeRefused(
            f"only {available} of this lot may be pledged: paid-for or bought quantity",
            reason="not_paid_for",
            available=available,
        )
    row = Pledge(
        holder_id=holder.id,
        instrument_id=instrument.id,
        quantity=quantity,
        pledgee_name=pledgee_name.strip(),
        pledgee_code=pledgee_code,
        contract_reference=contract_reference.strip(),
        status="active",
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    account = await book.account(session, "pledged", instrument.id, holder_id=holder.id, key=str(row.id))
    row.account_id = account.id
    await book.move(
        session,
        source=holding,
        target=account,
        quantity=quantity,
        kind="pledge",
        reference=f"pledge:{row.id}",
        actor=actor,
        memo=f"{row.pledgee_name} {row.contract_reference}",
    )
    await session.flush()
    return row


async def _active(session: AsyncSession, pledge_id: int) -> Pledge:
    query = select(Pledge).where(Pledge.id == pledge_id).with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"pledge {pledge_id} does not exist", code="registry_not_found")
    if row.status != "active":
        raise Conflict(
            f"pledge {pledge_id} is {row.status}", code="registry_pledge_state", status_now=row.status
        )
    return row


async def _end(
    session: AsyncSession, row: Pledge, status: str, target: RegistryAccount, actor: str
) -> Pledge:
    source = await session.get(RegistryAccount, row.account_id)
    assert source is not None
    await book.move(
        session,
        source=source,
        target=target,
        quantity=row.quantity,
        kind=f"pledge_{status}",
        reference=f"pledge:{row.id}:{status}",
        actor=actor,
    )
    row.status = status
    row.ended_at = utcnow()
    await session.flush()
    return row


async def release_pledge(session: AsyncSession, pledge_id: int, actor: str) -> Pledge:
    """The debt is paid: the pledged quantity goes back to the holding."""
    row = await _active(session, pledge_id)
    holding = await book.account(session, "holding", row.instrument_id, holder_id=row.holder_id)
    return await _end(session, row, "released", holding, actor)


async def enforce_pledge(
    session: AsyncSession, pledge_id: int, creditor_holder_id: int, actor: str
) -> Pledge:
    """The debt is not paid: the pledged quantity goes to the pledgee's holding, if it may hold it
    (region, basin, validity: the trading predicates apply). The creditor must be the pledgee the
    contract names (409 ``registry_not_pledgee``): enforcement transfers to the pledgee, never to
    whoever the registrar types in."""
    row = await _active(session, pledge_id)
    creditor = await session.get(Holder, creditor_holder_id)
    instrument = await session.get(Instrument, row.instrument_id)
    if creditor is None or instrument is None:
        raise NotFound("no such creditor", code="registry_not_found")
    if creditor.credit_code != row.pledgee_code:
        raise Conflict(
            f"pledge {row.id} was given to {row.pledgee_name} ({row.pledgee_code}); only the pledgee "
            "may receive it on enforcement",
            code="registry_not_pledgee",
            pledgee_code=row.pledgee_code,
        )
    check_trade(instrument, creditor, today())
    target = await book.account(session, "holding", row.instrument_id, holder_id=creditor.id)
    await append(
        session,
        book.STREAM,
        actor,
        "registry.pledge_enforced",
        {"pledge_id": row.id, "creditor_holder_id": creditor.id, "quantity": row.quantity},
    )
    return await _end(session, row, "enforced", target, actor)
