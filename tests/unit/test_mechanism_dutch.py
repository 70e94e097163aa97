"""dutch: the descending clock, its floor, and the first accept."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from auctions.mechanisms import Bid, Params, Rejection, Step, mechanism_for
from tests.unit.mechanism_strategies import BIDDERS, OUTSIDER, T0, at, dutch_params

DUTCH = mechanism_for("dutch")


def clock(params: Params) -> tuple[list[int], datetime]:
    """The prices the clock shows, one per step, and when it stops, from the rule text."""
    floor = max(params.reserve_price or 0, 1)
    prices = [params.start_price]
    while prices[-1] - params.increment >= floor:
        prices.append(prices[-1] - params.increment)
    step = timedelta(seconds=params.extension_seconds)
    return prices, min(params.opens_at + step * len(prices), params.closes_at)


accepts = st.lists(
    st.tuples(
        st.floats(0, 400, allow_nan=False).map(lambda s: round(s, 3)),
        st.sampled_from((*BIDDERS, OUTSIDER)),
        st.sampled_from((0, 0, 0, 1, -1, 2)),
    ),
    max_size=10,
)


@settings(max_examples=250, deadline=None)
@given(dutch_params(), accepts, st.booleans())
def test_first_accept_at_the_clock_price_wins(
    params: Params, tries: list[tuple[float, str, int]], tick: bool
) -> None:
    prices, end = clock(params)
    step = timedelta(seconds=params.extension_seconds)
    state = DUTCH.open(params, set(BIDDERS), T0).state
    sold: tuple[str, int, datetime] | None = None
    for seconds, bidder, ticks in sorted(tries):
        now = at(seconds)
        if tick:
            state = DUTCH.on_timer(params, state, now).state
        index = min((now - T0) // step, len(prices) - 1)
        showing = prices[index]
        view = DUTCH.view(params, state, now)
        bid = Bid(bidder, showing - ticks * params.increment)
        result = DUTCH.accept(params, state, bid, now)
        if sold is not None or now >= end:
            assert isinstance(result, Rejection) and result.code == "auction_not_open"
            continue
        assert view["current_price"] == showing == view["next_min_bid"]
        if bidder == OUTSIDER:
            expected = "not_qualified"
        elif ticks:
            expected = "price_mismatch"
        else:
            expected = None
        assert (result.code if isinstance(result, Rejection) else None) == expected
        if isinstance(result, Step):
            sold = (bidder, showing, now)
            state = result.state
    outcome = DUTCH.close(params, state, max(end, at(400)))
    if sold is None:
        assert (outcome.status, outcome.reason, outcome.decided_at) == ("failed", "no_acceptance", end)
    else:
        assert [(w.bidder, w.price) for w in outcome.winners] == [sold[:2]]
        assert outcome.decided_at == sold[2]
        assert params.reserve_price is None or sold[1] >= params.reserve_price


CLOCK = Params("dutch", T0, at(3600), 10_000, 1_000, reserve_price=7_500, extension_seconds=10)


def test_clock_falls_to_the_floor_then_fails() -> None:
    state = DUTCH.open(CLOCK, {"A01", "B02"}, T0).state
    assert DUTCH.view(CLOCK, state, at(9.999))["current_price"] == 10_000
    mismatch = DUTCH.accept(CLOCK, state, Bid("A01", 10_000), at(10))
    assert isinstance(mismatch, Rejection) and mismatch.code == "price_mismatch"
    # one late timer call jumps to the price showing, with one event
    late = DUTCH.on_timer(CLOCK, state, at(25))
    assert [(e.kind, e.at, e.data["price"]) for e in late.events] == [("price", at(20), 8_000)]
    assert late.state.round == 3 and DUTCH.next_deadline(late.state) == at(30)
    # 7 000 would be under the reserve: the clock stops at 8 000 and its step ends at 30 s
    too_late = DUTCH.accept(CLOCK, late.state, Bid("A01", 8_000), at(30))
    assert isinstance(too_late, Rejection) and too_late.code == "auction_not_open"
    outcome = DUTCH.close(CLOCK, late.state, at(30))
    assert (outcome.status, outcome.reason, outcome.decided_at) == ("failed", "no_acceptance", at(30))


def test_first_acceptance_wins_at_the_clock_price() -> None:
    state = DUTCH.open(CLOCK, {"A01", "B02"}, T0).state
    step = DUTCH.accept(CLOCK, state, Bid("B02", 9_000), at(12))
    assert isinstance(step, Step)
    assert [e.kind for e in step.events] == ["price", "bid", "closed"]
    second = DUTCH.accept(CLOCK, step.state, Bid("A01", 9_000), at(12))
    assert isinstance(second, Rejection) and second.code == "auction_not_open"
    outcome = DUTCH.close(CLOCK, step.state, at(12))
    assert [(w.bidder, w.price) for w in outcome.winners] == [("B02", 9_000)]
