"""Service fees (交易服务费) per asset class: tiered marginal brackets (差额累进) or none.

A schedule is a list of brackets ``(upper, per_mille)``: the part of the price
up to the first ``upper`` is charged at the first rate, the part between the
first and the second ``upper`` at the second rate, and so on; the last
bracket has no upper bound. The fee is computed exactly and rounded once, to
the fen, half up. An empty schedule charges nothing (rules §4: Hunan and
Ningxia charge no fee for 排污权). Because every rate is between 0 and 1000
per mille, the fee never decreases when the price rises, never exceeds the
price, and one more fen of price adds at most one fen of fee.

Defaults (plausible figures in the range published by provincial trading
centres; they are defaults, not law — set ``EXCHANGE_FEE_SCHEDULES``):

==============  ====================================================
class           brackets of the price (yuan) and their rate
==============  ====================================================
land_use_right  <= 10 million 1.5‰; 10–100 million 1‰; above 0.5‰
mining_right    <= 10 million 2‰; 10–50 million 1.5‰; 50–100 million 1‰; above 0.5‰
emission_right  none
water_right     <= 1 million 3‰; above 1‰
technology      <= 1 million 10‰; 1–10 million 5‰; above 2‰
==============  ====================================================

``EXCHANGE_FEE_SCHEDULES`` is a JSON object from asset class to a list of
``[upper, per_mille]`` pairs; ``upper`` is a yuan string (``"10000000.00"``)
or ``null`` for the last, open bracket; ``per_mille`` a decimal string or
number (``"1.5"``). ``[]`` means no fee. Classes not named keep their
default. Example::

    EXCHANGE_FEE_SCHEDULES='{"water_right": [], "land_use_right": [["10000000", "1.2"], [null, "0.8"]]}'

A malformed value is an error at the first fee computed, never a silent zero.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from exchange.money import MoneyFormatError, parse_yuan

__all__ = [
    "ASSET_CLASSES",
    "DEFAULT_FEE_SCHEDULES",
    "ENV_VAR",
    "Bracket",
    "FeeSchedule",
    "exact_fee",
    "fee_schedules",
    "parse_fee_schedules",
    "round_half_up",
    "service_fee",
]

ENV_VAR = "EXCHANGE_FEE_SCHEDULES"
ASSET_CLASSES = ("land_use_right", "mining_right", "emission_right", "water_right", "technology")

_WAN = 10_000 * 100  # 1万 yuan in fen


@dataclass(frozen=True)
class Bracket:
    upper: int | None
    """Upper bound of the bracket in fen (inclusive); ``None`` for the last, open bracket."""
    per_mille: Fraction
    """Rate on the part of the price inside the bracket, in ‰ (0 to 1000)."""


FeeSchedule = tuple[Bracket, ...]
"""Brackets in ascending order, the last open; empty: no fee."""


def _tiers(*pairs: tuple[int | None, str]) -> FeeSchedule:
    return tuple(Bracket(upper, Fraction(rate)) for upper, rate in pairs)


DEFAULT_FEE_SCHEDULES: dict[str, FeeSchedule] = {
    "land_use_right": _tiers((1000 * _WAN, "1.5"), (10000 * _WAN, "1"), (None, "0.5")),
    "mining_right": _tiers((1000 * _WAN, "2"), (5000 * _WAN, "1.5"), (10000 * _WAN, "1"), (None, "0.5")),
    "emission_right": (),
    "water_right": _tiers((100 * _WAN, "3"), (None, "1")),
    "technology": _tiers((100 * _WAN, "10"), (1000 * _WAN, "5"), (None, "2")),
}


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


def service_fee(asset_class: str, price_fen: int, schedules: Mapping[str, FeeSchedule] | None = None) -> int:
    """The service fee in fen on a transaction of ``price_fen`` (tiered, rounded half up once)."""
    table = fee_schedules() if schedules is None else schedules
    if asset_class not in table:
        raise ValueError(f"no fee schedule for asset class {asset_class!r}")
    return round_half_up(exact_fee(table[asset_class], price_fen))


def _check(schedule: FeeSchedule, where: str) -> None:
    previous = 0
    for i, bracket in enumerate(schedule):
        if not 0 <= bracket.per_mille <= 1000:
            raise ValueError(f"{where}: rate {bracket.per_mille} per mille is outside 0..1000")
        last = i == len(schedule) - 1
        if bracket.upper is None and not last:
            raise ValueError(f"{where}: only the last bracket may be open")
        if bracket.upper is not None:
            if last:
                raise ValueError(f"{where}: the last bracket must be open (upper null)")
            if bracket.upper <= previous:
                raise ValueError(f"{where}: bracket bounds must increase")
            previous = bracket.upper


def _rate(value: Any, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{where}: a rate is a decimal string or number")
    try:
        return Fraction(Decimal(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{where}: {value!r} is not a decimal rate") from exc


def _upper(value: Any, where: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_yuan(str(value) if isinstance(value, int | Decimal) else value)
    except MoneyFormatError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _schedule(value: Any, where: str) -> FeeSchedule:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where}: a schedule is a list of [upper, per_mille] pairs")
    brackets = []
    for pair in value:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"{where}: each bracket is a pair [upper, per_mille]")
        brackets.append(Bracket(_upper(pair[0], where), _rate(pair[1], where)))
    schedule = tuple(brackets)
    _check(schedule, where)
    return schedule


def parse_fee_schedules(text: str | None) -> dict[str, FeeSchedule]:
    """The defaults overridden by a JSON text in the format of ``EXCHANGE_FEE_SCHEDULES``."""
    table = dict(DEFAULT_FEE_SCHEDULES)
    if not text or not text.strip():
        return table
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{ENV_VAR} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{ENV_VAR} must be a JSON object keyed by asset class")
    for asset_class, value in data.items():
        if asset_class not in ASSET_CLASSES:
            raise ValueError(f"{ENV_VAR}: unknown asset class {asset_class!r}")
        table[asset_class] = _schedule(value, f"{ENV_VAR}[{asset_class}]")
    return table


@functools.cache
def _from_environment(text: str | None) -> dict[str, FeeSchedule]:
    return parse_fee_schedules(text)


def fee_schedules() -> dict[str, FeeSchedule]:
    """The schedules in force: defaults plus ``EXCHANGE_FEE_SCHEDULES`` (parsed once per value)."""
    return _from_environment(os.environ.get(ENV_VAR))


for _name, _default in DEFAULT_FEE_SCHEDULES.items():
    _check(_default, f"default schedule of {_name}")
