"""uniform_price: multi-unit sealed bid for divisible rights.

Each bid is `(amount, quantity)`: `amount` is the price per unit of
quantity, `quantity` a positive multiple of `lot` in the listing's fixed
scale. A bidder may place several bids; their total may not exceed
`floor(max_bidder_share * quantity)`. Bids are binding and hidden until the
close; the clearing rules are in `clearing.py`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

from .base import Mechanism
from .clearing import clear
from .events import bid_event, finish
from .sealed import check_sealed_price
from .types import JSON, AcceptedBid, AuctionState, Bid, Params, Rejection, Step


def share_limit(params: Params) -> int:
    offer = params.quantity
    assert offer is not None
    if params.max_bidder_share is None:
        return offer
    return math.floor(params.max_bidder_share * offer)


class UniformPriceMechanism(Mechanism):
    method = "uniform_price"
    sealed = True

    def initial_state(
        self, params: Params, qualified: tuple[str, ...], commitment: str | None
    ) -> AuctionState:
        return AuctionState(self.method, "sealed", qualified, params.closes_at, seed_commitment=commitment)

    def take_bid(self, params: Params, state: AuctionState, bid: Bid, now: datetime) -> Step | Rejection:
        quantity, lot = bid.quantity, params.lot
        if quantity is None or quantity <= 0 or quantity % lot:
            return Rejection("quantity_invalid", f"quantity must be a positive multiple of {lot}")
        rejection = check_sealed_price(params, bid.amount)
        if rejection is not None:
            return rejection
        limit = share_limit(params)
        held = sum(b.quantity or 0 for b in state.bids if b.bidder == bid.bidder)
        if held + quantity > limit:
            return Rejection(
                "quantity_invalid",
                f"your bids would total {held + quantity}, above the limit of {limit} per bidder",
            )
        accepted = AcceptedBid(
            state.bid_count + 1, bid.bidder, bid.amount, quantity, now, "sealed", bid.nonce
        )
        taken = replace(state, bids=(*state.bids, accepted), bid_count=accepted.seq)
        return Step(taken, (bid_event(accepted, state.ends_at, public=False),))

    def at_deadline(self, params: Params, state: AuctionState, now: datetime) -> Step:
        assert state.ends_at is not None
        return finish(state, clear(params, state, state.ends_at))

    def live_view(self, params: Params, state: AuctionState, now: datetime) -> dict[str, JSON]:
        return {
            "current_price": None,
            "leading_bid_number": None,
            "next_min_bid": params.start_price,
            "bid_count": None,
        }
