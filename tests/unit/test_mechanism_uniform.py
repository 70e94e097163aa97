"""uniform_price: clearing, pro-rata ties, residual lots by the committed draw, statistics."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

from hypothesis import event, given, settings
from hypothesis import strategies as st

from auctions.mechanisms import (
    AcceptedBid,
    AuctionState,
    Bid,
    Outcome,
    Params,
    Rejection,
    Step,
    mechanism_for,
)
from tests.unit.mechanism_strategies import BIDDERS, OUTSIDER, T0, at, draw_order, draw_winner, uniform_params

UNIFORM = mechanism_for("uniform_price")

raw_bids = st.lists(
    st.tuples(
        st.sampled_from((*BIDDERS, *BIDDERS, OUTSIDER)),
        st.integers(0, 6),  # price ticks above the start
        st.sampled_from((1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 8, 0, -1)),  # lots
        st.sampled_from((0,) * 9 + (1,)),  # off-lot / off-tick noise
    ),
    max_size=20,
)


def submit(
    params: Params, raw: list[tuple[str, int, int, int]]
) -> tuple[AuctionState, list[tuple[Bid, bool]]]:
    state = UNIFORM.open(params, set(BIDDERS), T0).state
    seen: list[tuple[Bid, bool]] = []
    for n, (bidder, ticks, lots, noise) in enumerate(raw):
        amount = params.start_price + ticks * params.increment + noise
        bid = Bid(bidder, amount, lots * params.lot + noise)
        result = UNIFORM.accept(params, state, bid, at(n))
        if isinstance(result, Step):
            state = result.state
        seen.append((bid, isinstance(result, Step)))
    return state, seen


def limit_of(params: Params) -> int:
    assert params.quantity is not None
    share = params.max_bidder_share if params.max_bidder_share is not None else Fraction(1)
    return math.floor(share * params.quantity)


@settings(max_examples=300, deadline=None)
@given(uniform_params(), raw_bids)
def test_uniform_price_allocation(params: Params, raw: list[tuple[str, int, int, int]]) -> None:
    params = replace(params, min_bidders=1, closes_at=at(3600))
    offer, lot = params.quantity, params.lot
    assert offer is not None and params.seed is not None
    state, seen = submit(params, raw)

    held: dict[str, int] = defaultdict(int)
    for bid, ok in seen:
        assert bid.quantity is not None
        valid = (
            bid.bidder in BIDDERS
            and bid.quantity > 0
            and bid.quantity % lot == 0
            and held[bid.bidder] + bid.quantity <= limit_of(params)
            and params.start_price <= bid.amount <= (params.price_cap or bid.amount)
            and ((bid.amount - params.start_price) % params.increment == 0 or bid.amount == params.price_cap)
        )
        assert ok == valid
        if ok:
            held[bid.bidder] += bid.quantity

    check_allocation(params, state)


tie_heavy = st.lists(
    st.tuples(st.sampled_from(BIDDERS), st.integers(0, 2), st.integers(1, 4), st.just(0)),
    min_size=2,
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(
    uniform_params().map(
        lambda p: replace(p, reserve_price=None, price_cap=None, max_bidder_share=None, min_bidders=1)
    ),
    tie_heavy,
)
def test_ties_at_the_clearing_price(params: Params, raw: list[tuple[str, int, int, int]]) -> None:
    state, _ = submit(params, raw)  # bids beyond the offer per bidder are refused
    check_allocation(params, state)


def check_allocation(params: Params, state: AuctionState) -> None:
    offer, lot = params.quantity, params.lot
    assert offer is not None and params.seed is not None
    outcome = UNIFORM.close(params, state, params.closes_at)
    stats = outcome.statistics
    assert stats is not None
    bids = state.bids
    reserve = params.reserve_price or 0
    valid_bids = [b for b in bids if b.amount >= reserve]
    demand = sum(b.quantity or 0 for b in valid_bids)
    assert stats.total_bid_volume == sum(b.quantity or 0 for b in bids)
    assert stats.qualified_bid_volume == demand
    assert stats.cover_ratio == Fraction(demand, offer)
    assert stats.bidders == len({b.bidder for b in bids})

    got: dict[str, int] = defaultdict(int)
    for w in outcome.winners:
        assert w.quantity is not None and w.quantity > 0
        got[w.bidder] += w.quantity
    sold = sum(got.values())
    assert sold == stats.volume_sold <= offer
    assert stats.winners == len(got)
    assert stats.hhi == (sum(Fraction(100 * v, sold) ** 2 for v in got.values()) if sold else 0)
    assert 0 <= stats.hhi <= 10_000
    for bidder, volume in got.items():
        assert volume % lot == 0
        assert volume <= limit_of(params)
        assert volume <= sum(b.quantity or 0 for b in valid_bids if b.bidder == bidder)

    event(f"outcome: {outcome.status} {outcome.reason}")
    if not bids or not valid_bids or (demand < offer and params.undersubscribed == "cancel"):
        assert outcome.status == "failed" and not outcome.winners and sold == 0
        assert outcome.reason == (
            "no_bids" if not bids else "below_reserve" if not valid_bids else "undersubscribed"
        )
        return
    assert outcome.status == "sold"
    if demand < offer:
        # sell_available: everything valid is sold
        assert sold == demand and stats.clearing_price == min(b.amount for b in valid_bids)
        check_prices(params, outcome, valid_bids_by_bidder(valid_bids))
        return

    price = stats.clearing_price
    assert price is not None and sold == offer
    above = sum(b.quantity or 0 for b in valid_bids if b.amount > price)
    at_or_above = sum(b.quantity or 0 for b in valid_bids if b.amount >= price)
    assert above < offer <= at_or_above  # the bid at which cumulative volume reaches the offer
    rest = offer - above
    tied: dict[str, int] = defaultdict(int)
    for b in valid_bids:
        if b.amount == price:
            tied[b.bidder] += b.quantity or 0
    pro_rata = {b: rest * d // (sum(tied.values()) * lot) * lot for b, d in tied.items()}
    extra: set[str] = set()
    for bidder in {b.bidder for b in valid_bids}:
        full = sum(b.quantity or 0 for b in valid_bids if b.bidder == bidder and b.amount > price)
        share = got.get(bidder, 0) - full
        assert share >= 0  # bids above the clearing price are filled in full
        if bidder not in tied:
            assert share == 0  # nothing below it
            continue
        assert share in (pro_rata[bidder], pro_rata[bidder] + lot)
        if share > pro_rata[bidder]:
            extra.add(bidder)
    # the lots left after rounding went one each to the first tied bidders in the draw order
    residual = (rest - sum(pro_rata.values())) // lot
    event(f"tie at the clearing price: {len(tied)} bidders, {residual} residual lots")
    assert len(extra) == residual
    if residual:
        # a tied bidder's nonce: those of its bids at the clearing price, in the order accepted
        at_price = sorted((b for b in valid_bids if b.amount == price), key=lambda b: b.seq)
        nonces = {t: ".".join(b.nonce for b in at_price if b.bidder == t and b.nonce) for t in tied}
        order = draw_order(params.seed, nonces)
        assert extra == set(order[:residual])
        assert outcome.draw is not None and outcome.draw.order == tuple(order)
    else:
        assert outcome.draw is None
    check_prices(params, outcome, valid_bids_by_bidder(valid_bids))


def valid_bids_by_bidder(valid_bids: list[AcceptedBid]) -> dict[str, set[int]]:
    prices: dict[str, set[int]] = defaultdict(set)
    for b in valid_bids:
        prices[b.bidder].add(b.amount)
    return prices


def check_prices(params: Params, outcome: Outcome, prices: dict[str, set[int]]) -> None:
    assert outcome.statistics is not None
    clearing = outcome.statistics.clearing_price
    assert clearing is not None
    for w in outcome.winners:
        if params.pricing == "uniform":
            assert w.price == clearing
        else:
            assert w.price in prices[w.bidder] and w.price >= clearing


OFFER = Params(
    "uniform_price",
    T0,
    at(3600),
    100,
    1,
    quantity=100,
    lot=10,
    max_bidder_share=Fraction(1, 2),
    seed=b"published-seed-0123456789abcdef",
)


def bid_all(params: Params, bids: list[tuple[str, int, int]]) -> AuctionState:
    state = UNIFORM.open(params, set(BIDDERS), T0).state
    for n, (bidder, amount, quantity) in enumerate(bids):
        step = UNIFORM.accept(params, state, Bid(bidder, amount, quantity), at(n))
        assert isinstance(step, Step), step
        state = step.state
    return state


def test_clearing_with_pro_rata_tie_and_residual_lot() -> None:
    state = bid_all(OFFER, [("A01", 120, 50), ("B02", 110, 30), ("C03", 110, 40), ("C03", 105, 10)])
    outcome = UNIFORM.close(OFFER, state, at(3600))
    # above 110: A01 50 in full; 50 left for 70 at 110: B02 21.4 -> 20, C03 28.5 -> 20, one lot over
    lucky = draw_winner(OFFER.seed or b"", {"B02": "", "C03": ""})  # no nonce sent: none mixed in
    expected = {"A01": 50, "B02": 20 + 10 * (lucky == "B02"), "C03": 20 + 10 * (lucky == "C03")}
    assert {w.bidder: w.quantity for w in outcome.winners} == expected
    assert {w.price for w in outcome.winners} == {110}
    stats = outcome.statistics
    assert stats is not None
    assert (stats.clearing_price, stats.volume_sold, stats.total_bid_volume) == (110, 100, 130)
    assert stats.cover_ratio == Fraction(13, 10) and stats.bidders == 3 and stats.winners == 3
    assert stats.hhi == 50**2 + 30**2 + 20**2
    assert outcome.draw is not None and outcome.draw.purpose == "residual_lots"
    assert outcome.draw.candidates == ("B02", "C03")


def test_share_limit_and_lots_are_enforced_at_submission() -> None:
    state = bid_all(OFFER, [("A01", 120, 30)])
    for bid, code in [
        (Bid("A01", 120, 30), "quantity_invalid"),  # 60 > 50% of 100
        (Bid("B02", 120, 15), "quantity_invalid"),
        (Bid("B02", 120, 0), "quantity_invalid"),
        (Bid("B02", 120, None), "quantity_invalid"),
        (Bid("B02", 99, 10), "bid_below_minimum"),
    ]:
        result = UNIFORM.accept(OFFER, state, bid, at(5))
        assert isinstance(result, Rejection) and result.code == code


def test_undersubscription_cancel_or_sell_available() -> None:
    bids = [("A01", 130, 30), ("B02", 110, 20), ("C03", 90 + 10, 10)]
    cancel = UNIFORM.close(OFFER, bid_all(OFFER, bids), at(3600))
    assert (cancel.status, cancel.reason, cancel.winners) == ("failed", "undersubscribed", ())
    available = replace(OFFER, undersubscribed="sell_available", reserve_price=105)
    sold = UNIFORM.close(available, bid_all(available, bids), at(3600))
    # C03 bid below the hidden reserve and is ignored; the rest win at the lowest valid price
    assert [(w.bidder, w.price, w.quantity) for w in sold.winners] == [("A01", 110, 30), ("B02", 110, 20)]
    assert sold.statistics is not None and sold.statistics.qualified_bid_volume == 50


def test_pay_as_bid_charges_each_winner_its_own_prices() -> None:
    params = replace(OFFER, pricing="pay_as_bid")
    state = bid_all(params, [("A01", 130, 30), ("A01", 120, 20), ("B02", 125, 40), ("C03", 110, 50)])
    outcome = UNIFORM.close(params, state, at(3600))
    assert [(w.bidder, w.price, w.quantity) for w in outcome.winners] == [
        ("A01", 130, 30),
        ("B02", 125, 40),
        ("A01", 120, 20),
        ("C03", 110, 10),
    ]
    assert outcome.price == 110
