"""What the registry shows: a holder's green responsibility account and the public statistics.

Read only. Balances are summed from entries here (never stored), in one query per view, so a
statement and the ledger cannot disagree. The green responsibility account (绿色责任账户,
issue 18 item 7) is one holder's: its holdings by instrument (available, on offer, pledged,
frozen), what it bought and sold (deliveries), its pledges, surrenders and compliance, and the
registry's audit head, which a printed statement carries. The statistics are everyone's and
name nobody: per right, pollutant or water trade type and region, the volume and value traded,
the average unit price, the number of trades and of holders (rule 11, 38号 (十三)).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from exchange.audit.chain import head_of
from settlement.registry.models import (
    Delivery,
    Holder,
    Instrument,
    Obligation,
    Pledge,
    RegistryAccount,
    RegistryEntry,
    RegistryTransaction,
    Surrender,
)

AUDIT_STREAM = "registry"
OWN_KINDS = ("holding", "order_hold", "pledged", "frozen")
"""The accounts of a holder: what it may sell, what is on offer, pledged or frozen."""
PRICE_PLACES = Decimal("0.0001")
"""Average unit prices in yuan per unit, to four places: a kg of SO2 may cost less than a fen."""


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    id: int
    right_type: str
    sub_type: str
    region_code: str
    basin: str | None
    water_source: str | None
    unit: str
    valid_from: date
    valid_until: date
    origin: str
    permit_reference: str | None


@dataclass(frozen=True, slots=True)
class HoldingLine:
    """One instrument in a holder's account: ``total`` = available + on offer + pledged + frozen."""

    instrument: InstrumentInfo
    available: int
    """The holding account's balance: what the holder may offer, pledge or surrender now."""
    held: int
    """On offer or under an agreement (order holds), until sold or released."""
    pledged: int
    frozen: int

    @property
    def total(self) -> int:
        return self.available + self.held + self.pledged + self.frozen


@dataclass(frozen=True, slots=True)
class Trade:
    """One delivery, seen from one side: a purchase (acquisition) or a sale."""

    delivery_id: int
    instrument_id: int
    quantity: int
    price: int
    """The whole price in fen."""
    via: str
    """``auction`` (a listing) or ``agreement`` (协议转让)."""
    listing_id: int | None
    agreement_id: int | None
    counterparty: str | None
    """The other side's name; ``None``: the government's reserve sold."""
    status: str
    permit_change: str | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class PledgeLine:
    id: int
    instrument_id: int
    quantity: int
    pledgee_name: str
    contract_reference: str
    status: str
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class SurrenderLine:
    id: int
    obligation_id: int
    year: int
    instrument_id: int
    quantity: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ComplianceLine:
    """One verified obligation: compliant once the surrendered quantity reaches the verified one."""

    obligation_id: int
    year: int
    right_type: str
    sub_type: str
    verified: int
    surrendered: int

    @property
    def shortfall(self) -> int:
        return max(self.verified - self.surrendered, 0)

    @property
    def compliant(self) -> bool:
        return self.surrendered >= self.verified


@dataclass(frozen=True, slots=True)
class GreenAccount:
    """绿色责任账户: everything the registry knows of one holder, as of ``audit_head``."""

    holder_id: int
    credit_code: str
    name: str
    region_code: str
    basin: str | None
    holdings: tuple[HoldingLine, ...]
    acquisitions: tuple[Trade, ...]
    sales: tuple[Trade, ...]
    pledges: tuple[PledgeLine, ...]
    surrenders: tuple[SurrenderLine, ...]
    compliance: tuple[ComplianceLine, ...]
    audit_head: str
    """The registry audit chain's head when the account was read: a statement printed from it
    can be checked against the chain."""

    @property
    def compliant(self) -> bool:
        return all(line.compliant for line in self.compliance)


@dataclass(frozen=True, slots=True)
class Movement:
    """One entry on one of the holder's accounts: ``amount`` is signed, positive in."""

    entry_id: int
    transaction_id: int
    kind: str
    """The registry transaction's kind (issuance, allocation, offer, delivery, pledge, ...)."""
    instrument_id: int
    account_kind: str
    amount: int
    memo: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StatisticsRow:
    """One right, sub-type (pollutant or water trade type) and region, over all time."""

    right_type: str
    sub_type: str
    region_code: str
    unit: str
    issued: int
    """Quantity issued (the caps of its instruments)."""
    volume_traded: int
    value: int
    """Fen paid for what was delivered."""
    trades: int
    holders: int
    """Holders with a positive balance (available, on offer, pledged or frozen) of its instruments."""

    @property
    def average_unit_price(self) -> Decimal | None:
        """Yuan per unit, to four places (half up); ``None`` before the first trade."""
        if self.volume_traded <= 0:
            return None
        return (Decimal(self.value) / 100 / Decimal(self.volume_traded)).quantize(
            PRICE_PLACES, rounding=ROUND_HALF_UP
        )


