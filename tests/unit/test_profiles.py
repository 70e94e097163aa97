"""Statutory profiles: one working day short is rejected, exactly enough passes.

The boundaries are placed across National Day 2026 (holiday Thu Oct 1 - Wed
Oct 7, Mid-Autumn Fri Sep 25) and its adjusted working weekend days (Sun Sep
20 and Sat Oct 10 are working days), as the chinesecalendar table has them.
Periods that reach 2027, which no table covers until it is imported, are
refused or decided without it, never counted on a guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listings import workdays
from listings.profiles import (
    Schedule,
    Violation,
    check_profile,
    earliest_bidding_date,
    earliest_listing_close,
    excluded_method,
    lead_rules,
)
from listings.workdays import CalendarNotCovered, add_working_days, install, working_days_between
from tests.support.calendar import fixture_2027

SH = ZoneInfo("Asia/Shanghai")
START = 10_000_000_00  # fen
DEPOSIT = START // 5  # exactly 20 %


FIXTURE_2027 = fixture_2027().table


@pytest.fixture(autouse=True)
def nothing_imported() -> Iterator[None]:
    # The imported years are process state (an app of an earlier test may have loaded some).
    install(())
    yield
    install(())


def at(d: date, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=SH)


def schedule(announce: date, opens: date, closes: date | None = None) -> Schedule:
    """Registration from the announcement until an hour before bidding opens."""
    return Schedule(
        announce_at=at(announce),
        registration_opens_at=at(announce),
        registration_closes_at=at(opens, 8),
        bidding_opens_at=at(opens, 9),
        bidding_closes_at=at(closes or opens, 10 if closes is None else 15),
    )


def check(
    asset_class: str,
    method: str,
    sched: Schedule,
    *,
    deposit: int = DEPOSIT,
    min_bidders: int = 3,
    profile: str = "statutory",
    state_owned: bool = False,
    start_price: int = START,
) -> list[Violation]:
    return check_profile(
        asset_class,
        method,
        sched,
        start_price=start_price,
        deposit=deposit,
        min_bidders=min_bidders,
        profile=profile,
        state_owned=state_owned,
    )


def codes(found: list[Violation]) -> list[str]:
    return [v.code for v in found]


# --- announcement lead in working days (mining: 20 WD) ----------------------


@pytest.mark.parametrize(
    ("announced", "earliest"),
    [
        # Mon Sep 14: Sun Sep 20 and Sat Oct 10 count, Sep 25 and Oct 1-7 do not.
        (date(2026, 9, 14), date(2026, 10, 16)),
        # Fri Sep 18: the 1st working day after it is Sunday Sep 20.
        (date(2026, 9, 18), date(2026, 10, 22)),
        # Inside the holiday week: counting starts on Thu Oct 8.
        (date(2026, 10, 3), date(2026, 11, 3)),
    ],
)
def test_mining_lead_across_national_day(announced: date, earliest: date) -> None:
    assert earliest_bidding_date("mining_right", "english", announced) == earliest
    one_short = earliest - timedelta(days=1)
    while not workdays.is_working_day(one_short):
        one_short -= timedelta(days=1)
    assert codes(check("mining_right", "english", schedule(announced, earliest))) == []
    found = check("mining_right", "english", schedule(announced, one_short))
    assert codes(found) == ["announcement_lead_too_short"]
    assert found[0].field == "schedule.bidding_opens_at"
    assert (
        f"bidding opens {one_short}, 19 working days after the announcement on {announced}; "
        f"at least 20 are required"
    ) in found[0].message
    assert f"earliest opening date is {earliest}" in found[0].message


def test_adjusted_working_weekend_days_are_what_makes_it_pass() -> None:
    # Sep 18 -> Oct 22: Monday-Friday minus the weekday holidays is only 18;
    # the adjusted working Sunday Sep 20 and Saturday Oct 10 make it 20.
    announced, opens = date(2026, 9, 18), date(2026, 10, 22)
    weekday_holidays = {date(2026, 9, 25)} | {date(2026, 10, d) for d in (1, 2, 5, 6, 7)}
    span = [announced + timedelta(days=i) for i in range(1, (opens - announced).days + 1)]
    plain = [d for d in span if d.weekday() < 5 and d not in weekday_holidays]
    assert len(plain) == 18
    assert working_days_between(announced, opens) == 20
    sched = schedule(announced, opens, opens + timedelta(days=30))
    assert codes(check("mining_right", "listing", sched)) == []


@pytest.mark.parametrize(
    ("start_price", "working_days", "opens"),
    [
        (1_000_00, 10, date(2026, 9, 28)),  # Sep 14 + 10 WD (Sun Sep 20 worked, Fri Sep 25 off)
        (10_000_000_00, 10, date(2026, 9, 28)),  # exactly 10 million yuan: still 10 WD
        (10_000_000_01, 20, date(2026, 10, 16)),  # a fen above: 20 WD
        (500_000_000_00, 20, date(2026, 10, 16)),
    ],
)
def test_state_owned_technology_is_disclosed_10_or_20_working_days_by_its_start_price(
    start_price: int, working_days: int, opens: date
) -> None:
    announced = date(2026, 9, 14)
    assert working_days_between(announced, opens) == working_days
    assert (
        earliest_bidding_date("technology", "english", announced, state_owned=True, start_price=start_price)
        == opens
    )
    ok = schedule(announced, opens)
    assert codes(check("technology", "english", ok, state_owned=True, start_price=start_price)) == []
    short = schedule(announced, add_working_days(opens, -1))
    found = check("technology", "english", short, state_owned=True, start_price=start_price)
    assert codes(found) == ["announcement_lead_too_short"]
    assert f"at least {working_days} are required" in found[0].message
    assert "32号令" in found[0].message
    # Not state-owned: the Auction Law's 7 calendar days, whatever the price.
    assert codes(check("technology", "english", short, start_price=start_price)) == []


# --- announcement lead in calendar days ---------------------------------------


@pytest.mark.parametrize(
    ("asset_class", "method", "announced", "days"),
    [
        ("land_use_right", "english", date(2026, 9, 20), 20),
        ("land_use_right", "listing", date(2026, 9, 14), 20),
        ("emission_right", "uniform_price", date(2026, 9, 28), 7),
        ("water_right", "dutch", date(2026, 9, 30), 7),
        ("technology", "sealed_bid", date(2026, 9, 25), 7),
    ],
)
def test_calendar_day_leads_across_national_day(
    asset_class: str, method: str, announced: date, days: int
) -> None:
    earliest = announced + timedelta(days=days)
    assert earliest_bidding_date(asset_class, method, announced) == earliest
    closes = earliest_listing_close(asset_class, method, earliest) or earliest
    ok = check(asset_class, method, schedule(announced, earliest, closes))
    assert codes(ok) == []
    short_open = earliest - timedelta(days=1)
    closes = earliest_listing_close(asset_class, method, short_open) or short_open
    found = check(asset_class, method, schedule(announced, short_open, closes))
    assert codes(found) == ["announcement_lead_too_short"]
    assert f"{days - 1} days after the announcement on {announced}" in found[0].message
    assert f"at least {days} are required" in found[0].message


def test_mining_rules_cite_the_current_text_and_leave_the_tender_out() -> None:
    for method in ("english", "listing", "dutch"):
        (lead,) = lead_rules("mining_right", method)
        assert (lead.days, lead.working) == (20, True)
        assert "自然资规〔2023〕1号" in lead.source and "2019" not in lead.source
        assert excluded_method("mining_right", method) is None
    reason = excluded_method("mining_right", "sealed_bid")
    assert reason is not None and "tender (招标) is scored" in reason and "自然资规〔2023〕1号" in reason
    assert all(
        excluded_method(c, "sealed_bid") is None for c in ("land_use_right", "technology", "water_right")
    )


# --- listing period (挂牌): 10 working days for land and mining -------------------


@pytest.mark.parametrize("asset_class", ["land_use_right", "mining_right"])
@pytest.mark.parametrize(
    ("opens", "earliest_close"),
    [
        (date(2026, 9, 28), date(2026, 10, 16)),  # across the holiday week and Sat Oct 10
        (date(2026, 9, 17), date(2026, 10, 8)),  # across Sun Sep 20 and Mid-Autumn
    ],
)
def test_listing_period_across_national_day(asset_class: str, opens: date, earliest_close: date) -> None:
    announced = date(2026, 8, 1)
    assert earliest_listing_close(asset_class, "listing", opens) == earliest_close
    ok = schedule(announced, opens, earliest_close)
    assert codes(check(asset_class, "listing", ok)) == []
    one_short = add_working_days(earliest_close, -1)
    found = check(asset_class, "listing", schedule(announced, opens, one_short))
    assert codes(found) == ["listing_period_too_short"]
    assert found[0].field == "schedule.bidding_closes_at"
    assert f"9 working days after bidding opens on {opens}" in found[0].message
    assert "挂牌期" in found[0].message


def test_no_listing_minimum_for_other_classes_or_methods() -> None:
    assert earliest_listing_close("emission_right", "listing", date(2026, 9, 28)) is None
    assert earliest_listing_close("land_use_right", "english", date(2026, 9, 28)) is None
    short = schedule(date(2026, 8, 1), date(2026, 9, 28), date(2026, 9, 29))
    assert codes(check("emission_right", "listing", short)) == []
    assert codes(check("land_use_right", "english", short)) == []


# --- non-period rules: apply in every profile ---------------------------------


@pytest.mark.parametrize("profile", ["statutory", "sandbox"])
def test_land_deposit_at_least_20_percent(profile: str) -> None:
    ok = schedule(date(2026, 8, 1), date(2026, 9, 1))
    assert codes(check("land_use_right", "english", ok, deposit=DEPOSIT, profile=profile)) == []
    found = check("land_use_right", "english", ok, deposit=DEPOSIT - 1, profile=profile)
    assert codes(found) == ["deposit_below_minimum"]
    assert found[0].field == "deposit"
    assert "at least 2000000.00 is required" in found[0].message
    # Other classes have no statutory deposit ratio.
    assert codes(check("water_right", "english", ok, deposit=0, profile=profile)) == []


def test_deposit_minimum_rounds_up_to_the_fen() -> None:
    ok = schedule(date(2026, 8, 1), date(2026, 9, 1))
    start = 101  # 20 % is 20.2 fen: 21 fen needed, 20 is short
    assert (
        check_profile("land_use_right", "english", ok, start_price=start, deposit=20, min_bidders=1)[0].code
        == "deposit_below_minimum"
    )
    assert check_profile("land_use_right", "english", ok, start_price=start, deposit=21, min_bidders=1) == []


@pytest.mark.parametrize("profile", ["statutory", "sandbox"])
@pytest.mark.parametrize("method", ["english", "dutch"])
def test_mining_auctions_need_three_bidders(profile: str, method: str) -> None:
    ok = schedule(date(2026, 8, 1), date(2026, 10, 8))
    assert codes(check("mining_right", method, ok, min_bidders=3, profile=profile)) == []
    found = check("mining_right", method, ok, min_bidders=2, profile=profile)
    assert codes(found) == ["min_bidders_too_low"]
    assert found[0].field == "min_bidders"
    assert "自然资规〔2023〕1号" in found[0].message


def test_mining_listing_and_other_classes_have_no_bidder_minimum() -> None:
    ok = schedule(date(2026, 8, 1), date(2026, 10, 8), date(2026, 10, 30))
    assert codes(check("mining_right", "listing", ok, min_bidders=1)) == []
    assert codes(check("land_use_right", "english", ok, min_bidders=1)) == []


# --- order and the sandbox ----------------------------------------------------


def test_sandbox_accepts_one_second_periods_but_not_less() -> None:
    t = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    s = timedelta(seconds=1)
    tight = Schedule(
        announce_at=t,
        registration_opens_at=t,
        registration_closes_at=t + s,
        bidding_opens_at=t + s,
        bidding_closes_at=t + 2 * s,
    )
    for asset_class, method in [("land_use_right", "listing"), ("mining_right", "english")]:
        assert codes(check(asset_class, method, tight, profile="sandbox")) == []
        assert "announcement_lead_too_short" in codes(check(asset_class, method, tight))
    half = timedelta(milliseconds=500)
    too_tight = Schedule(
        announce_at=t,
        registration_opens_at=t,
        registration_closes_at=t + half,
        bidding_opens_at=t + s,
        bidding_closes_at=t + s + half,
    )
    found = check("water_right", "english", too_tight, profile="sandbox")
    assert [(v.code, v.field) for v in found] == [
        ("period_too_short", "schedule.registration_closes_at"),
        ("period_too_short", "schedule.bidding_closes_at"),
    ]


@pytest.mark.parametrize("profile", ["statutory", "sandbox"])
def test_schedule_order_applies_in_every_profile(profile: str) -> None:
    good = schedule(date(2026, 8, 1), date(2026, 9, 1))
    bad = Schedule(
        announce_at=good.announce_at,
        registration_opens_at=good.announce_at - timedelta(hours=1),  # before the announcement
        registration_closes_at=good.bidding_opens_at + timedelta(hours=1),  # after bidding opens
        bidding_opens_at=good.bidding_opens_at,
        bidding_closes_at=good.bidding_opens_at,  # not after it opens
    )
    found = check("water_right", "english", bad, profile=profile)
    assert [(v.code, v.field) for v in found] == [
        ("schedule_order_invalid", "schedule.registration_opens_at"),
        ("schedule_order_invalid", "schedule.bidding_opens_at"),
        ("schedule_order_invalid", "schedule.bidding_closes_at"),
    ]
    # Non-period rules are still reported next to an unordered schedule.
    found = check("land_use_right", "english", bad, deposit=0, profile=profile)
    assert "deposit_below_minimum" in codes(found)


def test_naive_times_are_rejected() -> None:
    good = schedule(date(2026, 8, 1), date(2026, 9, 1))
    naive = Schedule(
        announce_at=good.announce_at.replace(tzinfo=None),
        registration_opens_at=good.registration_opens_at,
        registration_closes_at=good.registration_closes_at,
        bidding_opens_at=good.bidding_opens_at,
        bidding_closes_at=good.bidding_closes_at,
    )
    assert [(v.code, v.field) for v in check("water_right", "english", naive)] == [
        ("schedule_time_invalid", "schedule.announce_at")
    ]


def test_dates_are_shanghai_dates() -> None:
    # Sep 13 17:00 UTC is Sep 14 01:00 in Shanghai: the announcement day is Sep 14.
    announce = datetime(2026, 9, 13, 17, 0, tzinfo=UTC)
    opens = at(date(2026, 10, 16))
    sched = Schedule(
        announce_at=announce,
        registration_opens_at=announce,
        registration_closes_at=opens - timedelta(hours=1),
        bidding_opens_at=opens,
        bidding_closes_at=opens + timedelta(hours=2),
    )
    assert codes(check("mining_right", "english", sched)) == []


def test_unknown_profile_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="profile"):
        check("water_right", "english", schedule(date(2026, 8, 1), date(2026, 9, 1)), profile="x")


# --- a year no table covers: refused, or decided without it -----------------------


def test_a_working_day_lead_reaching_into_an_uncovered_year_is_refused_naming_it() -> None:
    announced = date(2026, 12, 7)  # 20 WD later is in 2027
    with pytest.raises(CalendarNotCovered, match="2027"):
        earliest_bidding_date("mining_right", "english", announced)
    found = check("mining_right", "english", schedule(announced, date(2027, 1, 20)))
    assert [(v.code, v.field) for v in found] == [("calendar_not_covered", "schedule.bidding_opens_at")]
    assert "20 working days from 2026-12-07" in found[0].message
    assert "no holiday schedule for 2027 has been imported" in found[0].message
    # The sandbox does not count leads, so it needs no calendar.
    assert check("mining_right", "english", schedule(announced, date(2027, 1, 20)), profile="sandbox") == []


def test_a_date_before_the_gap_is_decided_without_it() -> None:
    announced = date(2026, 12, 7)
    found = check("mining_right", "english", schedule(announced, date(2026, 12, 30)))
    assert codes(found) == ["announcement_lead_too_short"]
    assert "bidding opens 2026-12-30, 17 working days after the announcement" in found[0].message
    assert "the earliest opening date falls in 2027" in found[0].message
    # A lead complete within the table passes, however far into 2027 bidding opens.
    assert codes(check("mining_right", "english", schedule(date(2026, 11, 2), date(2027, 3, 1)))) == []
    # Calendar days need no table at all.
    assert codes(check("land_use_right", "english", schedule(announced, date(2031, 1, 1)))) == []


def test_a_listing_period_reaching_into_an_uncovered_year() -> None:
    announced, opens = date(2026, 11, 2), date(2026, 12, 21)  # 10 WD from Dec 21 end in 2027
    found = check("land_use_right", "listing", schedule(announced, opens, date(2027, 1, 8)))
    assert ("calendar_not_covered", "schedule.bidding_closes_at") in [(v.code, v.field) for v in found]
    assert set(codes(found)) == {"calendar_not_covered"}
    found = check("land_use_right", "listing", schedule(announced, opens, date(2026, 12, 31)))
    assert codes(found) == ["listing_period_too_short"]
    assert "8 working days after bidding opens on 2026-12-21" in found[0].message
    assert "the earliest closing date falls in 2027" in found[0].message
    # Ten working days inside 2026, then a close in 2027: nothing of 2027 is needed.
    assert (
        codes(check("mining_right", "listing", schedule(announced, date(2026, 12, 1), date(2027, 2, 1))))
        == []
    )


def test_the_imported_year_decides_what_was_refused() -> None:
    install([FIXTURE_2027])
    announced = date(2026, 12, 7)
    # Dec 8..31 give 18 WD, the fixture keeps Jan 1 off: the 20th WD is Tue Jan 5.
    assert earliest_bidding_date("mining_right", "english", announced) == date(2027, 1, 5)
    assert codes(check("mining_right", "english", schedule(announced, date(2027, 1, 5)))) == []
    assert codes(check("mining_right", "english", schedule(announced, date(2027, 1, 4)))) == [
        "announcement_lead_too_short"
    ]
    # The fixture's Spring Festival week moves the close of a 挂牌 opening on Feb 1 to Feb 19.
    assert earliest_listing_close("land_use_right", "listing", date(2027, 2, 1)) == date(2027, 2, 19)


schedules = st.tuples(
    st.dates(min_value=date(2026, 10, 1), max_value=date(2026, 12, 31)),
    st.integers(min_value=1, max_value=90),
    st.integers(min_value=1, max_value=40),
    st.sampled_from(
        [("mining_right", "english"), ("mining_right", "listing"), ("land_use_right", "listing")]
    ),
)


@settings(max_examples=300, deadline=None)
@given(case=schedules)
def test_importing_a_year_only_decides_what_was_refused(case: tuple[date, int, int, tuple[str, str]]) -> None:
    """Without 2027 every answer is either the one 2027 would give or calendar_not_covered."""
    announced, lead, period, (asset_class, method) = case
    opens = announced + timedelta(days=lead)
    sched = schedule(announced, opens, opens + timedelta(days=period))
    without = check(asset_class, method, sched)
    install([FIXTURE_2027])
    with_2027 = check(asset_class, method, sched)
    install(())
    assert "calendar_not_covered" not in codes(with_2027)
    refused = {v.field for v in without if v.code == "calendar_not_covered"}
    # (Messages may differ: an earliest date unknown without 2027 is named with it.)
    assert [(v.code, v.field) for v in without if v.field not in refused] == [
        (v.code, v.field) for v in with_2027 if v.field not in refused
    ]


# --- the boundary, everywhere in the covered calendar --------------------------


@settings(max_examples=200, deadline=None)
@given(announced=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 10, 31)))
def test_exactly_enough_passes_and_one_working_day_short_fails(announced: date) -> None:
    install([FIXTURE_2027])  # the package's years, then an imported one
    earliest = earliest_bidding_date("mining_right", "english", announced)
    assert codes(check("mining_right", "english", schedule(announced, earliest))) == []
    short = add_working_days(announced, 19)
    found = check("mining_right", "english", schedule(announced, short))
    assert codes(found) == ["announcement_lead_too_short"]
    close = earliest_listing_close("land_use_right", "listing", earliest)
    assert close is not None
    base = announced - timedelta(days=40)
    assert codes(check("land_use_right", "listing", schedule(base, earliest, close))) == []
    found = check("land_use_right", "listing", schedule(base, earliest, add_working_days(close, -1)))
    assert codes(found) == ["listing_period_too_short"]
