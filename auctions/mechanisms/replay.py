"""Rebuild an auction from its log: the audit tool's proof of determinism."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from .pause import paused_params, paused_state
from .registry import mechanism_for
from .types import AuctionState, Bid, BidderTerms, Outcome, Params, Rejection

BidStep: TypeAlias = tuple[Literal["bid"], Bid, datetime]
TimerStep: TypeAlias = tuple[Literal["timer"], datetime]
PauseStep: TypeAlias = tuple[Literal["pause"], timedelta]
"""A suspension that was resumed: every time of the auction moves by its length."""
AdmitStep: TypeAlias = tuple[Literal["admit"], str, datetime]
"""A bidder who qualified while bidding ran joined it (`Mechanism.admit`)."""
ReplayStep: TypeAlias = BidStep | TimerStep | PauseStep | AdmitStep


def replay(
    params: Params,
    qualified: Set[str],
    steps: Iterable[ReplayStep],
    terms: Mapping[str, BidderTerms] | None = None,
) -> tuple[AuctionState, Outcome | None]:
    """Open at `params.opens_at`, then apply the steps in order.

    `params` are the terms as they were at the opening: a pause step moves them on. `terms`
    holds each bid number's `BidderTerms` as it entered, at the opening or an admission.

    Rejected bids change nothing, so a log of every attempt and a log of the
    accepted bids only give the same state.
    """
    mechanism = mechanism_for(params.method)
    terms = terms or {}
    state = mechanism.open(params, qualified, params.opens_at, terms).state
    for step in steps:
        if step[0] == "bid":
            _, bid, now = step
            result = mechanism.accept(params, state, bid, now)
            if not isinstance(result, Rejection):
                state = result.state
        elif step[0] == "admit":
            _, bidder, now = step
            state = mechanism.admit(params, state, bidder, now, terms.get(bidder)).state
        elif step[0] == "pause":
            params = paused_params(params, step[1])
            state = paused_state(state, step[1])
        else:
            state = mechanism.on_timer(params, state, step[1]).state
    return state, state.outcome
