"""listing (挂牌): a quote period, then timed bidding among the quoters.

Phases: `quote` -> (`frozen` for the last `freeze_seconds`, no quotes taken)
-> at `closes_at`: no quote fails; a single quoter wins if the reserve is
met; two or more quoters go to `timed`. In `timed` only bidders who quoted
may bid (Suzhou FAQ 13); every accepted bid opens a new window of
`extension_seconds` from its own time (`round` counts the windows). When a
window passes without a bid the high bid wins if it reaches the reserve, so
with no bid in the first window the highest listing quote wins.

A quote at `price_cap` stops money quotes but never shortens the listing
(Order 39 art. 17: at least 10 WD, the winner named at the listing's close).
With `cap_rule: lottery` the acceptance period (`lottery.py`) runs until
`closes_at`; without it the capping quote wins at `closes_at`, with no timed
phase (nobody can outbid the cap). A cap reached in the timed phase, after
the listing's close, opens the usual lottery window.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from .ascending import (
    check_raise,
    end_at_cap,
    high_bid_outcome,
    hits_cap,
    leader,
    next_min_bid,
    record,
)
from .base import Mechanism
from .english import extended_deadline
from .events import bid_event, extended_event, finish, iso, phase_event
from .types import JSON, AuctionState, Bid, Event, Params, Rejection, Step


def capped(params: Params, state: AuctionState) -> bool:
    """A listing-period quote holds the cap: nobody can outbid it, the close names it."""
    high = leader(state)
    return state.phase in ("quote", "frozen") and high is not None and hits_cap(params, high)


class ListingMechanism(Mechanism):
    method = "listing"

    def initial_state(
        self, params: Params, qualified: tuple[str, ...], commitment: str | None
    ) -> AuctionState:
        quote_ends = params.closes_at - timedelta(seconds=params.freeze_seconds)
        return AuctionState(self.method, "quote", qualified, quote_ends, seed_commitment=commitment)

    def take_bid(self, params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
        if state.phase == "frozen":
            return Rejection(
                "auction_not_open",
                f"no quotes are taken until the listing closes at {iso(state.ends_at)}",
            )
        if state.phase == "timed" and bid.bidder not in state.quoters:
            return Rejection("not_qualified", "only bidders who quoted may bid in the timed phase")
        if capped(params, state):
            return Rejection(
                "auction_not_open",
                f"the price cap is reached: no more quotes; the listing closes at {iso(params.closes_at)}",
            )
        rejection = check_raise(params, state, bid)
        if rejection is not None:
            return rejection
        old = state.ends_at
        if state.phase == "quote" or (params.price_cap is not None and bid.amount == params.price_cap):
            accepted, state = record(state, bid, now, state.phase, old)
            if hits_cap(params, accepted) and (state.phase == "timed" or params.cap_rule == "lottery"):
                # in the listing period the listing runs its full term: acceptances until its close
                until = None if state.phase == "timed" else params.closes_at
                return end_at_cap(params, state, accepted, until)
            return Step(state, (bid_event(accepted, state.ends_at),))
        assert old is not None
        new = extended_deadline(old, now, params.extension_seconds)
        accepted, state = record(state, bid, now, state.phase, new, state.round + 1)
        events: list[Event] = [bid_event(accepted, new)]
        if new != old:
            events.append(extended_event(now, old, new))
        return Step(state, tuple(events))

    def at_deadline(self, params: Params, state: AuctionState, now: datetime) -> Step:
        at = state.ends_at
        assert at is not None
        if state.phase == "quote" and at < params.closes_at:
            frozen = replace(state, phase="frozen", ends_at=params.closes_at)
            return Step(frozen, (phase_event(frozen, at),))
        if state.phase in ("quote", "frozen") and len(state.quoters) >= 2 and not capped(params, state):
            timed = replace(
                state,
                phase="timed",
                round=1,
                ends_at=at + timedelta(seconds=params.extension_seconds),
            )
            return Step(timed, (phase_event(timed, at),))
        return finish(state, high_bid_outcome(params, state, at))

    def live_view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        high = leader(state)
        return {
            "current_price": params.start_price if high is None else high.amount,
            "leading_bid_number": None if high is None else high.bidder,
            "next_min_bid": None if state.phase == "frozen" else next_min_bid(params, state),
            "bid_count": state.bid_count,
        }