def _instrument(row: Instrument) -> InstrumentInfo:
    return InstrumentInfo(
        id=row.id,
        right_type=row.right_type,
        sub_type=row.sub_type,
        region_code=row.region_code,
        basin=row.basin,
        water_source=row.water_source,
        unit=row.unit,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        origin=row.origin,
        permit_reference=row.permit_reference,
    )


async def _holdings(session: AsyncSession, holder_id: int) -> tuple[HoldingLine, ...]:
    balances = (
        select(
            RegistryAccount.instrument_id,
            RegistryAccount.kind,
            func.coalesce(func.sum(RegistryEntry.amount), 0).label("balance"),
        )
        .join(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id, isouter=True)
        .where(RegistryAccount.holder_id == holder_id, RegistryAccount.kind.in_(OWN_KINDS))
        .group_by(RegistryAccount.instrument_id, RegistryAccount.kind)
    )
    by_instrument: dict[int, dict[str, int]] = defaultdict(dict)
    for instrument_id, kind, balance in (await session.execute(balances)).all():
        by_instrument[instrument_id][kind] = int(balance)
    if not by_instrument:
        return ()
    instruments = (
        await session.execute(
            select(Instrument).where(Instrument.id.in_(by_instrument)).order_by(Instrument.id)
        )
    ).scalars()
    lines = []
    for instrument in instruments:
        kinds = by_instrument[instrument.id]
        line = HoldingLine(
            instrument=_instrument(instrument),
            available=kinds.get("holding", 0),
            held=kinds.get("order_hold", 0),
            pledged=kinds.get("pledged", 0),
            frozen=kinds.get("frozen", 0),
        )
        if line.total or line.available:  # an instrument long sold out is history, not a holding
            lines.append(line)
    return tuple(lines)


async def _trades(session: AsyncSession, holder_id: int) -> tuple[tuple[Trade, ...], tuple[Trade, ...]]:
    seller, buyer = aliased(Holder), aliased(Holder)
    rows = (
        await session.execute(
            select(Delivery, seller.name, buyer.name)
            .join(seller, seller.id == Delivery.seller_id, isouter=True)
            .join(buyer, buyer.id == Delivery.buyer_id)
            .where(or_(Delivery.buyer_id == holder_id, Delivery.seller_id == holder_id))
            .order_by(Delivery.id.desc())
        )
    ).all()
    bought, sold = [], []
    for delivery, seller_name, buyer_name in rows:
        buying = delivery.buyer_id == holder_id

        def trade(counterparty: str | None, d: Delivery = delivery) -> Trade:
            return Trade(
                delivery_id=d.id,
                instrument_id=d.instrument_id,
                quantity=d.quantity,
                price=d.price,
                via="agreement" if d.agreement_id is not None else "auction",
                listing_id=d.listing_id,
                agreement_id=d.agreement_id,
                counterparty=counterparty,
                status=d.status,
                permit_change=d.permit_change,
                delivered_at=d.delivered_at,
            )

        if buying:
            bought.append(trade(seller_name))
        if delivery.seller_id == holder_id:
            sold.append(trade(buyer_name))
    return tuple(bought), tuple(sold)


async def _pledges(session: AsyncSession, holder_id: int) -> tuple[PledgeLine, ...]:
    rows = (
        await session.execute(select(Pledge).where(Pledge.holder_id == holder_id).order_by(Pledge.id.desc()))
    ).scalars()
    return tuple(
        PledgeLine(
            id=p.id,
            instrument_id=p.instrument_id,
            quantity=p.quantity,
            pledgee_name=p.pledgee_name,
            contract_reference=p.contract_reference,
            status=p.status,
            created_at=p.created_at,
            ended_at=p.ended_at,
        )
        for p in rows
    )


async def _surrenders(session: AsyncSession, holder_id: int) -> tuple[SurrenderLine, ...]:
    rows = (
        await session.execute(
            select(Surrender, Obligation.year)
            .join(Obligation, Obligation.id == Surrender.obligation_id)
            .where(Obligation.holder_id == holder_id)
            .order_by(Surrender.id.desc())
        )
    ).all()
    return tuple(
        SurrenderLine(
            id=s.id,
            obligation_id=s.obligation_id,
            year=year,
            instrument_id=s.instrument_id,
            quantity=s.quantity,
            created_at=s.created_at,
        )
        for s, year in rows
    )


async def _compliance(session: AsyncSession, holder_id: int) -> tuple[ComplianceLine, ...]:
    surrendered = func.coalesce(func.sum(Surrender.quantity), 0)
    rows = (
        await session.execute(
            select(Obligation, surrendered)
            .join(Surrender, Surrender.obligation_id == Obligation.id, isouter=True)
            .where(Obligation.holder_id == holder_id)
            .group_by(Obligation.id)
            .order_by(Obligation.year.desc(), Obligation.right_type, Obligation.sub_type)
        )
    ).all()
    return tuple(
        ComplianceLine(
            obligation_id=o.id,
            year=o.year,
            right_type=o.right_type,
            sub_type=o.sub_type,
            verified=o.verified_quantity,
            surrendered=int(done),
        )
        for o, done in rows
    )


