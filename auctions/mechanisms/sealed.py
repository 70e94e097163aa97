"""sealed_bid: one binding, hidden quote per bidder (一次性报价).

A quote may be any amount in `[start_price, price_cap]`: one binding quote
has no step to raise by, so the increment plays no part (the domain rules
give sealed quotes a range only; `uniform_price` keeps its price tick,
`check_sealed_price`). Which quotes are *valid* for the award: those
reaching the reserve (all, without a reserve).

- `highest`: the highest quote wins; equal quotes go to the earliest.
  With `cap_rule: lottery` and a top quote at the cap, everybody who quoted
  the cap has accepted it and the lottery window opens for the others.
- `closest_to_average` (Suzhou 2016): the valid quote closest to the exact
  mean of the valid quotes wins at its own price; equal distance -> the
  earliest quote (time priority). The mean is published. With fewer than
  three valid quotes the mean decides nothing (two quotes are always
  equidistant from it), so the award falls back to `highest`.

The outcome names the rule that decided the award (`Outcome.award_rule`), so the
result can say when the fallback applied.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from fractions import Fraction

from exchange.money import format_yuan

from . import lottery
from .base import Mechanism
from .events import bid_event, failed, finish, sold
from .types import JSON, AcceptedBid, AuctionState, Bid, Params, Rejection, Step


def check_quote_range(params: Params, amount: int) -> Rejection | None:
    """A sealed quote lies in ``[start_price, price_cap]``."""
    cap = params.price_cap
    if cap is not None and amount > cap:
        return Rejection("bid_above_cap", f"the price cap is {format_yuan(cap)} yuan")
    if amount < params.start_price:
        return Rejection(
            "bid_below_minimum", f"the lowest valid price is {format_yuan(params.start_price)} yuan"
        )
    return None


def check_sealed_price(params: Params, amount: int) -> Rejection | None:
    """A price in range and on the tick grid ``start + k * increment`` (the cap is always allowed):
    uniform_price's sealed bids, whose rules set a price tick."""
    rejection = check_quote_range(params, amount)
    if rejection is not None:
        return rejection
    if amount != params.price_cap and (amount - params.start_price) % params.increment:
        return Rejection(
            "bid_not_on_increment",
            f"quote {format_yuan(params.start_price)} plus a whole multiple of {format_yuan(params.increment)} yuan",
        )
    return None


def reaches_reserve(params: Params, amount: int) -> bool:
    return params.reserve_price is None or amount >= params.reserve_price


AVERAGE_NEEDS = 3
"""Valid quotes below this many make closest_to_average fall back to the highest."""


def highest(quotes: tuple[AcceptedBid, ...]) -> AcceptedBid:
    """The highest quote; between equal ones the earliest accepted (the lowest ``seq``)."""
    return max(quotes, key=lambda b: (b.amount, -b.seq))


def closest_to_average(valid: tuple[AcceptedBid, ...]) -> tuple[AcceptedBid, Fraction]:
    """The quote closest to the exact mean; between equally close ones the earliest accepted."""
    mean = Fraction(sum(b.amount for b in valid), len(valid))
    return min(valid, key=lambda b: (abs(b.amount - mean), b.seq)), mean


class SealedBidMechanism(Mechanism):
    method = "sealed_bid"
    sealed = True

    def initial_state(
        self, params: Params, qualified: tuple[str, ...], commitment: str | None
    ) -> AuctionState:
        return AuctionState(self.method, "sealed", qualified, params.closes_at, seed_commitment=commitment)

    def take_bid(self, params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
        if bid.quantity is not None:
            return Rejection("quantity_invalid", "this auction sells one object; send no quantity")
        if any(b.bidder == bid.bidder for b in state.bids):
            return Rejection("already_bid", "one binding quote per bidder")
        rejection = check_quote_range(params, bid.amount) or lottery.missing_nonce(params, bid)
        if rejection is not None:
            return rejection
        accepted = AcceptedBid(state.bid_count + 1, bid.bidder, bid.amount, None, now, "sealed", bid.nonce)
        taken = replace(state, bids=(*state.bids, accepted), bid_count=accepted.seq)
        return Step(taken, (bid_event(accepted, state.ends_at, public=False),))

    def at_deadline(self, params: Params, state: AuctionState, now: datetime) -> Step:
        at = state.ends_at
        assert at is not None
        if not state.bids:
            return finish(state, failed(state, "no_bids", at))
        if params.award_rule == "closest_to_average":
            valid = tuple(b for b in state.bids if reaches_reserve(params, b.amount))
            if not valid:
                return finish(state, failed(state, "below_reserve", at))
            if len(valid) >= AVERAGE_NEEDS:
                best, mean = closest_to_average(valid)
                outcome = sold(state, best.bidder, best.amount, at, average_quote=mean)
                return finish(state, replace(outcome, award_rule="closest_to_average"))
        best = highest(state.bids)
        if params.cap_rule == "lottery" and best.amount == params.price_cap:
            at_cap = tuple(b for b in state.bids if b.amount == params.price_cap)
            return lottery.start(params, state, at, at_cap)
        if not reaches_reserve(params, best.amount):
            return finish(state, failed(state, "below_reserve", at))
        return finish(state, replace(sold(state, best.bidder, best.amount, at), award_rule="highest"))

    def live_view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        return {
            "current_price": None,
            "leading_bid_number": None,
            "next_min_bid": params.start_price,
            "bid_count": None,
        }
