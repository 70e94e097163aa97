"""english: rolling countdown, reserve, min_bidders, price cap (and its lottery)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings

from auctions.mechanisms import AuctionState, Bid, Params, Rejection, Step, mechanism_for
from tests.unit.mechanism_strategies import (
    SEED,
    T0,
    CapLottery,
    Intent,
    ascending_violations,
    at,
    draw_winner,
    drive,
    english_params,
    finish,
    plans,
    qualified_sets,
)

ENGLISH = mechanism_for("english")


@settings(max_examples=250, deadline=None)
@given(english_params(), qualified_sets, plans())
def test_english_takes_exactly_the_valid_bids_and_the_best_one_wins(
    params: Params, qualified: frozenset[str], plan: list[Intent]
) -> None:
    run = finish(drive(params, qualified, plan))
    outcome = run.state.outcome
    assert outcome is not None
    if len(qualified) < params.min_bidders:
        assert outcome.reason == "too_few_bidders"
        assert all(isinstance(a.result, Rejection) for a in run.attempts)
        return

    high: tuple[str, int] | None = None
    ends_at = params.closes_at
    lottery: CapLottery | None = None
    won_at_cap: tuple[str, object] | None = None
    for attempt in run.attempts:
        bid, now, result = attempt.bid, attempt.now, attempt.result
        code = result.code if isinstance(result, Rejection) else None
        closed = won_at_cap is not None or now >= (lottery.until if lottery else ends_at)
        if closed:
            assert code == "auction_not_open"
            continue
        if bid.bidder not in qualified:
            assert code == "not_qualified"
            continue
        if lottery is not None:
            broken = lottery.violations(params, bid)
            assert code in broken if broken else code is None
            if not broken:
                lottery.enter(bid)
            continue
        broken = ascending_violations(params, high, bid)
        if broken:
            assert code in broken
            continue
        assert isinstance(result, AuctionState)
        high = (bid.bidder, bid.amount)
        if bid.amount == params.price_cap:
            if params.cap_rule == "lottery":
                lottery = CapLottery(now + timedelta(seconds=params.lottery_window_seconds), {})
                lottery.enter(bid)
                assert result.phase == "lottery" and result.ends_at == lottery.until
            else:
                won_at_cap = (bid.bidder, now)
                assert result.outcome is not None
            continue
        # the rolling countdown, straight from the rule text
        remaining = ends_at - now
        expected = now + timedelta(seconds=params.extension_seconds)
        if remaining < timedelta(seconds=params.extension_seconds):
            assert result.ends_at == expected
        else:
            assert result.ends_at == ends_at
        assert result.ends_at is not None and result.ends_at >= ends_at
        ends_at = result.ends_at

    if won_at_cap is not None:
        assert outcome.status == "sold" and outcome.decided_at == won_at_cap[1]
        assert [(w.bidder, w.price) for w in outcome.winners] == [(won_at_cap[0], params.price_cap)]
    elif lottery is not None:
        lottery.check_outcome(params, run.state)
    elif high is None:
        assert (outcome.status, outcome.reason, outcome.decided_at) == ("failed", "no_bids", ends_at)
    elif params.reserve_price is not None and high[1] < params.reserve_price:
        assert (outcome.status, outcome.reason) == ("failed", "below_reserve")
    else:
        assert outcome.status == "sold" and outcome.decided_at == ends_at
        assert [(w.bidder, w.price) for w in outcome.winners] == [high]
        assert run.state.high is not None and run.state.high.amount == high[1]
        assert run.state.bid_count == sum(isinstance(a.result, AuctionState) for a in run.attempts)


def accepted(step: Step | Rejection) -> AuctionState:
    assert isinstance(step, Step), step
    return step.state


def rejected(step: Step | Rejection) -> str:
    assert isinstance(step, Rejection), step
    return step.code


def test_rolling_countdown_moves_the_end_exactly() -> None:
    params = Params("english", T0, at(300), 10_000, 100, extension_seconds=60)
    state = ENGLISH.open(params, {"A01", "B02"}, T0).state
    state = accepted(ENGLISH.accept(params, state, Bid("A01", 10_000), at(100)))
    assert state.ends_at == at(300)  # 200 s left: no extension
    step = ENGLISH.accept(params, state, Bid("B02", 10_100), at(240))
    assert isinstance(step, Step) and step.state.ends_at == at(300)  # exactly 60 s left: none
    state = accepted(ENGLISH.accept(params, step.state, Bid("A01", 10_300), at(250.5)))
    assert state.ends_at == at(310.5)
    extended = ENGLISH.accept(params, state, Bid("B02", 10_400), at(310.499999))
    assert isinstance(extended, Step)
    assert [e.kind for e in extended.events] == ["bid", "extended"]
    assert extended.events[1].data == {"from": at(310.5).isoformat(), "to": at(370.499999).isoformat()}
    state = extended.state
    view = ENGLISH.view(params, state, at(320))
    assert view["current_price"] == 10_400 and view["leading_bid_number"] == "B02"
    assert view["next_min_bid"] == 10_500 and view["ends_at"] == at(370.499999).isoformat()
    # at the deadline, without anyone having called on_timer
    assert rejected(ENGLISH.accept(params, state, Bid("A01", 10_500), at(370.499999))) == "auction_not_open"
    outcome = ENGLISH.close(params, state, at(370.499999))
    assert outcome.status == "sold" and outcome.price == 10_400
    assert outcome.winners[0].bidder == "B02" and outcome.decided_at == at(370.499999)


def test_step_rules() -> None:
    params = Params("english", T0, at(300), 10_000, 100, price_cap=10_450)
    state = ENGLISH.open(params, {"A01", "B02"}, T0).state
    assert rejected(ENGLISH.accept(params, state, Bid("A01", 9_900), at(1))) == "bid_below_minimum"
    assert rejected(ENGLISH.accept(params, state, Bid("A01", 10_050), at(1))) == "bid_not_on_increment"
    assert rejected(ENGLISH.accept(params, state, Bid("Z99", 10_000), at(1))) == "not_qualified"
    assert rejected(ENGLISH.accept(params, state, Bid("A01", 10_000, 5), at(1))) == "quantity_invalid"
    state = accepted(ENGLISH.accept(params, state, Bid("A01", 10_200), at(1)))  # k = 2 from the start
    assert rejected(ENGLISH.accept(params, state, Bid("A01", 10_300), at(2))) == "already_leading"
    assert rejected(ENGLISH.accept(params, state, Bid("B02", 10_200), at(2))) == "bid_below_minimum"
    assert rejected(ENGLISH.accept(params, state, Bid("B02", 10_500), at(2))) == "bid_above_cap"
    state = accepted(ENGLISH.accept(params, state, Bid("B02", 10_400), at(2)))
    assert ENGLISH.view(params, state, at(3))["next_min_bid"] == 10_450  # the off-grid cap
    step = ENGLISH.accept(params, state, Bid("A01", 10_450), at(3))
    assert isinstance(step, Step) and [e.kind for e in step.events] == ["bid", "closed"]
    outcome = step.state.outcome
    assert outcome is not None and outcome.decided_at == at(3)
    assert [(w.bidder, w.price) for w in outcome.winners] == [("A01", 10_450)]


def test_reserve_and_empty_auctions_fail() -> None:
    params = Params("english", T0, at(60), 10_000, 100, reserve_price=10_200)
    state = ENGLISH.open(params, {"A01", "B02"}, T0).state
    empty = ENGLISH.close(params, state, at(60))
    assert (empty.status, empty.reason) == ("failed", "no_bids")
    state = accepted(ENGLISH.accept(params, state, Bid("A01", 10_100), at(1)))
    low = ENGLISH.close(params, state, at(60))
    assert (low.status, low.reason, low.winners) == ("failed", "below_reserve", ())
    state = accepted(ENGLISH.accept(params, state, Bid("B02", 10_200), at(2)))
    assert ENGLISH.close(params, state, at(60)).winners[0].bidder == "B02"


def test_min_bidders_terminates_at_opening() -> None:
    params = Params("english", T0, at(60), 10_000, 100, min_bidders=3)
    step = ENGLISH.open(params, {"A01", "B02"}, T0)
    assert step.state.outcome is not None and step.state.outcome.reason == "too_few_bidders"
    assert rejected(ENGLISH.accept(params, step.state, Bid("A01", 10_000), at(1))) == "auction_not_open"


def test_cap_lottery_draws_among_everyone_who_accepts_the_cap() -> None:
    params = Params(
        "english",
        T0,
        at(300),
        10_000,
        100,
        price_cap=10_500,
        cap_rule="lottery",
        lottery_window_seconds=120,
        seed=SEED,
    )
    qualified = {"A01", "B02", "C03", "D04", "E05"}
    state = ENGLISH.open(params, qualified, T0).state
    state = accepted(ENGLISH.accept(params, state, Bid("A01", 10_000), at(10)))
    assert rejected(ENGLISH.accept(params, state, Bid("B02", 10_500), at(20))) == "nonce_required"
    state = accepted(ENGLISH.accept(params, state, Bid("B02", 10_500, nonce="b" * 16), at(20)))
    assert state.phase == "lottery" and state.ends_at == at(140)
    assert ENGLISH.view(params, state, at(30))["next_min_bid"] == 10_500
    assert rejected(ENGLISH.accept(params, state, Bid("C03", 10_400), at(30))) == "price_mismatch"
    assert (
        rejected(ENGLISH.accept(params, state, Bid("B02", 10_500, nonce="x" * 16), at(30))) == "already_bid"
    )
    assert rejected(ENGLISH.accept(params, state, Bid("C03", 10_500), at(30))) == "nonce_required"
    opt_in = ENGLISH.accept(params, state, Bid("C03", 10_500, nonce="c" * 16), at(30))
    assert isinstance(opt_in, Step) and not opt_in.events[0].public
    assert "c" * 16 not in str(opt_in.events)  # a nonce stays private until the result
    state = accepted(ENGLISH.accept(params, opt_in.state, Bid("E05", 10_500, nonce="e" * 16), at(139)))
    assert (
        rejected(ENGLISH.accept(params, state, Bid("D04", 10_500, nonce="d" * 16), at(140)))
        == "auction_not_open"
    )
    outcome = ENGLISH.close(params, state, at(140))
    assert outcome.status == "sold" and outcome.price == 10_500 and outcome.decided_at == at(140)
    nonces = {"B02": "b" * 16, "C03": "c" * 16, "E05": "e" * 16}
    assert outcome.winners[0].bidder == draw_winner(SEED, nonces)
    assert outcome.draw is not None and outcome.draw.candidates == ("B02", "C03", "E05")
    assert outcome.draw.nonces == ("b" * 16, "c" * 16, "e" * 16)
    assert outcome.draw.seed_hex == SEED.hex()


def test_cap_lottery_with_a_single_taker_sells_to_it() -> None:
    params = Params(
        "english", T0, at(300), 10_000, 100, price_cap=10_000, cap_rule="lottery",
        lottery_window_seconds=60, seed=SEED,
    )  # fmt: skip
    state = ENGLISH.open(params, {"A01", "B02"}, T0).state
    state = accepted(ENGLISH.accept(params, state, Bid("B02", 10_000, nonce="b" * 16), at(5)))
    outcome = ENGLISH.close(params, state, at(65))
    assert [(w.bidder, w.price) for w in outcome.winners] == [("B02", 10_000)]
    assert outcome.draw is None
