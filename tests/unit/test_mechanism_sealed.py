"""sealed_bid: one hidden quote each in a range; highest or closest to the average (ties: the earlier
quote; fewer than three valid quotes: the highest)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from fractions import Fraction
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from auctions.mechanisms import (
    AcceptedBid,
    AuctionState,
    Bid,
    Outcome,
    Params,
    Rejection,
    Step,
    mechanism_for,
)
from tests.unit.mechanism_strategies import BIDDERS, OUTSIDER, SEED, T0, at, draw_winner, sealed_params

SEALED = mechanism_for("sealed_bid")

quotes = st.lists(
    st.tuples(
        st.sampled_from((*BIDDERS, OUTSIDER)),
        st.integers(0, 12),
        st.sampled_from((0, 0, 0, 1, -1)),
        st.integers(0, 400),
    ),
    max_size=12,
)


def nonce_of(bidder: str) -> str:
    """A bidder's own nonce: an acceptance of the cap price in a lottery needs one."""
    return f"nonce-of-{bidder}-0000"


def run_quotes(
    params: Params, raw: list[tuple[str, int, int, int]]
) -> tuple[AuctionState, list[tuple[Bid, bool]]]:
    state = SEALED.open(params, set(BIDDERS), T0).state
    seen: list[tuple[Bid, bool]] = []
    for bidder, k, off, seconds in sorted(raw, key=lambda q: q[3]):
        amount = params.start_price + k * params.increment + off
        if k == 12 and params.price_cap is not None:
            amount = params.price_cap
        bid = Bid(bidder, amount, nonce=nonce_of(bidder))
        result = SEALED.accept(params, state, bid, at(seconds / 4))
        if isinstance(result, Step):
            state = result.state
        seen.append((bid, isinstance(result, Step)))
    return state, seen


@settings(max_examples=250, deadline=None)
@given(sealed_params(), quotes)
def test_sealed_quotes_and_award(params: Params, raw: list[tuple[str, int, int, int]]) -> None:
    params = replace(params, min_bidders=1)
    state, seen = run_quotes(params, raw)
    # acceptance, from the rules: qualified, in time, once, within [start, cap], on the grid;
    # after the close, an opt-in at the cap while a cap lottery window is open
    quoted: dict[str, int] = {}
    opted_in: set[str] = set()
    for (bidder, _, _, seconds), (bid, ok) in zip(sorted(raw, key=lambda q: q[3]), seen, strict=True):
        now = at(seconds / 4)
        if now < params.closes_at:
            # a range, no grid: one binding quote has no step to raise by
            valid = (
                bidder in BIDDERS
                and bidder not in quoted
                and params.start_price <= bid.amount <= (params.price_cap or bid.amount)
            )
        else:
            window_open = (
                params.cap_rule == "lottery"
                and params.price_cap in quoted.values()
                and now < params.closes_at + timedelta(seconds=params.lottery_window_seconds)
            )
            entrants = {b for b, amount in quoted.items() if amount == params.price_cap} | opted_in
            valid = window_open and bid.amount == params.price_cap and bidder not in entrants
        assert ok == (valid and bidder in BIDDERS)
        if ok and now < params.closes_at:
            quoted[bidder] = bid.amount
        elif ok:
            opted_in.add(bidder)
    outcome = SEALED.close(params, state, at(10_000))
    bids = state.bids
    if not bids:
        assert outcome.reason == "no_bids"
        return
    reserve = params.reserve_price or 0
    if params.award_rule == "highest":
        top = max(b.amount for b in bids)
        if params.cap_rule == "lottery" and top == params.price_cap:
            at_cap = {b.bidder for b in bids if b.amount == top} | opted_in
            assert outcome.price == top and outcome.decided_at == params.closes_at + timedelta(
                seconds=params.lottery_window_seconds
            )
            assert outcome.winners[0].bidder == draw_winner(SEED, {b: nonce_of(b) for b in at_cap})
        elif top < reserve:
            assert outcome.reason == "below_reserve"
        else:
            first_at_top = next(b for b in bids if b.amount == top)
            assert [(w.bidder, w.price) for w in outcome.winners] == [(first_at_top.bidder, top)]
            assert outcome.award_rule == "highest"
        return
    valid_bids = [b for b in bids if b.amount >= reserve]
    if not valid_bids:
        assert outcome.reason == "below_reserve"
        return
    check_closest_to_average(valid_bids, outcome)