async def green_account(session: AsyncSession, holder_id: int) -> GreenAccount | None:
    """The holder's green responsibility account; ``None`` without such a holder."""
    holder = await session.get(Holder, holder_id)
    if holder is None:
        return None
    acquisitions, sales = await _trades(session, holder_id)
    return GreenAccount(
        holder_id=holder.id,
        credit_code=holder.credit_code,
        name=holder.name,
        region_code=holder.region_code,
        basin=holder.basin,
        holdings=await _holdings(session, holder_id),
        acquisitions=acquisitions,
        sales=sales,
        pledges=await _pledges(session, holder_id),
        surrenders=await _surrenders(session, holder_id),
        compliance=await _compliance(session, holder_id),
        audit_head=await head_of(session, AUDIT_STREAM),
    )


async def movements(
    session: AsyncSession, holder_id: int, *, offset: int = 0, limit: int = 50
) -> tuple[list[Movement], int]:
    """The entries on the holder's own accounts, newest first, and how many there are in all."""
    mine = and_(RegistryAccount.holder_id == holder_id, RegistryAccount.kind.in_(OWN_KINDS))
    total = (
        await session.execute(
            select(func.count())
            .select_from(RegistryEntry)
            .join(RegistryAccount, RegistryAccount.id == RegistryEntry.account_id)
            .where(mine)
        )
    ).scalar_one()
    rows = (
        await session.execute(
            select(RegistryEntry, RegistryTransaction, RegistryAccount.kind)
            .join(RegistryAccount, RegistryAccount.id == RegistryEntry.account_id)
            .join(RegistryTransaction, RegistryTransaction.id == RegistryEntry.transaction_id)
            .where(mine)
            .order_by(RegistryEntry.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return [
        Movement(
            entry_id=entry.id,
            transaction_id=txn.id,
            kind=txn.kind,
            instrument_id=txn.instrument_id,
            account_kind=kind,
            amount=entry.amount,
            memo=txn.memo,
            at=txn.created_at,
        )
        for entry, txn, kind in rows
    ], int(total)


Group = tuple[str, str, str]


async def statistics(session: AsyncSession) -> list[StatisticsRow]:
    """Per right type, sub-type and region: issued, traded (volume, value, trades) and holders.

    Only delivered trades count: a sale whose delivery awaits the authority's consent or was
    refused moved nothing. Nothing here names a holder or a running listing's bidders."""
    group = (Instrument.right_type, Instrument.sub_type, Instrument.region_code)
    units: dict[Group, str] = {}
    issued: dict[Group, int] = defaultdict(int)
    for right_type, sub_type, region, unit, amount in (
        await session.execute(
            select(*group, Instrument.unit, func.coalesce(func.sum(RegistryEntry.amount), 0))
            .join(RegistryAccount, RegistryAccount.instrument_id == Instrument.id)
            .join(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
            .where(RegistryAccount.kind == "issuance")
            .group_by(*group, Instrument.unit)
        )
    ).all():
        units[(right_type, sub_type, region)] = unit
        issued[(right_type, sub_type, region)] += -int(amount)  # the cap's balance is negative
    traded: dict[Group, tuple[int, int, int]] = {}
    for right_type, sub_type, region, unit, volume, value, count in (
        await session.execute(
            select(
                *group,
                Instrument.unit,
                func.sum(Delivery.quantity),
                func.sum(Delivery.price),
                func.count(Delivery.id),
            )
            .join(Delivery, Delivery.instrument_id == Instrument.id)
            .where(Delivery.status == "delivered")
            .group_by(*group, Instrument.unit)
        )
    ).all():
        units.setdefault((right_type, sub_type, region), unit)
        traded[(right_type, sub_type, region)] = (int(volume), int(value), int(count))
    balances = (
        select(RegistryAccount.holder_id, RegistryAccount.instrument_id)
        .join(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
        .where(RegistryAccount.holder_id.is_not(None), RegistryAccount.kind.in_(OWN_KINDS))
        .group_by(RegistryAccount.holder_id, RegistryAccount.instrument_id)
        .having(func.sum(RegistryEntry.amount) > 0)
        .subquery()
    )
    holders: dict[Group, int] = {
        (right_type, sub_type, region): int(count)
        for right_type, sub_type, region, count in (
            await session.execute(
                select(*group, func.count(func.distinct(balances.c.holder_id)))
                .join(balances, balances.c.instrument_id == Instrument.id)
                .group_by(*group)
            )
        ).all()
    }
    return [
        StatisticsRow(
            right_type=key[0],
            sub_type=key[1],
            region_code=key[2],
            unit=units[key],
            issued=issued.get(key, 0),
            volume_traded=traded.get(key, (0, 0, 0))[0],
            value=traded.get(key, (0, 0, 0))[1],
            trades=traded.get(key, (0, 0, 0))[2],
            holders=holders.get(key, 0),
        )
        for key in sorted(units)
    ]
