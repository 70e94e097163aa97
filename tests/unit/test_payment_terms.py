"""Payment terms (issue 16): their JSON, the class defaults, leases, and the old list format."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.settlement_terms import (
    ANCHORS,
    DEFAULT_PAYMENT_SCHEDULES,
    DEFAULT_PAYMENT_TERMS,
    PaymentTerms,
    Rent,
    Term,
    default_terms,
    parse_payment_schedules,
    parse_payment_terms,
    schedule_of,
    terms_from_json,
    terms_to_json,
)
from exchange.vocabulary import ASSET_CLASSES

# Decimals that terminate: a whole number of ten-thousandths.
_decimals = st.integers(min_value=0, max_value=10_000).map(lambda n: Fraction(n, 10_000))


@st.composite
def payment_terms(draw: st.DrawFn) -> PaymentTerms:
    count = draw(st.integers(min_value=1, max_value=5))
    cuts = sorted(
        draw(st.lists(st.integers(min_value=0, max_value=1000), min_size=count - 1, max_size=count - 1))
    )
    bounds = [0, *cuts, 1000]
    terms = []
    for i in range(count):
        share = Fraction(bounds[i + 1] - bounds[i], 1000)
        period = draw(st.integers(min_value=0, max_value=120))
        in_months = draw(st.booleans())
        terms.append(
            Term(
                f"t{i}",
                share,
                working_days=None if in_months else period,
                months=period if in_months else None,
                interest_per_annum=draw(_decimals),
            )
        )
    rent = draw(
        st.none()
        | st.builds(Rent, years=st.integers(min_value=1, max_value=70), first_months=st.integers(0, 120))
    )
    return PaymentTerms(
        anchor=draw(st.sampled_from(ANCHORS)),
        terms=tuple(terms),
        contract_working_days=draw(st.integers(min_value=0, max_value=250)),
        late_fee_per_mille=draw(_decimals) * 10,
        grace_days=draw(st.integers(min_value=0, max_value=3650)),
        rent=rent,
    )


@settings(max_examples=300, deadline=None)
@given(payment_terms())
def test_json_round_trip(terms: PaymentTerms) -> None:
    data = terms_to_json(terms)
    # Through real JSON text, as the API and the database column carry it.
    assert terms_from_json(json.loads(json.dumps(data))) == terms
    # Decimals are strings, never floats.
    assert isinstance(data["late_fee_per_mille"], str)
    assert all(
        isinstance(t["share"], str) and isinstance(t["interest_per_annum"], str) for t in data["terms"]
    )


@settings(max_examples=100, deadline=None)
@given(payment_terms())
def test_round_trip_through_the_environment_variable(terms: PaymentTerms) -> None:
    text = json.dumps({"water_right": terms_to_json(terms)})
    assert parse_payment_terms(text)["water_right"] == terms
    assert parse_payment_schedules(text)["water_right"] == schedule_of(terms)


def test_defaults_are_valid_and_as_the_rules_say() -> None:
    assert set(DEFAULT_PAYMENT_TERMS) == set(ASSET_CLASSES)
    for terms in DEFAULT_PAYMENT_TERMS.values():
        assert terms_from_json(terms_to_json(terms)) == terms
        assert sum(t.share for t in terms.terms) == 1
        assert terms.late_fee_per_mille == 1
    land = DEFAULT_PAYMENT_TERMS["land_use_right"]
    assert land.anchor == "contract"
    assert land.contract_working_days == 10
    assert land.grace_days == 60
    assert [(t.share, t.months) for t in land.terms] == [(Fraction(1, 2), 1), (Fraction(1, 2), 12)]
    mining = DEFAULT_PAYMENT_TERMS["mining_right"]
    assert (mining.anchor, mining.grace_days) == ("confirmation", 60)
    assert mining.terms == (Term("full", Fraction(1), working_days=10),)
    for other in ("emission_right", "water_right", "technology"):
        assert (DEFAULT_PAYMENT_TERMS[other].anchor, DEFAULT_PAYMENT_TERMS[other].grace_days) == (
            "confirmation",
            30,
        )
    # The old list form of the defaults is what it always was.
    assert {k: schedule_of(v) for k, v in DEFAULT_PAYMENT_TERMS.items()} == DEFAULT_PAYMENT_SCHEDULES
    assert parse_payment_terms(None) == DEFAULT_PAYMENT_TERMS
    assert parse_payment_terms("  ") == DEFAULT_PAYMENT_TERMS


def test_leases_pay_rent_for_their_term() -> None:
    for mode in ("long_term_lease", "lease_then_transfer"):
        terms = default_terms(
            "land_use_right", {"supply_mode": mode, "term_years": 20}, DEFAULT_PAYMENT_TERMS
        )
        assert terms.rent == Rent(years=20, first_months=1)
        assert terms.anchor == "contract"
    sale = default_terms(
        "land_use_right", {"supply_mode": "transfer", "term_years": 50}, DEFAULT_PAYMENT_TERMS
    )
    assert sale == DEFAULT_PAYMENT_TERMS["land_use_right"]
    assert default_terms("technology", {}, None) == DEFAULT_PAYMENT_TERMS["technology"]


def test_configured_terms_are_the_listing_defaults() -> None:
    table = parse_payment_terms('{"water_right": {"late_fee_per_mille": "0.5", "grace_days": 90}}')
    water = default_terms("water_right", {}, table)
    assert water.late_fee_per_mille == Fraction(1, 2)
    assert water.grace_days == 90
    assert water.terms == DEFAULT_PAYMENT_TERMS["water_right"].terms  # keys left out keep the default


def test_an_old_list_keeps_working() -> None:
    text = (
        '{"land_use_right": [{"label": "contract", "share": "0", "working_days": 5},'
        ' {"label": "full", "share": "1", "months": 2}]}'
    )
    assert parse_payment_schedules(text)["land_use_right"] == (
        Term("contract", Fraction(0), working_days=5),
        Term("full", Fraction(1), months=2),
    )
    land = parse_payment_terms(text)["land_use_right"]
    assert land.contract_working_days == 5
    assert land.terms == (Term("full", Fraction(1), months=2),)
    assert (land.anchor, land.grace_days) == ("contract", 60)
    water = parse_payment_terms('{"water_right": [{"label": "a", "share": "1", "months": 3}]}')["water_right"]
    assert water.terms == (Term("a", Fraction(1), months=3),)
    assert water.grace_days == 30


def _valid() -> dict[str, Any]:
    return terms_to_json(DEFAULT_PAYMENT_TERMS["land_use_right"])


def _with(**changes: Any) -> dict[str, Any]:
    data = _valid()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "a JSON object"),
        (_with(anchor="close"), "anchor"),
        (_with(contract_working_days=-1), "contract_working_days"),
        (_with(contract_working_days=True), "contract_working_days"),
        (_with(contract_working_days="10"), "contract_working_days"),
        (_with(late_fee_per_mille="abc"), "late fee"),
        (_with(late_fee_per_mille=1.5), "late fee"),
        (_with(late_fee_per_mille="-1"), "late_fee_per_mille"),
        (_with(grace_days=None), "grace_days"),
        (_with(terms=[]), "at least one term"),
        (_with(terms=[{"label": "a", "share": "0.5", "months": 1}]), "sum to 1"),
        (_with(terms=[{"label": "a", "share": "1", "months": 1, "working_days": 2}]), "exactly one"),
        (_with(terms=[{"label": "a", "share": "1", "months": 1, "interest_per_annum": "2"}]), "interest"),
        (_with(terms=[{"label": "a", "share": "1", "months": 1, "extra": 1}]), "a term is"),
        (
            _with(
                terms=[
                    {"label": "contract", "share": "0", "working_days": 3},
                    {"label": "b", "share": "1", "months": 1},
                ]
            ),
            "contract_working_days",
        ),
        (_with(rent={"years": 0, "first_months": 1}), "rent.years"),
        (_with(rent={"years": 3}), "rent is null"),
        (_with(color="red"), "unknown key"),
        ({k: v for k, v in _valid().items() if k != "grace_days"}, "grace_days is required"),
    ],
)
def test_malformed_terms_name_the_place(obj: Any, message: str) -> None:
    with pytest.raises(ValueError, match=r"^payment_terms") as info:
        terms_from_json(obj, "payment_terms")
    assert message in str(info.value)


def test_malformed_variable_names_the_variable_and_class() -> None:
    with pytest.raises(ValueError, match=r"EXCHANGE_PAYMENT_SCHEDULES\[mining_right\]: anchor"):
        parse_payment_terms('{"mining_right": {"anchor": "later"}}')
    with pytest.raises(ValueError, match=r"EXCHANGE_PAYMENT_SCHEDULES\[mining_right\]"):
        parse_payment_schedules('{"mining_right": {"anchor": "later"}}')
    with pytest.raises(ValueError, match="unknown asset class"):
        parse_payment_terms('{"gold": {"grace_days": 1}}')


def test_decimals_may_be_numbers() -> None:
    data = _valid()
    data["late_fee_per_mille"] = 2
    data["terms"] = [{"label": "a", "share": 1, "months": 1, "interest_per_annum": Decimal("0.0435")}]
    terms = terms_from_json(data)
    assert terms.late_fee_per_mille == 2
    assert terms.terms[0].interest_per_annum == Fraction(435, 10_000)
