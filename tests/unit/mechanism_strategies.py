"""Hypothesis strategies and a driver shared by the mechanism tests.

A scenario is parameters, a set of qualified bid numbers and a list of
*intents* ("bid one increment over the current high 12.5 s later"). The
driver turns intents into concrete bids using only what a bidder sees (the
public view), runs them, and keeps the concrete log so that the same run can
be replayed or re-driven with timers called differently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import strategies as st

from auctions.mechanisms import (
    AuctionState,
    Bid,
    BidderTerms,
    Event,
    Method,
    Params,
    Rejection,
    ReplayStep,
    mechanism_for,
)

T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
BIDDERS = ("A01", "B02", "C03", "D04", "E05")
OUTSIDER = "Z99"
SEED = bytes(range(32))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Intent:
    timer: bool
    who: int  # index into BIDDERS; len(BIDDERS) means the outsider
    steps: int  # increments above the minimum (or the grid for sealed bids)
    off: int  # fen off the grid
    lots: int
    cap: bool
    dt: float
    nonce: str | None = None


intents = st.builds(
    Intent,
    timer=st.integers(0, 4).map(lambda n: n == 0),
    who=st.integers(0, len(BIDDERS)),
    steps=st.integers(0, 4),
    off=st.sampled_from((0, 0, 0, 0, 1, -1)),
    lots=st.integers(-1, 6),
    cap=st.integers(0, 9).map(lambda n: n == 0),
    dt=st.sampled_from((0.0, 0.0, 0.25, 1.0, 2.0, 4.5, 8.0, 15.0, 40.0)),
    # mostly a bidder's own random nonce; now and then none (an acceptance then needs one)
    nonce=st.sampled_from((None, *(f"nonce-{i:010d}" for i in range(6)))),
)


def _common(draw: st.DrawFn, method: Method) -> dict[str, object]:
    start = draw(st.integers(1, 50)) * 100
    increment = draw(st.sampled_from((1, 10, 50, 100)))
    duration = draw(st.sampled_from((30, 60, 120, 300)))
    reserve = draw(st.none() | st.integers(0, 12).map(lambda k: start + k * increment))
    return {
        "method": method,
        "opens_at": T0,
        "closes_at": T0 + timedelta(seconds=duration),
        "start_price": start,
        "increment": increment,
        "reserve_price": reserve,
        "min_bidders": draw(st.sampled_from((1, 1, 1, 1, 2, 3))),
    }


def _cap(draw: st.DrawFn, kw: dict[str, object], lottery_allowed: bool) -> None:
    if not draw(st.booleans()):
        return
    start, increment = kw["start_price"], kw["increment"]
    assert isinstance(start, int) and isinstance(increment, int)
    cap = start + increment * draw(st.integers(0, 8)) + draw(st.sampled_from((0, 0, 1)))
    kw["price_cap"] = cap
    reserve = kw["reserve_price"]
    if isinstance(reserve, int) and reserve > cap:
        kw["reserve_price"] = cap
    if lottery_allowed and draw(st.booleans()):
        kw["cap_rule"] = "lottery"
        kw["lottery_window_seconds"] = draw(st.sampled_from((5, 30, 60)))
        kw["seed"] = SEED


@st.composite
def english_params(draw: st.DrawFn) -> Params:
    kw = _common(draw, "english")
    kw["extension_seconds"] = draw(st.sampled_from((0, 10, 30, 60)))
    _cap(draw, kw, lottery_allowed=True)
    return Params(**kw)  # type: ignore[arg-type]


@st.composite
def listing_params(draw: st.DrawFn) -> Params:
    kw = _common(draw, "listing")
    kw["extension_seconds"] = draw(st.sampled_from((5, 20, 60)))
    closes_at = kw["closes_at"]
    assert isinstance(closes_at, datetime)
    duration = int((closes_at - T0).total_seconds())
    kw["freeze_seconds"] = draw(st.sampled_from((0, 0, 10, duration // 2)))
    _cap(draw, kw, lottery_allowed=True)
    return Params(**kw)  # type: ignore[arg-type]


@st.composite
def sealed_params(draw: st.DrawFn) -> Params:
    kw = _common(draw, "sealed_bid")
    kw["award_rule"] = draw(st.sampled_from(("highest", "closest_to_average")))
    _cap(draw, kw, lottery_allowed=kw["award_rule"] == "highest")
    return Params(**kw)  # type: ignore[arg-type]


@st.composite
def uniform_params(draw: st.DrawFn) -> Params:
    kw = _common(draw, "uniform_price")
    lot = draw(st.sampled_from((1, 5, 100)))
    kw["lot"] = lot
    kw["quantity"] = lot * draw(st.sampled_from((1, 2, 3, 5, 8, 10, 12, 15, 20, 24)))
    kw["max_bidder_share"] = draw(
        st.sampled_from((None, None, Fraction(1, 4), Fraction(1, 2), Fraction(3, 5), Fraction(1)))
    )
    kw["undersubscribed"] = draw(st.sampled_from(("cancel", "sell_available")))
    kw["pricing"] = draw(st.sampled_from(("uniform", "pay_as_bid")))
    kw["seed"] = draw(st.binary(min_size=16, max_size=32))
    _cap(draw, kw, lottery_allowed=False)
    return Params(**kw)  # type: ignore[arg-type]


@st.composite
def guaranteed_uniform(draw: st.DrawFn) -> tuple[Params, dict[str, BidderTerms]]:
    """uniform_price with a bid guarantee and every bidder's terms: groups of affiliated bid
    numbers (some alone, some together) and deposits from nothing to the value of a few lots."""
    params = draw(uniform_params())
    scale = draw(st.sampled_from((1, 1000)))
    params = replace(
        params,
        quantity_scale=scale,
        bid_guarantee_ratio=draw(st.sampled_from((None, Fraction(1), Fraction(1, 2), Fraction(1, 10)))),
    )
    lot_value = params.start_price * params.lot // scale + 1  # fen, one lot at the start price
    terms = {
        bidder: BidderTerms(
            bidder, draw(st.sampled_from(("g1", "g1", "g2", bidder))), draw(st.integers(0, 6)) * lot_value
        )
        for bidder in BIDDERS
    }
    return params, terms


@st.composite
def dutch_params(draw: st.DrawFn) -> Params:
    kw = _common(draw, "dutch")
    start, increment = kw["start_price"], kw["increment"]
    assert isinstance(start, int) and isinstance(increment, int)
    reserve = kw["reserve_price"]
    if isinstance(reserve, int) and reserve > start:
        # a descending clock never sells above its start
        kw["reserve_price"] = max(start - increment * draw(st.integers(0, 10)), 0)
    kw["extension_seconds"] = draw(st.sampled_from((3, 10, 30)))
    return Params(**kw)  # type: ignore[arg-type]


PARAMS = {
    "english": english_params(),
    "listing": listing_params(),
    "sealed_bid": sealed_params(),
    "uniform_price": uniform_params(),
    "dutch": dutch_params(),
}

qualified_sets = st.frozensets(st.sampled_from(BIDDERS), max_size=len(BIDDERS)) | st.frozensets(
    st.sampled_from(BIDDERS), min_size=2, max_size=len(BIDDERS)
)


@dataclass
class Attempt:
    bid: Bid
    now: datetime
    before: AuctionState
    result: AuctionState | Rejection


@dataclass
class Run:
    params: Params
    qualified: frozenset[str]
    state: AuctionState
    events: list[Event] = field(default_factory=list)
    log: list[ReplayStep] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)


def far_future(run: Run) -> datetime:
    last = max((step[-1] for step in run.log), default=T0)
    assert isinstance(last, datetime)
    return last + timedelta(days=2)


def concrete_bid(params: Params, state: AuctionState, intent: Intent, now: datetime) -> Bid:
    """What a bidder following `intent` would type into the price box."""
    mechanism = mechanism_for(params.method)
    view = mechanism.view(params, state, now)
    who = OUTSIDER if intent.who == len(BIDDERS) else BIDDERS[intent.who]
    if intent.cap and params.price_cap is not None:
        amount = params.price_cap
    elif params.method in ("sealed_bid", "uniform_price"):
        amount = params.start_price + params.increment * 3 * intent.steps + intent.off
    else:
        base = view["next_min_bid"] if view["next_min_bid"] is not None else params.start_price
        assert isinstance(base, int)
        amount = base + params.increment * intent.steps + intent.off
    quantity = None
    if params.method == "uniform_price":
        quantity = params.lot * intent.lots if intent.lots else params.lot + 1
    return Bid(who, amount, quantity, intent.nonce)


def drive(params: Params, qualified: frozenset[str], plan: list[Intent]) -> Run:
    mechanism = mechanism_for(params.method)
    opened = mechanism.open(params, qualified, params.opens_at)
    run = Run(params, qualified, opened.state, list(opened.events))
    now = params.opens_at
    for intent in plan:
        now += timedelta(seconds=intent.dt)
        if intent.timer:
            step = mechanism.on_timer(params, run.state, now)
            run.log.append(("timer", now))
            run.state = step.state
            run.events.extend(step.events)
            continue
        bid = concrete_bid(params, run.state, intent, now)
        result = mechanism.accept(params, run.state, bid, now)
        run.log.append(("bid", bid, now))
        if isinstance(result, Rejection):
            run.attempts.append(Attempt(bid, now, run.state, result))
            continue
        run.attempts.append(Attempt(bid, now, run.state, result.state))
        run.state = result.state
        run.events.extend(result.events)
    return run


def finish(run: Run) -> Run:
    """Let every remaining deadline pass."""
    step = mechanism_for(run.params.method).on_timer(run.params, run.state, far_future(run))
    run.state = step.state
    run.events.extend(step.events)
    return run


def plans(max_size: int = 24) -> st.SearchStrategy[list[Intent]]:
    return st.lists(intents, max_size=max_size)


def ascending_violations(params: Params, high: tuple[str, int] | None, bid: Bid) -> set[str]:
    """Every rule of rules.md section 3 a bid in open ascending bidding breaks."""
    broken: set[str] = set()
    cap = params.price_cap
    base = params.start_price if high is None else high[1]
    if bid.quantity is not None:
        broken.add("quantity_invalid")
    if high is not None and high[0] == bid.bidder:
        broken.add("already_leading")
    if cap is not None and bid.amount > cap:
        broken.add("bid_above_cap")
    reaches_cap = cap is not None and bid.amount == cap and (high is None or cap > high[1])
    if not reaches_cap:
        if bid.amount < (base if high is None else base + params.increment):
            broken.add("bid_below_minimum")
        if (bid.amount - base) % params.increment:
            broken.add("bid_not_on_increment")
    elif params.cap_rule == "lottery" and not bid.nonce:
        broken.add("nonce_required")
    return broken


def draw_order(seed: bytes, nonces: dict[str, str]) -> list[str]:
    """The published procedure (docs/rules.md section 7.7), written out independently of the engine."""
    text = "[" + ",".join(f'["{c}","{nonces[c]}"]' for c in sorted(nonces)) + "]"
    entropy = hashlib.sha256(seed + text.encode()).digest()
    return sorted(nonces, key=lambda c: (hashlib.sha256(entropy + c.encode()).hexdigest(), c))


def draw_winner(seed: bytes, nonces: dict[str, str]) -> str:
    return draw_order(seed, nonces)[0]


@dataclass
class CapLottery:
    """Reference model of the cap lottery window, from the rules."""

    until: datetime
    entrants: dict[str, str]
    """bid number -> its nonce, in the order they accepted."""

    def violations(self, params: Params, bid: Bid) -> set[str]:
        broken: set[str] = set()
        if bid.amount != params.price_cap:
            broken.add("price_mismatch")
        if bid.bidder in self.entrants:
            broken.add("already_bid")
        if bid.quantity is not None:
            broken.add("quantity_invalid")
        if not bid.nonce:
            broken.add("nonce_required")
        return broken

    def enter(self, bid: Bid) -> None:
        assert bid.nonce
        self.entrants[bid.bidder] = bid.nonce

    def check_outcome(self, params: Params, state: AuctionState) -> None:
        outcome = state.outcome
        assert outcome is not None and outcome.decided_at == self.until
        assert self.entrants, "whoever reached the cap is in the draw"
        assert outcome.status == "sold" and outcome.price == params.price_cap
        (winner,) = outcome.winners
        assert winner.price == params.price_cap
        if len(self.entrants) == 1:
            assert winner.bidder == next(iter(self.entrants)) and outcome.draw is None
            return
        assert params.seed is not None and outcome.draw is not None
        assert winner.bidder == draw_winner(params.seed, self.entrants)
        assert winner.bidder in self.entrants  # the draw's winner is always a candidate
        assert dict(zip(outcome.draw.candidates, outcome.draw.nonces, strict=True)) == self.entrants
        assert bytes.fromhex(outcome.draw.seed_hex) == params.seed
        assert outcome.draw.commitment == hashlib.sha256(params.seed).hexdigest()
