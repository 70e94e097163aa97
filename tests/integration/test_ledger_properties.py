"""Any sequence of bank notices, repeats, suspense money, releases and refund payments keeps the
ledger balanced and every bidder's money accounted for (Hypothesis, against PostgreSQL).

The model keeps, per application, what was paid in, what was released and what the bank paid
back; after every step the ledger must agree with it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.db import create_engine, session_factory, unit_of_work
from exchange.settings import DatabaseSettings
from settlement import ledger
from tests.integration.test_ledger import Seeded, Sessions, seed_applications

APPLICATIONS = 3


@dataclass(frozen=True)
class Deposit:
    app: int
    amount: int


@dataclass(frozen=True)
class Repeat:
    """The bank delivers an earlier notice again (same reference, same content)."""

    notice: int


@dataclass(frozen=True)
class Clash:
    """An earlier reference with other content: refused, and the transaction goes on."""

    notice: int
    extra: int


@dataclass(frozen=True)
class Suspense:
    amount: int


@dataclass(frozen=True)
class Release:
    app: int


@dataclass(frozen=True)
class Pay:
    refund: int
    transfer: str  # "new", "same" (its own transfer again) or "other" (another refund's transfer)


Step = Deposit | Repeat | Clash | Suspense | Release | Pay

amounts = st.integers(min_value=1, max_value=10**10)
apps = st.integers(min_value=0, max_value=APPLICATIONS - 1)
indexes = st.integers(min_value=0, max_value=50)
steps = st.one_of(
    st.builds(Deposit, apps, amounts),
    st.builds(Deposit, apps, amounts),  # twice as likely as the others
    st.builds(Repeat, indexes),
    st.builds(Clash, indexes, st.integers(min_value=1, max_value=1000)),
    st.builds(Suspense, amounts),
    st.builds(Release, apps),
    st.builds(Pay, indexes, st.sampled_from(["new", "same", "other"])),
)


@dataclass
class RefundSeen:
    id: int
    app: int | None
    amount: int
    transfer: str | None = None


@dataclass
class Model:
    paid: list[int] = field(default_factory=lambda: [0] * APPLICATIONS)
    released: list[int] = field(default_factory=lambda: [0] * APPLICATIONS)
    paid_back: list[int] = field(default_factory=lambda: [0] * APPLICATIONS)
    suspense_in: int = 0
    suspense_paid_back: int = 0
    notices: list[tuple[str, int, int]] = field(default_factory=list)  # (reference, app, amount)
    refunds: list[RefundSeen] = field(default_factory=list)

    def held(self, app: int) -> int:
        return self.paid[app] - self.released[app]


_numbers = itertools.count(1)


async def apply(session: AsyncSession, seeded: Seeded, model: Model, step: Step) -> None:
    """Perform one step and update the model with what must have happened."""
    match step:
        case Deposit(app, amount):
            reference = f"bank:{next(_numbers)}"
            application_id, bidder_id = seeded.applications[app]
            booked = await ledger.book_deposit(
                session,
                application_id=application_id,
                owner_id=bidder_id,
                listing_id=seeded.listing_id,
                amount=amount,
                reference=reference,
            )
            assert booked.created
            model.notices.append((reference, app, amount))
            model.paid[app] += amount
        case Repeat(i) if model.notices:
            reference, app, amount = model.notices[i % len(model.notices)]
            application_id, bidder_id = seeded.applications[app]
            booked = await ledger.book_deposit(
                session,
                application_id=application_id,
                owner_id=bidder_id,
                listing_id=seeded.listing_id,
                amount=amount,
                reference=reference,
            )
            assert not booked.created
        case Clash(i, extra) if model.notices:
            reference, app, amount = model.notices[i % len(model.notices)]
            application_id, bidder_id = seeded.applications[app]
            with pytest.raises(ledger.DuplicateReference):
                await ledger.book_deposit(
                    session,
                    application_id=application_id,
                    owner_id=bidder_id,
                    listing_id=seeded.listing_id,
                    amount=amount + extra,
                    reference=reference,
                )
            assert await ledger.trial_balance(session) == 0  # the session is still usable
        case Suspense(amount):
            booked = await ledger.book_suspense(
                session, amount=amount, reference=f"bank:{next(_numbers)}", memo="unknown_account"
            )
            assert booked.created and booked.refund is not None and booked.refund.amount == amount
            model.refunds.append(RefundSeen(booked.refund.id, None, amount))
            model.suspense_in += amount
        case Release(app):
            refund = await ledger.release_deposit(
                session, application_id=seeded.applications[app][0], reason="rejected", actor="test"
            )
            if model.held(app) == 0:
                assert refund is None
            else:
                assert refund is not None and refund.amount == model.held(app)
                model.refunds.append(RefundSeen(refund.id, app, refund.amount))
                model.released[app] += refund.amount
        case Pay(i, transfer) if model.refunds:
            await _pay(session, model, model.refunds[i % len(model.refunds)], transfer)
        case _:
            pass  # a step that needs earlier notices or refunds, before there are any


async def _pay(session: AsyncSession, model: Model, seen: RefundSeen, transfer: str) -> None:
    others = [r.transfer for r in model.refunds if r.transfer is not None and r is not seen]
    if transfer == "same" and seen.transfer is not None:
        reference = seen.transfer
    elif transfer == "other" and others:
        reference = others[0]
    else:
        reference = f"OUT-{next(_numbers)}"
    if seen.transfer is not None and reference != seen.transfer:
        with pytest.raises(ledger.RefundAlreadyPaid):
            await ledger.mark_refund_paid(session, seen.id, paid_reference=reference, actor="bank")
        return
    if seen.transfer is None and reference in others:
        with pytest.raises(ledger.PaidReferenceInUse):
            await ledger.mark_refund_paid(session, seen.id, paid_reference=reference, actor="bank")
        return
    refund = await ledger.mark_refund_paid(session, seen.id, paid_reference=reference, actor="bank")
    assert refund.status == "paid" and refund.paid_reference == reference
    if seen.transfer is None:
        seen.transfer = reference
        if seen.app is None:
            model.suspense_paid_back += seen.amount
        else:
            model.paid_back[seen.app] += seen.amount


async def check(session: AsyncSession, seeded: Seeded, model: Model) -> None:
    assert await ledger.trial_balance(session) == 0
    assert await ledger.unbalanced_transactions(session) == []
    stored = {r.id: r for r in await ledger.refunds(session)}
    assert sorted(stored) == sorted(r.id for r in model.refunds)
    for seen in model.refunds:
        row = stored[seen.id]
        assert (row.amount, row.paid_reference) == (seen.amount, seen.transfer)
    for app, (application_id, bidder_id) in enumerate(seeded.applications):
        held = await ledger.held_deposit(session, application_id)
        owed = sum(
            r.amount for r in stored.values() if r.application_id == application_id and r.status == "pending"
        )
        assert held == model.held(app)
        # What the exchange still holds or owes the bidder = what it paid - what it got back.
        assert held + owed == model.paid[app] - model.paid_back[app]
        owned = await ledger.balances_for_owner(session, bidder_id)
        assert -sum(balance for _, balance in owned) == held
    paid_in = sum(model.paid) + model.suspense_in
    paid_back = sum(model.paid_back) + model.suspense_paid_back
    assert await ledger.balance(session, "bank_clearing") == paid_in - paid_back
    assert await ledger.balance(session, "suspense") == 0
    owed_total = sum(r.amount for r in stored.values() if r.status == "pending")
    assert await ledger.balance(session, "refunds_payable") == -owed_total
    assert owed_total == sum(model.released) + model.suspense_in - paid_back


@pytest.fixture
async def pooled(db: str) -> AsyncIterator[Sessions]:
    """A pooled engine on this test's loop: hundreds of short transactions without reconnecting."""
    engine = create_engine(DatabaseSettings(url=db, pool_size=2))
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def seeded_pool(pooled: Sessions) -> Seeded:
    return await seed_applications(pooled, APPLICATIONS)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(steps, min_size=1, max_size=20))
async def test_any_sequence_keeps_the_books(pooled: Sessions, seeded_pool: Seeded, plan: list[Step]) -> None:
    async with unit_of_work(pooled) as session:  # each example starts from an empty ledger
        await session.execute(
            text("TRUNCATE refund_instructions, ledger_entries, ledger_transactions, ledger_accounts CASCADE")
        )
    model = Model()
    for step in plan:
        async with unit_of_work(pooled) as session:  # one commit per step: PostgreSQL checks each
            await apply(session, seeded_pool, model, step)
        async with pooled() as session:
            await check(session, seeded_pool, model)
