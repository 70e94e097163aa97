"""Properties every mechanism shares: determinism, replay, JSON, timers, privacy."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auctions.mechanisms import (
    MECHANISMS,
    METHODS,
    REJECTION_CODES,
    AuctionState,
    Bid,
    Params,
    ParamsError,
    Rejection,
    event_to_json,
    mechanism_for,
    outcome_from_json,
    outcome_to_json,
    params_from_json,
    params_problems,
    params_to_json,
    replay,
    state_from_json,
    state_from_text,
    state_to_json,
    state_to_text,
)
from tests.unit.mechanism_strategies import (
    BIDDERS,
    PARAMS,
    T0,
    Intent,
    Run,
    at,
    drive,
    far_future,
    finish,
    plans,
    qualified_sets,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scenarios = st.sampled_from(METHODS).flatmap(
    lambda method: st.tuples(PARAMS[method], qualified_sets, plans())
)


def run_of(scenario: tuple[Params, frozenset[str], list[Intent]]) -> Run:
    return finish(drive(*scenario))


def states_of(run: Run) -> list[AuctionState]:
    return [a.before for a in run.attempts] + [run.state]


def test_registry_covers_every_method() -> None:
    assert set(MECHANISMS) == set(METHODS)
    for method in METHODS:
        assert mechanism_for(method).method == method
    with pytest.raises(ValueError):
        mechanism_for("candle")


@SETTINGS
@given(scenarios)
def test_replay_gives_the_same_state_and_outcome(
    scenario: tuple[Params, frozenset[str], list[Intent]],
) -> None:
    run = run_of(scenario)
    params, qualified, _ = scenario
    state, outcome = replay(params, qualified, [*run.log, ("timer", far_future(run))])
    assert state == run.state
    assert outcome == run.state.outcome
    assert outcome is not None


@SETTINGS
@given(scenarios)
def test_state_and_outcome_json_round_trip(scenario: tuple[Params, frozenset[str], list[Intent]]) -> None:
    run = run_of(scenario)
    for state in states_of(run):
        data = state_to_json(state)
        assert json.loads(json.dumps(data)) == data
        assert state_from_json(data) == state
        # the column content is reproducible byte for byte
        assert json.dumps(state_to_json(state_from_json(data))) == json.dumps(data)
        # the bid path's text forms (JSON as text for asyncpg) are the same document
        assert json.loads(state_to_text(state)) == data
        assert state_from_text(state_to_text(state)) == state
    assert run.state.outcome is not None
    assert outcome_from_json(outcome_to_json(run.state.outcome)) == run.state.outcome
    assert params_from_json(json.loads(json.dumps(params_to_json(run.params)))) == run.params


def without_timers(plan: list[Intent]) -> list[Intent]:
    """The same bids at the same instants, with no timer call in between."""
    result: list[Intent] = []
    carried = 0.0
    for intent in plan:
        if intent.timer:
            carried += intent.dt
        else:
            result.append(replace(intent, dt=intent.dt + carried))
            carried = 0.0
    return result


def doubled_timers(plan: list[Intent]) -> list[Intent]:
    result: list[Intent] = []
    for intent in plan:
        result.append(intent)
        if intent.timer:
            result.append(replace(intent, dt=0.0))
    return result


def finish_one_deadline_at_a_time(run: Run) -> AuctionState:
    mechanism = mechanism_for(run.params.method)
    state = run.state
    while (deadline := mechanism.next_deadline(state)) is not None:
        once = mechanism.on_timer(run.params, state, deadline)
        twice = mechanism.on_timer(run.params, once.state, deadline)
        assert twice.state == once.state and twice.events == ()
        state = once.state
    return state


@SETTINGS
@given(scenarios)
def test_when_timers_run_does_not_change_the_result(
    scenario: tuple[Params, frozenset[str], list[Intent]],
) -> None:
    params, qualified, plan = scenario
    reference = run_of(scenario)
    lazy = run_of((params, qualified, without_timers(plan)))
    eager = run_of((params, qualified, doubled_timers(plan)))
    stepwise = finish_one_deadline_at_a_time(drive(params, qualified, plan))
    assert lazy.state == reference.state
    assert eager.state == reference.state
    assert stepwise == reference.state


@SETTINGS
@given(scenarios)
def test_exactly_one_outcome(scenario: tuple[Params, frozenset[str], list[Intent]]) -> None:
    run = run_of(scenario)
    mechanism = mechanism_for(run.params.method)
    for event in run.events:
        json.dumps(event_to_json(event))
    endings = [e for e in run.events if e.kind in ("closed", "failed")]
    assert len(endings) == 1
    outcome = run.state.outcome
    assert outcome is not None
    assert endings[0].kind == ("closed" if outcome.status == "sold" else "failed")
    assert outcome_from_json(endings[0].data["outcome"]) == outcome
    assert (outcome.status == "failed") == (outcome.reason is not None)
    assert (outcome.status == "sold") == bool(outcome.winners)
    later = far_future(run) + timedelta(days=1)
    assert mechanism.on_timer(run.params, run.state, later).events == ()
    assert mechanism.close(run.params, run.state, later) == outcome
    assert mechanism.next_deadline(run.state) is None
    for bidder in BIDDERS:
        late = mechanism.accept(run.params, run.state, Bid(bidder, run.params.start_price), later)
        assert isinstance(late, Rejection) and late.code == "auction_not_open"


@SETTINGS
@given(scenarios)
def test_rejections_use_listed_codes_and_change_nothing(
    scenario: tuple[Params, frozenset[str], list[Intent]],
) -> None:
    run = run_of(scenario)
    for attempt in run.attempts:
        if isinstance(attempt.result, Rejection):
            assert attempt.result.code in REJECTION_CODES
            assert attempt.result.detail
        if attempt.bid.bidder not in run.qualified:
            assert isinstance(attempt.result, Rejection)
            assert attempt.result.code in ("not_qualified", "auction_not_open")


@SETTINGS
@given(scenarios)
def test_no_bid_is_taken_at_or_after_the_deadline_of_its_phase(
    scenario: tuple[Params, frozenset[str], list[Intent]],
) -> None:
    run = run_of(scenario)
    mechanism = mechanism_for(run.params.method)
    for state in states_of(run):
        deadline = mechanism.next_deadline(state)
        if deadline is None:
            continue
        for late in (deadline, deadline + timedelta(microseconds=1)):
            for bidder in run.qualified:
                for amount in {run.params.start_price, run.params.price_cap or 0}:
                    result = mechanism.accept(run.params, state, Bid(bidder, amount, run.params.lot), late)
                    if isinstance(result, Rejection):
                        continue
                    # only a boundary that opens a new bidding phase lets it in,
                    # and then it is a bid of that new phase
                    taken = result.state.high
                    assert run.params.method in ("listing", "dutch")
                    assert taken is not None and taken.accepted_at == late
                    if run.params.method == "listing":
                        assert state.phase in ("quote", "frozen") and taken.phase == "timed"
                    else:
                        assert result.state.outcome is not None and taken.amount < (
                            run.params.start_price - (state.round - 1) * run.params.increment
                        )


@SETTINGS
@given(scenarios)
def test_view_shows_the_contract_fields_and_sealed_bids_stay_hidden(
    scenario: tuple[Params, frozenset[str], list[Intent]],
) -> None:
    run = run_of(scenario)
    mechanism = mechanism_for(run.params.method)
    keys = {"phase", "round", "current_price", "leading_bid_number", "next_min_bid", "ends_at", "bid_count"}
    for attempt in run.attempts:
        view = mechanism.view(run.params, attempt.before, attempt.now)
        assert keys <= set(view)
        json.dumps(view)
        if mechanism.sealed and view["result"] is None:
            # a state without any bid looks exactly the same from outside
            blank = replace(attempt.before, bids=(), entrants=(), bid_count=0, high=None)
            assert view == mechanism.view(run.params, blank, attempt.now)
    for event in run.events:
        if mechanism.sealed and event.kind in ("bid", "opt_in"):
            assert not event.public
        if event.kind == "opt_in":
            assert not event.public


@pytest.mark.parametrize("method", METHODS)
def test_too_few_qualified_bidders_fail_at_opening(method: str) -> None:
    params = Params(
        method,  # type: ignore[arg-type]
        T0,
        at(60),
        1000,
        10,
        min_bidders=3,
        extension_seconds=10,
        quantity=10,
        seed=b"s" * 16,
    )
    mechanism = mechanism_for(method)
    step = mechanism.open(params, {"A01", "B02"}, at(5))
    outcome = step.state.outcome
    assert outcome is not None and outcome.status == "failed" and outcome.reason == "too_few_bidders"
    assert outcome.decided_at == T0
    assert [e.kind for e in step.events] == ["failed"]
    enough = mechanism.open(params, {"A01", "B02", "C03"}, T0)
    assert enough.state.outcome is None and [e.kind for e in enough.events] == ["phase"]


def test_params_problems_name_each_mistake() -> None:
    bad = Params(
        "listing",
        at(60),
        T0,
        -1,
        0,
        extension_seconds=0,
        price_cap=500,
        cap_rule="lottery",
        seed=b"short",
    )
    problems = params_problems(bad)
    text = " ".join(problems)
    for fragment in (
        "closes_at",
        "start_price",
        "increment",
        "seed",
        "lottery_window_seconds",
        "extension_seconds",
    ):
        assert fragment in text
    with pytest.raises(ParamsError):
        mechanism_for("listing").open(bad, {"A01"}, at(60))


def test_naive_times_and_early_opening_are_refused() -> None:
    params = Params("english", T0, at(60), 1000, 10)
    mechanism = mechanism_for("english")
    with pytest.raises(ValueError):
        mechanism.open(params, {"A01"}, T0.replace(tzinfo=None))
    with pytest.raises(ValueError):
        mechanism.open(params, {"A01"}, at(-1))
    with pytest.raises(ValueError):
        mechanism.close(params, mechanism.open(params, {"A01"}, T0).state, at(30))
