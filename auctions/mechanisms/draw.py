"""Draws nobody can steer, and anyone can recompute (lottery, residual lots).

Procedure (published with every result that used a draw; `scripts/verify_draw.py`
recomputes it from the published result alone):

1. Before bidding opens the exchange fixes a secret `seed` of at least 16
   random bytes and publishes `commitment = SHA-256(seed)` as lowercase hex
   (`seed_commitment`). The mechanism records the commitment in the state when
   bidding opens and refuses to draw with a seed that does not match it.
2. Each candidate (a bid number) brings a `nonce` of its own choosing, sealed
   with its acceptance of the cap price (a uniform-price bidder: with its
   bids) and kept private until the result.
3. Once the candidate set is final (the close), the entropy of the draw is
   `E = SHA-256(seed || utf8(J))`, where `J` is the JSON text of the list of
   `[bid number, nonce]` pairs sorted by bid number, written without spaces
   (Python: `json.dumps(pairs, separators=(",", ":"))`; bid numbers and nonces
   are ASCII, so `J` is e.g. `[["1234","q7..."],["5678","Zk..."]]`).
4. For each candidate `c`: `key(c) = SHA-256(E || utf8(c))` as lowercase hex.
5. Sort the candidates by `(key, bid number)` ascending; the second field
   only matters for a SHA-256 collision.
6. Lottery: the first candidate in that order wins. Uniform-price residual
   lots: the tied bidders receive one lot each in that order.

Why nobody can steer it (the threat model is in `docs/rules.md`, section 7.7):
the seed is fixed and committed before anyone bids, so the exchange cannot
pick it after seeing the candidates; every key depends on every nonce, so
whoever knows the seed alone (the exchange) cannot tell which bid number will
win, and a candidate who knows its own nonce cannot either without the seed.
Bid numbers enter only after `E`, so whoever assigns them gains nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Final, Literal

from .types import DrawRecord

MIN_SEED_BYTES: Final = 16

PROCEDURE: Final = (
    'E = sha256(seed || utf8(json.dumps(sorted([c, nonce] pairs), separators=(",", ":")))); '
    "key(c) = sha256(E || utf8(c)) hex; candidates sorted ascending by (key, c); "
    "lottery: first wins; residual lots: one lot each in that order"
)


def seed_commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def draw_entropy(seed: bytes, nonces: Mapping[str, str]) -> bytes:
    """`E`: the seed mixed with every candidate's nonce (step 3)."""
    pairs = [[c, nonces[c]] for c in sorted(nonces)]
    return hashlib.sha256(seed + json.dumps(pairs, separators=(",", ":")).encode("utf-8")).digest()


def draw_key(entropy: bytes, candidate: str) -> str:
    return hashlib.sha256(entropy + candidate.encode("utf-8")).hexdigest()


def draw_order(entropy: bytes, candidates: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(candidates), key=lambda c: (draw_key(entropy, c), c)))


def run_draw(
    purpose: Literal["lottery", "residual_lots"],
    seed: bytes | None,
    commitment: str | None,
    nonces: Mapping[str, str],
) -> DrawRecord:
    """The draw among the bid numbers of `nonces` (each with its nonce), recorded for publication."""
    if seed is None:
        raise ValueError("a draw needs the committed seed")
    if commitment is not None and seed_commitment(seed) != commitment:
        raise ValueError("the seed does not match the commitment made when bidding opened")
    listed = tuple(sorted(nonces))
    entropy = draw_entropy(seed, nonces)
    return DrawRecord(
        purpose=purpose,
        seed_hex=seed.hex(),
        commitment=seed_commitment(seed),
        candidates=listed,
        keys=tuple(draw_key(entropy, c) for c in listed),
        order=draw_order(entropy, listed),
        procedure=PROCEDURE,
        nonces=tuple(nonces[c] for c in listed),
        entropy=entropy.hex(),
    )
