"""Mechanism parameters: which apply to which method, and every rejection's code."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from listings.methods import MAX_FEN, MethodParams, validate_method

YUAN = 100  # fen

VALID: dict[str, tuple[str, MethodParams]] = {
    "english": (
        "land_use_right",
        MethodParams(
            method="english",
            start_price=10_000_000 * YUAN,
            increment=100_000 * YUAN,
            deposit=2_000_000 * YUAN,
            reserve_price=12_000_000 * YUAN,
            price_cap=15_000_000 * YUAN,
            cap_rule="lottery",
            lottery_window_seconds=600,
            extension_seconds=240,
        ),
    ),
    "listing": (
        "mining_right",
        MethodParams(
            method="listing",
            start_price=5_000_000 * YUAN,
            increment=50_000 * YUAN,
            deposit=1_000_000 * YUAN,
            reserve_price=5_000_000 * YUAN,
            extension_seconds=240,
            freeze_seconds=3600,
        ),
    ),
    "sealed_bid": (
        "technology",
        MethodParams(
            method="sealed_bid",
            start_price=800_000 * YUAN,
            increment=1 * YUAN,
            deposit=80_000 * YUAN,
            price_cap=1_000_000 * YUAN,
            award_rule="closest_to_average",
        ),
    ),
    "uniform_price": (
        "emission_right",
        MethodParams(
            method="uniform_price",
            start_price=3_000 * YUAN,
            increment=10,
            deposit=50_000 * YUAN,
            reserve_price=3_200 * YUAN,
            quantity=Decimal("120.000"),
            lot=Decimal("0.500"),
            unit="t/a",
            max_bidder_share=Fraction(1, 4),
            undersubscribed="sell_available",
            pricing="pay_as_bid",
        ),
    ),
    "dutch": (
        "water_right",
        MethodParams(
            method="dutch",
            start_price=1_000_000 * YUAN,
            increment=10_000 * YUAN,
            deposit=100_000 * YUAN,
            reserve_price=800_000 * YUAN,
            extension_seconds=30,
        ),
    ),
}


@pytest.mark.parametrize("method", list(VALID))
def test_valid_parameters_of_every_method(method: str) -> None:
    asset_class, params = VALID[method]
    normalized, errors = validate_method(asset_class, params)
    assert errors == []
    assert normalized is not None and normalized.method == method


def test_defaults_are_filled_in_where_they_apply() -> None:
    asset_class, params = VALID["uniform_price"]
    bare = replace(params, undersubscribed=None, pricing=None, max_bidder_share=None)
    normalized, _ = validate_method(asset_class, bare)
    assert normalized is not None
    assert (normalized.undersubscribed, normalized.pricing) == ("cancel", "uniform")
    assert normalized.max_bidder_share is None  # no limit
    shared, _ = validate_method(asset_class, params)
    assert shared is not None and shared.max_bidder_share == Fraction(1, 4)
    decimal_share = replace(params, max_bidder_share=Decimal("0.25"))
    shared, _ = validate_method(asset_class, decimal_share)
    assert shared is not None and isinstance(shared.max_bidder_share, Fraction)
    sealed, _ = validate_method(*_swap("sealed_bid", award_rule=None))
    assert sealed is not None and sealed.award_rule == "highest"
    english, _ = validate_method(*VALID["english"])
    assert english is not None and english.award_rule is None and english.pricing is None


def test_water_unit_alias_is_normalized() -> None:
    params = replace(VALID["uniform_price"][1], unit="m³/a", quantity=Decimal(1000), lot=Decimal(10))
    normalized, errors = validate_method("water_right", params)
    assert errors == [] and normalized is not None and normalized.unit == "m3/a"


def _swap(base: str, **changes: Any) -> tuple[str, MethodParams]:
    asset_class, params = VALID[base]
    cls = changes.pop("asset_class", asset_class)
    return cls, replace(params, **changes)


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("english", {"method": "vickrey"}, "method", "method_invalid"),
    ("english", {"start_price": 0}, "start_price", "start_price_invalid"),
    ("english", {"start_price": MAX_FEN + 1}, "start_price", "start_price_invalid"),
    ("english", {"increment": 0}, "increment", "increment_invalid"),
    ("english", {"increment": -100}, "increment", "increment_invalid"),
    ("english", {"deposit": -1}, "deposit", "deposit_invalid"),
    ("english", {"reserve_price": 9_999_999 * YUAN}, "reserve_price", "reserve_below_start"),
    ("english", {"reserve_price": None}, "reserve_price", "reserve_required"),
    ("listing", {"reserve_price": None}, "reserve_price", "reserve_required"),
    ("english", {"price_cap": 10_000_000 * YUAN}, "price_cap", "cap_below_start"),
    ("english", {"price_cap": 11_000_000 * YUAN}, "price_cap", "cap_below_reserve"),
    ("english", {"price_cap": 15_000_050 * YUAN}, "price_cap", "cap_not_on_increment"),
    ("english", {"price_cap": None}, "price_cap", "cap_required"),
    ("english", {"cap_rule": "first_come"}, "cap_rule", "cap_rule_invalid"),
    (
        "english",
        {"lottery_window_seconds": None},
        "lottery_window_seconds",
        "lottery_window_required",
    ),
    ("english", {"lottery_window_seconds": 0}, "lottery_window_seconds", "lottery_window_invalid"),
    ("english", {"extension_seconds": None}, "schedule.extension_seconds", "extension_required"),
    ("english", {"extension_seconds": 0}, "schedule.extension_seconds", "extension_invalid"),
    ("english", {"min_bidders": 0}, "min_bidders", "min_bidders_invalid"),
    ("english", {"freeze_seconds": 60}, "freeze_seconds", "not_applicable"),
    ("english", {"award_rule": "highest"}, "award_rule", "not_applicable"),
    ("english", {"quantity": Decimal(1)}, "quantity", "not_applicable"),
    ("english", {"max_bidder_share": Decimal("0.5")}, "max_bidder_share", "not_applicable"),
    ("listing", {"freeze_seconds": -1}, "freeze_seconds", "freeze_invalid"),
    ("listing", {"pricing": "uniform"}, "pricing", "not_applicable"),
    ("sealed_bid", {"award_rule": "lowest"}, "award_rule", "award_rule_invalid"),
    ("sealed_bid", {"price_cap": 700_000 * YUAN}, "price_cap", "cap_below_start"),
    ("sealed_bid", {"extension_seconds": -5}, "schedule.extension_seconds", "extension_invalid"),
    ("uniform_price", {"asset_class": "land_use_right"}, "method", "method_not_allowed"),
    ("uniform_price", {"quantity": None}, "quantity", "quantity_required"),
    ("uniform_price", {"quantity": Decimal(0)}, "quantity", "quantity_invalid"),
    ("uniform_price", {"quantity": Decimal("1.0005")}, "quantity", "quantity_invalid"),
    ("uniform_price", {"lot": None}, "lot", "lot_required"),
    ("uniform_price", {"lot": Decimal("-1")}, "lot", "lot_invalid"),
    ("uniform_price", {"lot": Decimal("7")}, "quantity", "quantity_not_multiple_of_lot"),
    ("uniform_price", {"unit": None}, "unit", "unit_required"),
    ("uniform_price", {"unit": "m3/a"}, "unit", "unit_invalid"),
    ("uniform_price", {"max_bidder_share": Decimal(0)}, "max_bidder_share", "share_out_of_range"),
    (
        "uniform_price",
        {"max_bidder_share": Fraction(5, 4)},
        "max_bidder_share",
        "share_out_of_range",
    ),
    (
        "uniform_price",
        {"max_bidder_share": Decimal("NaN")},
        "max_bidder_share",
        "share_out_of_range",
    ),
    ("uniform_price", {"max_bidder_share": Decimal("0.001")}, "max_bidder_share", "share_below_lot"),
    ("uniform_price", {"undersubscribed": "refund"}, "undersubscribed", "undersubscribed_invalid"),
    ("uniform_price", {"pricing": "vickrey"}, "pricing", "pricing_invalid"),
    ("uniform_price", {"reserve_price": 2_000 * YUAN}, "reserve_price", "reserve_below_start"),
    ("uniform_price", {"price_cap": 3_100 * YUAN}, "price_cap", "cap_below_reserve"),
    (
        "uniform_price",
        {"price_cap": 5_000 * YUAN, "cap_rule": "lottery", "lottery_window_seconds": 60},
        "cap_rule",
        "not_applicable",
    ),
    (
        "sealed_bid",
        {"cap_rule": "lottery", "lottery_window_seconds": 600},
        "cap_rule",
        "cap_rule_conflict",
    ),
    ("dutch", {"price_cap": 1_200_000 * YUAN}, "price_cap", "not_applicable"),
    ("dutch", {"reserve_price": None}, "reserve_price", "reserve_required"),
    ("dutch", {"reserve_price": 1_100_000 * YUAN}, "reserve_price", "reserve_above_start"),
    ("dutch", {"reserve_price": 805_000 * YUAN}, "reserve_price", "reserve_not_on_increment"),
    ("dutch", {"reserve_price": 0}, "reserve_price", "reserve_invalid"),
    ("dutch", {"extension_seconds": None}, "schedule.extension_seconds", "extension_required"),
]


@pytest.mark.parametrize(
    ("method", "changes", "field", "code"),
    INVALID,
    ids=[f"{m}-{code}" for m, _, _, code in INVALID],
)
def test_each_invalid_parameter_has_its_code(
    method: str, changes: dict[str, Any], field: str, code: str
) -> None:
    normalized, errors = validate_method(*_swap(method, **changes))
    assert normalized is None
    assert [(e.field, e.code) for e in errors] == [(field, code)], errors
    assert all(e.message for e in errors)


def test_all_errors_are_collected() -> None:
    params = replace(
        VALID["uniform_price"][1],
        increment=0,
        quantity=None,
        unit="kg",
        pricing="x",
        award_rule="highest",
    )
    _, errors = validate_method("emission_right", params)
    assert {(e.field, e.code) for e in errors} == {
        ("increment", "increment_invalid"),
        ("quantity", "quantity_required"),
        ("unit", "unit_invalid"),
        ("pricing", "pricing_invalid"),
        ("award_rule", "not_applicable"),
    }


def test_reserve_is_optional_where_the_class_does_not_require_it() -> None:
    normalized, errors = validate_method(*_swap("sealed_bid", reserve_price=None))
    assert errors == [] and normalized is not None


def test_sealed_bid_cap_need_not_sit_on_the_increment_grid() -> None:
    # Sealed quotes are free within [start, cap]; only rising bids move in steps.
    _, errors = validate_method(*_swap("sealed_bid", increment=7 * YUAN))
    assert errors == []


def test_bool_is_not_money() -> None:
    _, errors = validate_method(*_swap("english", deposit=True))
    assert [e.code for e in errors] == ["deposit_invalid"]


def test_uniform_price_may_cap_bids_without_a_lottery() -> None:
    _, errors = validate_method(*_swap("uniform_price", price_cap=5_000 * YUAN))
    assert errors == []


def test_sealed_highest_may_use_the_cap_lottery() -> None:
    swapped = _swap("sealed_bid", award_rule="highest", cap_rule="lottery", lottery_window_seconds=600)
    assert validate_method(*swapped)[1] == []
