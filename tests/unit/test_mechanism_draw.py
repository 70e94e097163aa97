"""The committed-seed draw: published procedure, reproducibility, commitment."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctions.mechanisms import Bid, Params, Step, draw_key, draw_order, mechanism_for, seed_commitment
from tests.unit.mechanism_strategies import BIDDERS, T0, at
from tests.unit.mechanism_strategies import draw_order as published_order


def test_known_answer() -> None:
    """Pins the published procedure: changing it would change past results."""
    seed = bytes(range(32))
    assert seed_commitment(seed) == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
    assert draw_order(seed, ["A01", "B02", "C03", "D04", "E05"]) == ("D04", "E05", "B02", "C03", "A01")
    assert draw_key(seed, "A01") == hashlib.sha256(seed + b"A01").hexdigest()


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=16, max_size=64),
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
def test_order_is_recomputable_and_ignores_input_order(seed: bytes, names: list[str], rng: object) -> None:
    shuffled = list(names)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    order = draw_order(seed, names)
    assert order == draw_order(seed, shuffled + names)
    assert list(order) == published_order(seed, set(names))
    assert set(order) == set(names)


def lottery_params(seed: bytes) -> Params:
    return Params(
        "english", T0, at(300), 1_000, 100, price_cap=1_200, cap_rule="lottery",
        lottery_window_seconds=60, seed=seed,
    )  # fmt: skip


def test_draw_refuses_a_seed_changed_after_opening() -> None:
    english = mechanism_for("english")
    params = lottery_params(b"k" * 32)
    state = english.open(params, set(BIDDERS), T0).state
    assert state.seed_commitment == hashlib.sha256(b"k" * 32).hexdigest()
    for bidder, t in (("A01", 1), ("B02", 2)):
        step = english.accept(params, state, Bid(bidder, 1_200), at(t))
        assert isinstance(step, Step)
        state = step.state
    outcome = english.close(params, state, at(61))
    assert outcome.draw is not None and outcome.draw.commitment == state.seed_commitment
    with pytest.raises(ValueError, match="commitment"):
        english.close(replace(params, seed=b"x" * 32), state, at(61))
