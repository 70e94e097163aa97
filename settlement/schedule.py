"""Payment schedules: when a winner owes what, counted from the anchor date of its payment terms.

The anchor (:class:`exchange.settlement_terms.PaymentTerms`) is the date of the confirmation
(the end of the 公示) or of the contract signing (land: 国土资发〔2010〕34号); the installments
are created when that event happens (:mod:`settlement.followup`), not at the close.

A schedule is a list of terms, each a share of the price and a period:
``working_days`` on the Chinese calendar (:mod:`listings.workdays`) or
calendar ``months``. A term in months ends on the same day of the month
(the last day of a shorter month). That nominal day is what is stored and
printed; when it falls on a weekend or holiday the period ends on the next
working day (Civil Code art. 203), which :mod:`settlement.late_fees` applies
when it judges lateness. A balance due in a year usually falls in a year
whose holidays are not published yet, and the exchange never
guesses a holiday (:class:`listings.workdays.CalendarNotCovered`). The amounts:

- the price is split by cumulative shares, each cumulative amount rounded
  half up, so the parts add up to the price exactly;
- the winner's deposit, applied to the price at the close (定金), pays the
  earliest parts first;
- a term may carry simple interest (财综〔2023〕10号): ``interest_per_annum`` x
  the principal still owed on it (its part less the deposit applied to it) x
  the days from the anchor to its due date / 365, rounded half up once. The
  interest is added to the installment and shown separately;
- the service fee is added to the first installment: the fee is paid before the
  deposit is converted (rules §4), i.e. the deposit never pays the fee. For the classes whose
  price the tax bureau collects (land, mining: 财综〔2021〕19号) the fee is an installment of its
  own (``service_fee``, first, due with the first term): it is paid to the exchange, the price
  installments to the tax bureau, and a tracked payment never pays the fee;
- terms left with nothing to pay are dropped.

A lease (长期租赁, 先租后让; ``PaymentTerms.rent``) pays rent instead: the price
bid is the annual rent, the line's price is ``years`` x the annual rent (the
contract's value), and each year's rent is one installment (``rent_1``,
``rent_2``, ...), the first ``first_months`` months after the anchor and each
later one 12 months after the previous. The deposit and the fee apply as above.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from exchange.settlement_terms import PaymentSchedule, PaymentTerms, Term
from listings.workdays import add_working_days, working_day_on_or_after
from settlement.fees import round_half_up

FEE_LABEL = "service_fee"
"""The label of the installment of the fee alone: a tracked line (land, mining) pays the fee to the
exchange (bank payments) and the price to the tax bureau (tracked payments), so the fee is due apart."""

__all__ = [
    "FEE_LABEL",
    "Installment",
    "add_months",
    "due_date",
    "installments",
    "is_late",
    "plan",
    "rent_total",
]


@dataclass(frozen=True)
class Installment:
    seq: int
    label: str
    due_date: date
    amount: int
    """Fen; always positive: the principal part plus ``interest``."""
    interest: int = 0


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


def rent_total(annual_rent: int, terms: PaymentTerms) -> int:
    """The line's price for a bid of ``annual_rent``: every year's rent for a lease, else the bid."""
    return annual_rent * terms.rent.years if terms.rent is not None else annual_rent


def interest_on(principal: int, rate: Fraction, anchor_on: date, due: date) -> int:
    """Simple interest: ``rate`` x ``principal`` x days / 365, rounded half up; none before the anchor."""
    days = max((due - anchor_on).days, 0)
    return round_half_up(rate * principal * days / 365) if rate and principal else 0


def plan(
    terms: PaymentTerms,
    *,
    price: int,
    fee: int,
    deposit_applied: int,
    anchor_on: date,
    fee_apart: bool = False,
    with_interest: bool = True,
) -> list[Installment]:
    """What is due when, from ``anchor_on``: ``price + fee - deposit_applied`` plus the interest.

    ``price`` is the line's price (for a lease, every year's rent: :func:`rent_total`).
    ``fee_apart``: the fee is an installment of its own (:data:`FEE_LABEL`, first, due with the
    first term), paid to the exchange while the price is collected by the tax bureau.
    ``with_interest`` false: no interest (a line paid in full before its anchor owes none).
    """
    if min(price, fee, deposit_applied) < 0 or deposit_applied > price:
        raise ValueError("price, fee and applied deposit are >= 0 and the deposit is at most the price")
    periods: list[tuple[str, date, Fraction]] = []
    parts: list[int] = []
    if terms.rent is not None:
        years = terms.rent.years
        before = 0
        for k in range(years):
            upto = round_half_up(Fraction(price * (k + 1), years))
            parts.append(upto - before)
            before = upto
            periods.append(
                (f"rent_{k + 1}", add_months(anchor_on, terms.rent.first_months + 12 * k), Fraction(0))
            )
    else:
        cumulative, before = Fraction(0), 0
        for i, term in enumerate(terms.terms):
            cumulative += term.share
            upto = price if i == len(terms.terms) - 1 else round_half_up(price * cumulative)
            parts.append(upto - before)
            before = upto
            periods.append((term.label, due_date(term, anchor_on), term.interest_per_annum))
    credit = deposit_applied
    out: list[Installment] = []
    fee_left = fee
    if fee_apart and fee:
        out.append(Installment(1, FEE_LABEL, periods[0][1], fee))
        fee_left = 0
    for (label, due, rate), part in zip(periods, parts, strict=True):
        covered = min(part, credit)
        credit -= covered
        principal = part - covered
        interest = interest_on(principal, rate, anchor_on, due) if with_interest else 0
        amount = principal + interest + fee_left
        if amount > 0:
            fee_left = 0
            out.append(Installment(len(out) + 1, label, due, amount, interest))
    return out


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
