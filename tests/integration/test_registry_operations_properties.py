"""Any sequence of the registry's real operations keeps its books (Hypothesis, on both databases).

Where ``test_registry_properties`` drives ``book.move`` alone, this drives the services as the API
and the jobs call them: issue, allocate, make_offer, reject_offer, create_agreement,
cancel_agreement, pledge, release_pledge, enter_verified, surrender (with and without a
reference, and repeats of keyed surrenders), retire_expired on a date. Each step runs in its own
transaction (PostgreSQL's deferred balance trigger checks every commit). A model predicts each
step's outcome: a refusal must be the predicted one, a success must leave every account of the
example where the model says. After every step:

- no account but the cap is below zero, and every instrument's entries sum to zero;
- per instrument, the quantity issued equals what sits in the reserve, holdings, order holds,
  pledges and the sinks (nothing is left in transit);
- the sinks (surrendered, retired, expired) never decrease;
- a refused operation changed nothing: no entry, row, status or audit record.

``EXCHANGE_REGISTRY_EXAMPLES`` (default 10) sets the number of examples: the suite runs on two cores.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.models import AuditEntry
from exchange.db import unit_of_work
from exchange.errors import ExchangeError
from exchange.identity.tokens import Principal
from exchange.settings import Settings
from settlement.registry import agreements, book, compliance, expiry, issuance, offers, pledges
from settlement.registry.models import (
    SINK_KINDS,
    Agreement,
    Holder,
    Obligation,
    Offer,
    Pledge,
    RegistryAccount,
    RegistryEntry,
    RegistryTransaction,
    Surrender,
)
from tests.support.ids import credit_code
from tests.support.registry import Sessions, holder, issue_to, principal, registrar, sessions_of, user

pytestmark = pytest.mark.databases()

EXAMPLES = int(os.environ.get("EXCHANGE_REGISTRY_EXAMPLES", "10"))
HOLDERS = 2
TODAY = issuance.today()
YEAR = TODAY.year
VALIDITY = (timedelta(days=200), timedelta(days=600), timedelta(days=1500))
"""How long the lots run from today."""
RETIRE_ON = (timedelta(days=100), VALIDITY[0], VALIDITY[1])
"""The dates ``Retire`` runs the expiry on, from today: before any lot ends, or as some do."""
SUB_TYPES = ("COD", "SO2")
NOT_A_POLLUTANT = "C0D"

# -- the steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    to: int | None  # a holder, or None: the reserve
    quantity: int
    validity: int
    sub_type: str
    origin: str


@dataclass(frozen=True)
class Allocate:
    lot: int
    to: int
    share: int  # percent of the source's balance


@dataclass(frozen=True)
class MakeOffer:
    lot: int
    seller: int | None  # None: the registrar offers from the reserve
    share: int  # percent of the source's balance


@dataclass(frozen=True)
class RejectOffer:
    offer: int


@dataclass(frozen=True)
class CreateAgreement:
    lot: int
    seller: int
    buyer: int  # counted on from the seller: 0 is the seller itself (refused)
    share: int  # percent of the source's balance


@dataclass(frozen=True)
class CancelAgreement:
    agreement: int


@dataclass(frozen=True)
class MakePledge:
    lot: int
    holder: int
    share: int  # percent of the source's balance


@dataclass(frozen=True)
class ReleasePledge:
    pledge: int


@dataclass(frozen=True)
class EnterVerified:
    holder: int
    sub_type: str
    quantity: int


@dataclass(frozen=True)
class Surrendering:
    obligation: int
    lot: int
    share: int  # percent of the source's balance
    keyed: bool


@dataclass(frozen=True)
class RepeatSurrender:
    surrender: int
    same: bool  # the same body again, or another quantity under the same reference


@dataclass(frozen=True)
class Retire:
    date: int


Step = (
    Issue
    | Allocate
    | MakeOffer
    | RejectOffer
    | CreateAgreement
    | CancelAgreement
    | MakePledge
    | ReleasePledge
    | EnterVerified
    | Surrendering
    | RepeatSurrender
    | Retire
)

shares = st.one_of(st.integers(min_value=1, max_value=100), st.integers(min_value=101, max_value=130))
"""What a step asks for, in percent of what its source holds: over 100 is refused."""
holders = st.integers(min_value=0, max_value=HOLDERS - 1)
indexes = st.integers(min_value=0, max_value=30)
issues = st.builds(
    Issue,
    st.one_of(holders, holders, st.none()),  # mostly to a holder; the reserve is allocated from
    st.integers(min_value=1, max_value=2000),
    st.integers(min_value=0, max_value=len(VALIDITY) - 1),
    st.sampled_from(SUB_TYPES),
    st.sampled_from(("paid", "paid", "free")),
)
# Hypothesis leans to the first alternatives in its first examples: the operations on lots first,
# the issuances (the plan starts with some) and the expiry last
steps = st.one_of(
    st.builds(MakeOffer, indexes, st.one_of(holders, st.none()), shares),
    st.builds(
        EnterVerified,
        holders,
        st.sampled_from((*SUB_TYPES, NOT_A_POLLUTANT)),
        st.integers(min_value=0, max_value=1500),
    ),
    st.builds(Surrendering, indexes, indexes, shares, st.booleans()),
    st.builds(RepeatSurrender, indexes, st.booleans()),
    st.builds(CreateAgreement, indexes, holders, st.sampled_from((1, 1, 1, 0)), shares),
    st.builds(MakePledge, indexes, holders, shares),
    st.builds(Allocate, indexes, holders, shares),
    st.builds(RejectOffer, indexes),
    st.builds(CancelAgreement, indexes),
    st.builds(ReleasePledge, indexes),
    issues,
    st.builds(Retire, st.sampled_from((0, 0, 1, 2))),
)
# a few lots first, so that the steps after them have something to work on
plans = st.tuples(st.lists(issues, min_size=2, max_size=4), st.lists(steps, min_size=10, max_size=20)).map(
    lambda parts: [*parts[0], *parts[1]]
)

_numbers = itertools.count(1)


def _portion(held: int, share: int) -> int:
    return max(1, held * share // 100)


# -- the model ------------------------------------------------------------------------------------


@dataclass
class Lot:
    id: int
    sub_type: str
    origin: str
    valid_until: date


@dataclass
class OfferM:
    id: int
    lot: int
    source: str
    hold: str
    status: str


@dataclass
class AgreementM:
    id: int
    lot: int
    holding: str
    hold: str
    status: str


@dataclass
class PledgeM:
    id: int
    holder: int
    holding: str
    account: str
    quantity: int
    status: str


@dataclass
class ObligationM:
    id: int
    holder: int
    sub_type: str
    verified: int
    surrendered: int = 0


@dataclass(frozen=True)
class SurrenderM:
    id: int
    reference: str
    obligation: int
    lot: int
    quantity: int


@dataclass
class Model:
    holders: list[Holder]
    bidders: list[Principal]
    registrar: Principal
    operator: Principal
    lots: list[Lot] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kinds: dict[str, tuple[str, int]] = field(default_factory=dict)  # code -> (kind, lot)
    issued: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    offers: list[OfferM] = field(default_factory=list)
    agreements: list[AgreementM] = field(default_factory=list)
    pledges: list[PledgeM] = field(default_factory=list)
    obligations: list[ObligationM] = field(default_factory=list)
    surrenders: list[SurrenderM] = field(default_factory=list)

    def code(self, kind: str, lot: int, *, holder: int | None = None, key: str | None = None) -> str:
        holder_id = None if holder is None else self.holders[holder].id
        made = book.code(kind, lot, holder_id=holder_id, key=key)
        self.kinds[made] = (kind, lot)
        return made

    def move(self, source: str, target: str, quantity: int) -> None:
        self.balances[source] -= quantity
        self.balances[target] += quantity

    def shortfall(self, h: int) -> int:
        return sum(max(o.verified - o.surrendered, 0) for o in self.obligations if o.holder == h)

    def lot(self, i: int, source: Callable[[Lot], str] | None = None) -> Lot:
        """The ``i``-th lot; with ``source``, mostly one whose source account holds something
        (every fourth pick is any lot, which may hold nothing: a refusal)."""
        held = [lot for lot in self.lots if source is not None and self.balances[source(lot)] > 0]
        candidates = held if held and i % 4 != 3 else self.lots
        return candidates[i % len(candidates)]

    def source_of(self, h: int | None) -> Callable[[Lot], str]:
        """The account a holder (None: the registrar) sells or pledges a lot from."""
        if h is None:
            return lambda lot: self.code("reserve", lot.id)
        return lambda lot: self.code("holding", lot.id, holder=h)

    def retire(self, on: date) -> None:
        """``retire_expired(on)``: offers withdrawn, agreements cancelled, then what is left expires."""
        ended = {lot.id for lot in self.lots if lot.valid_until <= on}
        for offer in self.offers:
            if offer.lot in ended and offer.status == "pending":
                self.move(offer.hold, offer.source, self.balances[offer.hold])
                offer.status = "released"
        for agreement in self.agreements:
            if agreement.lot in ended and agreement.status == "publicity":
                self.move(agreement.hold, agreement.holding, self.balances[agreement.hold])
                agreement.status = "cancelled"
        for code, (kind, lot) in list(self.kinds.items()):
            if lot in ended and kind in expiry.EXPIRING_KINDS and self.balances[code] > 0:
                self.move(code, self.code("expired", lot), self.balances[code])


# -- running a step -------------------------------------------------------------------------------

Operation = Callable[[AsyncSession], Awaitable[Any]]


@dataclass(frozen=True)
class Plan:
    """What a step calls, the refusal the model predicts (None: it succeeds), and what a success does."""

    operation: Operation
    refusal: str | None = None
    apply: Callable[[Any], None] = lambda _: None
    changes: bool = True
    """False: a success that must change nothing either (a repeat)."""


def _plan(model: Model, step: Step) -> Plan | None:
    match step:
        case Issue(to, quantity, validity, sub_type, origin):
            valid_until = TODAY + VALIDITY[validity]

            async def issue(session: AsyncSession) -> int:
                target = None if to is None else model.holders[to]
                made = await issue_to(
                    session,
                    model.registrar,
                    target,
                    quantity,
                    sub_type=sub_type,
                    origin=origin,
                    valid_from=date(YEAR, 1, 1),
                    valid_until=valid_until,
                )
                return made.id

            def issued(lot: int) -> None:
                model.lots.append(Lot(lot, sub_type, origin, valid_until))
                model.issued[lot] += quantity
                reserve = model.code("reserve", lot)
                model.move(model.code("issuance", lot), reserve, quantity)
                if to is not None:
                    model.move(reserve, model.code("holding", lot, holder=to), quantity)

            return Plan(issue, apply=issued)
        case Allocate(i, to, share) if model.lots:
            lot = model.lot(i, model.source_of(None))
            reserve, holding = model.code("reserve", lot.id), model.code("holding", lot.id, holder=to)
            quantity = _portion(model.balances[reserve], share)

            async def allocate(session: AsyncSession) -> None:
                await issuance.allocate(
                    session,
                    instrument_id=lot.id,
                    holder_id=model.holders[to].id,
                    quantity=quantity,
                    reference=f"ops-{next(_numbers)}",
                    actor="test",
                )

            short = model.balances[reserve] < quantity
            return Plan(
                allocate,
                "registry_insufficient" if short else None,
                lambda _: model.move(reserve, holding, quantity),
            )
        case MakeOffer(i, seller, share) if model.lots:
            lot = model.lot(i, model.source_of(seller))
            if seller is None:
                source, actor = model.code("reserve", lot.id), model.registrar
            else:
                source, actor = model.code("holding", lot.id, holder=seller), model.bidders[seller]
            quantity = _portion(model.balances[source], share)

            async def make_offer(session: AsyncSession) -> int:
                by = None if seller is None else model.holders[seller]
                offer = await offers.make_offer(
                    session, holder=by, instrument_id=lot.id, quantity=quantity, actor=actor
                )
                return offer.id

            def offered(offer_id: int) -> None:
                hold = model.code("order_hold", lot.id, key=f"offer:{offer_id}")
                model.move(source, hold, quantity)
                model.offers.append(OfferM(offer_id, lot.id, source, hold, "pending"))

            short = model.balances[source] < quantity
            return Plan(make_offer, "registry_insufficient" if short else None, offered)
        case RejectOffer(i) if model.offers:
            offer = model.offers[i % len(model.offers)]

            async def reject(session: AsyncSession) -> None:
                await offers.reject_offer(session, offer.id, "不符合挂牌条件", model.operator)

            def rejected(_: object) -> None:
                model.move(offer.hold, offer.source, model.balances[offer.hold])
                offer.status = "rejected"

            return Plan(reject, None if offer.status == "pending" else "registry_offer_state", rejected)
        case CreateAgreement(i, seller, buyer, share) if model.lots:
            lot = model.lot(i, model.source_of(seller))
            holding = model.code("holding", lot.id, holder=seller)
            quantity = _portion(model.balances[holding], share)

            async def create(session: AsyncSession) -> int:
                made = await agreements.create_agreement(
                    session,
                    seller=model.holders[seller],
                    buyer_credit_code=model.holders[(seller + buyer) % HOLDERS].credit_code,
                    instrument_id=lot.id,
                    quantity=quantity,
                    price=quantity * 100,
                    actor=model.operator,
                )
                return made.id

            def created(agreement_id: int) -> None:
                hold = model.code("order_hold", lot.id, key=f"agreement:{agreement_id}")
                model.move(holding, hold, quantity)
                model.agreements.append(AgreementM(agreement_id, lot.id, holding, hold, "publicity"))

            if buyer % HOLDERS == 0:
                refusal: str | None = "registry_agreement_invalid"
            elif model.balances[holding] < quantity:
                refusal = "registry_insufficient"
            else:
                refusal = None
            return Plan(create, refusal, created)
        case CancelAgreement(i) if model.agreements:
            agreement = model.agreements[i % len(model.agreements)]

            async def cancel(session: AsyncSession) -> None:
                await agreements.cancel_agreement(session, agreement.id, reason="双方解除", actor="test")

            def cancelled(_: object) -> None:
                model.move(agreement.hold, agreement.holding, model.balances[agreement.hold])
                agreement.status = "cancelled"

            # cancelling a cancelled agreement is a repeat: it succeeds and does nothing
            return Plan(cancel, None, cancelled, changes=agreement.status != "cancelled")
        case MakePledge(i, h, share) if model.lots:
            lot = model.lot(i, model.source_of(h))
            holding = model.code("holding", lot.id, holder=h)
            quantity = _portion(model.balances[holding], share)

            async def pledge(session: AsyncSession) -> int:
                made = await pledges.pledge(
                    session,
                    holder_id=model.holders[h].id,
                    instrument_id=lot.id,
                    quantity=quantity,
                    pledgee_name="某银行",
                    pledgee_code=credit_code(),
                    contract_reference=f"ZY-{next(_numbers)}",
                    actor="test",
                )
                return made.id

            def pledged(pledge_id: int) -> None:
                account = model.code("pledged", lot.id, holder=h, key=str(pledge_id))
                model.move(holding, account, quantity)
                model.pledges.append(PledgeM(pledge_id, h, holding, account, quantity, "active"))

            if model.shortfall(h) > 0 or lot.origin == "free":  # nothing here was bought by trade
                refusal = "registry_pledge_refused"
            elif model.balances[holding] < quantity:
                refusal = "registry_insufficient"
            else:
                refusal = None
            return Plan(pledge, refusal, pledged)
        case ReleasePledge(i) if model.pledges:
            row = model.pledges[i % len(model.pledges)]

            async def release(session: AsyncSession) -> None:
                await pledges.release_pledge(session, row.id, "test")

            def released(_: object) -> None:
                model.move(row.account, row.holding, row.quantity)
                row.status = "released"

            return Plan(release, None if row.status == "active" else "registry_pledge_state", released)
        case EnterVerified(h, sub_type, quantity):

            async def enter(session: AsyncSession) -> int:
                entered = await compliance.enter_verified(
                    session,
                    holder_id=model.holders[h].id,
                    right_type="emission",
                    sub_type=sub_type,
                    year=YEAR,
                    quantity=quantity,
                    actor=model.registrar,
                )
                return entered.id

            found = next((o for o in model.obligations if (o.holder, o.sub_type) == (h, sub_type)), None)
            if sub_type not in SUB_TYPES:
                return Plan(enter, "registry_obligation_invalid")
            if found is not None:
                if found.verified != quantity:
                    return Plan(enter, "registry_obligation_conflict")

                def entered_before(obligation_id: int) -> None:
                    assert obligation_id == found.id

                return Plan(enter, None, entered_before, changes=False)
            return Plan(
                enter,
                None,
                lambda obligation_id: model.obligations.append(
                    ObligationM(obligation_id, h, sub_type, quantity)
                ),
            )
        case Surrendering(i, j, share, keyed) if model.obligations and model.lots:
            # mostly an obligation its holder can surrender against, with a lot of its kind the
            # holder has some of; now and then any obligation and any lot
            def can(o: ObligationM) -> bool:
                source = model.source_of(o.holder)
                return any(
                    lot.sub_type == o.sub_type and model.balances[source(lot)] > 0 for lot in model.lots
                )

            able = [o for o in model.obligations if can(o)]
            obligations = able if able and i % 4 != 3 else model.obligations
            obligation = obligations[i % len(obligations)]
            matching = [lot for lot in model.lots if lot.sub_type == obligation.sub_type]
            held = [lot for lot in matching if model.balances[model.source_of(obligation.holder)(lot)] > 0]
            candidates = (held or matching) if matching and j % 4 != 3 else model.lots
            lot = candidates[j % len(candidates)]
            holding = model.code("holding", lot.id, holder=obligation.holder)
            quantity = _portion(model.balances[holding], share)
            reference = f"key-{next(_numbers)}" if keyed else None

            async def surrender(session: AsyncSession) -> int:
                done = await compliance.surrender(
                    session,
                    obligation_id=obligation.id,
                    instrument_id=lot.id,
                    quantity=quantity,
                    actor="test",
                    reference=reference,
                )
                return done.id

            def surrendered(surrender_id: int) -> None:
                model.move(holding, model.code("surrendered", lot.id), quantity)
                obligation.surrendered += quantity
                if reference is not None:
                    model.surrenders.append(
                        SurrenderM(surrender_id, reference, obligation.id, lot.id, quantity)
                    )

            if lot.sub_type != obligation.sub_type:
                refusal = "registry_instrument_mismatch"
            elif model.balances[holding] < quantity:
                refusal = "registry_insufficient"
            else:
                refusal = None
            return Plan(surrender, refusal, surrendered)
        case RepeatSurrender(i, same) if model.surrenders:
            booked = model.surrenders[i % len(model.surrenders)]
            quantity = booked.quantity if same else booked.quantity + 1

            async def again(session: AsyncSession) -> int:
                done = await compliance.surrender(
                    session,
                    obligation_id=booked.obligation,
                    instrument_id=booked.lot,
                    quantity=quantity,
                    actor="test",
                    reference=booked.reference,
                )
                return done.id

            def repeated(surrender_id: int) -> None:
                assert surrender_id == booked.id

            if same:  # even when the holding no longer has it: the surrender is already booked
                return Plan(again, None, repeated, changes=False)
            return Plan(again, "idempotency_conflict")
        case Retire(d):
            on = TODAY + RETIRE_ON[d]

            async def retire(session: AsyncSession) -> None:
                await expiry.retire_expired(session, on)

            # earlier examples' lots may expire too: the invariants cover them, the model does not
            return Plan(retire, None, lambda _: model.retire(on))
        case _:
            return None


# -- what the database says -----------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    balances: dict[str, int]
    kinds: dict[str, tuple[str, int]]
    rows: tuple[int, ...]
    statuses: tuple[tuple[Any, ...], ...]


async def state(session: AsyncSession) -> State:
    total = func.coalesce(func.sum(RegistryEntry.amount), 0)
    query = (
        select(RegistryAccount.code, RegistryAccount.kind, RegistryAccount.instrument_id, total)
        .outerjoin(RegistryEntry, RegistryEntry.account_id == RegistryAccount.id)
        .group_by(
            RegistryAccount.id, RegistryAccount.code, RegistryAccount.kind, RegistryAccount.instrument_id
        )
    )
    balances, kinds = {}, {}
    for code, kind, lot, amount in (await session.execute(query)).all():
        balances[code], kinds[code] = int(amount or 0), (kind, int(lot))
    rows = []
    for table in (RegistryTransaction, RegistryEntry, Offer, Agreement, Pledge, Obligation, Surrender):
        rows.append(int((await session.execute(select(func.count()).select_from(table))).scalar_one()))
    audit = select(func.count()).select_from(AuditEntry).where(AuditEntry.stream == book.STREAM)
    rows.append(int((await session.execute(audit)).scalar_one()))
    statuses = []
    for key, column in (
        (Offer.id, Offer.status),
        (Agreement.id, Agreement.status),
        (Pledge.id, Pledge.status),
    ):
        found = await session.execute(select(key, column).order_by(key))
        statuses.append(tuple(tuple(r) for r in found.all()))
    return State(balances, kinds, tuple(rows), tuple(statuses))


async def check(session: AsyncSession, model: Model, before: State) -> State:
    after = await state(session)
    assert await book.negative_balances(session) == []
    assert set((await book.trial_balance(session)).values()) <= {0}
    assert await book.unbalanced_transactions(session) == []
    for code, value in before.balances.items():
        if before.kinds[code][0] in SINK_KINDS:
            assert after.balances[code] >= value, code
    per_kind: dict[tuple[int, str], int] = defaultdict(int)
    for code, value in after.balances.items():
        kind, lot_id = after.kinds[code]
        per_kind[lot_id, kind] += value
    for lot in model.lots:
        issued = model.issued[lot.id]
        assert -per_kind[lot.id, "issuance"] == issued
        assert per_kind[lot.id, "transit"] == 0
        kept = ("reserve", "holding", "order_hold", "pledged", "frozen", *SINK_KINDS)
        assert sum(per_kind[lot.id, kind] for kind in kept) == issued
    for code, expected in model.balances.items():
        assert after.balances.get(code, 0) == expected, code
    offer_status, agreement_status, pledge_status = (dict(rows) for rows in after.statuses)
    assert {o.id: o.status for o in model.offers}.items() <= offer_status.items()
    assert {a.id: a.status for a in model.agreements}.items() <= agreement_status.items()
    assert {p.id: p.status for p in model.pledges}.items() <= pledge_status.items()
    for h, who in enumerate(model.holders):
        rows = {row.obligation.id: row for row in await compliance.compliance_of(session, who.id)}
        for obligation in (o for o in model.obligations if o.holder == h):
            row = rows[obligation.id]
            assert (row.surrendered, row.shortfall) == (
                obligation.surrendered,
                max(obligation.verified - obligation.surrendered, 0),
            )
    return after


async def run(sessions: Sessions, model: Model, step: Step, before: State) -> State:
    plan = _plan(model, step)
    if plan is None:
        return before
    try:
        async with unit_of_work(sessions) as session:
            result = await plan.operation(session)
    except ExchangeError as exc:
        assert exc.code == plan.refusal, (step, exc.code, exc.detail)
        async with sessions() as session:
            after = await check(session, model, before)
        # the step's transaction rolled back whole: not even an empty account is left of it
        assert (after.balances, after.rows, after.statuses) == (
            before.balances,
            before.rows,
            before.statuses,
        ), step
        return after
    assert plan.refusal is None, (step, f"succeeded where {plan.refusal} was due")
    plan.apply(result)
    async with sessions() as session:
        after = await check(session, model, before)
    if not plan.changes:
        assert (after.balances, after.rows, after.statuses) == (
            before.balances,
            before.rows,
            before.statuses,
        ), step
    return after


# -- the test -------------------------------------------------------------------------------------


@pytest.fixture
async def sessions(db: str, settings: Settings, test_calendar: None) -> AsyncIterator[Sessions]:
    async with sessions_of(settings) as made:
        yield made


@pytest.fixture
async def staff(sessions: Sessions) -> tuple[Principal, Principal]:
    async with unit_of_work(sessions) as session:
        return await registrar(session), principal(await user(session, "operator"))


async def _world(sessions: Sessions, staff: tuple[Principal, Principal]) -> Model:
    who, operator = staff
    async with unit_of_work(sessions) as session:
        made = [await holder(session) for _ in range(HOLDERS)]  # opened (and verified) by a registrar
        bidders = [principal(await user(session, "bidder", code=row.credit_code)) for row in made]
    return Model(made, bidders, who, operator)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans)
async def test_any_sequence_of_operations_keeps_the_books(
    sessions: Sessions, staff: tuple[Principal, Principal], plan: list[Step]
) -> None:
    # each example has holders and lots of its own; the global invariants cover the earlier ones
    model = await _world(sessions, staff)
    async with sessions() as session:
        current = await state(session)
    for step in plan:
        current = await run(sessions, model, step, current)
