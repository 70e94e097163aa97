"""Negotiated transfers (协议转让): eligibility and encumbrance at creation, the 公示 with its
objections, payment through signed bank notices, and delivery versus payment on full payment."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.errors import ExchangeError
from exchange.identity.services import create_staff
from exchange.identity.tokens import Principal
from exchange.money import format_yuan
from settlement import ledger
from settlement.models import LedgerTransaction, RefundInstruction
from settlement.registry import agreements, book
from settlement.registry.issuance import Issuance, issue
from settlement.registry.models import Agreement, Delivery, Holder, RegistryAccount
from tests.support.api import PASSWORD, Client, register_bidder
from tests.support.bank import deliver, notice
from tests.support.ids import credit_code
from tests.support.registry import holder

Sessions = async_sessionmaker[AsyncSession]

ISSUED = 10_000  # kg/a
QUANTITY = 3_000
PRICE = 450_000_00  # fen
_serial = itertools.count(1)


@dataclass(frozen=True)
class World:
    sessions: Sessions
    operator: Principal
    registrar: Principal
    seller_user: Principal
    watcher: Principal  # a logged-in bidder with no part in the agreement
    seller: Holder
    buyer: Holder
    outsider: Holder  # in another basin
    instrument_id: int


async def _staff(client: Client, role: str) -> Principal:
    name = f"agr-{role}-{next(_serial)}"
    async with unit_of_work(client.app.state.sessions) as session:
        user = await create_staff(
            session,
            passwords=client.app.state.passwords,
            username=name,
            password=PASSWORD,
            role=role,  # type: ignore[arg-type]
            display_name=None,
            actor="test",
        )
    return Principal(user.id, name, role)  # type: ignore[arg-type]


async def _bidder(client: Client, code: str | None = None) -> Principal:
    user = await register_bidder(client, f"agr-bidder-{next(_serial)}", credit_code=code or credit_code())
    return Principal(user["id"], user["username"], "bidder")


async def _holder(session: AsyncSession, code: str, basin: str) -> Holder:
    """A holder the registrar opened (verified), in Taiyuan."""
    return await holder(
        session, code=code, name=f"企业{code[-4:]}有限公司", region_code="140100", basin=basin
    )


async def _world(client: Client, *, right_type: str = "emission", sub_type: str = "COD") -> World:
    sessions: Sessions = client.app.state.sessions
    operator = await _staff(client, "operator")
    registrar = await _staff(client, "registrar")
    seller_code = credit_code()
    seller_user = await _bidder(client, seller_code)
    watcher = await _bidder(client)
    async with unit_of_work(sessions) as session:
        seller = await _holder(session, seller_code, "黄河")
        buyer = await _holder(session, credit_code(), "黄河")
        outsider = await _holder(session, credit_code(), "长江")
        today = date.today()
        instrument, _ = await issue(
            session,
            Issuance(
                right_type=right_type,
                sub_type=sub_type,
                region_code="140100",
                basin="黄河",
                water_source="汾河" if right_type == "water" else None,
                valid_from=today - timedelta(days=30),
                valid_until=today + timedelta(days=5 * 365),
                origin="paid",
                permit_reference="PW-2026-001",
                legal_basis="晋环函〔2026〕1号",
                quantity=ISSUED,
                holder_credit_code=seller_code,
                reference=f"agr-issue-{next(_serial)}",
            ),
            registrar,
        )
    return World(sessions, operator, registrar, seller_user, watcher, seller, buyer, outsider, instrument.id)


async def _create(world: World, *, buyer: Holder | None = None, quantity: int = QUANTITY) -> Agreement:
    async with unit_of_work(world.sessions) as session:
        return await agreements.create_agreement(
            session,
            seller=world.seller,
            buyer_credit_code=(buyer or world.buyer).credit_code,
            instrument_id=world.instrument_id,
            quantity=quantity,
            price=PRICE,
            actor=world.seller_user,
        )


async def _balance(sessions: Sessions, code: str) -> int:
    async with sessions() as session:
        found = (
            await session.execute(select(RegistryAccount).where(RegistryAccount.code == code))
        ).scalar_one_or_none()
        return 0 if found is None else await book.balance(session, found.id)


async def _holding(world: World, holder: Holder) -> int:
    return await _balance(world.sessions, book.code("holding", world.instrument_id, holder_id=holder.id))


async def _hold(world: World, agreement: Agreement) -> int:
    return await _balance(
        world.sessions, book.code("order_hold", world.instrument_id, key=f"agreement:{agreement.id}")
    )


async def _money(sessions: Sessions, code: str) -> int:
    async with sessions() as session:
        return await ledger.balance(session, code)


async def _reload(world: World, agreement_id: int) -> Agreement:
    async with world.sessions() as session:
        found = await session.get(Agreement, agreement_id)
        assert found is not None
        return found


async def _confirm(world: World, agreement: Agreement) -> int:
    async with unit_of_work(world.sessions) as session:
        return await agreements.confirm_due(session, agreement.publicity_ends_at)


async def _actions(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEntry.action).where(AuditEntry.stream == "registry").order_by(AuditEntry.seq)
        )
        return [a for a in rows.scalars() if a.startswith("agreement.")]


async def _send(client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    response = await deliver(client, payload)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def _pay(client: Client, agreement: Agreement, fen: int) -> dict[str, Any]:
    return await _send(client, notice(agreement.payment_account, format_yuan(fen), utcnow()))


@pytest.mark.databases()
async def test_an_out_of_basin_buyer_is_refused_and_nothing_is_encumbered(client: Client) -> None:
    world = await _world(client)
    with pytest.raises(ExchangeError) as refused:
        await _create(world, buyer=world.outsider)
    assert (refused.value.code, refused.value.status) == ("registry_out_of_basin", 409)
    async with world.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Agreement))).scalar_one() == 0
        holds = await session.execute(select(RegistryAccount).where(RegistryAccount.kind == "order_hold"))
        assert list(holds.scalars()) == []
    assert await _holding(world, world.seller) == ISSUED
    assert await _actions(world.sessions) == []


@pytest.mark.databases()
async def test_an_agreement_encumbers_its_quantity_and_starts_its_publicity(client: Client) -> None:
    world = await _world(client)
    before = utcnow()
    agreement = await _create(world)
    assert agreement.status == "publicity" and agreement.publicity_ends_at > before + timedelta(days=5)
    assert agreement.payment_account.startswith("64") and len(agreement.payment_account) == 19
    assert await _holding(world, world.seller) == ISSUED - QUANTITY
    assert await _hold(world, agreement) == QUANTITY

    # what is encumbered cannot be sold again
    with pytest.raises(ExchangeError) as short:
        await _create(world, quantity=ISSUED - QUANTITY + 1)
    assert short.value.code == "registry_insufficient"
    # only the seller's own user (or an operator) makes its agreements; the buyer must hold an account
    with pytest.raises(ExchangeError) as stranger:
        async with unit_of_work(world.sessions) as session:
            await agreements.create_agreement(
                session,
                seller=world.seller,
                buyer_credit_code=world.buyer.credit_code,
                instrument_id=world.instrument_id,
                quantity=1,
                price=1,
                actor=world.watcher,
            )
    assert stranger.value.code == "registry_not_seller"
    with pytest.raises(ExchangeError) as unknown:
        async with unit_of_work(world.sessions) as session:
            await agreements.create_agreement(
                session,
                seller=world.seller,
                buyer_credit_code=credit_code(),
                instrument_id=world.instrument_id,
                quantity=1,
                price=1,
                actor=world.operator,
            )
    assert unknown.value.code == "registry_no_account"
    async with world.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Agreement))).scalar_one() == 1
    assert await _holding(world, world.seller) == ISSUED - QUANTITY
    assert await _actions(world.sessions) == ["agreement.created"]


@pytest.mark.databases()
async def test_an_open_objection_holds_the_confirmation_and_a_dismissed_one_lets_it_through(
    client: Client,
) -> None:
    world = await _world(client)
    agreement = await _create(world)
    async with unit_of_work(world.sessions) as session:
        objection = await agreements.file_objection(
            session, agreement.id, "转让价格明显低于市场价。", actor=world.watcher
        )
    assert await _confirm(world, agreement) == 0
    assert (await _reload(world, agreement.id)).status == "publicity"

    with pytest.raises(ExchangeError) as not_staff:
        async with unit_of_work(world.sessions) as session:
            await agreements.answer_objection(session, objection.id, "dismissed", "x", actor=world.watcher)
    assert not_staff.value.status == 403
    async with unit_of_work(world.sessions) as session:
        answered = await agreements.answer_objection(
            session, objection.id, "dismissed", "价格经评估合理。", actor=world.operator
        )
    assert answered.status == "dismissed"
    # dismissed, but the 公示 runs to its end
    async with unit_of_work(world.sessions) as session:
        early = agreement.publicity_ends_at - timedelta(seconds=1)
        assert await agreements.confirm_due(session, early) == 0
    with pytest.raises(ExchangeError) as late:
        async with unit_of_work(world.sessions) as session:
            await agreements.file_objection(
                session, agreement.id, "迟到", actor=world.watcher, now=agreement.publicity_ends_at
            )
    assert late.value.code == "publicity_closed"

    assert await _confirm(world, agreement) == 1
    assert await _confirm(world, agreement) == 0  # once
    confirmed = await _reload(world, agreement.id)
    assert confirmed.status == "confirmed" and confirmed.confirmed_at == agreement.publicity_ends_at
    assert await _money(world.sessions, agreements.receivable_code(agreement.id)) == PRICE
    assert await _money(world.sessions, agreements.seller_payable_code(agreement.id)) == -PRICE
    assert await _actions(world.sessions) == [
        "agreement.created",
        "agreement.objection_filed",
        "agreement.objection_dismissed",
        "agreement.confirmed",
    ]


@pytest.mark.databases()
async def test_an_upheld_objection_cancels_the_agreement_and_releases_its_quantity(client: Client) -> None:
    world = await _world(client)
    agreement = await _create(world)
    async with unit_of_work(world.sessions) as session:
        objection = await agreements.file_objection(
            session, agreement.id, "出让方无权转让。", actor=world.watcher
        )
    async with unit_of_work(world.sessions) as session:
        await agreements.answer_objection(session, objection.id, "upheld", "异议属实。", actor=world.operator)
    cancelled = await _reload(world, agreement.id)
    assert cancelled.status == "cancelled" and cancelled.reason == "异议成立: 异议属实。"
    assert await _holding(world, world.seller) == ISSUED
    assert await _hold(world, agreement) == 0
    assert await _confirm(world, agreement) == 0
    assert await _money(world.sessions, agreements.receivable_code(agreement.id)) == 0
    with pytest.raises(ExchangeError) as answered:
        async with unit_of_work(world.sessions) as session:
            await agreements.answer_objection(
                session, objection.id, "dismissed", "改判", actor=world.operator
            )
    assert answered.value.code == "objection_answered"
    assert (await _actions(world.sessions))[-2:] == ["agreement.objection_upheld", "agreement.cancelled"]


@pytest.mark.databases()
async def test_full_payment_delivers_the_quantity_and_pays_the_seller(client: Client) -> None:
    world = await _world(client)
    agreement = await _create(world)
    early = await _pay(client, agreement, 100_00)  # nothing is owed during the 公示
    assert (early["outcome"], early["reason"]) == ("suspense", "agreement_publicity")
    assert await _confirm(world, agreement) == 1

    half = await _pay(client, agreement, PRICE // 2)
    assert half["outcome"] == "payment"
    assert (await _reload(world, agreement.id)).status == "confirmed"
    assert await _holding(world, world.buyer) == 0 and await _hold(world, agreement) == QUANTITY
    assert await _money(world.sessions, agreements.receivable_code(agreement.id)) == PRICE - PRICE // 2

    rest = PRICE - PRICE // 2
    final = notice(agreement.payment_account, format_yuan(rest + 500_00), utcnow())
    last = await _send(client, final)
    assert (last["outcome"], last["reason"], last["duplicate"]) == ("payment", "overpaid", False)
    assert (await _send(client, final))["duplicate"] is True  # the bank repeats itself: booked once

    delivered = await _reload(world, agreement.id)
    assert delivered.status == "delivered"
    assert await _holding(world, world.buyer) == QUANTITY
    assert await _holding(world, world.seller) == ISSUED - QUANTITY
    assert await _hold(world, agreement) == 0
    assert await _money(world.sessions, agreements.receivable_code(agreement.id)) == 0
    assert await _money(world.sessions, agreements.seller_payable_code(agreement.id)) == 0
    async with world.sessions() as session:
        row = (
            await session.execute(select(Delivery).where(Delivery.agreement_id == agreement.id))
        ).scalar_one()
        assert (row.status, row.quantity, row.price, row.buyer_id) == (
            "delivered",
            QUANTITY,
            PRICE,
            world.buyer.id,
        )
        assert row.registry_transaction_id is not None and row.ledger_transaction_id is not None
        refunds = (await session.execute(select(RefundInstruction).order_by(RefundInstruction.id))).scalars()
        assert sorted(r.amount for r in refunds) == sorted([100_00, 500_00, PRICE])  # two back, one payout
        assert set((await book.trial_balance(session)).values()) == {0}
        assert await book.negative_balances(session) == []
        assert await ledger.trial_balance(session) == 0
    late = await _pay(client, agreement, 1_00)
    assert (late["outcome"], late["reason"]) == ("suspense", "agreement_delivered")
    assert (await _actions(world.sessions))[-3:] == [
        "agreement.payment",
        "agreement.delivered",
        "agreement.payment",
    ]


async def _delivery(world: World, agreement: Agreement) -> Delivery:
    async with world.sessions() as session:
        query = select(Delivery).where(Delivery.agreement_id == agreement.id)
        return (await session.execute(query)).scalar_one()


@pytest.mark.databases()
async def test_an_abstraction_permit_waits_for_the_registrar_after_payment(client: Client) -> None:
    world = await _world(client, right_type="water", sub_type="abstraction_permit")
    approved, refused = await _create(world, quantity=1_000), await _create(world, quantity=2_000)
    assert await _confirm(world, refused) == 2  # both: their 公示 ended together
    for agreement in (approved, refused):
        assert (await _pay(client, agreement, PRICE))["outcome"] == "payment"
        waiting = await _delivery(world, agreement)
        assert waiting.status == "awaiting_approval" and waiting.registry_transaction_id is None
        assert (await _reload(world, agreement.id)).status == "confirmed"
        assert await _money(world.sessions, agreements.seller_payable_code(agreement.id)) == -PRICE
    assert await _holding(world, world.buyer) == 0
    assert await _holding(world, world.seller) == ISSUED - 3_000

    with pytest.raises(ExchangeError) as not_registrar:
        async with unit_of_work(world.sessions) as session:
            await agreements.approve_agreement_delivery(
                session, (await _delivery(world, approved)).id, world.operator
            )
    assert not_registrar.value.status == 403
    async with unit_of_work(world.sessions) as session:
        await agreements.approve_agreement_delivery(
            session, (await _delivery(world, approved)).id, world.registrar
        )
    async with unit_of_work(world.sessions) as session:
        await agreements.refuse_agreement_delivery(
            session, (await _delivery(world, refused)).id, "取水许可审批机关不同意转让", world.registrar
        )
    assert (await _reload(world, approved.id)).status == "delivered"
    assert (await _delivery(world, approved)).status == "delivered"
    assert (await _reload(world, refused.id)).status == "cancelled"
    assert (await _delivery(world, refused)).status == "refused"
    assert await _holding(world, world.buyer) == 1_000
    assert await _holding(world, world.seller) == ISSUED - 1_000
    assert await _money(world.sessions, agreements.seller_payable_code(approved.id)) == 0
    assert await _money(world.sessions, agreements.seller_payable_code(refused.id)) == 0
    assert await _money(world.sessions, agreements.receivable_code(refused.id)) == 0
    async with world.sessions() as session:
        kinds = await session.execute(
            select(LedgerTransaction.kind, RefundInstruction.amount).join(
                RefundInstruction, RefundInstruction.transaction_id == LedgerTransaction.id
            )
        )
        assert sorted(tuple(row) for row in kinds) == [("agreement_refund", PRICE), ("seller_payout", PRICE)]


@pytest.mark.databases()
async def test_cancelling_a_paid_agreement_refunds_the_buyer(client: Client) -> None:
    world = await _world(client)
    agreement = await _create(world)
    assert await _confirm(world, agreement) == 1
    await _pay(client, agreement, 1_000_00)
    async with unit_of_work(world.sessions) as session:
        await agreements.cancel_agreement(session, agreement.id, reason="双方解除协议", actor="test")
    assert (await _reload(world, agreement.id)).status == "cancelled"
    assert await _holding(world, world.seller) == ISSUED
    assert await _money(world.sessions, agreements.receivable_code(agreement.id)) == 0
    assert await _money(world.sessions, agreements.seller_payable_code(agreement.id)) == 0
    async with world.sessions() as session:
        refunds = list((await session.execute(select(RefundInstruction))).scalars())
        assert [r.amount for r in refunds] == [1_000_00]


@pytest.mark.databases()
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payments=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=5))
async def test_any_payments_deliver_exactly_when_the_price_is_paid(
    client: Client, payments: list[int]
) -> None:
    """Whatever the buyer pays, in whatever pieces: the price applied is min(paid, P), the rest goes
    back, the quantity moves once and only when the price is complete, and both ledgers balance."""
    world: World | None = getattr(client.app.state, "agreement_world", None)
    if world is None:  # one per app: every example runs on the test's one app and database
        world = client.app.state.agreement_world = await _world(client)
    price = 1_000
    async with unit_of_work(world.sessions) as session:
        agreement = await agreements.create_agreement(
            session,
            seller=world.seller,
            buyer_credit_code=world.buyer.credit_code,
            instrument_id=world.instrument_id,
            quantity=1,
            price=price,
            actor=world.operator,
        )
    async with unit_of_work(world.sessions) as session:
        assert await agreements.confirm_agreement(session, agreement.id, agreement.publicity_ends_at)
    before = await _holding(world, world.buyer)
    applied = refunded = 0
    for n, amount in enumerate(payments):
        async with unit_of_work(world.sessions) as session:
            result = await agreements.book_agreement_payment(
                session,
                account=agreement.payment_account,
                amount=amount,
                txn_id=f"prop-{agreement.id}-{n}",
                paid_at=utcnow(),
            )
        assert result is not None
        applied, refunded = applied + result.applied, refunded + result.refunded
    paid_in_full = sum(payments) >= price
    assert (applied, refunded) == (min(sum(payments), price), sum(payments) - min(sum(payments), price))
    assert (await _reload(world, agreement.id)).status == ("delivered" if paid_in_full else "confirmed")
    assert await _holding(world, world.buyer) - before == (1 if paid_in_full else 0)
    assert await _hold(world, agreement) == (0 if paid_in_full else 1)
    assert await _money(world.sessions, agreements.receivable_code(agreement.id)) == price - applied
    async with world.sessions() as session:
        assert set((await book.trial_balance(session)).values()) == {0}
        assert await book.negative_balances(session) == []
        assert await ledger.trial_balance(session) == 0
