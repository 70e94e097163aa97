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
    BidderTerms,
    Outcome,
    Params,
    Rejection,
    ReplayStep,
    Step,
    mechanism_for,
    replay,
)
from tests.unit.mechanism_strategies import (
    BIDDERS,
    OUTSIDER,
    T0,
    at,
    draw_order,
    draw_winner,
    guaranteed_uniform,
    uniform_params,
)

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


# ---- groups of affiliated bidders and the bid guarantee (issue 15, item 7) -----------------------


@settings(max_examples=300, deadline=None)
@given(guaranteed_uniform(), raw_bids)
def test_no_accepted_set_exceeds_a_group_share_or_a_guarantee(
    scenario: tuple[Params, dict[str, BidderTerms]], raw: list[tuple[str, int, int, int]]
) -> None:
    params, terms = scenario
    params = replace(params, min_bidders=1, closes_at=at(3600))
    ratio, scale, limit = params.bid_guarantee_ratio, params.quantity_scale, limit_of(params)
    state = UNIFORM.open(params, set(BIDDERS), T0, terms).state
    assert state.terms == tuple(terms[b] for b in sorted(BIDDERS))
    group_of = {b: terms[b].group for b in BIDDERS}
    held: dict[str, int] = defaultdict(int)
    grouped: dict[str, int] = defaultdict(int)
    worth: dict[str, int] = defaultdict(int)
    log: list[ReplayStep] = []
    for n, (bidder, ticks, lots, noise) in enumerate(raw):
        amount = params.start_price + ticks * params.increment + noise
        bid = Bid(bidder, amount, lots * params.lot + noise)
        result = UNIFORM.accept(params, state, bid, at(n))
        log.append(("bid", bid, at(n)))
        quantity = bid.quantity or 0
        well_formed = (
            bidder in BIDDERS
            and quantity > 0
            and quantity % params.lot == 0
            and params.start_price <= amount <= (params.price_cap or amount)
            and ((amount - params.start_price) % params.increment == 0 or amount == params.price_cap)
        )
        within_share = well_formed and (
            held[bidder] + quantity <= limit and grouped[group_of[bidder]] + quantity <= limit
        )
        covered = within_share and (
            ratio is None or ratio * (worth[bidder] + amount * quantity) <= terms[bidder].deposit * scale
        )
        assert isinstance(result, Step) == covered
        if isinstance(result, Rejection) and well_formed:
            assert result.code == ("guarantee_exceeded" if within_share else "quantity_invalid")
        if isinstance(result, Step):
            state = result.state
            held[bidder] += quantity
            grouped[group_of[bidder]] += quantity
            worth[bidder] += amount * quantity

    for group in set(group_of.values()):
        assert sum(b.quantity or 0 for b in state.bids if group_of[b.bidder] == group) <= limit
    for bidder in BIDDERS:
        value = sum(b.amount * (b.quantity or 0) for b in state.bids if b.bidder == bidder)
        assert ratio is None or ratio * value <= terms[bidder].deposit * scale
    check_allocation(params, state)  # the clearing properties still hold
    outcome = UNIFORM.close(params, state, params.closes_at)
    won: dict[str, int] = defaultdict(int)
    for w in outcome.winners:
        won[group_of[w.bidder]] += w.quantity or 0
    assert all(volume <= limit for volume in won.values())
    # the same log and terms replay to the same state and outcome
    replayed, again = replay(params, set(BIDDERS), [*log, ("timer", params.closes_at)], terms)
    assert again == outcome and replayed.bids == state.bids and replayed.terms == state.terms


GROUPED = replace(OFFER, bid_guarantee_ratio=Fraction(1, 2))
TERMS = {
    "A01": BidderTerms("A01", "A01", 10_000),
    "B02": BidderTerms("B02", "A01", 10_000),  # affiliated with A01: one limit for both
    "C03": BidderTerms("C03", "C03", 1_000),
}


def test_affiliated_bid_numbers_share_one_limit() -> None:
    params = replace(GROUPED, bid_guarantee_ratio=None)
    state = UNIFORM.open(params, set(TERMS), T0, TERMS).state
    step = UNIFORM.accept(params, state, Bid("A01", 100, 30), at(1))
    assert isinstance(step, Step)
    refused = UNIFORM.accept(params, step.state, Bid("B02", 100, 30), at(2))  # 60 > 50 for the group
    assert isinstance(refused, Rejection) and refused.code == "quantity_invalid"
    assert "60" not in refused.detail and "30" not in refused.detail  # A01's sealed bids stay sealed
    assert isinstance(UNIFORM.accept(params, step.state, Bid("B02", 100, 20), at(2)), Step)
    assert isinstance(UNIFORM.accept(params, step.state, Bid("C03", 100, 50), at(2)), Step)


def test_bids_beyond_the_guarantee_are_refused_saying_what_the_deposit_covers() -> None:
    state = UNIFORM.open(GROUPED, set(TERMS), T0, TERMS).state
    # a deposit of 10.00 yuan at ratio 1/2 covers bids worth 20.00 yuan: 20 units at 1.00
    step = UNIFORM.accept(GROUPED, state, Bid("C03", 100, 10), at(1))
    assert isinstance(step, Step)
    refused = UNIFORM.accept(GROUPED, step.state, Bid("C03", 110, 10), at(2))
    assert isinstance(refused, Rejection) and refused.code == "guarantee_exceeded"
    assert refused.detail == (
        "your bids would need a guarantee of 10.50 yuan; your deposit of 10.00 yuan covers bids worth up to 20.00 yuan"
    )
    assert isinstance(UNIFORM.accept(GROUPED, step.state, Bid("C03", 100, 10), at(2)), Step)
    # the quantity scale divides the value: 1000 units per priced unit, so 20000 units cost 20.00
    scaled = replace(GROUPED, quantity=100_000, lot=10_000, quantity_scale=1000)
    opened = UNIFORM.open(scaled, set(TERMS), T0, TERMS).state
    assert isinstance(UNIFORM.accept(scaled, opened, Bid("C03", 100, 20_000), at(1)), Step)
    over = UNIFORM.accept(scaled, opened, Bid("C03", 100, 30_000), at(1))
    assert isinstance(over, Rejection) and over.code == "guarantee_exceeded"


def test_a_bidder_admitted_later_bids_under_the_terms_it_entered_with() -> None:
    state = UNIFORM.open(GROUPED, {"A01"}, T0, {"A01": TERMS["A01"]}).state
    state = UNIFORM.accept(GROUPED, state, Bid("A01", 100, 40), at(1)).state  # type: ignore[union-attr]
    joined = UNIFORM.admit(GROUPED, state, "B02", at(2), TERMS["B02"]).state
    assert joined.terms == (TERMS["A01"], TERMS["B02"])
    refused = UNIFORM.accept(GROUPED, joined, Bid("B02", 100, 20), at(3))
    assert isinstance(refused, Rejection) and refused.code == "quantity_invalid"
    # without terms a bid number is a group of its own with nothing deposited
    alone = UNIFORM.admit(GROUPED, state, "C03", at(2)).state
    bare = UNIFORM.accept(GROUPED, alone, Bid("C03", 100, 10), at(3))
    assert isinstance(bare, Rejection) and bare.code == "guarantee_exceeded"
