"""sealed_bid: one binding, hidden quote per bidder (一次性报价).

Quotes must lie in `[start_price, price_cap]` and on the increment grid from
the start price (the cap itself is always allowed). Which quotes are *valid*
for the award: those reaching the reserve (all, without a reserve).

- `highest`: the highest quote wins; equal quotes go to the earliest.
  With `cap_rule: lottery` and a top quote at the cap, everybody who quoted
  the cap has accepted it and the lottery window opens for the others.
- `closest_to_average` (Suzhou 2016): the valid quote closest to the exact
  mean of the valid quotes wins at its own price; equal distance -> the
  lower quote; still equal -> the earliest. The mean is published.
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


def check_sealed_price(params: Params, amount: int) -> Rejection | None:
    cap = params.price_cap
    if cap is not None and amount > cap:
        return Rejection("bid_above_cap", f"the price cap is {format_yuan(cap)} yuan")
    if amount < params.start_price:
        return Rejection(
            "bid_below_minimum", f"the lowest valid price is {format_yuan(params.start_price)} yuan"
        )
    if amount != cap and (amount - params.start_price) % params.increment:
        return Rejection(
            "bid_not_on_increment",
            f"quote {format_yuan(params.start_price)} plus a whole multiple of {format_yuan(params.increment)} yuan",
        )
    return None


def reaches_reserve(params: Params, amount: int) -> bool:
    return params.reserve_price is None or amount >= params.reserve_price


def closest_to_average(valid: tuple[AcceptedBid, ...]) -> tuple[AcceptedBid, Fraction]:
    mean = Fraction(sum(b.amount for b in valid), len(valid))
    return min(valid, key=lambda b: (abs(b.amount - mean), b.amount, b.seq)), mean


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
        rejection = check_sealed_price(params, bid.amount)
        if rejection is not None:
            return rejection
        accepted = AcceptedBid(state.bid_count + 1, bid.bidder, bid.amount, None, now, "sealed")
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
            best, mean = closest_to_average(valid)
            return finish(state, sold(state, best.bidder, best.amount, at, average_quote=mean))
        best = max(state.bids, key=lambda b: (b.amount, -b.seq))
        if params.cap_rule == "lottery" and best.amount == params.price_cap:
            at_cap = tuple(b.bidder for b in state.bids if b.amount == params.price_cap)
            return lottery.start(params, state, at, at_cap)
        if not reaches_reserve(params, best.amount):
            return finish(state, failed(state, "below_reserve", at))
        return finish(state, sold(state, best.bidder, best.amount, at))

    def live_view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        return {
            "current_price": None,
            "leading_bid_number": None,
            "next_min_bid": params.start_price,
            "bid_count": None,
        }
