"""A growing bidder set: bidders admitted while bidding runs (挂牌 with late registration).

Admissions are interleaved with bids and timer calls. Whatever the mechanism, an auction
that admits bidders as they qualify must keep every property of the static one: only an
admitted bidder's bid is taken, it is judged by the same rules, exactly one outcome, and
the log (admissions included) replays to the same state. The strongest check reduces it to
the static auction: admitting a bidder before it bids is the same as having it from the
opening, so the properties the other mechanism tests prove carry over.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auctions.mechanisms import (
    METHODS,
    AuctionState,
    Bid,
    Event,
    Params,
    Rejection,
    ReplayStep,
    mechanism_for,
    replay,
)
from tests.unit.mechanism_strategies import (
    BIDDERS,
    PARAMS,
    T0,
    Attempt,
    Intent,
    ascending_violations,
    at,
    concrete_bid,
    intents,
)

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LISTING = mechanism_for("listing")


@dataclass(frozen=True)
class Admission:
    who: int  # index into BIDDERS
    dt: float


steps = st.lists(
    st.one_of(
        intents, st.builds(Admission, st.integers(0, len(BIDDERS) - 1), st.sampled_from((0.0, 1.0, 7.5)))
    ),
    max_size=30,
)
initial_sets = st.frozensets(st.sampled_from(BIDDERS), max_size=2)


def late(params: Params) -> Params:
    return replace(params, late_registration=True)


scenarios = st.sampled_from(METHODS).flatmap(
    lambda method: st.tuples(PARAMS[method].map(late), initial_sets, steps)
)
listing_scenarios = st.tuples(PARAMS["listing"].map(late), initial_sets, steps)

Scenario = tuple[Params, frozenset[str], list[Intent | Admission]]


@dataclass
class Run:
    params: Params
    initial: frozenset[str]
    state: AuctionState
    admitted: dict[str, datetime]
    events: list[Event] = field(default_factory=list)
    log: list[ReplayStep] = field(default_factory=list)
    taken: list[Attempt] = field(default_factory=list)

    @property
    def far_future(self) -> datetime:
        return max((step[-1] for step in self.log if isinstance(step[-1], datetime)), default=T0) + timedelta(
            days=2
        )


def drive(scenario: Scenario, *, timers: bool = True) -> Run:
    """Run the plan, then let every deadline pass; ``timers=False`` skips the timer calls."""
    params, initial, plan = scenario
    mechanism = mechanism_for(params.method)
    opened = mechanism.open(params, initial, params.opens_at)
    run = Run(params, initial, opened.state, {b: params.opens_at for b in initial}, list(opened.events))
    now = params.opens_at
    for step in plan:
        now += timedelta(seconds=step.dt)
        if isinstance(step, Admission):
            bidder = BIDDERS[step.who]
            admitted = mechanism.admit(params, run.state, bidder, now)
            run.log.append(("admit", bidder, now))
            if bidder in admitted.state.qualified:
                run.admitted.setdefault(bidder, now)
            run.state = admitted.state
            run.events.extend(admitted.events)
        elif step.timer:
            if timers:
                ticked = mechanism.on_timer(params, run.state, now)
                run.log.append(("timer", now))
                run.state = ticked.state
                run.events.extend(ticked.events)
        else:
            bid = concrete_bid(params, run.state, step, now)
            result = mechanism.accept(params, run.state, bid, now)
            run.log.append(("bid", bid, now))
            if isinstance(result, Rejection):
                run.taken.append(Attempt(bid, now, run.state, result))
                continue
            run.taken.append(Attempt(bid, now, run.state, result.state))
            run.state = result.state
            run.events.extend(result.events)
    end = mechanism.on_timer(params, run.state, run.far_future)
    run.state = end.state
    run.events.extend(end.events)
    return run


def first_deadline(params: Params, initial: frozenset[str]) -> datetime:
    deadline = mechanism_for(params.method).open(params, initial, params.opens_at).state.ends_at
    assert deadline is not None
    return deadline


@SETTINGS
@given(scenarios)
def test_only_admitted_bidders_bid_and_exactly_one_outcome(scenario: Scenario) -> None:
    run = drive(scenario)
    for taken in run.taken:
        joined = run.admitted.get(taken.bid.bidder)
        if joined is None or taken.now < joined:
            assert isinstance(taken.result, Rejection)
            assert taken.result.code in ("not_qualified", "auction_not_open")
    endings = [e for e in run.events if e.kind in ("closed", "failed")]
    assert len(endings) == 1
    outcome = run.state.outcome
    assert outcome is not None
    assert set(run.state.qualified) == set(run.admitted)
    assert all(
        w.bidder in run.admitted and run.admitted[w.bidder] <= outcome.decided_at for w in outcome.winners
    )
    # an ended auction admits nobody
    later = run.far_future + timedelta(days=1)
    assert mechanism_for(run.params.method).admit(run.params, run.state, "E05", later).state == run.state


@SETTINGS
@given(scenarios)
def test_admissions_replay_and_do_not_depend_on_when_timers_run(scenario: Scenario) -> None:
    run = drive(scenario)
    params, initial, _ = scenario
    state, outcome = replay(params, initial, [*run.log, ("timer", run.far_future)])
    assert state == run.state and outcome == run.state.outcome
    assert drive(scenario, timers=False).state == run.state


@SETTINGS
@given(scenarios)
def test_admitting_before_bidding_is_having_the_bidder_from_the_opening(scenario: Scenario) -> None:
    """The static auction of everyone admitted, without the bids sent before their admission."""
    run = drive(scenario)
    params, initial, _ = scenario
    if any(when >= first_deadline(params, initial) for when in run.admitted.values()):
        return  # counted for min_bidders after the first deadline: not the static auction's count
    joined, static_steps = set(initial), list[ReplayStep]()
    for step in run.log:
        if step[0] == "admit":
            joined.add(step[1])
        elif step[0] != "bid" or step[1].bidder in joined or step[1].bidder not in run.admitted:
            static_steps.append(step)
    state, _ = replay(params, frozenset(run.admitted), [*static_steps, ("timer", run.far_future)])
    assert state == run.state


@SETTINGS
@given(listing_scenarios)
def test_a_listing_takes_exactly_the_valid_quotes_of_admitted_bidders(scenario: Scenario) -> None:
    run = drive(scenario)
    params, initial, _ = scenario
    outcome = run.state.outcome
    assert outcome is not None
    # A quote at the cap turns the quote period into acceptances until the listing's close
    # (the full term), so the bidders are then counted at the close.
    capped = any(isinstance(t.result, AuctionState) and t.result.phase == "lottery" for t in run.taken)
    deadline = params.closes_at if capped else first_deadline(params, initial)
    counted = [b for b, when in run.admitted.items() if when < deadline]
    if len(counted) < params.min_bidders:
        assert (outcome.reason, outcome.decided_at) == ("too_few_bidders", deadline)
        return
    # money quotes: those that made a new high bid (not the acceptances of a capped price)
    money = [t for t in run.taken if isinstance(t.result, AuctionState) and t.result.high != t.before.high]
    for taken in money:
        # no bid below the minimum (or off the grid, or above the cap) is ever taken
        before = taken.before.high
        assert not ascending_violations(
            params, None if before is None else (before.bidder, before.amount), taken.bid
        )
    if outcome.status == "sold" and outcome.draw is None and money:
        # the winner holds the best valid bid
        best = money[-1].bid
        assert [(w.bidder, w.price) for w in outcome.winners] == [(best.bidder, best.amount)]


SUZHOU = Params(
    "listing",
    T0,
    at(10 * 3600),
    1_000_000,
    10_000,
    extension_seconds=240,
    freeze_seconds=3600,
    min_bidders=2,
    late_registration=True,
)


def test_a_listing_opens_empty_and_quotes_come_as_bidders_qualify() -> None:
    opened = LISTING.open(SUZHOU, set(), T0)
    assert opened.state.outcome is None and opened.state.qualified == ()
    assert isinstance(LISTING.accept(SUZHOU, opened.state, Bid("A01", 1_000_000), at(60)), Rejection)
    admitted = LISTING.admit(SUZHOU, opened.state, "A01", at(120))
    assert admitted.events == () and admitted.state.qualified == ("A01",)
    quoted = LISTING.accept(SUZHOU, admitted.state, Bid("A01", 1_000_000), at(180))
    assert not isinstance(quoted, Rejection)
    both = LISTING.admit(SUZHOU, quoted.state, "B02", at(3 * 3600)).state
    assert LISTING.admit(SUZHOU, both, "B02", at(3 * 3600 + 1)).state == both  # once is enough
    outcome = LISTING.close(SUZHOU, both, at(10 * 3600))
    assert (outcome.status, outcome.winners[0].bidder) == ("sold", "A01")


def test_min_bidders_are_counted_when_the_quote_phase_ends() -> None:
    one = LISTING.admit(SUZHOU, LISTING.open(SUZHOU, set(), T0).state, "A01", at(60)).state
    quoted = LISTING.accept(SUZHOU, one, Bid("A01", 1_000_000), at(61))
    assert not isinstance(quoted, Rejection)
    ended = LISTING.on_timer(SUZHOU, quoted.state, at(9 * 3600))
    outcome = ended.state.outcome
    assert outcome is not None and (outcome.reason, outcome.decided_at) == ("too_few_bidders", at(9 * 3600))
    # a bidder admitted at the deadline itself is too late for the count: the deadline comes first
    late_one = LISTING.admit(SUZHOU, quoted.state, "B02", at(9 * 3600))
    assert late_one.state.outcome is not None and late_one.state.outcome.reason == "too_few_bidders"
    assert [e.kind for e in late_one.events] == ["failed"]


def test_without_late_registration_too_few_bidders_still_fail_at_the_opening() -> None:
    early = replace(SUZHOU, late_registration=False)
    outcome = LISTING.open(early, {"A01"}, T0).state.outcome
    assert outcome is not None and (outcome.reason, outcome.decided_at) == ("too_few_bidders", T0)
