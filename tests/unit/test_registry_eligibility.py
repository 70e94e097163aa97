"""Who may buy an instrument: validity, province, prefecture, basin (docs/rules.md 7, rules 5, 7)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.registry.eligibility import (
    AIR_POLLUTANTS,
    WATER_POLLUTANTS,
    TradeRefused,
    check_trade,
    needs_approval,
    trade_refusal,
)
from settlement.registry.models import Holder, Instrument

TODAY = date(2026, 12, 6)


def lot(
    right_type: str = "emission", sub_type: str = "SO2", region: str = "140105", basin: str | None = "黄河"
) -> Instrument:
    return Instrument(
        id=1,
        right_type=right_type,
        sub_type=sub_type,
        region_code=region,
        basin=basin,
        valid_from=date(2026, 1, 1),
        valid_until=date(2031, 1, 1),
    )


VERIFIED = datetime(2026, 12, 1, tzinfo=UTC)


def buyer(region: str = "140105", basin: str | None = "黄河", verified: bool = True) -> Holder:
    """A holder the registrar verified (``verified=False``: as the enterprise declared itself)."""
    return Holder(
        id=2,
        credit_code="91140100MA0000001X",
        region_code=region,
        basin=basin,
        verified_at=VERIFIED if verified else None,
        verified_by=1 if verified else None,
    )


def test_the_pollutants_are_split_into_air_and_water() -> None:
    assert {"SO2", "NOx", "VOCs"} == AIR_POLLUTANTS
    assert {"COD", "NH3-N"} == WATER_POLLUTANTS


@pytest.mark.parametrize(
    ("instrument", "holder", "expected"),
    [
        (lot(sub_type="SO2"), buyer("140107"), None),  # same prefecture (Taiyuan)
        (lot(sub_type="SO2"), buyer("140202"), "registry_out_of_region"),  # Datong: other prefecture
        (lot(sub_type="CO2e"), buyer("140202"), None),  # province only
        (lot(sub_type="CO2e"), buyer("130102"), "registry_out_of_region"),  # Hebei
        (lot(sub_type="COD"), buyer("140202", "黄河"), None),
        (lot(sub_type="COD"), buyer("140202", "海河"), "registry_out_of_basin"),
        (lot(sub_type="COD"), buyer("140202", None), "registry_out_of_basin"),
        (lot(sub_type="COD"), buyer("610102", "黄河"), "registry_out_of_region"),  # same basin, Shaanxi
        (lot("water", "regional"), buyer("610102", "黄河"), None),
        (lot("water", "regional"), buyer("140105", "海河"), "registry_out_of_basin"),
    ],
)
def test_trade_predicates(instrument: Instrument, holder: Holder, expected: str | None) -> None:
    assert trade_refusal(instrument, holder, TODAY) == expected


def test_an_expired_lot_is_refused_from_its_last_day_on() -> None:
    instrument = lot()
    assert trade_refusal(instrument, buyer(), date(2030, 12, 31)) is None
    assert trade_refusal(instrument, buyer(), date(2031, 1, 1)) == "registry_expired"
    with pytest.raises(TradeRefused) as caught:
        check_trade(instrument, buyer(), date(2031, 1, 1))
    assert caught.value.code == "registry_expired" and caught.value.status == 409
    check_trade(instrument, buyer(), TODAY)


def test_only_an_abstraction_permit_waits_for_approval() -> None:
    assert needs_approval(lot("water", "abstraction_permit"))
    assert not needs_approval(lot("water", "regional"))
    assert not needs_approval(lot("emission", "COD"))


regions = st.from_regex(r"[1-6][0-9]{5}", fullmatch=True)


@given(regions, regions, st.sampled_from(["SO2", "NOx", "VOCs", "CO2e", "COD", "NH3-N"]))
def test_a_buyer_in_the_same_district_and_basin_may_always_buy(here: str, there: str, pollutant: str) -> None:
    assert trade_refusal(lot(sub_type=pollutant, region=here), buyer(here), TODAY) is None
    refusal = trade_refusal(lot(sub_type=pollutant, region=here), buyer(there), TODAY)
    if here[:2] != there[:2]:
        assert refusal == "registry_out_of_region"


def test_an_unverified_buyer_or_seller_trades_nothing() -> None:
    """Where a holder is decides what it may buy: the enterprise's own word does not count."""
    instrument = lot(sub_type="COD")
    declared = buyer(verified=False)  # in the lot's district and basin, by its own word
    assert trade_refusal(instrument, declared, TODAY) == "registry_account_unverified"
    with pytest.raises(TradeRefused) as caught:
        check_trade(instrument, declared, TODAY)
    assert caught.value.code == "registry_account_unverified" and caught.value.status == 409
    assert caught.value.extra["buyer"] == declared.credit_code
    seller = Holder(id=3, credit_code="91140100MA0000002X", region_code="140105", basin="黄河")
    assert trade_refusal(instrument, buyer(), TODAY, seller=seller) == "registry_account_unverified"
    with pytest.raises(TradeRefused) as by_seller:
        check_trade(instrument, buyer(), TODAY, seller=seller)
    assert by_seller.value.extra["seller"] == seller.credit_code
    seller.verified_at, seller.verified_by = VERIFIED, 1
    assert trade_refusal(instrument, buyer(), TODAY, seller=seller) is None


@given(regions, st.sampled_from(["黄河", "长江", None]), st.sampled_from(["SO2", "CO2e", "COD"]))
def test_no_declaration_makes_an_unverified_buyer_eligible(
    region: str, basin: str | None, pollutant: str
) -> None:
    refusal = trade_refusal(
        lot(sub_type=pollutant, region=region, basin=basin), buyer(region, basin, False), TODAY
    )
    assert refusal == "registry_account_unverified"
