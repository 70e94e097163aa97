"""The draw: published procedure, reproducibility, commitment, and nobody steering it alone."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctions.mechanisms import (
    Bid,
    Params,
    Step,
    draw_entropy,
    draw_key,
    draw_order,
    mechanism_for,
    seed_commitment,
)
from auctions.mechanisms.draw import run_draw
from tests.unit.mechanism_strategies import BIDDERS, T0, at
from tests.unit.mechanism_strategies import draw_order as published_order

nonces = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=16, max_size=24
)
bid_numbers = st.integers(1000, 9999).map(str)
candidates = st.dictionaries(bid_numbers, nonces, min_size=2, max_size=8)
seeds = st.binary(min_size=16, max_size=64)


def test_known_answer() -> None:
    """Pins the published procedure: changing it would change past results."""
    seed = bytes(range(32))
    entries = {"6363": "a" * 16, "1000": "b" * 16, "4242": "c" * 16}
    assert seed_commitment(seed) == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
    text = b'[["1000","bbbbbbbbbbbbbbbb"],["4242","cccccccccccccccc"],["6363","aaaaaaaaaaaaaaaa"]]'
    entropy = draw_entropy(seed, entries)
    assert entropy == hashlib.sha256(seed + text).digest()
    assert entropy.hex() == "ee7d9ebddcf349321ce83ede97c349da3fa0cea73db24e6120eabd7f2b493836"
    assert draw_key(entropy, "6363") == hashlib.sha256(entropy + b"6363").hexdigest()
    assert draw_order(entropy, entries) == ("6363", "4242", "1000")


@settings(max_examples=200, deadline=None)
@given(seeds, candidates, st.randoms(use_true_random=False))
def test_order_is_recomputable_and_ignores_input_order(
    seed: bytes, entries: dict[str, str], rng: object
) -> None:
    shuffled = list(entries.items())
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    record = run_draw("lottery", seed, seed_commitment(seed), entries)
    assert record == run_draw("lottery", seed, None, dict(shuffled))
    assert list(record.order) == published_order(seed, entries)
    assert record.order[0] in entries  # the winner is always a candidate
    assert set(record.order) == set(entries) == set(record.candidates)
    assert dict(zip(record.candidates, record.nonces, strict=True)) == entries
    assert record.entropy == draw_entropy(seed, entries).hex()


@settings(max_examples=100, deadline=None)
@given(seeds, candidates, st.data())
def test_every_single_input_changes_the_draw(
    seed: bytes, entries: dict[str, str], data: st.DataObject
) -> None:
    """The seed, any one nonce, any one candidate: changing it changes every key, and each one
    can change the winner, so no party's input is ignored and none alone decides."""
    base = run_draw("lottery", seed, None, entries)

    def changed(other: bytes, others: dict[str, str]) -> None:
        drawn = run_draw("lottery", other, None, others)
        assert drawn.entropy != base.entropy
        common = set(drawn.candidates) & set(base.candidates)
        assert all(
            drawn.keys[drawn.candidates.index(c)] != base.keys[base.candidates.index(c)] for c in common
        )

    changed(seed + b"\x00", entries)
    who = data.draw(st.sampled_from(sorted(entries)))
    changed(seed, {**entries, who: entries[who] + "x"})
    newcomer = data.draw(bid_numbers.filter(lambda n: n not in entries))
    changed(seed, {**{c: n for c, n in entries.items() if c != who}, newcomer: entries[who]})
    # one candidate's nonce alone can move the win to or from it: some nonce of its own
    # makes it win and some other makes it lose
    outcomes = {
        run_draw("lottery", seed, None, {**entries, who: f"{entries[who]}{i}"}).order[0] == who
        for i in range(200)
    }
    assert outcomes == {True, False}


@settings(max_examples=50, deadline=None)
@given(seeds, st.lists(bid_numbers, min_size=2, max_size=6, unique=True))
def test_the_seed_alone_does_not_tell_the_winner(seed: bytes, numbers: list[str]) -> None:
    """Whoever holds the seed (the exchange) and the bid numbers still cannot name the winner
    before the candidates' nonces are in: over their nonces every candidate can win."""
    winners = {
        run_draw("lottery", seed, None, {c: f"nonce-{c}-{i:08d}" for c in numbers}).order[0]
        for i in range(300)
    }
    assert winners == set(numbers)


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
        step = english.accept(params, state, Bid(bidder, 1_200, nonce=f"{bidder}-own-nonce-1234"), at(t))
        assert isinstance(step, Step)
        state = step.state
    outcome = english.close(params, state, at(61))
    assert outcome.draw is not None and outcome.draw.commitment == state.seed_commitment
    assert outcome.draw.nonces == ("A01-own-nonce-1234", "B02-own-nonce-1234")
    with pytest.raises(ValueError, match="commitment"):
        english.close(replace(params, seed=b"x" * 32), state, at(61))