def check_closest_to_average(valid: list[AcceptedBid], outcome: Outcome) -> None:
    """The rule of the domain rules, section 3, written out: ``valid`` in the order accepted."""
    (winner,) = outcome.winners
    if len(valid) < 3:  # the mean says nothing: the highest, the earliest of equals
        top = max(b.amount for b in valid)
        expected = next(b for b in valid if b.amount == top)
        assert (winner.bidder, winner.price) == (expected.bidder, top)
        assert outcome.award_rule == "highest" and outcome.average_quote is None
        return
    mean = Fraction(sum(b.amount for b in valid), len(valid))
    closest = min(abs(b.amount - mean) for b in valid)
    expected = next(b for b in valid if abs(b.amount - mean) == closest)  # the earliest of equals
    assert (winner.bidder, winner.price) == (expected.bidder, expected.amount)
    assert outcome.average_quote == mean and outcome.award_rule == "closest_to_average"


PLAIN = Params("sealed_bid", T0, at(600), 1000, 10, price_cap=2000)


def quote_all(params: Params, amounts: list[tuple[str, int]]) -> AuctionState:
    state = SEALED.open(params, set(BIDDERS), T0).state
    for n, (bidder, amount) in enumerate(amounts):
        step = SEALED.accept(params, state, Bid(bidder, amount, nonce=nonce_of(bidder)), at(n + 1))
        assert isinstance(step, Step), step
        assert not any(e.public for e in step.events)
        state = step.state
    return state


def test_submission_rules() -> None:
    state = quote_all(PLAIN, [("A01", 1500)])
    for bid, code in [
        (Bid("A01", 1600), "already_bid"),
        (Bid("B02", 990), "bid_below_minimum"),
        (Bid("B02", 2010), "bid_above_cap"),
        (Bid("B02", 1500, 3), "quantity_invalid"),
        (Bid("Z99", 1500), "not_qualified"),
    ]:
        result = SEALED.accept(PLAIN, state, bid, at(10))
        assert isinstance(result, Rejection) and result.code == code
    late = SEALED.accept(PLAIN, state, Bid("B02", 1500), at(600))
    assert isinstance(late, Rejection) and late.code == "auction_not_open"
    off_the_increment = SEALED.accept(PLAIN, state, Bid("B02", 1505), at(10))
    assert isinstance(off_the_increment, Step)  # a sealed quote has a range, not a grid


def test_highest_tie_goes_to_the_earliest() -> None:
    state = quote_all(PLAIN, [("A01", 1500), ("B02", 1700), ("C03", 1700)])
    outcome = SEALED.close(PLAIN, state, at(600))
    assert [(w.bidder, w.price) for w in outcome.winners] == [("B02", 1700)]


def test_closest_to_average_wins_at_its_own_price() -> None:
    params = Params("sealed_bid", T0, at(600), 1000, 10, award_rule="closest_to_average", reserve_price=1100)
    # 1000 is below the reserve and takes no part in the average
    state = quote_all(params, [("A01", 1000), ("B02", 1200), ("C03", 1500), ("D04", 1900)])
    outcome = SEALED.close(params, state, at(600))
    assert outcome.average_quote == Fraction(4600, 3)
    assert [(w.bidder, w.price) for w in outcome.winners] == [("C03", 1500)]


AVERAGE = Params("sealed_bid", T0, at(600), 1000, 10, award_rule="closest_to_average")


