"""Open ascending bidding shared by `english` and `listing`.

Every accepted bid beats the one before it, so only the current high bid
matters for what comes next. A bid equal to `price_cap` is valid whenever it beats the
current high, even when the cap is not on the increment grid: otherwise an
off-grid cap could never be reached and "a bid equal to the cap ends money
bidding" would be dead letter.
"""

from __future__ import annotations

from datetime import datetime

from exchange.money import format_yuan
from exchange.vocabulary import AuctionPhase

from . import lottery
from .events import bid_event, failed, finish, sold
from .types import AcceptedBid, AuctionState, Bid, Outcome, Params, Rejection, Step


def leader(state: AuctionState) -> AcceptedBid | None:
    return state.high


def next_min_bid(params: Params, state: AuctionState) -> int | None:
    high = leader(state)
    if high is None:
        return params.start_price
    nxt = high.amount + params.increment
    cap = params.price_cap
    if cap is not None and nxt > cap:
        return cap if cap > high.amount else None
    return nxt


def check_raise(params: Params, state: AuctionState, bid: Bid) -> Rejection | None:
    if bid.quantity is not None:
        return Rejection("quantity_invalid", "this auction sells one object; send no quantity")
    high = leader(state)
    if high is not None and high.bidder == bid.bidder:
        return Rejection("already_leading", "you hold the current high bid")
    cap = params.price_cap
    if cap is not None and bid.amount > cap:
        return Rejection("bid_above_cap", f"the price cap is {format_yuan(cap)} yuan")
    base = params.start_price if high is None else high.amount
    if cap is not None and bid.amount == cap and (high is None or cap > high.amount):
        return lottery.missing_nonce(params, bid)
    lowest = base if high is None else base + params.increment
    if bid.amount < lowest:
        return Rejection("bid_below_minimum", f"the lowest valid bid is {format_yuan(lowest)} yuan")
    if (bid.amount - base) % params.increment:
        return Rejection(
            "bid_not_on_increment",
            f"bid {format_yuan(base)} plus a whole multiple of {format_yuan(params.increment)} yuan",
        )
    return None


def record(
    state: AuctionState,
    bid: Bid,
    now: datetime,
    phase: AuctionPhase,
    ends_at: datetime | None,
    round: int | None = None,
) -> tuple[AcceptedBid, AuctionState]:
    """The bid as the new high, and the state with it and the deadline ``ends_at``.

    The state is built once, directly: this is the hot path of every accepted
    bid, and ``dataclasses.replace`` on a frozen 12-field class costs several
    times a direct construction.
    """
    accepted = AcceptedBid(state.bid_count + 1, bid.bidder, bid.amount, None, now, phase, bid.nonce)
    quoters = state.quoters
    if phase == "quote" and bid.bidder not in quoters:
        quoters = tuple(sorted((*quoters, bid.bidder)))
    return accepted, AuctionState(
        state.method,
        state.phase,
        state.qualified,
        ends_at,
        state.round if round is None else round,
        accepted.seq,
        accepted,
        quoters,
        state.bids,
        state.entrants,
        state.seed_commitment,
        state.outcome,
        state.entrant_nonces,
    )


def hits_cap(params: Params, bid: AcceptedBid) -> bool:
    return params.price_cap is not None and bid.amount == params.price_cap


def end_at_cap(params: Params, state: AuctionState, bid: AcceptedBid, until: datetime | None = None) -> Step:
    """Money bidding is over: straight win, or acceptances of the cap price until `until`
    (default: the lottery window from the capping bid)."""
    if params.cap_rule == "lottery":
        window = lottery.start(params, state, bid.accepted_at, (bid,), until)
        return Step(window.state, (bid_event(bid, window.state.ends_at), *window.events))
    done = finish(state, sold(state, bid.bidder, bid.amount, bid.accepted_at))
    return Step(done.state, (bid_event(bid, None), *done.events))


def high_bid_outcome(params: Params, state: AuctionState, at: datetime) -> Outcome:
    high = leader(state)
    if high is None:
        return failed(state, "no_bids", at)
    if params.reserve_price is not None and high.amount < params.reserve_price:
        return failed(state, "below_reserve", at)
    return sold(state, high.bidder, high.amount, at)
