"""Committed-seed draws that anyone can recompute.

Procedure (published with every result that used a draw):

1. Before bidding opens the operator fixes a secret `seed` of at least 16
   random bytes and publishes `commitment = SHA-256(seed)` as lowercase hex
   (`seed_commitment`). The mechanism records the commitment in the state when
   bidding opens and refuses to draw with a seed that does not match it.
2. The candidates are bid numbers (UTF-8 strings). For each candidate `c`
   compute `key(c) = SHA-256(seed || utf8(c))` as lowercase hex, where `||`
   is byte concatenation with no separator (the seed is the same for every
   candidate, so distinct bid numbers give distinct messages).
3. Sort the candidates by `(key, bid number)` ascending; the second field
   only matters for a SHA-256 collision.
4. Lottery: the first candidate in that order wins. Uniform-price residual
   lots: the tied bidders receive one lot each in that order.

The seed is revealed with the result (`DrawRecord.seed_hex`), so anyone can
check `SHA-256(seed) == commitment` and redo steps 2 and 3, e.g.
`sorted(c, key=lambda c: (sha256(seed + c.encode()).hexdigest(), c))`.
The order of the candidates does not depend on when or in which order they
bid, and the seed is fixed before anyone bids, so nobody can steer it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final, Literal

from .types import DrawRecord

MIN_SEED_BYTES: Final = 16

PROCEDURE: Final = (
    "key(c) = sha256(seed || utf8(c)) hex; candidates sorted ascending by (key, c); "
    "lottery: first wins; residual lots: one lot each in that order"
)


def seed_commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def draw_key(seed: bytes, candidate: str) -> str:
    return hashlib.sha256(seed + candidate.encode("utf-8")).hexdigest()


def draw_order(seed: bytes, candidates: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(candidates), key=lambda c: (draw_key(seed, c), c)))


def run_draw(
    purpose: Literal["lottery", "residual_lots"],
    seed: bytes | None,
    commitment: str | None,
    candidates: Iterable[str],
) -> DrawRecord:
    if seed is None:
        raise ValueError("a draw needs the committed seed")
    if commitment is not None and seed_commitment(seed) != commitment:
        raise ValueError("the seed does not match the commitment made when bidding opened")
    listed = tuple(sorted(set(candidates)))
    return DrawRecord(
        purpose=purpose,
        seed_hex=seed.hex(),
        commitment=seed_commitment(seed),
        candidates=listed,
        keys=tuple(draw_key(seed, c) for c in listed),
        order=draw_order(seed, listed),
        procedure=PROCEDURE,
    )
