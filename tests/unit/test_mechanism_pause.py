"""A suspension stops the clock: pausing anywhere and shifting what follows by the pause changes no outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auctions.mechanisms import METHODS, Params, ReplayStep, replay
from tests.unit.mechanism_strategies import PARAMS, Intent, drive, far_future, finish, plans, qualified_sets

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scenarios = st.sampled_from(METHODS).flatmap(
    lambda method: st.tuples(PARAMS[method], qualified_sets, plans())
)


def later(step: ReplayStep, pause: timedelta) -> ReplayStep:
    if step[0] == "bid":
        return ("bid", step[1], step[2] + pause)
    if step[0] == "timer":
        return ("timer", step[1] + pause)
    return step


@SETTINGS
@given(
    scenarios,
    st.integers(min_value=0, max_value=24),
    st.integers(min_value=1, max_value=3 * 24 * 3600),
)
def test_a_pause_anywhere_gives_the_same_outcome_shifted_by_it(
    scenario: tuple[Params, frozenset[str], list[Intent]], split: int, pause_seconds: int
) -> None:
    run = finish(drive(*scenario))
    params, qualified, _ = scenario
    pause = timedelta(seconds=pause_seconds)
    log = [*run.log, ("timer", far_future(run))]
    split = min(split, len(log) - 1)
    paused: list[ReplayStep] = [*log[:split], ("pause", pause), *(later(s, pause) for s in log[split:])]

    _, straight = replay(params, qualified, log)
    _, resumed = replay(params, qualified, paused)

    assert straight is not None and resumed is not None
    # Times after the pause are the straight run's plus the pause; everything else is equal.
    moved_by = pause if resumed.decided_at != straight.decided_at else timedelta(0)
    assert resumed == replace(straight, decided_at=straight.decided_at + moved_by)
    assert resumed.decided_at in (straight.decided_at, straight.decided_at + pause)
