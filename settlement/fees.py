"""Service fees (交易服务费) per asset class: tiered marginal brackets (差额累进) or none.

A schedule (:class:`exchange.settlement_terms.FeeSchedule`) is a list of
brackets ``(upper, per_mille)``: the part of the price up to the first
``upper`` is charged at the first rate, the part between the first and the
second ``upper`` at the second rate, and so on; the last bracket has no upper
bound. The fee is computed exactly and rounded once, to the fen, half up. An
empty schedule charges nothing (rules §4: Hunan and Ningxia charge no fee for
排污权). Because every rate is between 0 and 1000 per mille, the fee never
decreases when the price rises, never exceeds the price, and one more fen of
price adds at most one fen of fee.

The schedules in force are ``Settings.settlement.fee_schedules``: the defaults
of :mod:`exchange.settlement_terms` overridden by ``EXCHANGE_FEE_SCHEDULES``,
checked once when the settings are loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from exchange.settlement_terms import FeeSchedule

__all__ = ["exact_fee", "round_half_up", "service_fee"]


def round_half_up(value: Fraction) -> int:
    """Nearest integer, halves away from zero for positive values (the only ones used here)."""
    if value < 0:
        return -round_half_up(-value)
    return math.floor(value + Fraction(1, 2))


def exact_fee(schedule: FeeSchedule, price: int) -> Fraction:
    """The fee before rounding, in fen."""
    if price < 0:
        raise ValueError(f"a price cannot be negative, got {price}")
    total = Fraction(0)
    lower = 0
    for bracket in schedule:
        top = price if bracket.upper is None else min(price, bracket.upper)
        if top > lower:
            total += (top - lower) * bracket.per_mille / 1000
        if bracket.upper is None or price <= bracket.upper:
            break
        lower = bracket.upper
    return total


def service_fee(asset_class: str, price_fen: int, schedules: Mapping[str, FeeSchedule]) -> int:
    """The service fee in fen on a transaction of ``price_fen`` (tiered, rounded half up once)."""
    if asset_class not in schedules:
        raise ValueError(f"no fee schedule for asset class {asset_class!r}")
    return round_half_up(exact_fee(schedules[asset_class], price_fen))
