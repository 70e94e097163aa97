"""挂牌 at the price cap (Order 39 art. 17): the listing runs its full term, acceptances of the cap
price until its close, then the draw among the acceptors, which every acceptor's nonce moves."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from auctions.mechanisms import AuctionState, Bid, Params, Rejection, Step, mechanism_for, replay
from auctions.mechanisms.replay import ReplayStep
from tests.unit.mechanism_strategies import BIDDERS, SEED, T0, at, draw_winner

LISTING = mechanism_for("listing")


@dataclass(frozen=True)
class Scenario:
    params: Params
    quotes: list[tuple[str, float]]
    """Money quotes below the cap before it is reached: (bidder, seconds)."""
    capper: str
    cap_at: float
    acceptances: list[tuple[str, float, str | None]]
    """Later bids at the cap: (bidder, seconds, nonce)."""


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    duration = draw(st.sampled_from((600, 3600, 14 * 86400)))
    freeze = draw(st.sampled_from((0, 60, duration // 4)))
    window = draw(st.sampled_from((1, 30, 300)))  # far shorter than the listing: it must play no part
    params = Params(
        "listing",
        T0,
        at(duration),
        100_000,
        1_000,
        reserve_price=draw(st.none() | st.just(105_000)),
        price_cap=110_000,
        cap_rule="lottery",
        lottery_window_seconds=window,
        extension_seconds=60,
        freeze_seconds=freeze,
        seed=SEED,
    )
    quote_end = duration - freeze
    cap_at = draw(st.floats(1, quote_end - 1))
    capper = draw(st.sampled_from(BIDDERS))
    others = [b for b in BIDDERS if b != capper]  # the capper does not lead, or it could not raise
    quotes = draw(st.lists(st.tuples(st.sampled_from(others), st.floats(0, cap_at)), max_size=4))
    nonces = st.none() | st.text(alphabet="abcdef0123456789", min_size=16, max_size=20)
    acceptances = draw(
        st.lists(st.tuples(st.sampled_from(BIDDERS), st.floats(cap_at, duration + 600), nonces), max_size=8)
    )
    return Scenario(params, quotes, capper, cap_at, acceptances)


@dataclass
class Played:
    state: AuctionState
    log: list[ReplayStep]
    acceptors: dict[str, str]
    """bid number -> nonce of every acceptance taken, the capper's first."""


