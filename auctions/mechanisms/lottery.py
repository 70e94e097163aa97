"""Price cap followed by a lottery (限价 + 摇号).

Once money bidding has reached `price_cap`, every qualified bidder may accept
the cap price until the acceptance period ends: `lottery_window_seconds`
after the capping bid, or, in a 挂牌 whose quotes reach the cap, the
listing's close (Order 39 art. 17: the winner is named at the close). An
acceptance is a bid whose amount equals the cap and which carries the
bidder's sealed `nonce`; whoever brought the price to the cap has already
accepted it with its capping bid. At the end: nobody -> failed, one -> sold
at the cap, several -> the draw (`draw.py`), whose entropy mixes the
committed seed with every entrant's nonce. Acceptances are not public
events: the number of takers stays hidden like the number of registrations.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from exchange.money import format_yuan

from .draw import run_draw
from .events import failed, finish, phase_event, sold
from .types import AcceptedBid, AuctionState, Bid, Event, Params, Rejection, Step


def missing_nonce(params: Params, bid: Bid) -> Rejection | None:
    """An acceptance of the cap price in a lottery must bring the bidder's nonce."""
    if params.cap_rule == "lottery" and bid.amount == params.price_cap and not bid.nonce:
        return Rejection(
            "nonce_required",
            "accepting the cap price enters the draw: send a nonce of your own (16-128 random "
            "characters of A-Z a-z 0-9 _ -), kept secret until the result",
        )
    return None


def start(
    params: Params,
    state: AuctionState,
    at: datetime,
    takers: tuple[AcceptedBid, ...],
    until: datetime | None = None,
) -> Step:
    """The acceptance period, from `at` until `until` (default: the lottery window), with
    `takers` (their bids at the cap) as the first entrants."""
    window = replace(
        state,
        phase="lottery",
        ends_at=until or at + timedelta(seconds=params.lottery_window_seconds),
        entrants=tuple(b.bidder for b in takers),
        entrant_nonces=tuple(b.nonce or "" for b in takers),
    )
    return Step(window, (phase_event(window, at),))


def opt_in(params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
    cap = params.price_cap
    assert cap is not None  # a lottery runs only under a price cap
    if bid.quantity is not None:
        return Rejection("quantity_invalid", "an opt-in carries no quantity")
    if bid.amount != cap:
        return Rejection("price_mismatch", f"the lottery is entered at the cap price {format_yuan(cap)} yuan")
    if bid.bidder in state.entrants:
        return Rejection("already_bid", "this bid number has already accepted the cap price")
    rejection = missing_nonce(params, bid)
    if rejection is not None:
        return rejection
    assert bid.nonce is not None
    joined = replace(
        state,
        entrants=(*state.entrants, bid.bidder),
        entrant_nonces=(*state.entrant_nonces, bid.nonce),
    )
    return Step(joined, (Event("opt_in", now, {"bidder": bid.bidder}, public=False),))


def resolve(params: Params, state: AuctionState) -> Step:
    at = state.ends_at
    cap = params.price_cap
    assert at is not None and cap is not None
    if not state.entrants:
        return finish(state, failed(state, "no_lottery_entrants", at))
    if len(state.entrants) == 1:
        return finish(state, sold(state, state.entrants[0], cap, at))
    nonces = dict(zip(state.entrants, state.entrant_nonces, strict=True))
    record = run_draw("lottery", params.seed, state.seed_commitment, nonces)
    return finish(state, sold(state, record.order[0], cap, at, draw=record))
