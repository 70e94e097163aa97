"""Late fees (违约金 for late payment), as a pure function of the schedule and the payments.

The model land-transfer contract (GF-2008-2601) charges 1‰ of the overdue amount per day; the rate
is the listing's ``late_fee_per_mille`` (:class:`exchange.settlement_terms.PaymentTerms`).

- An installment is overdue from the day after its due date, the due date first moved to the next
  working day when it falls on a weekend or holiday (Civil Code art. 203:
  :func:`listings.workdays.working_day_on_or_after`). From then on **every calendar day** counts
  (GF-2008-2601 counts days, not working days).
- For each day ``d`` from the first overdue day up to and including ``through``:
  ``fee_d = round_half_up(overdue_d x per_mille / 1000)``, where ``overdue_d`` is the unpaid part,
  at the end of ``d``, of every installment overdue on ``d``. The fee is the sum of the ``fee_d``.
- Payments pay the principal in due order (installment 1 first; the interest of an installment is
  part of it); late fees are a separate claim, paid only after every installment, so a payment
  never leaves principal unpaid to settle a fee. A payment made on ``d`` counts at the end of ``d``.

Late fees never accrue on late fees (no compounding).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from listings.workdays import working_day_on_or_after
from settlement.fees import round_half_up

__all__ = ["Due", "Overdue", "accrued", "first_late_day", "overdue_on"]


@dataclass(frozen=True)
class Due:
    seq: int
    due_date: date
    amount: int
    """Fen of the installment (principal and interest)."""


@dataclass(frozen=True)
class Overdue:
    seq: int
    unpaid: int
    days: int
    """Calendar days overdue up to and including the day asked about (1 on the first late day)."""


def first_late_day(due: date) -> date:
    """The first day a payment due on ``due`` is late: the day after it, moved to a working day."""
    return working_day_on_or_after(due) + timedelta(days=1)


def _paid_by(payments: Sequence[tuple[date, int]], day: date) -> int:
    return sum(amount for on, amount in payments if on <= day)


def overdue_on(schedule: Sequence[Due], payments: Iterable[tuple[date, int]], day: date) -> list[Overdue]:
    """The installments overdue on ``day`` with their unpaid part at its end (principal in due order)."""
    paid = _paid_by(list(payments), day)
    out = []
    cumulative = 0
    for row in sorted(schedule, key=lambda r: r.seq):
        before = cumulative
        cumulative += row.amount
        unpaid = min(row.amount, max(cumulative - max(paid, before), 0))
        if unpaid <= 0:
            continue
        if row.due_date >= day:  # not late yet (and its year's holidays may not be published)
            continue
        first = first_late_day(row.due_date)
        if first <= day:
            out.append(Overdue(row.seq, unpaid, (day - first).days + 1))
    return out


def accrued(
    schedule: Sequence[Due], payments: Iterable[tuple[date, int]], per_mille: Fraction, through: date
) -> int:
    """Late fees accrued up to and including ``through`` (see the module docstring)."""
    paid = sorted(payments)
    if not schedule or per_mille == 0:
        return 0
    past = [row.due_date for row in schedule if row.due_date < through]
    if not past:
        return 0
    start = min(first_late_day(due) for due in past)
    total = 0
    day = start
    while day <= through:
        overdue = sum(o.unpaid for o in overdue_on(schedule, paid, day))
        if overdue == 0 and _paid_by(paid, day) >= sum(r.amount for r in schedule):
            break  # all paid: nothing accrues any more
        total += round_half_up(Fraction(overdue) * per_mille / 1000)
        day += timedelta(days=1)
    return total
