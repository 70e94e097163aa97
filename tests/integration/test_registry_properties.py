"""Any sequence of issuances, allocations, transfers, holds, pledges, surrenders, retirements
and repeats keeps the quantity ledger's books (Hypothesis, on both databases).

The model keeps every account's balance; after every step the ledger must agree with it, no
account but the cap may be negative, every instrument's entries sum to zero, quantity in
circulation changes only by issuance, surrender and retirement, and replaying the entries one
by one gives the same balances without ever going below zero.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.db import unit_of_work
from exchange.errors import Conflict, Unprocessable
from exchange.identity.tokens import Principal
from exchange.settings import Settings
from settlement.registry import book, compliance, issuance
from settlement.registry.models import Holder, RegistryAccount, RegistryEntry, Surrender
from tests.support.registry import Sessions, holder, issue_to, registrar, sessions_of

pytestmark = pytest.mark.databases()

HOLDERS = 3
SINKS = ("surrendered", "retired", "expired")


@dataclass(frozen=True)
class Issue:
    to: int | None  # a holder, or None: the reserve
    quantity: int


@dataclass(frozen=True)
class Allocate:
    lot: int
    to: int
    quantity: int


@dataclass(frozen=True)
class Transfer:
    lot: int
    source: int
    target: int
    quantity: int


@dataclass(frozen=True)
class Hold:
    """An offer: the holding moves to an order hold."""

    lot: int
    holder: int
    quantity: int


@dataclass(frozen=True)
class Unhold:
    hold: int


@dataclass(frozen=True)
class Sink:
    lot: int
    holder: int
    quantity: int
    kind: str  # surrendered or retired


@dataclass(frozen=True)
class Repeat:
    move: int


Step = Issue | Allocate | Transfer | Hold | Unhold | Sink | Repeat

quantities = st.integers(min_value=1, max_value=10**6)
holders = st.integers(min_value=0, max_value=HOLDERS - 1)
indexes = st.integers(min_value=0, max_value=30)
steps = st.one_of(
    st.builds(Issue, st.one_of(st.none(), holders), quantities),
    st.builds(Allocate, indexes, holders, quantities),
    st.builds(Transfer, indexes, holders, holders, quantities),
    st.builds(Transfer, indexes, holders, holders, quantities),
    st.builds(Hold, indexes, holders, quantities),
    st.builds(Unhold, indexes),
    st.builds(Sink, indexes, holders, quantities, st.sampled_from(["surrendered", "retired"])),
    st.builds(Repeat, indexes),
)

_numbers = itertools.count(1)


@dataclass
class Model:
    holders: list[Holder]
    who: Principal
    lots: list[int] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    issued: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    sunk: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    holds: list[tuple[str, str]] = field(default_factory=list)  # (hold code, holding code)
    moves: list[tuple[str, str, int, str]] = field(default_factory=list)  # (source, target, q, reference)

    def circulating(self, lot: int) -> int:
        return sum(
            v
            for code, v in self.balances.items()
            if _lot_of(code, self) == lot and not code.startswith(("issuance:", *(f"{s}:" for s in SINKS)))
        )


_account_lots: dict[str, int] = {}


def _lot_of(code: str, model: Model) -> int:
    return _account_lots[code]


async def _move(
    session: AsyncSession, model: Model, source: RegistryAccount, target: RegistryAccount, q: int
) -> None:
    reference = f"prop:{next(_numbers)}"
    _account_lots[source.code] = source.instrument_id
    _account_lots[target.code] = target.instrument_id
    if source.kind != "issuance" and model.balances[source.code] < q:
        with pytest.raises(book.InsufficientQuantity):
            await book.move(
                session, source=source, target=target, quantity=q, kind="t", reference=reference, actor="p"
            )
        return
    await book.move(
        session, source=source, target=target, quantity=q, kind="t", reference=reference, actor="p"
    )
    model.balances[source.code] -= q
    model.balances[target.code] += q
    model.moves.append((source.code, target.code, q, reference))


async def _holding(session: AsyncSession, model: Model, lot: int, h: int) -> RegistryAccount:
    return await book.account(session, "holding", lot, holder_id=model.holders[h].id)


async def apply(session: AsyncSession, model: Model, step: Step) -> None:
    match step:
        case Issue(to, quantity):
            target = model.holders[to] if to is not None else None
            instrument = await issue_to(session, model.who, target, quantity)
            model.lots.append(instrument.id)
            model.issued[instrument.id] += quantity
            where = f"holding:{target.id}:{instrument.id}" if target else f"reserve:{instrument.id}"
            for code in (f"issuance:{instrument.id}", f"reserve:{instrument.id}", where):
                _account_lots[code] = instrument.id
            model.balances[f"issuance:{instrument.id}"] -= quantity
            model.balances[where] += quantity
        case Allocate(i, to, quantity) if model.lots:
            lot = model.lots[i % len(model.lots)]
            reserve = await book.account(session, "reserve", lot)
            await _move(session, model, reserve, await _holding(session, model, lot, to), quantity)
        case Transfer(i, giver, taker, quantity) if model.lots:
            lot = model.lots[i % len(model.lots)]
            a = await _holding(session, model, lot, giver)
            b = await _holding(session, model, lot, taker)
            if a.id != b.id:
                await _move(session, model, a, b, quantity)
        case Hold(i, h, quantity) if model.lots:
            lot = model.lots[i % len(model.lots)]
            held_from = await _holding(session, model, lot, h)
            hold = await book.account(
                session, "order_hold", lot, holder_id=model.holders[h].id, key=f"prop:{next(_numbers)}"
            )
            before = model.balances[hold.code]
            await _move(session, model, held_from, hold, quantity)
            if model.balances[hold.code] > before:
                model.holds.append((hold.code, held_from.code))
        case Unhold(i) if model.holds:
            hold_code, holding_code = model.holds.pop(i % len(model.holds))
            hold = (
                await session.execute(select(RegistryAccount).where(RegistryAccount.code == hold_code))
            ).scalar_one()
            back = (
                await session.execute(select(RegistryAccount).where(RegistryAccount.code == holding_code))
            ).scalar_one()
            await _move(session, model, hold, back, model.balances[hold_code])
        case Sink(i, h, quantity, kind) if model.lots:
            lot = model.lots[i % len(model.lots)]
            sunk_from = await _holding(session, model, lot, h)
            sink = await book.account(session, kind, lot)
            before = model.balances[sink.code]
            await _move(session, model, sunk_from, sink, quantity)
            model.sunk[lot] += model.balances[sink.code] - before
        case Repeat(i) if model.moves:
            source_code, target_code, q, reference = model.moves[i % len(model.moves)]
            source = (
                await session.execute(select(RegistryAccount).where(RegistryAccount.code == source_code))
            ).scalar_one()
            dst = (
                await session.execute(select(RegistryAccount).where(RegistryAccount.code == target_code))
            ).scalar_one()
            txn = await book.move(
                session, source=source, target=dst, quantity=q, kind="t", reference=reference, actor="p"
            )
            assert txn.reference == reference  # booked once: the model does not change
        case _:
            pass


async def check(session: AsyncSession, model: Model) -> None:
    trial = await book.trial_balance(session)
    assert set(trial.values()) <= {0}
    assert await book.negative_balances(session) == []
    assert await book.unbalanced_transactions(session) == []
    ids = {
        code: i for code, i in (await session.execute(select(RegistryAccount.code, RegistryAccount.id))).all()
    }
    for code, expected in model.balances.items():
        assert await book.balance(session, ids[code]) == expected, code
    for lot in model.lots:
        assert model.circulating(lot) == model.issued[lot] - model.sunk[lot]
    # replay: the entries in booking order never take an account but the cap below zero
    mine = [ids[code] for code in model.balances]
    kinds = dict((await session.execute(select(RegistryAccount.id, RegistryAccount.kind))).all())
    running: dict[int, int] = defaultdict(int)
    query = select(RegistryEntry.transaction_id, RegistryEntry.account_id, RegistryEntry.amount).where(
        RegistryEntry.account_id.in_(mine)
    )
    rows = (await session.execute(query.order_by(RegistryEntry.transaction_id, RegistryEntry.id))).all()
    for txn_id, group in itertools.groupby(rows, key=lambda r: r[0]):
        for _, account_id, amount in group:
            running[account_id] += amount
        for account_id, value in running.items():
            assert kinds[account_id] == "issuance" or value >= 0, (txn_id, account_id)
    for code in model.balances:
        assert running[ids[code]] == model.balances[code]


@pytest.fixture
async def sessions(db: str, settings: Settings) -> AsyncIterator[Sessions]:
    async with sessions_of(settings) as made:
        yield made


@pytest.fixture
async def who(sessions: Sessions) -> Principal:
    async with unit_of_work(sessions) as session:
        return await registrar(session)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(steps, min_size=1, max_size=20))
async def test_any_sequence_keeps_the_books(sessions: Sessions, who: Principal, plan: list[Step]) -> None:
    # each example has holders and lots of its own: the global invariants cover the earlier ones too
    async with unit_of_work(sessions) as session:
        model = Model([await holder(session) for _ in range(HOLDERS)], who)
    for step in plan:
        async with unit_of_work(sessions) as session:  # one commit per step: PostgreSQL checks each
            await apply(session, model, step)
        async with sessions() as session:
            await check(session, model)


async def test_an_allocation_cannot_exceed_the_reserve(sessions: Sessions, who: Principal) -> None:
    async with unit_of_work(sessions) as session:
        a = await holder(session)
        lot = await issue_to(session, who, None, 10)
        with pytest.raises(book.InsufficientQuantity):
            await issuance.allocate(
                session, instrument_id=lot.id, holder_id=a.id, quantity=11, reference="r", actor="p"
            )


async def test_a_keyed_surrender_is_booked_once(sessions: Sessions, who: Principal) -> None:
    """A surrender repeated with its reference (the client retrying after a lost answer) returns
    the booked one and surrenders nothing more, even once the holding is spent; the reference with
    another body is a 409; another holder's equal reference is its own surrender."""
    async with unit_of_work(sessions) as session:
        a, b = await holder(session), await holder(session)
        lots = {h.id: await issue_to(session, who, h, 1000) for h in (a, b)}
        owed = {
            h.id: await compliance.enter_verified(
                session,
                holder_id=h.id,
                right_type="emission",
                sub_type="COD",
                year=2026,
                quantity=900,
                actor=who,
            )
            for h in (a, b)
        }

    async def surrender(h: Holder, quantity: int, reference: str | None = "retry-1") -> int:
        async with unit_of_work(sessions) as session:
            done = await compliance.surrender(
                session,
                obligation_id=owed[h.id].id,
                instrument_id=lots[h.id].id,
                quantity=quantity,
                actor="t",
                reference=reference,
            )
            return done.id

    first = await surrender(a, 600)
    assert await surrender(a, 600) == first  # the holding has 400 left: still the booked surrender
    for other in (601, 1):
        with pytest.raises(Conflict) as clash:
            await surrender(a, other)
        assert clash.value.code == "idempotency_conflict"
    assert await surrender(b, 600) != first
    assert await surrender(a, 100, None) != await surrender(a, 100, None)  # unkeyed: each its own
    async with sessions() as session:
        surrendered = {h.id: (await compliance.compliance_of(session, h.id))[0].surrendered for h in (a, b)}
        rows = (
            await session.execute(select(Surrender).where(Surrender.obligation_id == owed[a.id].id))
        ).all()
        assert (
            await book.balance(
                session, (await book.account(session, "holding", lots[a.id].id, holder_id=a.id)).id
            )
            == 200
        )
    assert surrendered == {a.id: 800, b.id: 600}
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("right_type", "sub_type"),
    [("emission", "C0D"), ("emission", "abstraction_permit"), ("water", "COD"), ("water", "")],
)
async def test_an_obligation_names_a_right_that_exists(
    sessions: Sessions, who: Principal, right_type: str, sub_type: str
) -> None:
    """A typo in the pollutant would be an obligation no instrument can meet: a shortfall for good,
    and no pledge ever again. Refused, with nothing entered."""
    async with unit_of_work(sessions) as session:
        a = await holder(session)
    with pytest.raises(Unprocessable) as refused:
        async with unit_of_work(sessions) as session:
            await compliance.enter_verified(
                session,
                holder_id=a.id,
                right_type=right_type,
                sub_type=sub_type,
                year=2026,
                quantity=1,
                actor=who,
            )
    assert refused.value.code == "registry_obligation_invalid"
    assert [e["field"] for e in refused.value.errors] == ["sub_type"]
    async with sessions() as session:
        assert await compliance.compliance_of(session, a.id) == []
        assert await compliance.open_shortfall(session, a.id) == 0


async def test_an_obligation_of_each_known_right_is_entered(sessions: Sessions, who: Principal) -> None:
    async with unit_of_work(sessions) as session:
        a = await holder(session)
        for right_type, sub_type in (("emission", "SO2"), ("water", "abstraction_permit")):
            entered = await compliance.enter_verified(
                session,
                holder_id=a.id,
                right_type=right_type,
                sub_type=sub_type,
                year=2026,
                quantity=5,
                actor=who,
            )
            assert (entered.right_type, entered.sub_type) == (right_type, sub_type)
