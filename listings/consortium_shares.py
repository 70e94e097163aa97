"""The shares of a joint bid (联合竞买), exact: basis points, and the split of a quantity by them.

A share is given as a percentage in a decimal string with at most two places (``"33.34"``) and
kept in basis points (1/100 of a percent, ``3334``): no float ever holds one. Every party's
share is above 0 and below 100 %, and the shares of a consortium (the lead's included) sum to
exactly 100 % (10 000 basis points).

A divisible right (t/a of a pollutant, m³/a of water) is delivered into each member's holding
by share, in whole smallest units, by the largest remainder method (Hamilton's method):

1. each party gets ``floor(total × share / 10 000)`` units;
2. the units left over (fewer than the number of parties) go one each to the parties with the
   largest remainders ``total × share mod 10 000``;
3. equal remainders go first to the party listed first (the lead is always first, the members
   in the order the lead named them).

So the parts always add up to the total, no part differs from its exact share by a unit or
more, and anyone can recompute the split from the published shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

WHOLE = 10_000
"""100 % in basis points."""


class ShareError(ValueError):
    """A share that is not a valid percentage; ``reason`` is the field error's code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_share(text: str) -> int:
    """``"33.34"`` (percent) -> ``3334`` basis points; :class:`ShareError` if it is no valid share."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ShareError("not_a_number", "a share is a percentage such as 40 or 33.34") from exc
    if not value.is_finite():
        raise ShareError("not_a_number", "a share is a percentage such as 40 or 33.34")
    if not Decimal(0) < value < Decimal(100):  # before scaling: "1e999999" would overflow
        raise ShareError("out_of_range", "a share is above 0 and below 100 percent")
    points = value.scaleb(2)
    if points != points.to_integral_value():
        raise ShareError("too_precise", "a share has at most two decimal places (basis points)")
    return int(points)


def format_share(points: int) -> str:
    """``3334`` -> ``"33.34"`` (percent, two places)."""
    return f"{points // 100}.{points % 100:02d}"


def shares_complete(points: Sequence[int]) -> bool:
    """Whether the shares (the lead's and every member's) sum to exactly 100 %."""
    return sum(points) == WHOLE


def split(total: int, points: Sequence[int]) -> list[int]:
    """``total`` units split by ``points`` (summing to 10 000), largest remainder; see the module."""
    if not shares_complete(points) or any(p <= 0 for p in points):
        raise ValueError(f"shares {list(points)} do not sum to {WHOLE} basis points")
    if total < 0:
        raise ValueError("a negative quantity cannot be split")
    parts = [total * p // WHOLE for p in points]
    left = total - sum(parts)
    # largest remainder first; on a tie, the party listed first (the lead)
    order = sorted(range(len(points)), key=lambda i: (-(total * points[i] % WHOLE), i))
    for i in order[:left]:
        parts[i] += 1
    return parts
