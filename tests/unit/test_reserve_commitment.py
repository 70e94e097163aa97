"""The reserve's commitment: one unambiguous encoding, and when the reserve freezes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.money import MAX_FEN, format_yuan
from listings.models import Listing
from listings.reserve import is_frozen
from listings.reserve_commitment import commitment, committed_text

OPENS = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
BEFORE, AFTER = OPENS - timedelta(seconds=1), OPENS
reserves = st.none() | st.integers(1, MAX_FEN)
salts = st.binary(min_size=32, max_size=32).map(bytes.hex)


def recomputed(reserve_price: str | None, salt: str) -> str:
    """What docs/rules.md tells anyone to do with the published result (reserve in yuan)."""
    fen = "none" if reserve_price is None else str(int(Decimal(reserve_price) * 100))
    return hashlib.sha256(f"{fen}:{salt}".encode()).hexdigest()


@given(reserves, salts)
def test_the_published_values_recompute_the_commitment(reserve: int | None, salt: str) -> None:
    published = None if reserve is None else format_yuan(reserve)
    assert commitment(reserve, salt) == recomputed(published, salt)


@given(reserves, salts, reserves, salts)
def test_the_encoding_names_one_reserve_and_one_salt(
    reserve: int | None, salt: str, other: int | None, other_salt: str
) -> None:
    if committed_text(reserve, salt) == committed_text(other, other_salt):
        assert (reserve, salt) == (other, other_salt)


def test_no_reserve_is_committed_as_none() -> None:
    salt = "ab" * 32
    assert committed_text(None, salt) == f"none:{salt}".encode()
    assert committed_text(765432109, salt) == f"765432109:{salt}".encode()


def listing(
    status: str,
    asset_class: str = "land_use_right",
    *,
    suspended_from: str | None = None,
    reserve_commitment: str | None = None,
) -> Listing:
    """A transient row: only what ``is_frozen`` reads."""
    return Listing(
        status=status,
        asset_class=asset_class,
        bidding_opens_at=OPENS,
        suspended_from=suspended_from,
        reserve_commitment=reserve_commitment,
    )


@pytest.mark.parametrize(
    ("row", "now", "frozen"),
    [
        (listing("draft"), AFTER, False),  # nothing is public yet; publishing checks the dates
        (listing("announced"), BEFORE, False),
        (listing("registration"), BEFORE, False),
        (listing("registration"), AFTER, True),  # its timer has not fired yet: the rule has
        (listing("bidding"), BEFORE, True),
        (listing("suspended", suspended_from="registration"), BEFORE, False),
        (listing("suspended", suspended_from="bidding"), BEFORE, True),
        (listing("registration", reserve_commitment="0" * 64), BEFORE, True),
        (listing("draft", "mining_right"), AFTER, False),
        (listing("announced", "mining_right"), BEFORE, True),  # frozen at publication
        (listing("suspended", "mining_right", suspended_from="announced"), BEFORE, True),
    ],
)
def test_when_the_reserve_is_frozen(row: Listing, now: datetime, frozen: bool) -> None:
    assert is_frozen(row, now) is frozen
