"""Price cap followed by a lottery (限价 + 摇号).

Once money bidding has reached `price_cap`, every qualified bidder may accept
the cap price during `lottery_window_seconds`; an opt-in is a bid whose
amount equals the cap. Whoever brought the price to the cap has already
accepted it and enters automatically. At the end of the window: nobody ->
failed, one -> sold at the cap, several -> committed-seed draw (`draw.py`).
Opt-ins are not public events: the number of takers stays hidden like the
number of registrations.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from exchange.money import format_yuan

from .draw import run_draw
from .events import failed, finish, phase_event, sold
from .types import AuctionState, Bid, Event, Params, Rejection, Step


def start(params: Params, state: AuctionState, at: datetime, entrants: tuple[str, ...]) -> Step:
    window = replace(
        state,
        phase="lottery",
        ends_at=at + timedelta(seconds=params.lottery_window_seconds),
        entrants=entrants,
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
    joined = replace(state, entrants=(*state.entrants, bid.bidder))
    return Step(joined, (Event("opt_in", now, {"bidder": bid.bidder}, public=False),))


def resolve(params: Params, state: AuctionState) -> Step:
    at = state.ends_at
    cap = params.price_cap
    assert at is not None and cap is not None
    if not state.entrants:
        return finish(state, failed(state, "no_lottery_entrants", at))
    if len(state.entrants) == 1:
        return finish(state, sold(state, state.entrants[0], cap, at))
    record = run_draw("lottery", params.seed, state.seed_commitment, state.entrants)
    return finish(state, sold(state, record.order[0], cap, at, draw=record))
