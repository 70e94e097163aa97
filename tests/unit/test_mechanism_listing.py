"""listing (挂牌): quotes, freeze, then timed windows among the quoters."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings

from auctions.mechanisms import AuctionState, Bid, Params, Rejection, Step, mechanism_for
from tests.unit.mechanism_strategies import (
    T0,
    CapLottery,
    Intent,
    ascending_violations,
    at,
    drive,
    finish,
    listing_params,
    plans,
    qualified_sets,
)

LISTING = mechanism_for("listing")


@settings(max_examples=250, deadline=None)
@given(listing_params(), qualified_sets, plans())
def test_listing_follows_its_phases_and_the_best_quote_wins(
    params: Params, qualified: frozenset[str], plan: list[Intent]
) -> None:
    run = finish(drive(params, qualified, plan))
    outcome = run.state.outcome
    assert outcome is not None
    if len(qualified) < params.min_bidders:
        assert outcome.reason == "too_few_bidders"
        return
    ext = timedelta(seconds=params.extension_seconds)
    quote_end = params.closes_at - timedelta(seconds=params.freeze_seconds)
    phase, ends_at, window = "quote", quote_end, 0
    high: tuple[str, int] | None = None
    quoters: set[str] = set()
    lottery: CapLottery | None = None
    won_at_cap: tuple[str, datetime] | None = None
    capped = False  # a listing-period quote at the cap, no lottery: it wins at the close

    def advance(now: datetime) -> None:
        nonlocal phase, ends_at, window
        if phase == "quote" and now >= quote_end:
            phase = "frozen"
        if phase == "frozen" and now >= params.closes_at:
            phase, ends_at, window = (
                ("timed", params.closes_at + ext, 1)
                if len(quoters) >= 2 and not capped
                else ("ended", params.closes_at, 0)
            )
        if phase == "timed" and now >= ends_at:
            phase = "ended"

    for attempt in run.attempts:
        bid, now, result = attempt.bid, attempt.now, attempt.result
        code = result.code if isinstance(result, Rejection) else None
        if lottery is None and won_at_cap is None:
            advance(now)
        if won_at_cap is not None or phase == "ended" or (lottery is not None and now >= lottery.until):
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
        if phase == "frozen":
            assert code == "auction_not_open"
            continue
        if phase == "timed" and bid.bidder not in quoters:
            assert code == "not_qualified"
            continue
        if capped:
            assert code == "auction_not_open"
            continue
        broken = ascending_violations(params, high, bid)
        if broken:
            assert code in broken
            continue
        assert isinstance(result, AuctionState) and result.high is not None
        assert (result.high.bidder, result.high.amount, result.high.phase) == (bid.bidder, bid.amount, phase)
        high = (bid.bidder, bid.amount)
        if phase == "quote":
            quoters.add(bid.bidder)
        if bid.amount == params.price_cap and phase == "quote":
            # Order 39 art. 17: the listing runs its full term whatever the price
            if params.cap_rule == "lottery":
                lottery = CapLottery(params.closes_at, {})
                lottery.enter(bid)
                assert (result.phase, result.ends_at) == ("lottery", params.closes_at)
            else:
                capped = True
                assert (result.phase, result.ends_at) == ("quote", quote_end)
            continue
        if bid.amount == params.price_cap:
            if params.cap_rule == "lottery":
                lottery = CapLottery(now + timedelta(seconds=params.lottery_window_seconds), {})
                lottery.enter(bid)
            else:
                won_at_cap = (bid.bidder, now)
            continue
        if phase == "timed":
            # every bid opens a new window from its own time
            window += 1
            assert (result.ends_at, result.round) == (now + ext, window)
            ends_at = now + ext
        else:
            assert result.ends_at == quote_end

    if won_at_cap is not None:
        assert outcome.decided_at == won_at_cap[1]
        assert [(w.bidder, w.price) for w in outcome.winners] == [(won_at_cap[0], params.price_cap)]
        return
    if lottery is not None:
        lottery.check_outcome(params, run.state)
        return
    advance(datetime.max.replace(tzinfo=T0.tzinfo))
    if capped:
        assert high is not None and outcome.decided_at == params.closes_at
        assert [(w.bidder, w.price) for w in outcome.winners] == [high]
        return
    if not quoters:
        assert (outcome.reason, outcome.decided_at) == ("no_bids", params.closes_at)
        return
    assert high is not None
    assert outcome.decided_at == (params.closes_at if len(quoters) == 1 else ends_at)
    if params.reserve_price is not None and high[1] < params.reserve_price:
        assert (outcome.status, outcome.reason) == ("failed", "below_reserve")
    else:
        assert [(w.bidder, w.price) for w in outcome.winners] == [high]


def accepted(step: Step | Rejection) -> AuctionState:
    assert isinstance(step, Step), step
    return step.state


def rejected(step: Step | Rejection) -> str:
    assert isinstance(step, Rejection), step
    return step.code


SUZHOU = Params(
    "listing",
    T0,
    at(10 * 3600),
    1_000_000,
    10_000,
    reserve_price=1_020_000,
    extension_seconds=240,
    freeze_seconds=3600,
)


def test_freeze_then_timed_phase_open_only_to_quoters() -> None:
    state = LISTING.open(SUZHOU, {"A01", "B02", "C03"}, T0).state
    assert (state.phase, state.ends_at) == ("quote", at(9 * 3600))
    state = accepted(LISTING.accept(SUZHOU, state, Bid("A01", 1_000_000), at(60)))
    state = accepted(LISTING.accept(SUZHOU, state, Bid("B02", 1_030_000), at(120)))
    frozen = LISTING.accept(SUZHOU, state, Bid("A01", 1_040_000), at(9 * 3600))
    assert rejected(frozen) == "auction_not_open"
    timer = LISTING.on_timer(SUZHOU, state, at(9 * 3600))
    assert timer.state.phase == "frozen" and [e.data["phase"] for e in timer.events] == ["frozen"]
    assert LISTING.view(SUZHOU, timer.state, at(9 * 3600 + 1))["next_min_bid"] is None
    # the service is late: the bid itself carries the listing past its close
    late = LISTING.accept(SUZHOU, timer.state, Bid("A01", 1_040_000), at(10 * 3600 + 30))
    assert isinstance(late, Step)
    assert [e.kind for e in late.events] == ["phase", "bid", "extended"]
    assert late.events[0].at == at(10 * 3600) and late.events[0].data["phase"] == "timed"
    assert (late.state.phase, late.state.round, late.state.ends_at) == ("timed", 2, at(10 * 3600 + 270))
    assert (
        rejected(LISTING.accept(SUZHOU, late.state, Bid("C03", 1_050_000), at(10 * 3600 + 40)))
        == "not_qualified"
    )
    state = accepted(LISTING.accept(SUZHOU, late.state, Bid("B02", 1_050_000), at(10 * 3600 + 269)))
    assert state.ends_at == at(10 * 3600 + 509)
    outcome = LISTING.close(SUZHOU, state, at(10 * 3600 + 509))
    assert [(w.bidder, w.price) for w in outcome.winners] == [("B02", 1_050_000)]


def test_no_bid_in_the_first_window_gives_it_to_the_best_quote() -> None:
    state = LISTING.open(SUZHOU, {"A01", "B02"}, T0).state
    state = accepted(LISTING.accept(SUZHOU, state, Bid("A01", 1_010_000), at(60)))
    state = accepted(LISTING.accept(SUZHOU, state, Bid("B02", 1_020_000), at(61)))
    timed = LISTING.on_timer(SUZHOU, state, at(10 * 3600)).state
    assert (timed.phase, timed.ends_at) == ("timed", at(10 * 3600 + 240))
    outcome = LISTING.close(SUZHOU, timed, at(10 * 3600 + 240))
    assert outcome.decided_at == at(10 * 3600 + 240)
    assert [(w.bidder, w.price) for w in outcome.winners] == [("B02", 1_020_000)]


def test_single_quoter_wins_only_at_the_reserve() -> None:
    state = LISTING.open(SUZHOU, {"A01", "B02"}, T0).state
    low = accepted(LISTING.accept(SUZHOU, state, Bid("A01", 1_010_000), at(60)))
    failed = LISTING.close(SUZHOU, low, at(10 * 3600))
    assert (failed.status, failed.reason, failed.decided_at) == ("failed", "below_reserve", at(10 * 3600))
    enough = accepted(LISTING.accept(SUZHOU, state, Bid("A01", 1_020_000), at(60)))
    sold = LISTING.close(SUZHOU, enough, at(10 * 3600))
    assert sold.status == "sold" and sold.winners[0].bidder == "A01"
    nothing = LISTING.close(SUZHOU, state, at(10 * 3600))
    assert (nothing.status, nothing.reason) == ("failed", "no_bids")
