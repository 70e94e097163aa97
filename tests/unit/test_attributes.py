"""Attribute schemas: a valid listing of every class, and every invalid field named."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from listings.attribute_fields import ATTRIBUTE_FIELDS
from listings.attributes import (
    ATTRIBUTE_TYPES,
    UNITS,
    EmissionRight,
    LandUseRight,
    MiningRight,
    Technology,
    WaterRight,
    validate_attributes,
)
from tests.support.attributes import VALID


def _with(asset_class: str, **changes: Any) -> dict[str, Any]:
    raw = {**VALID[asset_class], **changes}
    return {k: v for k, v in raw.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    ("asset_class", "kind"),
    [
        ("land_use_right", LandUseRight),
        ("mining_right", MiningRight),
        ("emission_right", EmissionRight),
        ("water_right", WaterRight),
        ("technology", Technology),
    ],
)
def test_valid_listing_of_every_class(asset_class: str, kind: type) -> None:
    attrs, errors = validate_attributes(asset_class, VALID[asset_class])
    assert errors == []
    assert isinstance(attrs, kind)
    # The typed result round-trips through JSON, as it will through the database.
    encoded = msgspec.json.encode(attrs)
    assert msgspec.json.decode(encoded, type=ATTRIBUTE_TYPES[asset_class]) == attrs


def test_valid_values_are_typed() -> None:
    land, _ = validate_attributes("land_use_right", VALID["land_use_right"])
    assert isinstance(land, LandUseRight)
    assert land.area_m2 == Decimal("35210.50")
    assert land.mixed_use_shares == {"residential": Decimal("0.7"), "commercial": Decimal("0.3")}
    mining, _ = validate_attributes("mining_right", VALID["mining_right"])
    assert isinstance(mining, MiningRight)
    assert len(mining.boundary) == 4


def test_defaults_emission_five_years_and_units() -> None:
    raw = _with("emission_right", unit=_DROP)
    attrs, errors = validate_attributes("emission_right", raw)
    assert errors == []
    assert isinstance(attrs, EmissionRight)
    assert attrs.validity_years == 5
    assert attrs.unit == "t/a"
    water, errors = validate_attributes("water_right", _with("water_right", unit="m³/a"))
    assert errors == [] and isinstance(water, WaterRight) and water.unit == "m3/a"


def test_closing_point_of_a_ring_is_dropped() -> None:
    points = [*VALID["mining_right"]["boundary"], VALID["mining_right"]["boundary"][0]]
    attrs, errors = validate_attributes("mining_right", _with("mining_right", boundary=points))
    assert errors == [] and isinstance(attrs, MiningRight) and len(attrs.boundary) == 4


def test_know_how_needs_no_registration_and_assignment_no_term() -> None:
    raw = _with(
        "technology",
        ip_type="know_how",
        registration_number=_DROP,
        transaction_form="assignment",
        term_years=_DROP,
    )
    attrs, errors = validate_attributes("technology", raw)
    assert errors == [] and isinstance(attrs, Technology) and attrs.term_years is None


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    # land_use_right
    ("land_use_right", {"parcel_code": _DROP}, "parcel_code", "required"),
    ("land_use_right", {"location": ""}, "location", "type_invalid"),
    ("land_use_right", {"admin_division_code": "32057"}, "admin_division_code", "format_invalid"),
    ("land_use_right", {"admin_division_code": "990100"}, "admin_division_code", "format_invalid"),
    ("land_use_right", {"area_m2": "0"}, "area_m2", "out_of_range"),
    ("land_use_right", {"area_m2": 35210.5}, "area_m2", "type_invalid"),  # a float
    ("land_use_right", {"area_m2": True}, "area_m2", "type_invalid"),
    ("land_use_right", {"area_m2": "1.005"}, "area_m2", "too_many_decimal_places"),
    ("land_use_right", {"area_m2": "1e5"}, "area_m2", "type_invalid"),
    ("land_use_right", {"land_use": "farmland"}, "land_use", "choice_invalid"),
    (
        "land_use_right",
        {"mixed_use_shares": {"residential": "0.7", "commercial": "0.2"}},
        "mixed_use_shares",
        "shares_invalid",
    ),
    (
        "land_use_right",
        {"mixed_use_shares": {"residential": "1"}},
        "mixed_use_shares",
        "shares_invalid",
    ),
    (
        "land_use_right",
        {"mixed_use_shares": {"residential": "0.5", "farm": "0.5"}},
        "mixed_use_shares.farm",
        "choice_invalid",
    ),
    ("land_use_right", {"mixed_use_shares": _DROP}, "mixed_use_shares", "required"),
    (
        "land_use_right",
        {"land_use": "industrial", "term_years": 50},
        "mixed_use_shares",
        "not_applicable",
    ),
    ("land_use_right", {"plot_ratio": {"min": "3", "max": "2.5"}}, "plot_ratio.min", "range_inverted"),
    ("land_use_right", {"plot_ratio": {}}, "plot_ratio", "required"),
    ("land_use_right", {"plot_ratio": {"max": "-1"}}, "plot_ratio.max", "out_of_range"),
    ("land_use_right", {"plot_ratio": "2.5"}, "plot_ratio", "type_invalid"),
    ("land_use_right", {"building_density": "1.01"}, "building_density", "out_of_range"),
    ("land_use_right", {"green_ratio": "-0.1"}, "green_ratio", "out_of_range"),
    ("land_use_right", {"term_years": 51}, "term_years", "term_exceeds_legal_max"),
    ("land_use_right", {"term_years": 0}, "term_years", "out_of_range"),
    ("land_use_right", {"term_years": "50"}, "term_years", "type_invalid"),
    ("land_use_right", {"supply_mode": "gift"}, "supply_mode", "choice_invalid"),
    (
        "land_use_right",
        {
            "standard_land": {
                "investment_wan_yuan_per_mu": "500",
                "output_wan_yuan_per_mu": "800",
                "energy_tce_per_wan_yuan": "0.25",
            }
        },
        "standard_land.tax_wan_yuan_per_mu",
        "required",
    ),
    ("land_use_right", {"parcel": "x"}, "parcel", "unknown_field"),
    # mining_right
    ("mining_right", {"right_type": "quarry"}, "right_type", "choice_invalid"),
    ("mining_right", {"mineral": _DROP}, "mineral", "required"),
    ("mining_right", {"area_km2": "-0.1"}, "area_km2", "out_of_range"),
    ("mining_right", {"crs": "WGS84"}, "crs", "choice_invalid"),
    (
        "mining_right",
        {"boundary": [["119.9", "30.1"], ["119.92", "30.1"], ["119.9", "30.1"]]},
        "boundary",
        "polygon_too_few_points",
    ),
    (
        "mining_right",
        {"boundary": [["119.9", "30.1"], ["119.91", "30.1"], ["119.92", "30.1"]]},
        "boundary",
        "polygon_degenerate",
    ),
    (
        "mining_right",
        {"boundary": [["119.9", "30.1"], ["-74.0", "40.7"], ["119.92", "30.2"]]},
        "boundary[1]",
        "coordinate_out_of_range",
    ),
    (
        "mining_right",
        {"boundary": [["119.9", "30.1"], ["119.91"], ["119.92", "30.2"]]},
        "boundary[1]",
        "type_invalid",
    ),
    ("mining_right", {"boundary": "POLYGON(...)"}, "boundary", "type_invalid"),
    ("mining_right", {"reserves": _DROP}, "reserves", "required"),
    (
        "mining_right",
        {"reserves": {"quantity": "10", "unit": "barrels"}},
        "reserves.unit",
        "unit_invalid",
    ),
    (
        "mining_right",
        {"production_scale": {"quantity": "0", "unit": "10kt/a"}},
        "production_scale.quantity",
        "out_of_range",
    ),
    ("mining_right", {"term_years": 31}, "term_years", "term_exceeds_legal_max"),
    (
        "mining_right",
        {"right_type": "exploration", "production_scale": _DROP, "term_years": 5},
        "reserves",
        "not_applicable",
    ),
    (
        "mining_right",
        {
            "right_type": "exploration",
            "reserves": _DROP,
            "production_scale": _DROP,
            "term_years": 6,
        },
        "term_years",
        "term_exceeds_legal_max",
    ),
    # emission_right
    ("emission_right", {"pollutant": "PM2.5"}, "pollutant", "choice_invalid"),
    ("emission_right", {"quantity": "0"}, "quantity", "out_of_range"),
    ("emission_right", {"quantity": "1.0001"}, "quantity", "too_many_decimal_places"),
    ("emission_right", {"unit": "kg/a"}, "unit", "unit_invalid"),
    ("emission_right", {"region": _DROP}, "region", "required"),
    ("emission_right", {"region_code": "64"}, "region_code", "format_invalid"),
    ("emission_right", {"validity_years": 6}, "validity_years", "out_of_range"),
    # water_right
    ("water_right", {"trade_type": "bottled"}, "trade_type", "choice_invalid"),
    ("water_right", {"water_source": _DROP}, "water_source", "required"),
    ("water_right", {"volume": "0"}, "volume", "out_of_range"),
    ("water_right", {"volume": "100.5"}, "volume", "too_many_decimal_places"),
    ("water_right", {"unit": "m3"}, "unit", "unit_invalid"),
    ("water_right", {"term_years": 11}, "term_years", "term_exceeds_legal_max"),
    ("water_right", {"use": "swimming"}, "use", "choice_invalid"),
    ("water_right", {"region": 150600}, "region", "type_invalid"),
    # technology
    ("technology", {"ip_type": "trademark"}, "ip_type", "choice_invalid"),
    ("technology", {"registration_number": _DROP}, "registration_number", "required"),
    ("technology", {"registration_number": "202310123456"}, "registration_number", "format_invalid"),
    # type digit 2 is a utility model, not an invention patent
    (
        "technology",
        {"registration_number": "ZL202320123456.7"},
        "registration_number",
        "format_invalid",
    ),
    (
        "technology",
        {"ip_type": "software_copyright", "registration_number": "ZL202310123456.7"},
        "registration_number",
        "format_invalid",
    ),
    ("technology", {"holder": _DROP}, "holder", "required"),
    ("technology", {"transaction_form": "rental"}, "transaction_form", "choice_invalid"),
    ("technology", {"term_years": _DROP}, "term_years", "required"),
    ("technology", {"state_owned": "yes"}, "state_owned", "type_invalid"),
]


@pytest.mark.parametrize(
    ("asset_class", "changes", "field", "code"),
    INVALID,
    ids=[f"{c}-{f}-{code}" for c, _, f, code in INVALID],
)
def test_each_invalid_attribute_is_rejected_with_its_field(
    asset_class: str, changes: dict[str, Any], field: str, code: str
) -> None:
    attrs, errors = validate_attributes(asset_class, _with(asset_class, **changes))
    assert attrs is None
    assert [(e.field, e.code) for e in errors] == [(f"attributes.{field}", code)], errors
    assert all(e.message for e in errors)


def test_every_error_is_collected_not_just_the_first() -> None:
    raw = _with(
        "land_use_right",
        area_m2="-5",
        land_use="residential",
        mixed_use_shares=_DROP,
        term_years=71,
        green_ratio="2",
        supply_mode=_DROP,
    )
    _, errors = validate_attributes("land_use_right", raw)
    assert {(e.field, e.code) for e in errors} == {
        ("attributes.area_m2", "out_of_range"),
        ("attributes.term_years", "term_exceeds_legal_max"),
        ("attributes.green_ratio", "out_of_range"),
        ("attributes.supply_mode", "required"),
    }


@pytest.mark.parametrize(
    ("use", "years"),
    [("residential", 70), ("industrial", 50), ("commercial", 40), ("tourism", 40),
     ("entertainment", 40), ("mixed", 50)],
)  # fmt: skip
def test_legal_maximum_term_per_use(use: str, years: int) -> None:
    shares = VALID["land_use_right"]["mixed_use_shares"] if use == "mixed" else _DROP
    ok = _with("land_use_right", land_use=use, term_years=years, mixed_use_shares=shares)
    assert validate_attributes("land_use_right", ok)[1] == []
    too_long = {**ok, "term_years": years + 1}
    _, errors = validate_attributes("land_use_right", too_long)
    assert [e.code for e in errors] == ["term_exceeds_legal_max"]
    assert f"legal maximum of {years} years" in errors[0].message


def test_unknown_class_and_non_object() -> None:
    assert validate_attributes("fishing_right", {})[1][0].code == "choice_invalid"
    _, errors = validate_attributes("technology", ["not", "an", "object"])
    assert [(e.field, e.code) for e in errors] == [("attributes", "type_invalid")]


def test_units_for_display_and_divisible_quantities() -> None:
    assert set(UNITS) == set(ATTRIBUTE_TYPES)
    assert UNITS["land_use_right"].price_unit == "元/m²"
    assert UNITS["emission_right"].price_unit == "元/t"
    assert UNITS["emission_right"].quantity_unit == "t/a"
    assert UNITS["water_right"].price_unit == "元/m³"
    assert UNITS["water_right"].quantity_unit == "m3/a"
    assert UNITS["technology"].quantity_unit is None


def test_every_attribute_is_described_once() -> None:
    """The form, the pages and the documents read the descriptions: none may miss a field."""
    assert list(ATTRIBUTE_FIELDS) == list(ATTRIBUTE_TYPES)
    for asset_class, kind in ATTRIBUTE_TYPES.items():
        described = [f.key for f in ATTRIBUTE_FIELDS[asset_class]]
        assert len(described) == len(set(described)), asset_class
        assert set(described) == set(kind.__struct_fields__), asset_class
