"""A suspension (中止) stops the auction's clock.

On resumption every time of the auction moves by the length of the pause:
the deadline in the state and the scheduled opening and close the dutch clock
and the listing's freeze count from. Bidders get back exactly the time they
had when it stopped, whatever the mechanism, and a deadline can never pass
while nobody may bid.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from .types import AuctionState, Params


def paused_params(params: Params, pause: timedelta) -> Params:
    return replace(params, opens_at=params.opens_at + pause, closes_at=params.closes_at + pause)


def paused_state(state: AuctionState, pause: timedelta) -> AuctionState:
    return state if state.ends_at is None else replace(state, ends_at=state.ends_at + pause)
