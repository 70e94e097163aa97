"""The pure parts of settlement: service fees, payment schedules, line prices."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.settlement_terms import (
    DEFAULT_FEE_SCHEDULES,
    DEFAULT_PAYMENT_SCHEDULES,
    Bracket,
    FeeSchedule,
    Term,
    parse_fee_schedules,
    parse_payment_schedules,
)
from listings.workdays import add_working_days, working_day_on_or_after
from settlement.closing import line_price
from settlement.fees import exact_fee, round_half_up, service_fee
from settlement.schedule import add_months, installments, is_late

# Due dates a year after a 2026 close fall in 2027: counted on the invented years (tests/support/calendar.py).

YUAN = 100
WAN = 10_000 * YUAN
prices = st.integers(min_value=0, max_value=10**13)
rates = st.fractions(min_value=0, max_value=1000, max_denominator=1000)


@st.composite
def schedules(draw: st.DrawFn) -> FeeSchedule:
    bounds = sorted(set(draw(st.lists(st.integers(min_value=1, max_value=10**12), max_size=5))))
    uppers: list[int | None] = [*bounds, None]
    return tuple(Bracket(upper, draw(rates)) for upper in uppers)


def _fee(schedule: FeeSchedule, price: int) -> int:
    return service_fee("x", price, {"x": schedule})


@given(schedules(), prices, prices)
def test_fee_is_monotone_never_negative_and_at_most_the_price(schedule: FeeSchedule, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert 0 <= _fee(schedule, low) <= _fee(schedule, high)
    assert _fee(schedule, high) <= high
    # one more fen of price adds at most one fen of fee
    assert _fee(schedule, high + 1) - _fee(schedule, high) <= 1


@given(schedules())
def test_fee_is_continuous_at_every_bracket_edge(schedule: FeeSchedule) -> None:
    for below, above in itertools.pairwise(schedule):
        edge = below.upper
        assert edge is not None
        # exactly the lower rate up to the edge and the upper rate just after: no jump
        assert exact_fee(schedule, edge) - exact_fee(schedule, edge - 1) == below.per_mille / 1000
        assert exact_fee(schedule, edge + 1) - exact_fee(schedule, edge) == above.per_mille / 1000


@given(prices)
def test_a_zero_schedule_charges_nothing(price: int) -> None:
    assert _fee((), price) == 0
    assert service_fee("emission_right", price, DEFAULT_FEE_SCHEDULES) == 0  # Hunan and Ningxia charge none


def test_default_land_fee_is_tiered_marginally() -> None:
    # 200 million yuan: 10M at 1.5‰ + 90M at 1‰ + 100M at 0.5‰ = 15,000 + 90,000 + 50,000 yuan
    assert service_fee("land_use_right", 20_000 * WAN, DEFAULT_FEE_SCHEDULES) == 155_000 * YUAN
    assert service_fee("land_use_right", 1_110_000 * YUAN, DEFAULT_FEE_SCHEDULES) == 1_665 * YUAN
    assert service_fee("land_use_right", 1, DEFAULT_FEE_SCHEDULES) == 0  # 0.0015 fen rounds to nothing
    assert service_fee("technology", 50 * WAN, DEFAULT_FEE_SCHEDULES) == 5_000 * YUAN
    assert set(DEFAULT_FEE_SCHEDULES) == {
        "land_use_right",
        "mining_right",
        "emission_right",
        "water_right",
        "technology",
    }


def test_fee_rounds_half_up_once() -> None:
    assert round_half_up(Fraction(5, 2)) == 3 and round_half_up(Fraction(3, 2)) == 2
    assert _fee((Bracket(None, Fraction(500)),), 3) == 2  # 1.5 fen -> 2


def test_fee_schedules_from_the_environment_format() -> None:
    table = parse_fee_schedules('{"water_right": [], "land_use_right": [["10000000", "1.2"], [null, 0.8]]}')
    assert table["water_right"] == ()
    assert table["land_use_right"] == (
        Bracket(10_000_000 * YUAN, Fraction(6, 5)),
        Bracket(None, Fraction(4, 5)),
    )
    assert table["technology"] == DEFAULT_FEE_SCHEDULES["technology"]  # untouched classes keep defaults
    assert parse_fee_schedules(None) == DEFAULT_FEE_SCHEDULES
    for bad in (
        "[]",
        "{",
        '{"gold": []}',
        '{"water_right": [["100", "1"]]}',  # the last bracket must be open
        '{"water_right": [[null, "1"], [null, "2"]]}',
        '{"water_right": [["100", "1"], ["50", "1"], [null, "1"]]}',
        '{"water_right": [[null, "1001"]]}',
        '{"water_right": [[null, true]]}',
        '{"water_right": [["1.001", "1"], [null, "1"]]}',
    ):
        with pytest.raises(ValueError):
            parse_fee_schedules(bad)


# -- payment schedules --------------------------------------------------------------------------

CLOSE = date(2026, 9, 25)  # a Friday before the National Day holiday week


def test_land_contract_then_half_in_a_month_then_the_balance_in_a_year() -> None:
    price, fee, deposit = 111_000_000, 166_500, 20_000_000
    plan = installments(
        "land_use_right",
        price=price,
        fee=fee,
        deposit_applied=deposit,
        closed_on=CLOSE,
        schedules=DEFAULT_PAYMENT_SCHEDULES,
    )
    assert [(i.seq, i.label) for i in plan] == [(1, "contract"), (2, "first"), (3, "balance")]
    assert [i.amount for i in plan] == [fee, price // 2 - deposit, price - price // 2]
    assert plan[0].due_date == add_working_days(CLOSE, 10)
    assert plan[0].due_date > date(2026, 10, 8)  # the holiday week does not count
    # Months end on the same day of the month; the nominal day is stored, and the shift to
    # the next working day (Civil Code art. 203) is applied when lateness is judged.
    assert plan[1].due_date == date(2026, 10, 25)  # a Sunday
    assert working_day_on_or_after(plan[1].due_date) == date(2026, 10, 26)
    assert plan[2].due_date == date(2027, 9, 25)  # needs no 2027 holiday table at the close


def test_a_due_day_on_a_holiday_moves_to_the_next_working_day() -> None:
    sunday = date(2026, 10, 25)
    assert not is_late(sunday, date(2026, 10, 26))  # Monday: still in time
    assert is_late(sunday, date(2026, 10, 27))
    national_day = date(2026, 10, 1)  # the holiday week: the period ends on the first working day after it
    assert not is_late(national_day, date(2026, 10, 8))
    assert is_late(national_day, date(2026, 10, 9))
    working = date(2026, 11, 2)
    assert not is_late(working, working) and is_late(working, date(2026, 11, 3))


def test_deposit_pays_the_earliest_parts_and_never_the_fee() -> None:
    plan = installments(
        "land_use_right",
        price=1000,
        fee=7,
        deposit_applied=600,
        closed_on=CLOSE,
        schedules=DEFAULT_PAYMENT_SCHEDULES,
    )
    assert [(i.label, i.amount) for i in plan] == [("contract", 7), ("balance", 400)]
    nothing = installments(
        "water_right",
        price=500,
        fee=0,
        deposit_applied=500,
        closed_on=CLOSE,
        schedules=DEFAULT_PAYMENT_SCHEDULES,
    )
    assert nothing == []
    full = installments(
        "water_right",
        price=500,
        fee=3,
        deposit_applied=200,
        closed_on=CLOSE,
        schedules=DEFAULT_PAYMENT_SCHEDULES,
    )
    assert [(i.label, i.amount, i.due_date) for i in full] == [("full", 303, add_working_days(CLOSE, 10))]


@given(
    st.sampled_from(["land_use_right", "mining_right", "emission_right", "water_right", "technology"]),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=10**9),
    st.fractions(min_value=0, max_value=1),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 10)),  # 10 WD stay in covered years
)
def test_installments_add_up_to_the_amount_due(
    asset_class: str, price: int, fee: int, share: Fraction, closed_on: date
) -> None:
    deposit = int(price * share)
    plan = installments(
        asset_class,
        price=price,
        fee=fee,
        deposit_applied=deposit,
        closed_on=closed_on,
        schedules=DEFAULT_PAYMENT_SCHEDULES,
    )
    assert sum(i.amount for i in plan) == price + fee - deposit
    assert all(i.amount > 0 for i in plan)
    assert [i.seq for i in plan] == list(range(1, len(plan) + 1))
    assert all(i.due_date > closed_on for i in plan)


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 3, 31), 12) == date(2027, 3, 31)
    assert add_months(date(2026, 3, 31), 0) + timedelta(days=1) == date(2026, 4, 1)


def test_payment_schedules_from_the_environment_format() -> None:
    table = parse_payment_schedules(
        '{"water_right": [{"label": "first", "share": "0.3", "working_days": 5},'
        ' {"label": "balance", "share": "0.7", "months": 3}]}'
    )
    assert table["water_right"] == (
        Term("first", Fraction(3, 10), working_days=5),
        Term("balance", Fraction(7, 10), months=3),
    )
    plan = installments("water_right", price=1001, fee=0, deposit_applied=0, closed_on=CLOSE, schedules=table)
    assert [i.amount for i in plan] == [300, 701]
    for bad in (
        '{"water_right": []}',
        '{"water_right": [{"label": "a", "share": "0.5", "months": 1}]}',
        '{"water_right": [{"label": "a", "share": "1", "months": 1, "working_days": 2}]}',
        '{"water_right": [{"label": "a", "share": "1"}]}',
        '{"water_right": [{"label": "a", "share": "1", "months": -1}]}',
        '{"gold": [{"label": "a", "share": "1", "months": 1}]}',
        '{"water_right": [{"label": "a", "share": "0.5", "months": 1}, {"label": "a", "share": "0.5", "months": 2}]}',
    ):
        with pytest.raises(ValueError):
            parse_payment_schedules(bad)


# -- line prices --------------------------------------------------------------------------------


def test_line_price_is_unit_price_times_quantity_rounded_half_up_once() -> None:
    assert line_price([(111_000_000, None)], 1) == 111_000_000
    # emission rights: fen per t/a, quantity in thousandths
    assert line_price([(10_000_000, 6_000)], 1000) == 60_000_000
    assert line_price([(1, 500)], 1000) == 1  # half a fen rounds up
    assert line_price([(1, 499)], 1000) == 0
    # pay-as-bid lines of one bidder are summed before rounding: 0.4 + 0.4 fen -> 1
    assert line_price([(1, 400), (1, 400)], 1000) == 1
