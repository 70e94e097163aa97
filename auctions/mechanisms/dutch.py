"""dutch: descending clock.

The clock shows `start_price - k * increment` during step k, i.e. from
`opens_at + k * extension_seconds` to the next step. It stops at the lowest
price on that grid that still reaches the reserve (without a reserve: the
lowest positive one), and the auction fails once that last step has passed
(or at `closes_at`, whichever comes first). The first qualified bidder to
send a bid equal to the clock price at the instant it is taken wins at that
price; any other amount is `price_mismatch`. `round` is k + 1.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from exchange.money import format_yuan

from .base import Mechanism
from .events import bid_event, failed, finish, iso, sold
from .types import JSON, AcceptedBid, AuctionState, Bid, Event, Params, Rejection, Step


def last_step(params: Params) -> int:
    floor = max(params.reserve_price or 0, 1)
    return (params.start_price - floor) // params.increment


def clock_price(params: Params, step: int) -> int:
    return params.start_price - step * params.increment


def clock_end(params: Params) -> datetime:
    length = timedelta(seconds=params.extension_seconds)
    return min(params.opens_at + length * (last_step(params) + 1), params.closes_at)


def step_ends(params: Params, step: int) -> datetime:
    length = timedelta(seconds=params.extension_seconds)
    return min(params.opens_at + length * (step + 1), clock_end(params))


class DutchMechanism(Mechanism):
    method = "dutch"

    def initial_state(
        self, params: Params, qualified: tuple[str, ...], commitment: str | None
    ) -> AuctionState:
        return AuctionState(self.method, "clock", qualified, step_ends(params, 0), seed_commitment=commitment)

    def take_bid(self, params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
        if bid.quantity is not None:
            return Rejection("quantity_invalid", "this auction sells one object; send no quantity")
        price = clock_price(params, state.round - 1)
        if bid.amount != price:
            return Rejection(
                "price_mismatch", f"the clock price is {format_yuan(price)} yuan until {iso(state.ends_at)}"
            )
        accepted = AcceptedBid(1, bid.bidder, bid.amount, None, now, "clock")
        taken = replace(state, high=accepted, bid_count=1)
        done = finish(taken, sold(taken, bid.bidder, price, now))
        return Step(done.state, (bid_event(accepted, None), *done.events))

    def at_deadline(self, params: Params, state: AuctionState, now: datetime) -> Step:
        end = clock_end(params)
        length = timedelta(seconds=params.extension_seconds)
        if now >= end:
            shown = -((params.opens_at - end) // length)  # ceil: steps that started before the end
            return finish(replace(state, round=shown), failed(state, "no_acceptance", end))
        # jump straight to the step showing at `now`: a late timer must not
        # replay thousands of clock steps one by one
        step = (now - params.opens_at) // length
        moved = replace(state, round=step + 1, ends_at=step_ends(params, step))
        at = params.opens_at + length * step
        price = clock_price(params, step)
        return Step(
            moved, (Event("price", at, {"price": price, "round": step + 1, "ends_at": iso(moved.ends_at)}),)
        )

    def live_view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        price = clock_price(params, state.round - 1)
        return {
            "current_price": price,
            "leading_bid_number": None,
            "next_min_bid": price,
            "bid_count": 0,
        }
