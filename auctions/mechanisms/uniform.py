"""uniform_price: multi-unit sealed bid for divisible rights.

Each bid is `(amount, quantity)`: `amount` is the price per unit of
quantity, `quantity` a positive multiple of `lot` in the listing's fixed
scale. A bidder may place several bids. The bids of one group of affiliated
bidders (the bid numbers whose `BidderTerms.group` is the same; a bid number
without terms is a group of its own) may total at most
`floor(max_bidder_share * quantity)` (WCI purchase limits per corporate
group). With `bid_guarantee_ratio`, a bidder's bids, each worth `amount *
quantity / quantity_scale` fen, times the ratio may not exceed the deposit it
had paid when it entered the auction (bid guarantee, 17 CCR 95912); compared
exactly, as `ratio * sum(amount * quantity) <= deposit * quantity_scale`.
Bids are binding and hidden until the close; the clearing rules are in
`clearing.py`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from fractions import Fraction

from exchange.money import format_yuan

from .base import Mechanism
from .clearing import clear
from .events import bid_event, finish
from .sealed import check_sealed_price
from .types import JSON, AcceptedBid, AuctionState, Bid, BidderTerms, Params, Rejection, Step


def share_limit(params: Params) -> int:
    offer = params.quantity
    assert offer is not None
    if params.max_bidder_share is None:
        return offer
    return math.floor(params.max_bidder_share * offer)


def terms_of(state: AuctionState, bidder: str) -> BidderTerms | None:
    return next((t for t in state.terms if t.bidder == bidder), None)


def group_of(state: AuctionState, bidder: str) -> str:
    """The bidder's group label; a bid number without terms is a group of its own (labels are
    not bid numbers, so neither can stand for the other)."""
    terms = terms_of(state, bidder)
    return f"bid:{bidder}" if terms is None else f"group:{terms.group}"


def check_share(params: Params, state: AuctionState, bidder: str, quantity: int) -> Rejection | None:
    limit = share_limit(params)
    own = sum(b.quantity or 0 for b in state.bids if b.bidder == bidder) + quantity
    if own > limit:
        return Rejection(
            "quantity_invalid", f"your bids would total {own}, above the limit of {limit} per bidder"
        )
    group = group_of(state, bidder)
    if sum(b.quantity or 0 for b in state.bids if group_of(state, b.bidder) == group) + quantity > limit:
        # The total is not told: it would reveal the sealed bids of the group's other bid numbers.
        return Rejection(
            "quantity_invalid",
            f"with the bids of your group of affiliated bidders, above the limit of {limit} per group",
        )
    return None


def bids_value(bids: list[tuple[int, int]]) -> int:
    """Sum of price * quantity: fen times quantity units (divide by `quantity_scale` for fen)."""
    return sum(amount * quantity for amount, quantity in bids)


def check_guarantee(params: Params, state: AuctionState, bid: Bid, quantity: int) -> Rejection | None:
    ratio = params.bid_guarantee_ratio
    if ratio is None:
        return None
    terms = terms_of(state, bid.bidder)
    deposit = 0 if terms is None else terms.deposit
    own = [(b.amount, b.quantity or 0) for b in state.bids if b.bidder == bid.bidder]
    scale = params.quantity_scale
    needed = ratio * Fraction(bids_value([*own, (bid.amount, quantity)]), scale)
    if needed <= deposit:
        return None
    covered = math.floor(deposit / ratio)
    return Rejection(
        "guarantee_exceeded",
        f"your bids would need a guarantee of {format_yuan(math.ceil(needed))} yuan; your deposit "
        f"of {format_yuan(deposit)} yuan covers bids worth up to {format_yuan(covered)} yuan",
    )


class UniformPriceMechanism(Mechanism):
    method = "uniform_price"
    sealed = True
    bidder_terms = True

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
        rejection = check_share(params, state, bid.bidder, quantity) or check_guarantee(
            params, state, bid, quantity
        )
        if rejection is not None:
            return rejection
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
