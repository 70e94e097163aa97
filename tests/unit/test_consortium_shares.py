"""The share rules of a joint bid (联合竞买), its state at the deposit deadline, and the split of a
quantity by share (largest remainder)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.errors import Unprocessable
from listings.applications_models import ConsortiumMember
from listings.consortia import MemberInput, checked_parties, status_of
from listings.consortium_shares import ShareError, format_share, parse_share, split
from tests.support.ids import credit_code

LEAD = credit_code(901)


@pytest.mark.parametrize(
    ("text", "points"), [("40", 4000), ("33.34", 3334), ("0.01", 1), ("99.99", 9999), (" 12.5 ", 1250)]
)
def test_a_share_is_exact_basis_points(text: str, points: int) -> None:
    assert parse_share(text) == points
    assert parse_share(format_share(points)) == points


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0", "out_of_range"),
        ("100", "out_of_range"),
        ("-5", "out_of_range"),
        ("33.333", "too_precise"),
        ("1e-3", "too_precise"),
        ("1e999999", "out_of_range"),
        ("1e-999999", "too_precise"),
        ("forty", "not_a_number"),
        ("NaN", "not_a_number"),
        ("Infinity", "not_a_number"),
        ("", "not_a_number"),
    ],
)
def test_a_share_that_is_no_percentage_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ShareError) as refused:
        parse_share(text)
    assert refused.value.reason == reason


def test_the_lead_and_its_members_are_checked() -> None:
    a, b = credit_code(902), credit_code(903)
    lead_bp, parties = checked_parties(
        LEAD, "50", [MemberInput(a.lower(), " 甲公司 ", "30"), MemberInput(b, "乙公司", "20")]
    )
    assert lead_bp == 5000
    assert [(p.credit_code, p.name, p.share_bp) for p in parties] == [
        (a, "甲公司", 3000),
        (b, "乙公司", 2000),
    ]


def _code_of(lead: str | None, lead_share: str, members: list[MemberInput]) -> str:
    with pytest.raises(Unprocessable) as refused:
        checked_parties(lead, lead_share, members)
    return refused.value.code


def test_what_a_consortium_may_not_be() -> None:
    a, b = credit_code(904), credit_code(905)
    assert _code_of(None, "50", [MemberInput(a, "甲", "50")]) == "consortium_lead_code_required"
    assert _code_of(LEAD, "100", []) == "consortium_members_required"
    assert _code_of(LEAD, "50", [MemberInput(a, "甲", "30")]) == "consortium_shares_invalid"  # 80 %
    assert _code_of(LEAD, "50", [MemberInput(a, "甲", "30"), MemberInput(b, "乙", "30")]) == (
        "consortium_shares_invalid"  # 110 %
    )
    assert _code_of(LEAD, "50", [MemberInput(a, "甲", "49.995")]) == "consortium_shares_invalid"
    assert _code_of(LEAD, "50", [MemberInput(a, "甲", "25"), MemberInput(a, "甲", "25")]) == (
        "consortium_member_duplicate"
    )
    assert _code_of(LEAD, "50", [MemberInput(LEAD, "自己", "50")]) == "consortium_member_duplicate"
    assert _code_of(
        LEAD, "50", [MemberInput(a[:-1] + "0" if a[-1] != "0" else a[:-1] + "1", "甲", "50")]
    ) == ("credit_code_invalid")
    assert _code_of(LEAD, "50", [MemberInput(a, "  ", "50")]) == "consortium_name_required"


def test_the_split_gives_leftover_units_to_the_largest_remainders_then_the_first_listed() -> None:
    assert split(12_500, [5000, 3000, 2000]) == [6250, 3750, 2500]
    assert split(10, [3334, 3333, 3333]) == [4, 3, 3]  # remainders 3340, 3330, 3330
    assert split(2, [3334, 3333, 3333]) == [1, 1, 0]  # 6668 > 6666 = 6666: the tie to the first listed
    assert split(1, [5000, 5000]) == [1, 0]
    assert split(0, [5000, 5000]) == [0, 0]
    with pytest.raises(ValueError, match="do not sum"):
        split(10, [5000, 4000])


@st.composite
def shares(draw: st.DrawFn) -> list[int]:
    cuts = sorted(draw(st.sets(st.integers(1, 9_999), min_size=1, max_size=8)))
    bounds = [0, *cuts, 10_000]
    return [high - low for low, high in itertools.pairwise(bounds)]


@given(total=st.integers(0, 10**12), points=shares())
def test_the_split_conserves_the_total_and_stays_within_a_unit_of_each_share(
    total: int, points: list[int]
) -> None:
    parts = split(total, points)
    assert sum(parts) == total
    for part, p in zip(parts, points, strict=True):
        exact = Fraction(total * p, 10_000)
        assert exact - 1 < part < exact + 1
    assert split(total, points) == parts  # deterministic


def test_a_consortium_unconfirmed_at_the_deposit_deadline_has_lapsed() -> None:
    deadline = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    before, after = deadline - timedelta(seconds=1), deadline

    def members(*statuses: str) -> list[ConsortiumMember]:
        return [ConsortiumMember(status=s, lead=i == 0) for i, s in enumerate(statuses)]

    assert status_of(members("confirmed", "invited", "confirmed"), deadline, before) == "awaiting"
    assert status_of(members("confirmed", "invited", "confirmed"), deadline, after) == "lapsed"
    assert status_of(members("confirmed", "confirmed", "confirmed"), deadline, after) == "confirmed"
    assert status_of(members("confirmed", "refused", "invited"), deadline, before) == "refused"
    assert status_of(members("confirmed", "lapsed", "confirmed"), deadline, before) == "lapsed"


def test_a_consortium_the_operator_rejected_awaits_nobody() -> None:
    deadline = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    waiting = [
        ConsortiumMember(status="confirmed", lead=True),
        ConsortiumMember(status="invited", lead=False),
    ]
    for application_status in ("rejected", "closed"):
        for now in (deadline - timedelta(seconds=1), deadline):
            assert status_of(waiting, deadline, now, application_status=application_status) == "ended"
    assert (
        status_of(waiting, deadline, deadline - timedelta(seconds=1), application_status="pending")
        == "awaiting"
    )
    confirmed = [
        ConsortiumMember(status="confirmed", lead=True),
        ConsortiumMember(status="confirmed", lead=False),
    ]
    assert status_of(confirmed, deadline, deadline, application_status="closed") == "confirmed"