def play(s: Scenario, capper_nonce: str = "capper-own-nonce-0") -> Played:
    state = LISTING.open(s.params, set(BIDDERS), T0).state
    log: list[ReplayStep] = []
    price = s.params.start_price
    for bidder, seconds in sorted(s.quotes, key=lambda q: q[1]):
        bid = Bid(bidder, price)
        result = LISTING.accept(s.params, state, bid, at(seconds))
        log.append(("bid", bid, at(seconds)))
        if isinstance(result, Step):
            state, price = result.state, price + s.params.increment
    cap = Bid(s.capper, 110_000, nonce=capper_nonce)
    capped = LISTING.accept(s.params, state, cap, at(s.cap_at))
    log.append(("bid", cap, at(s.cap_at)))
    assert isinstance(capped, Step), capped
    state = capped.state
    acceptors = {s.capper: capper_nonce}
    for bidder, seconds, nonce in sorted(s.acceptances, key=lambda a: a[1]):
        bid = Bid(bidder, 110_000, nonce=nonce)
        before = state
        result = LISTING.accept(s.params, state, bid, at(seconds))
        log.append(("bid", bid, at(seconds)))
        if at(seconds) >= s.params.closes_at:
            assert isinstance(result, Rejection) and result.code == "auction_not_open"
        elif bidder in acceptors:
            assert isinstance(result, Rejection) and result.code == "already_bid"
        elif nonce is None:
            assert isinstance(result, Rejection) and result.code == "nonce_required"
        else:
            assert isinstance(result, Step), result
            state = result.state
            acceptors[bidder] = nonce
            # nothing public counts the acceptances
            assert not any(e.public for e in result.events)
            assert LISTING.view(s.params, state, at(seconds)) == LISTING.view(s.params, before, at(seconds))
    end = LISTING.on_timer(s.params, state, s.params.closes_at + timedelta(days=1))
    log.append(("timer", s.params.closes_at + timedelta(days=1)))
    return Played(end.state, log, acceptors)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_a_cap_quote_never_closes_a_listing_before_its_close(s: Scenario) -> None:
    state = LISTING.open(s.params, set(BIDDERS), T0).state
    capped = LISTING.accept(s.params, state, Bid(s.capper, 110_000, nonce="capper-own-nonce-0"), at(s.cap_at))
    assert isinstance(capped, Step)
    assert (capped.state.phase, capped.state.ends_at) == ("lottery", s.params.closes_at)
    just_before = s.params.closes_at - timedelta(microseconds=1)
    assert LISTING.on_timer(s.params, capped.state, just_before).state.outcome is None
    # money quotes have stopped: only the cap, as an acceptance
    other = next(b for b in BIDDERS if b != s.capper)
    money = LISTING.accept(s.params, capped.state, Bid(other, 109_000, nonce="x" * 16), at(s.cap_at))
    assert isinstance(money, Rejection) and money.code == "price_mismatch"
    outcome = play(s).state.outcome
    assert outcome is not None and outcome.decided_at == s.params.closes_at


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_exactly_one_winner_among_the_acceptors_and_replay_agrees(s: Scenario) -> None:
    played = play(s)
    outcome = played.state.outcome
    assert outcome is not None and outcome.status == "sold" and outcome.price == 110_000
    (winner,) = outcome.winners
    assert winner.bidder in played.acceptors
    if len(played.acceptors) == 1:
        assert outcome.draw is None and winner.bidder == s.capper
    else:
        assert outcome.draw is not None
        assert dict(zip(outcome.draw.candidates, outcome.draw.nonces, strict=True)) == played.acceptors
        assert winner.bidder == outcome.draw.order[0] == draw_winner(SEED, played.acceptors)
    replayed, again = replay(s.params, set(BIDDERS), played.log)
    assert replayed == played.state and again == outcome
    # a suspension during the acceptance period only moves the close by the pause
    pause = timedelta(hours=1)
    at_cap = len(s.quotes)  # the log: the quotes, the capping quote, the rest
    paused_log: list[ReplayStep] = [*played.log[: at_cap + 1], ("pause", pause)]
    for step in played.log[at_cap + 1 :]:
        if step[0] == "bid":
            paused_log.append(("bid", step[1], step[2] + pause))
        elif step[0] == "timer":
            paused_log.append(("timer", step[1] + pause))
    _, moved_outcome = replay(s.params, set(BIDDERS), paused_log)
    assert moved_outcome is not None
    assert moved_outcome.decided_at == s.params.closes_at + pause
    assert moved_outcome.winners == outcome.winners


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.data())
def test_any_one_acceptors_nonce_can_change_the_winner(s: Scenario, data: st.DataObject) -> None:
    base = play(s)
    event(f"{len(base.acceptors)} acceptors")
    if len(base.acceptors) < 2:
        return
    # the capper's own nonce: some choice of it makes the capper win, some other makes it lose
    wins = {
        (o := play(s, capper_nonce=f"capper-own-nonce-{i}").state.outcome) is not None
        and o.winners[0].bidder == s.capper
        for i in range(60)
    }
    assert wins == {True, False}
    # and any other acceptor's: its nonce alone moves the draw
    who = data.draw(st.sampled_from(sorted(set(base.acceptors) - {s.capper})))
    outcomes = set()
    for i in range(60):
        changed = [(b, t, f"{n}{i}" if b == who and n else n) for b, t, n in s.acceptances]
        outcome = play(replace(s, acceptances=changed)).state.outcome
        assert outcome is not None
        outcomes.add(outcome.winners[0].bidder == who)
    assert outcomes == {True, False}
