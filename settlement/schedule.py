"""Payment schedules: when a winner owes what, counted from the Shanghai date of the close.

A schedule is a list of terms, each a share of the price and a period:
``working_days`` on the Chinese calendar (:mod:`listings.workdays`) or
calendar ``months``. A term in months ends on the same day of the month
(the last day of a shorter month). That nominal day is what is stored and
printed; when it falls on a weekend or holiday the period ends on the next
working day (Civil Code art. 203), which :mod:`settlement.defaults` applies
when it judges lateness. A balance due in a year usually falls in a year
whose holidays are not published yet at the close, and the exchange never
guesses a holiday (:class:`listings.workdays.CalendarNotCovered`). The amounts:

- the price is split by cumulative shares, each cumulative amount rounded
  half up, so the parts add up to the price exactly;
- the winner's deposit, applied to the price at the close (定金), pays the
  earliest parts first;
- the service fee is added to the first term: the fee is paid before the
  deposit is converted (rules §4), i.e. the deposit never pays the fee;
- terms left with nothing to pay are dropped.

The schedules in force are ``Settings.settlement.payment_schedules``: the
defaults of :mod:`exchange.settlement_terms` (land-use rights: the contract
within 10 WD, 50% in one month, the balance in a year; every other class:
all within 10 WD) overridden by ``EXCHANGE_PAYMENT_SCHEDULES``, checked once
when the settings are loaded.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from exchange.settlement_terms import PaymentSchedule, Term
from listings.workdays import add_working_days, working_day_on_or_after
from settlement.fees import round_half_up

__all__ = ["Installment", "add_months", "due_date", "installments", "is_late"]


@dataclass(frozen=True)
class Installment:
    seq: int
    label: str
    due_date: date
    amount: int
    """Fen; always positive."""


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
    return add_months(closed_on, term.months)


def is_late(due: date, today: date) -> bool:
    """Whether a payment due on ``due`` and still unpaid on ``today`` is late.

    A due day that is a weekend or holiday moves to the next working day (Civil
    Code art. 203); the day itself still counts, so lateness begins the day after.
    """
    return working_day_on_or_after(due) < today


def installments(
    asset_class: str,
    *,
    price: int,
    fee: int,
    deposit_applied: int,
    closed_on: date,
    schedules: Mapping[str, PaymentSchedule],
) -> list[Installment]:
    """What is due when, summing to ``price + fee - deposit_applied`` (see the module docstring)."""
    if min(price, fee, deposit_applied) < 0 or deposit_applied > price:
        raise ValueError("price, fee and applied deposit are >= 0 and the deposit is at most the price")
    terms = schedules[asset_class]
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
