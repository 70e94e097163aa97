"""What a sale costs and when it is paid, as configuration: fee and payment schedules per asset class.

The types, the defaults and the JSON of ``EXCHANGE_FEE_SCHEDULES`` and
``EXCHANGE_PAYMENT_SCHEDULES``, which :mod:`exchange.settings` reads once at
start-up. They live in the kernel so that the settings can check them before
anything runs; :mod:`settlement.fees` and :mod:`settlement.schedule` compute
with them.

Fee schedules (交易服务费): a list of brackets ``(upper, per_mille)``, marginal
(差额累进), the last one open; empty: no fee (rules §4: Hunan and Ningxia
charge none for 排污权). Every rate is between 0 and 1000 per mille, so the
fee never decreases when the price rises and never exceeds it. Defaults
(plausible figures in the range published by provincial trading centres;
they are defaults, not law):

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
number (``"1.5"``). ``[]`` means no fee. Example::

    EXCHANGE_FEE_SCHEDULES='{"water_right": [], "land_use_right": [["10000000", "1.2"], [null, "0.8"]]}'

Payment schedules: a list of terms, each a share of the price and a period
in ``working_days`` or calendar ``months`` (see :mod:`settlement.schedule`).
Defaults: land-use rights follow Order 39 practice (rules §2): the contract
within 10 WD (the fee is due then), 50% of the price within one month, the
balance within one year; every other class pays the whole price within 10 WD.

``EXCHANGE_PAYMENT_SCHEDULES`` is a JSON object from asset class to a list of
terms ``{"label": "full", "share": "1", "working_days": 10}`` (or
``"months": 1``); shares are decimal strings that sum to 1. Example::

    EXCHANGE_PAYMENT_SCHEDULES='{"water_right": [{"label": "first", "share": "0.3", "working_days": 5},
                                                 {"label": "balance", "share": "0.7", "months": 3}]}'

In both, classes not named keep their default, and a malformed value is an
error naming the variable, never a silent zero.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from exchange.money import MoneyFormatError, parse_yuan
from exchange.vocabulary import ASSET_CLASSES

__all__ = [
    "DEFAULT_FEE_SCHEDULES",
    "DEFAULT_PAYMENT_SCHEDULES",
    "FEE_VARIABLE",
    "PAYMENT_VARIABLE",
    "Bracket",
    "FeeSchedule",
    "PaymentSchedule",
    "Term",
    "parse_fee_schedules",
    "parse_payment_schedules",
]

FEE_VARIABLE = "EXCHANGE_FEE_SCHEDULES"
PAYMENT_VARIABLE = "EXCHANGE_PAYMENT_SCHEDULES"
MAX_LABEL = 32

_WAN = 10_000 * 100  # 1万 yuan in fen


@dataclass(frozen=True)
class Bracket:
    upper: int | None
    """Upper bound of the bracket in fen (inclusive); ``None`` for the last, open bracket."""
    per_mille: Fraction
    """Rate on the part of the price inside the bracket, in ‰ (0 to 1000)."""


FeeSchedule = tuple[Bracket, ...]
"""Brackets in ascending order, the last open; empty: no fee."""


@dataclass(frozen=True)
class Term:
    label: str
    share: Fraction
    """Part of the price due by the end of this term (0 to 1; the shares of a schedule sum to 1)."""
    working_days: int | None = None
    months: int | None = None


PaymentSchedule = tuple[Term, ...]
"""Terms in the order they fall due; at least one, shares summing to 1, labels distinct."""


def _tiers(*pairs: tuple[int | None, str]) -> FeeSchedule:
    return tuple(Bracket(upper, Fraction(rate)) for upper, rate in pairs)


DEFAULT_FEE_SCHEDULES: dict[str, FeeSchedule] = {
    "land_use_right": _tiers((1000 * _WAN, "1.5"), (10000 * _WAN, "1"), (None, "0.5")),
    "mining_right": _tiers((1000 * _WAN, "2"), (5000 * _WAN, "1.5"), (10000 * _WAN, "1"), (None, "0.5")),
    "emission_right": (),
    "water_right": _tiers((100 * _WAN, "3"), (None, "1")),
    "technology": _tiers((100 * _WAN, "10"), (1000 * _WAN, "5"), (None, "2")),
}

DEFAULT_PAYMENT_SCHEDULES: dict[str, PaymentSchedule] = {
    "land_use_right": (
        Term("contract", Fraction(0), working_days=10),
        Term("first", Fraction(1, 2), months=1),
        Term("balance", Fraction(1, 2), months=12),
    ),
    **{
        asset_class: (Term("full", Fraction(1), working_days=10),)
        for asset_class in ASSET_CLASSES
        if asset_class != "land_use_right"
    },
}


def _by_asset_class(text: str | None, variable: str) -> dict[str, Any]:
    """The JSON object of ``variable`` keyed by known asset classes; empty when unset."""
    if not text or not text.strip():
        return {}
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{variable} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{variable} must be a JSON object keyed by asset class")
    unknown = [asset_class for asset_class in data if asset_class not in ASSET_CLASSES]
    if unknown:
        raise ValueError(f"{variable}: unknown asset class {unknown[0]!r}")
    return data


def _decimal(value: Any, what: str, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{where}: a {what} is a decimal string or number")
    try:
        return Fraction(Decimal(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{where}: {value!r} is not a decimal {what}") from exc


# -- fee schedules -------------------------------------------------------------------------------


def _check_fees(schedule: FeeSchedule, where: str) -> None:
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


def _upper(value: Any, where: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_yuan(str(value) if isinstance(value, int | Decimal) else value)
    except MoneyFormatError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _fee_schedule(value: Any, where: str) -> FeeSchedule:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where}: a schedule is a list of [upper, per_mille] pairs")
    brackets = []
    for pair in value:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"{where}: each bracket is a pair [upper, per_mille]")
        brackets.append(Bracket(_upper(pair[0], where), _decimal(pair[1], "rate", where)))
    schedule = tuple(brackets)
    _check_fees(schedule, where)
    return schedule


def parse_fee_schedules(text: str | None) -> dict[str, FeeSchedule]:
    """The defaults overridden by a JSON text in the format of ``EXCHANGE_FEE_SCHEDULES``."""
    table = dict(DEFAULT_FEE_SCHEDULES)
    for asset_class, value in _by_asset_class(text, FEE_VARIABLE).items():
        table[asset_class] = _fee_schedule(value, f"{FEE_VARIABLE}[{asset_class}]")
    return table


# -- payment schedules ---------------------------------------------------------------------------


def _term(value: Any, where: str) -> Term:
    if not isinstance(value, dict) or set(value) - {"label", "share", "working_days", "months"}:
        raise ValueError(f"{where}: a term is {{label, share, working_days | months}}")
    label = value.get("label")
    if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL:
        raise ValueError(f"{where}: label must be 1..{MAX_LABEL} characters")
    share = _decimal(value.get("share"), "share", where)
    periods = [value.get(key) for key in ("working_days", "months")]
    given = [p for p in periods if p is not None]
    if len(given) != 1 or isinstance(given[0], bool) or not isinstance(given[0], int) or given[0] < 0:
        raise ValueError(f"{where}: give exactly one of working_days or months, a whole number >= 0")
    return Term(label, share, working_days=periods[0], months=periods[1])


def _check_terms(terms: PaymentSchedule, where: str) -> None:
    if not terms:
        raise ValueError(f"{where}: a schedule needs at least one term")
    if any(not 0 <= t.share <= 1 for t in terms) or sum(t.share for t in terms) != 1:
        raise ValueError(f"{where}: shares must lie in 0..1 and sum to 1")
    if len({t.label for t in terms}) != len(terms):
        raise ValueError(f"{where}: labels must be distinct")


def parse_payment_schedules(text: str | None) -> dict[str, PaymentSchedule]:
    """The defaults overridden by a JSON text in the format of ``EXCHANGE_PAYMENT_SCHEDULES``."""
    table = dict(DEFAULT_PAYMENT_SCHEDULES)
    for asset_class, value in _by_asset_class(text, PAYMENT_VARIABLE).items():
        where = f"{PAYMENT_VARIABLE}[{asset_class}]"
        if not isinstance(value, list):
            raise ValueError(f"{where}: a schedule is a list of terms")
        terms = tuple(_term(item, where) for item in value)
        _check_terms(terms, where)
        table[asset_class] = terms
    return table


for _name, _default in DEFAULT_FEE_SCHEDULES.items():
    _check_fees(_default, f"default fee schedule of {_name}")
for _name, _terms in DEFAULT_PAYMENT_SCHEDULES.items():
    _check_terms(_terms, f"default payment schedule of {_name}")
