"""Fifty offers at once on one holding, together asking for more than it holds (PostgreSQL),
through the holder's own offer path (``offers.make_offer``): the row lock on the holding makes the
balance check and the move one step, so no unit is encumbered twice and the holding never goes
below zero."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from exchange.db import create_engine, session_factory, unit_of_work
from exchange.settings import DatabaseSettings
from settlement.registry import book, offers
from settlement.registry.models import RegistryAccount, RegistryEntry
from tests.support.registry import Sessions, holder, issue_to, principal, registrar, user

TASKS = 50
HELD = 1000
ASKED = 37  # 50 x 37 = 1850 > 1000: 27 succeed, 23 are refused


@pytest.fixture
async def sessions(db: str) -> AsyncIterator[Sessions]:
    # a connection per task (no pool limit): the tasks really run side by side in the database
    engine = create_engine(DatabaseSettings(url=db, null_pool=True))
    yield session_factory(engine)
    await engine.dispose()


async def test_concurrent_offers_never_encumber_a_unit_twice(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        seller = await holder(session)
        owner = principal(await user(session, "bidder", code=seller.credit_code))
        lot = await issue_to(session, who, seller, HELD)
        holding = await book.account(session, "holding", lot.id, holder_id=seller.id)

    start = asyncio.Event()

    async def offer(n: int) -> str:
        await start.wait()
        try:
            async with unit_of_work(sessions) as session:
                await offers.make_offer(
                    session, holder=seller, instrument_id=lot.id, quantity=ASKED, actor=owner
                )
        except book.InsufficientQuantity as exc:
            assert exc.code == "registry_insufficient"
            return "refused"
        return "held"

    tasks = [asyncio.create_task(offer(n)) for n in range(TASKS)]
    start.set()
    outcomes = await asyncio.gather(*tasks)

    held = outcomes.count("held")
    assert held == HELD // ASKED and outcomes.count("refused") == TASKS - held
    async with sessions() as session:
        hold_total = (
            await session.execute(
                select(func.coalesce(func.sum(RegistryEntry.amount), 0))
                .join(RegistryAccount, RegistryAccount.id == RegistryEntry.account_id)
                .where(RegistryAccount.kind == "order_hold", RegistryAccount.instrument_id == lot.id)
            )
        ).scalar_one()
        assert int(hold_total) == held * ASKED <= HELD
        assert await book.balance(session, holding.id) == HELD - held * ASKED >= 0
        assert await book.negative_balances(session) == []
        assert set((await book.trial_balance(session)).values()) == {0}
        assert await book.unbalanced_transactions(session) == []
