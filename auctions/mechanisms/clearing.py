"""Clearing of a multi-unit sealed auction (EU 1031/2010 art. 7, WCI, Guangdong).

1. Bids below the reserve are ignored; the rest are *valid*.
2. Enough valid volume: sort by price descending; the clearing price P is the
   price of the bid at which the cumulative volume reaches the offer. Bids
   above P are filled in full. The volume left at P is shared among the
   bidders at P pro rata to their volume at P, rounded down to whole lots;
   the lots still left go one at a time to those bidders in the draw order
   (`draw.py`, purpose `residual_lots`), at most one each. A tied bidder's
   nonce is the nonces of its bids at P, in the order they were accepted,
   joined by "." (nonces cannot hold a "."; none sent: empty).
   Rounding down loses less than one lot per bidder, so one pass suffices
   and no bidder gets more than it asked for.
3. Too little valid volume: `cancel` fails the auction; `sell_available`
   fills every valid bid at the lowest valid price (its own under
   `pay_as_bid`).
4. `uniform`: every winner pays P. `pay_as_bid`: each pays its own prices,
   one winner line per (bidder, price).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from fractions import Fraction

from .draw import run_draw
from .events import multi_unit
from .types import AcceptedBid, AuctionState, DrawRecord, FailureReason, Outcome, Params, Statistics, Winner


def quantity_of(bid: AcceptedBid) -> int:
    assert bid.quantity is not None
    return bid.quantity


def clearing_price(valid: list[AcceptedBid], offer: int) -> int | None:
    cumulative = 0
    for bid in sorted(valid, key=lambda b: -b.amount):
        cumulative += quantity_of(bid)
        if cumulative >= offer:
            return bid.amount
    return None


def share_out(
    params: Params, state: AuctionState, at_price: list[AcceptedBid], volume: int
) -> tuple[dict[str, int], DrawRecord | None]:
    """Split `volume` among the bidders tied at the clearing price."""
    lot = params.lot
    demand: dict[str, int] = defaultdict(int)
    nonces: dict[str, list[str]] = defaultdict(list)
    for bid in sorted(at_price, key=lambda b: b.seq):
        demand[bid.bidder] += quantity_of(bid)
        if bid.nonce:
            nonces[bid.bidder].append(bid.nonce)
    asked = sum(demand.values())
    if volume >= asked:
        return dict(demand), None
    given = {b: volume * d // (asked * lot) * lot for b, d in demand.items()}
    lots_left = (volume - sum(given.values())) // lot
    if not lots_left:
        return given, None
    record = run_draw(
        "residual_lots", params.seed, state.seed_commitment, {b: ".".join(nonces[b]) for b in demand}
    )
    for bidder in record.order:
        if lots_left and given[bidder] + lot <= demand[bidder]:
            given[bidder] += lot
            lots_left -= 1
    assert not lots_left
    return given, record


def clear(params: Params, state: AuctionState, at: datetime) -> Outcome:
    offer = params.quantity
    assert offer is not None
    reserve = params.reserve_price
    valid = [b for b in state.bids if reserve is None or b.amount >= reserve]
    price = clearing_price(valid, offer)
    draw = None
    # (bidder, price paid) -> volume
    filled: dict[tuple[str, int], int] = defaultdict(int)
    if price is not None:
        for bid in valid:
            if bid.amount > price:
                filled[bid.bidder, bid.amount] += quantity_of(bid)
        left = offer - sum(filled.values())
        tied = [b for b in valid if b.amount == price]
        shares, draw = share_out(params, state, tied, left)
        for bidder, volume in shares.items():
            if volume:
                filled[bidder, price] += volume
    elif valid and params.undersubscribed == "sell_available":
        price = min(b.amount for b in valid)
        for bid in valid:
            filled[bid.bidder, bid.amount] += quantity_of(bid)

    reason: FailureReason | None = None
    if not state.bids:
        reason = "no_bids"
    elif not valid:
        reason = "below_reserve"
    elif price is None:
        reason = "undersubscribed"

    per_bidder: dict[str, int] = defaultdict(int)
    for (bidder, _), volume in filled.items():
        per_bidder[bidder] += volume
    sold = sum(per_bidder.values())
    winners: tuple[Winner, ...] = ()
    if params.pricing == "uniform" and price is not None:
        paid = price
        winners = tuple(Winner(b, paid, v) for b, v in sorted(per_bidder.items()))
    elif params.pricing == "pay_as_bid":
        lines = sorted(filled.items(), key=lambda line: (-line[0][1], line[0][0]))
        winners = tuple(Winner(b, p, v) for (b, p), v in lines)
    squares = sum(v * v for v in per_bidder.values())
    statistics = Statistics(
        clearing_price=price,
        volume_offered=offer,
        volume_sold=sold,
        total_bid_volume=sum(quantity_of(b) for b in state.bids),
        qualified_bid_volume=sum(quantity_of(b) for b in valid),
        cover_ratio=Fraction(sum(quantity_of(b) for b in valid), offer),
        bidders=len({b.bidder for b in state.bids}),
        winners=len(per_bidder),
        hhi=Fraction(10000 * squares, sold * sold) if sold else Fraction(0),
    )
    return multi_unit(state, at, winners, statistics, reason, draw)
