#!/usr/bin/env python3
"""Recompute the draw of a published result (成交公示), with nothing but the Python standard library.

    python3 scripts/verify_draw.py https://exchange.example/api/v1/results/42
    python3 scripts/verify_draw.py result.json --commitment <the seed commitment announced before bidding>
    curl -s .../api/v1/results/42 | python3 scripts/verify_draw.py -

It reads the result's ``draw`` (``GET /api/v1/results/{id}``) and checks, from it alone:

1. ``SHA-256(seed) == commitment`` (and, with ``--commitment``, that this is the
   commitment published before bidding opened);
2. ``E = SHA-256(seed || utf8(json.dumps(sorted [bid number, nonce] pairs, separators=(",", ":"))))``;
3. ``key(c) = SHA-256(E || utf8(c))`` for every candidate ``c``;
4. the order: candidates sorted by ``(key, c)``; for a lottery, the winner is the first.

The procedure is written out here on purpose instead of imported from the exchange:
whoever checks the exchange should not have to run the exchange's code
(``docs/rules.md``, section 7.7). Exit status: 0 the draw holds, 1 it does not,
2 the result has no draw or cannot be read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.request
from typing import Any


def entropy(seed: bytes, candidates: list[str], nonces: list[str]) -> bytes:
    pairs = sorted([c, n] for c, n in zip(candidates, nonces, strict=True))
    return hashlib.sha256(seed + json.dumps(pairs, separators=(",", ":")).encode("utf-8")).digest()


def recompute(draw: dict[str, Any]) -> dict[str, Any]:
    """The commitment, ``E``, the keys and the order that the draw's own inputs give."""
    seed = bytes.fromhex(draw["seed_hex"])
    candidates = list(draw["candidates"])
    mixed = entropy(seed, candidates, list(draw["nonces"]))
    keys = {c: hashlib.sha256(mixed + c.encode("utf-8")).hexdigest() for c in candidates}
    return {
        "commitment": hashlib.sha256(seed).hexdigest(),
        "entropy": mixed.hex(),
        "keys": [keys[c] for c in candidates],
        "order": sorted(candidates, key=lambda c: (keys[c], c)),
    }


def problems(result: dict[str, Any], commitment: str | None = None) -> list[str]:
    """What does not hold in ``result``'s draw; empty when every check passes."""
    draw = result["draw"]
    again = recompute(draw)
    found: list[str] = []
    if again["commitment"] != draw["commitment"]:
        found.append("SHA-256(seed) is not the published commitment")
    if commitment is not None and draw["commitment"] != commitment.lower():
        found.append("the draw's commitment is not the one announced before bidding")
    published = {"entropy": draw["entropy"], "keys": list(draw["keys"]), "order": list(draw["order"])}
    for name, value in published.items():
        if again[name] != value:
            found.append(f"the published {name} is not what the inputs give")
    winners = [w["bid_number"] for w in result.get("winners", [])]
    if draw["purpose"] == "lottery" and winners != again["order"][:1]:
        found.append(f"the winner {winners} is not the first of the order {again['order'][:1]}")
    return found


def read(source: str) -> dict[str, Any]:
    if source == "-":
        return dict(json.load(sys.stdin))
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (the user names it)
            return dict(json.load(response))
    with open(source, encoding="utf-8") as file:
        return dict(json.load(file))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="a published result: a file, an http(s) address, or - for stdin")
    parser.add_argument("--commitment", help="the seed commitment published before bidding opened")
    args = parser.parse_args(argv)
    try:
        result = read(args.result)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.result}: {exc}", file=sys.stderr)
        return 2
    if not result.get("draw"):
        print("this result has no draw", file=sys.stderr)
        return 2
    found = problems(result, args.commitment)
    for problem in found:
        print(f"FAIL: {problem}")
    if not found:
        order = recompute(result["draw"])["order"]
        print(f"OK: {result['draw']['purpose']} order {' > '.join(order)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
