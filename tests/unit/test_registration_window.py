"""When a 挂牌's registration may close, and the qualification defaults of the profiles (pure)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from listings.methods import MethodParams, validate_method
from listings.profiles import Schedule, check_profile
from listings.qualification import default_qualification, disqualified_deposit
from listings.registration_window import late_registration_problems
from listings.workdays import SHANGHAI


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=SHANGHAI)


def codes(
    method: str, registration_closes: datetime, *, freeze: int = 0, profile: str = "statutory"
) -> list[str]:
    """A land listing announced 2026-03-01, bidding 2026-03-23 to Friday 2026-04-10 (≥ 10 WD)."""
    schedule = Schedule(
        announce_at=at("2026-03-01"),
        registration_opens_at=at("2026-03-02"),
        registration_closes_at=registration_closes,
        bidding_opens_at=at("2026-03-23"),
        bidding_closes_at=at("2026-04-10"),
    )
    found = check_profile(
        "land_use_right",
        method,
        schedule,
        start_price=100_000_000,
        deposit=20_000_000,
        min_bidders=1,
        profile=profile,
        freeze_seconds=freeze,
    )
    return [v.code for v in found]


def test_a_land_listing_closes_registration_two_working_days_before_its_close() -> None:
    assert codes("listing", at("2026-03-20")) == []  # before bidding opens, as for every method
    assert codes("listing", at("2026-04-08", 17)) == []  # Thu 9 and Fri 10 April remain
    assert codes("listing", at("2026-04-09", 9)) == ["registration_closes_too_late"]
    # the sandbox keeps only the quote phase's end
    assert codes("listing", at("2026-04-09", 9), profile="sandbox") == []


def test_registration_never_outlasts_the_quote_phase_and_other_methods_close_it_first() -> None:
    three_days = 3 * 24 * 3600
    assert codes("listing", at("2026-04-08", 17), freeze=three_days, profile="sandbox") == [
        "registration_closes_too_late"
    ]
    assert codes("english", at("2026-03-24")) == ["schedule_order_invalid"]
    assert codes("sealed_bid", at("2026-03-24"), profile="sandbox") == ["schedule_order_invalid"]


@pytest.mark.parametrize(
    ("asset_class", "method", "mode"),
    [
        ("land_use_right", "english", "post"),
        ("land_use_right", "listing", "post"),
        ("land_use_right", "sealed_bid", "post"),
        ("land_use_right", "dutch", "pre"),
        ("mining_right", "english", "post"),
        ("mining_right", "listing", "post"),
        ("emission_right", "english", "pre"),
        ("water_right", "listing", "pre"),
        ("technology", "sealed_bid", "pre"),
    ],
)
def test_the_default_mode_of_each_class_and_method(asset_class: str, method: str, mode: str) -> None:
    assert default_qualification(asset_class, method) == mode
    reserve = 90_000 if method == "dutch" else 120_000
    terms = MethodParams(
        method=method,
        start_price=100_000,
        increment=1_000,
        deposit=20_000,
        reserve_price=reserve,
        extension_seconds=None if method == "sealed_bid" else 60,
    )
    params, errors = validate_method(asset_class, terms)
    assert errors == [] and params is not None and params.qualification == mode


def test_post_qualification_is_for_one_winner_and_a_disqualified_winners_deposit_follows_the_class() -> None:
    terms = MethodParams(
        method="uniform_price",
        start_price=100,
        increment=1,
        deposit=0,
        quantity=Decimal("12.500"),
        lot=Decimal("0.500"),
        unit="t/a",
        qualification="post",
    )
    _, errors = validate_method("emission_right", terms)
    assert ("qualification", "not_applicable") in {(e.field, e.code) for e in errors}
    assert [
        disqualified_deposit(c) for c in ("land_use_right", "mining_right", "technology", "water_right")
    ] == [
        "forfeit",
        "forfeit",
        "refund",
        "refund",
    ]


def test_the_two_working_days_need_no_calendar_beyond_them() -> None:
    """A listing closing in a year no table covers: the rule is decided within the covered days."""

    def problems(registration_closes: datetime) -> list[str]:
        found = late_registration_problems(
            "land_use_right",
            "listing",
            registration_opens_at=at("2026-11-16"),
            registration_closes_at=registration_closes,
            bidding_opens_at=at("2026-12-07"),
            bidding_closes_at=at("2099-01-08"),
            freeze_seconds=0,
            statutory=True,
        )
        return [code for code, _, _ in found]

    assert problems(at("2026-12-18")) == []
    assert problems(at("2098-12-30")) == ["calendar_not_covered"]  # nothing covers 2098
