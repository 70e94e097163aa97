"""Payment schedules: when a winner owes what, counted from the Shanghai date of the close.

A schedule is a list of terms, each a share of the price and a period:
``working_days`` on the Chinese calendar (:mod:`listings.workdays`) or
calendar ``months``. A term in months ends on the same day of the month
(the last day of a shorter month), moved to the next working day when it
falls on a weekend or holiday (Civil Code art. 203). The amounts:

- the price is split by cumulative shares, each cumulative amount rounded
  half up, so the parts add up to the price exactly;
- the winner's deposit, applied to the price at the close (定金), pays the
  earliest parts first;
- the service fee is added to the first term: the fee is paid before the
  deposit is converted (rules §4), i.e. the deposit never pays the fee;
- terms left with nothing to pay are dropped.

Defaults: land-use rights follow Order 39 practice (rules §2): the contract
within 10 WD (the fee is due then), 50% of the price within one month, the
balance within one year. Every other class: the whole price within 10 WD.

``EXCHANGE_PAYMENT_SCHEDULES`` overrides them per asset class: a JSON object
from asset class to a list of terms ``{"label": "full", "share": "1",
"working_days": 10}`` (or ``"months": 1``); shares are decimal strings that
sum to 1. Example::

    EXCHANGE_PAYMENT_SCHEDULES='{"water_right": [{"label": "first", "share": "0.3", "working_days": 5},
                                                 {"label": "balance", "share": "0.7", "months": 3}]}'
"""

from __future__ import annotations

import calendar
import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from listings.workdays import add_working_days, is_working_day
from settlement.fees import ASSET_CLASSES, round_half_up

__all__ = [
    "DEFAULT_PAYMENT_SCHEDULES",
    "ENV_VAR",
    "Installment",
    "Term",
    "add_months",
    "due_date",
    "installments",
    "parse_payment_schedules",
    "payment_schedules",
]

ENV_VAR = "EXCHANGE_PAYMENT_SCHEDULES"
MAX_LABEL = 32


@dataclass(frozen=True)
class Term:
    label: str
    share: Fraction
    """Part of the price due by the end of this term (0 to 1; the shares of a schedule sum to 1)."""
    working_days: int | None = None
    months: int | None = None


@dataclass(frozen=True)
class Installment:
    seq: int
    label: str
    due_date: date
    amount: int
    """Fen; always positive."""


DEFAULT_PAYMENT_SCHEDULES: dict[str, tuple[Term, ...]] = {
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


def add_months(start: date, months: int) -> date:
    """Same day ``months`` later, clamped to the end of a shorter month."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


def due_date(term: Term, closed_on: date) -> date:
    if term.working_days is not None:
        return add_working_days(closed_on, term.working_days)
    assert term.months is not None
    day = add_months(closed_on, term.months)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def installments(
    asset_class: str,
    *,
    price: int,
    fee: int,
    deposit_applied: int,
    closed_on: date,
    schedules: Mapping[str, tuple[Term, ...]] | None = None,
) -> list[Installment]:
    """What is due when, summing to ``price + fee - deposit_applied`` (see the module docstring)."""
    if min(price, fee, deposit_applied) < 0 or deposit_applied > price:
        raise ValueError("price, fee and applied deposit are >= 0 and the deposit is at most the price")
    table = payment_schedules() if schedules is None else schedules
    terms = table[asset_class]
    parts: list[int] = []
    cumulative, before = Fraction(0), 0
    for i, term in enumerate(terms):
        cumulative += term.share
        upto = price if i == len(terms) - 1 else round_half_up(price * cumulative)
        parts.append(upto - before)
        before = upto
    credit = deposit_applied
    out: list[Installment] = []
    for i, (term, part) in enumerate(zip(terms, parts, strict=True)):
        covered = min(part, credit)
        credit -= covered
        amount = part - covered + (fee if i == 0 else 0)
        if amount > 0:
            out.append(Installment(len(out) + 1, term.label, due_date(term, closed_on), amount))
    return out


def _term(value: Any, where: str) -> Term:
    if not isinstance(value, dict) or set(value) - {"label", "share", "working_days", "months"}:
        raise ValueError(f"{where}: a term is {{label, share, working_days | months}}")
    label = value.get("label")
    if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL:
        raise ValueError(f"{where}: label must be 1..{MAX_LABEL} characters")
    share = value.get("share")
    if isinstance(share, bool) or not isinstance(share, str | int | Decimal):
        raise ValueError(f"{where}: share is a decimal string")
    try:
        fraction = Fraction(Decimal(share))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{where}: {share!r} is not a decimal share") from exc
    periods = [value.get(key) for key in ("working_days", "months")]
    given = [p for p in periods if p is not None]
    if len(given) != 1 or isinstance(given[0], bool) or not isinstance(given[0], int) or given[0] < 0:
        raise ValueError(f"{where}: give exactly one of working_days or months, a whole number >= 0")
    return Term(label, fraction, working_days=periods[0], months=periods[1])


def _check(terms: tuple[Term, ...], where: str) -> None:
    if not terms:
        raise ValueError(f"{where}: a schedule needs at least one term")
    if any(not 0 <= t.share <= 1 for t in terms) or sum(t.share for t in terms) != 1:
        raise ValueError(f"{where}: shares must lie in 0..1 and sum to 1")
    if len({t.label for t in terms}) != len(terms):
        raise ValueError(f"{where}: labels must be distinct")


def parse_payment_schedules(text: str | None) -> dict[str, tuple[Term, ...]]:
    """The defaults overridden by a JSON text in the format of ``EXCHANGE_PAYMENT_SCHEDULES``."""
    table = dict(DEFAULT_PAYMENT_SCHEDULES)
    if not text or not text.strip():
        return table
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{ENV_VAR} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{ENV_VAR} must be a JSON object keyed by asset class")
    for asset_class, value in data.items():
        where = f"{ENV_VAR}[{asset_class}]"
        if asset_class not in ASSET_CLASSES:
            raise ValueError(f"{ENV_VAR}: unknown asset class {asset_class!r}")
        if not isinstance(value, list):
            raise ValueError(f"{where}: a schedule is a list of terms")
        terms = tuple(_term(item, where) for item in value)
        _check(terms, where)
        table[asset_class] = terms
    return table


@functools.cache
def _from_environment(text: str | None) -> dict[str, tuple[Term, ...]]:
    return parse_payment_schedules(text)


def payment_schedules() -> dict[str, tuple[Term, ...]]:
    """The schedules in force: defaults plus ``EXCHANGE_PAYMENT_SCHEDULES`` (parsed once per value)."""
    return _from_environment(os.environ.get(ENV_VAR))
