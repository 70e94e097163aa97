"""english: open ascending auction with a rolling countdown (网上拍卖 / 限时竞价).

A bid accepted less than `extension_seconds` before `ends_at` moves `ends_at`
to `accepted_at + extension_seconds`; this repeats without limit. At
`ends_at` the high bid wins if it reaches the reserve.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .ascending import (
    check_raise,
    end_at_cap,
    high_bid_outcome,
    leader,
    next_min_bid,
    record,
)
from .base import Mechanism
from .events import bid_event, extended_event, finish
from .types import JSON, AuctionState, Bid, Event, Params, Rejection, Step


def extended_deadline(ends_at: datetime, accepted_at: datetime, extension_seconds: int) -> datetime:
    """The deadline after a bid: never earlier than before."""
    return max(ends_at, accepted_at + timedelta(seconds=extension_seconds))


class EnglishMechanism(Mechanism):
    method = "english"

    def initial_state(
        self, params: Params, qualified: tuple[str, ...], commitment: str | None
    ) -> AuctionState:
        return AuctionState(self.method, "bidding", qualified, params.closes_at, seed_commitment=commitment)

    def take_bid(self, params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
        rejection = check_raise(params, state, bid)
        if rejection is not None:
            return rejection
        old = state.ends_at
        assert old is not None
        if params.price_cap is not None and bid.amount == params.price_cap:
            accepted, state = record(state, bid, now, "bidding", old)
            return end_at_cap(params, state, accepted)
        new = extended_deadline(old, now, params.extension_seconds)
        accepted, state = record(state, bid, now, "bidding", new)
        events: list[Event] = [bid_event(accepted, new)]
        if new != old:
            events.append(extended_event(now, old, new))
        return Step(state, tuple(events))

    def at_deadline(self, params: Params, state: AuctionState, now: datetime) -> Step:
        assert state.ends_at is not None
        return finish(state, high_bid_outcome(params, state, state.ends_at))

    def live_view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        high = leader(state)
        return {
            "current_price": params.start_price if high is None else high.amount,
            "leading_bid_number": None if high is None else high.bidder,
            "next_min_bid": next_min_bid(params, state),
            "bid_count": state.bid_count,
        }
