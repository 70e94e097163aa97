"""Late fees and installments with interest and rent, as pure functions (settlement/late_fees.py,
settlement/schedule.py ``plan``).

Due dates lie in 2026, whose holidays the chinesecalendar package has from the State Council's
notice (the same table as docs/calendar-2026.csv); nothing here needs an invented year.
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from exchange.settlement_terms import PaymentTerms, Rent, Term
from listings.workdays import is_working_day, working_day_on_or_after
from settlement.fees import round_half_up
from settlement.late_fees import Due, accrued, first_late_day, overdue_on
from settlement.schedule import FEE_LABEL, add_months, plan

ONE = Fraction(1)  # 1‰ per day, the model contract's rate (GF-2008-2601)
due_dates = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 11, 30))
amounts = st.integers(min_value=1, max_value=10**12)
per_mille = st.fractions(min_value=0, max_value=10, max_denominator=100)


@st.composite
def schedules(draw: st.DrawFn) -> list[Due]:
    first = draw(due_dates)
    gaps = draw(st.lists(st.integers(min_value=0, max_value=60), min_size=0, max_size=3))
    days = [first]
    for gap in gaps:
        days.append(min(days[-1] + timedelta(days=gap), date(2026, 12, 20)))
    return [Due(i + 1, day, draw(amounts)) for i, day in enumerate(days)]


@st.composite
def payments(draw: st.DrawFn, schedule: list[Due]) -> list[tuple[date, int]]:
    start = schedule[0].due_date - timedelta(days=10)
    days = st.integers(min_value=0, max_value=120).map(lambda n: start + timedelta(days=n))
    total = sum(d.amount for d in schedule)
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        out.append((draw(days), draw(st.integers(min_value=1, max_value=total))))
    return out


# -- the start: the due date moved to a working day (Civil Code art. 203) --------------------------


def test_a_holiday_due_date_moves_the_first_late_day() -> None:
    # National Day 2026: 1-7 October off, so a payment due on the 1st is on time on the 8th
    assert working_day_on_or_after(date(2026, 10, 1)) == date(2026, 10, 8)
    assert first_late_day(date(2026, 10, 1)) == date(2026, 10, 9)
    schedule = [Due(1, date(2026, 10, 1), 1_000_000)]
    assert accrued(schedule, [], ONE, date(2026, 10, 8)) == 0
    assert accrued(schedule, [], ONE, date(2026, 10, 9)) == 1_000  # 1‰ of 10,000 yuan
    # Saturday 2026-01-03 is still the New Year holiday; Sunday the 4th is worked
    assert first_late_day(date(2026, 1, 3)) == date(2026, 1, 5)
    # a due date on a working day: late the next calendar day, even a Saturday
    assert is_working_day(date(2026, 3, 6)) and first_late_day(date(2026, 3, 6)) == date(2026, 3, 7)


def test_calendar_days_count_once_late_weekends_and_holidays_included() -> None:
    schedule = [Due(1, date(2026, 9, 28), 100_000_000)]  # a Monday, just before National Day
    through = date(2026, 10, 8)
    days = (through - date(2026, 9, 28)).days  # 29 Sep .. 8 Oct, the holidays counted
    assert accrued(schedule, [], ONE, through) == days * 100_000
    (late,) = overdue_on(schedule, [], through)
    assert (late.seq, late.unpaid, late.days) == (1, 100_000_000, days)


def test_the_fee_of_a_day_is_rounded_half_up_on_the_overdue_amount() -> None:
    schedule = [Due(1, date(2026, 3, 2), 1_500)]  # 15 yuan: 1.5 fen a day, rounded to 2
    assert accrued(schedule, [], ONE, date(2026, 3, 5)) == 3 * 2
    assert accrued(schedule, [], Fraction(0), date(2026, 3, 5)) == 0


@given(schedules(), per_mille, st.integers(min_value=-30, max_value=0))
def test_no_fee_on_or_before_the_shifted_due_date(schedule: list[Due], rate: Fraction, before: int) -> None:
    first = min(working_day_on_or_after(d.due_date) for d in schedule)
    through = first + timedelta(days=before)
    assert accrued(schedule, [], rate, through) == 0
    assert overdue_on(schedule, [], through) == []


@given(st.data(), schedules(), per_mille)
def test_accrual_is_the_sum_of_each_days_fee_on_what_is_overdue(
    data: st.DataObject, schedule: list[Due], rate: Fraction
) -> None:
    paid = data.draw(payments(schedule))
    start = first_late_day(schedule[0].due_date)
    through = start + timedelta(days=data.draw(st.integers(min_value=0, max_value=90)))
    expected = 0
    day = start
    while day <= through:
        overdue = sum(o.unpaid for o in overdue_on(schedule, paid, day))
        expected += round_half_up(Fraction(overdue) * rate / 1000)
        day += timedelta(days=1)
    assert accrued(schedule, paid, rate, through) == expected


@given(st.data(), schedules(), per_mille)
def test_the_fee_never_decreases_with_the_days(
    data: st.DataObject, schedule: list[Due], rate: Fraction
) -> None:
    paid = data.draw(payments(schedule))
    through = schedule[0].due_date + timedelta(days=data.draw(st.integers(min_value=0, max_value=120)))
    today = accrued(schedule, paid, rate, through)
    assert accrued(schedule, paid, rate, through + timedelta(days=1)) >= today >= 0


@given(schedules(), st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=40))
def test_paying_in_full_stops_the_accrual_from_the_next_day(
    schedule: list[Due], late: int, after: int
) -> None:
    first = min(first_late_day(d.due_date) for d in schedule)
    paid_on = first + timedelta(days=late)
    paid = [(paid_on, sum(d.amount for d in schedule))]
    owed = accrued(schedule, [], ONE, paid_on - timedelta(days=1))  # through the day before
    assert accrued(schedule, paid, ONE, paid_on) == owed  # a payment counts at the end of its day
    assert accrued(schedule, paid, ONE, paid_on + timedelta(days=after)) == owed
    assert overdue_on(schedule, paid, paid_on + timedelta(days=after)) == []


@given(schedules(), st.integers(min_value=1, max_value=60))
def test_one_unpaid_installment_accrues_the_same_fee_every_calendar_day(
    schedule: list[Due], days: int
) -> None:
    one = schedule[:1]
    through = first_late_day(one[0].due_date) + timedelta(days=days - 1)
    daily = round_half_up(Fraction(one[0].amount) * ONE / 1000)
    assert accrued(one, [], ONE, through) == days * daily
    (late,) = overdue_on(one, [], through)
    assert late.days == days and late.unpaid == one[0].amount


@given(schedules(), st.data())
def test_payments_pay_the_installments_in_due_order(schedule: list[Due], data: st.DataObject) -> None:
    total = sum(d.amount for d in schedule)
    amount = data.draw(st.integers(min_value=0, max_value=total))
    day = date(2026, 12, 31)
    unpaid = {o.seq: o.unpaid for o in overdue_on(schedule, [(date(2026, 1, 1), amount)], day)}
    left = amount
    for row in schedule:
        covered = min(row.amount, left)
        left -= covered
        if row.due_date < day and working_day_on_or_after(row.due_date) < day:
            assert unpaid.get(row.seq, 0) == row.amount - covered
    assert sum(unpaid.values()) <= total - amount


# -- installments: interest, rent, the fee ---------------------------------------------------------

shares = st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=4)
rates = st.fractions(min_value=0, max_value=Fraction(1, 5), max_denominator=1000)
anchors = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31))


@st.composite
def terms(draw: st.DrawFn) -> PaymentTerms:
    weights = draw(shares)
    months = sorted(
        draw(st.lists(st.integers(min_value=0, max_value=24), min_size=len(weights), max_size=len(weights)))
    )
    parts = tuple(
        Term(f"t{i}", Fraction(w, sum(weights)), months=m, interest_per_annum=draw(rates))
        for i, (w, m) in enumerate(zip(weights, months, strict=True))
    )
    return PaymentTerms(
        anchor="contract", terms=parts, contract_working_days=10, late_fee_per_mille=ONE, grace_days=60
    )


@st.composite
def sales(draw: st.DrawFn) -> tuple[int, int, int]:
    price = draw(st.integers(min_value=0, max_value=10**12))
    return (
        price,
        draw(st.integers(min_value=0, max_value=10**9)),
        draw(st.integers(min_value=0, max_value=price)),
    )


@given(terms(), sales(), anchors, st.booleans())
def test_installments_sum_exactly_with_the_interest_apart(
    payment: PaymentTerms, sale: tuple[int, int, int], anchor: date, fee_apart: bool
) -> None:
    price, fee, deposit = sale
    rows = plan(payment, price=price, fee=fee, deposit_applied=deposit, anchor_on=anchor, fee_apart=fee_apart)
    assert sum(r.amount - r.interest for r in rows) == price + fee - deposit
    assert all(r.amount > 0 and r.interest >= 0 for r in rows)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert all(r.due_date >= anchor for r in rows)
    if fee_apart and fee:
        assert (rows[0].label, rows[0].amount, rows[0].interest) == (FEE_LABEL, fee, 0)
        assert all(r.label != FEE_LABEL for r in rows[1:])
    without = plan(
        payment, price=price, fee=fee, deposit_applied=deposit, anchor_on=anchor, with_interest=False
    )
    assert all(r.interest == 0 for r in without)
    assert sum(r.amount for r in without) == price + fee - deposit


def test_interest_is_simple_on_the_principal_left_after_the_deposit_from_the_anchor() -> None:
    payment = PaymentTerms(
        anchor="contract",
        terms=(
            Term("first", Fraction(1, 2), months=1),
            Term("balance", Fraction(1, 2), months=12, interest_per_annum=Fraction(435, 10_000)),
        ),
        contract_working_days=10,
        late_fee_per_mille=ONE,
        grace_days=60,
    )
    anchor = date(2026, 3, 2)
    rows = plan(payment, price=100_000_000, fee=150_000, deposit_applied=20_000_000, anchor_on=anchor)
    first, balance = rows
    assert (first.label, first.amount, first.interest) == ("first", 30_000_000 + 150_000, 0)
    days = (add_months(anchor, 12) - anchor).days  # 365
    assert balance.interest == round_half_up(Fraction(435, 10_000) * 50_000_000 * days / 365) == 2_175_000
    assert balance.amount == 50_000_000 + 2_175_000 and balance.due_date == date(2027, 3, 2)
    # a deposit covering the whole balance leaves it nothing to bear interest on
    covered = plan(payment, price=100_000_000, fee=0, deposit_applied=100_000_000, anchor_on=anchor)
    assert covered == []


@given(
    st.integers(min_value=1, max_value=70),
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=0, max_value=10**10),
    anchors,
    st.data(),
)
def test_a_lease_pays_one_rent_a_year(
    years: int, first: int, annual: int, anchor: date, data: st.DataObject
) -> None:
    payment = PaymentTerms(
        anchor="contract",
        terms=(Term("full", ONE, months=1),),
        contract_working_days=10,
        late_fee_per_mille=ONE,
        grace_days=60,
        rent=Rent(years=years, first_months=first),
    )
    price = annual * years  # the line's price: every year's rent (settlement.schedule.rent_total)
    deposit = data.draw(st.integers(min_value=0, max_value=price))
    rows = plan(payment, price=price, fee=0, deposit_applied=deposit, anchor_on=anchor)
    assert sum(r.amount for r in rows) == price - deposit
    assert all(r.label.startswith("rent_") for r in rows)
    if deposit == 0 and annual:
        assert len(rows) == years and {r.amount for r in rows} == {annual}
        assert [r.due_date for r in rows] == [add_months(anchor, first + 12 * k) for k in range(years)]
    # the deposit pays the earliest rents first
    labels = [int(r.label.removeprefix("rent_")) for r in rows]
    assert labels == sorted(labels) and (not labels or labels[-1] == years or price == deposit)