def test_closest_to_average_equal_distance_goes_to_the_earlier_quote() -> None:
    # mean 1300: 1200 and 1400 are equally close, and the higher one came first
    state = quote_all(AVERAGE, [("A01", 1400), ("B02", 1200), ("C03", 1000), ("D04", 1600)])
    outcome = SEALED.close(AVERAGE, state, at(600))
    assert outcome.average_quote == 1300 and outcome.winners[0].bidder == "A01"


def test_two_quotes_go_to_the_higher_not_the_lower() -> None:
    # the old rule: two quotes are equidistant from their mean, so the lower one always won
    state = quote_all(AVERAGE, [("A01", 1200), ("B02", 1400)])
    outcome = SEALED.close(AVERAGE, state, at(600))
    assert [(w.bidder, w.price) for w in outcome.winners] == [("B02", 1400)]
    assert outcome.award_rule == "highest" and outcome.average_quote is None


def test_quotes_below_the_reserve_do_not_count_towards_three() -> None:
    params = replace(AVERAGE, reserve_price=1100)
    state = quote_all(params, [("A01", 1000), ("B02", 1200), ("C03", 1500)])
    outcome = SEALED.close(params, state, at(600))
    assert [(w.bidder, w.price) for w in outcome.winners] == [("C03", 1500)]
    assert outcome.award_rule == "highest"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1000, 1100), min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_closest_to_average_with_few_or_tied_quotes(amounts: list[int], random: Random) -> None:
    """Narrow prices, so that equal quotes and equal distances are common; any arrival order."""
    bidders = [f"Q{n:02d}" for n in range(len(amounts))]
    random.shuffle(bidders)
    state = SEALED.open(AVERAGE, set(bidders), T0).state
    for n, (bidder, amount) in enumerate(zip(bidders, amounts, strict=True)):
        step = SEALED.accept(AVERAGE, state, Bid(bidder, amount), at(n + 1))
        assert isinstance(step, Step), step
        state = step.state
    check_closest_to_average(list(state.bids), SEALED.close(AVERAGE, state, at(600)))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1100, 5000),
    st.integers(1, 50),
    st.integers(51, 100),
    st.permutations(range(4)),
)
def test_an_equal_distance_goes_to_whichever_came_first(
    mean: int, near: int, far: int, order: list[int]
) -> None:
    """Two quotes ``near`` either side of the mean tie; the one accepted first wins, higher or lower."""
    quotes = [mean - near, mean + near, mean - far, mean + far]
    state = quote_all(AVERAGE, [(BIDDERS[n], quotes[i]) for n, i in enumerate(order)])
    outcome = SEALED.close(AVERAGE, state, at(600))
    first_near = min(order.index(0), order.index(1))
    assert outcome.average_quote == mean
    assert [(w.bidder, w.price) for w in outcome.winners] == [
        (BIDDERS[first_near], quotes[order[first_near]])
    ]


def test_cap_quotes_go_to_a_lottery_after_the_close() -> None:
    params = Params(
        "sealed_bid", T0, at(600), 1000, 10, price_cap=2000, cap_rule="lottery",
        lottery_window_seconds=300, seed=SEED,
    )  # fmt: skip
    state = quote_all(params, [("A01", 2000), ("B02", 1990), ("C03", 2000)])
    before = SEALED.view(params, state, at(599))
    assert before["bid_count"] is None and before["current_price"] is None
    window = SEALED.on_timer(params, state, at(600))
    assert window.state.phase == "lottery" and window.state.entrants == ("A01", "C03")
    assert window.state.entrant_nonces == (nonce_of("A01"), nonce_of("C03"))
    unsealed = SEALED.accept(params, window.state, Bid("B02", 2000), at(700))
    assert isinstance(unsealed, Rejection) and unsealed.code == "nonce_required"
    joined = SEALED.accept(params, window.state, Bid("B02", 2000, nonce=nonce_of("B02")), at(700))
    assert isinstance(joined, Step)
    outcome = SEALED.close(params, joined.state, at(900))
    assert outcome.winners[0].bidder == draw_winner(SEED, {b: nonce_of(b) for b in ("A01", "B02", "C03")})
    assert outcome.price == 2000 and outcome.draw is not None
