"""The reserve freezes when bidding opens (mining rights: when published), its commitment is
published before any bid, and the result opens it: anyone recomputes the commitment from the
published reserve and salt (issue 15, item 1)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.support.api import Client, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import open_registration, qualified_bidder, start_bidding, wait_status
from tests.support.listings import listing_body

pytestmark = pytest.mark.databases()

SECRET_FORMS = ("1300000.00", "130000000", "1,300,000")


def recomputed(reserve_price: str | None, salt: str) -> str:
    """The check docs/rules.md gives the public: the reserve in fen, or "none", a colon, the salt."""
    fen = "none" if reserve_price is None else str(int(Decimal(reserve_price) * 100))
    return hashlib.sha256(f"{fen}:{salt}".encode()).hexdigest()


async def put_reserve(client: Client, operator: dict[str, str], listing_id: int, value: str | None) -> Any:
    return await client.put(
        f"/api/v1/listings/{listing_id}/reserve", json={"reserve_price": value}, headers=operator
    )


async def test_the_reserve_freezes_when_bidding_opens_and_the_result_opens_it(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, closes=600, bidding=601, bidding_closes=605)
    lid = listing["id"]
    assert "reserve_commitment" not in listing
    changed = await put_reserve(client, operator, lid, "1300000.00")  # registration: still allowed
    assert changed.status_code == 200, changed.text
    assert "reserve_commitment" not in (await client.get(f"/api/v1/listings/{lid}")).json()
    alice, _ = await qualified_bidder(client, operator, listing)
    # room for the checks below before the close, on a loaded machine
    await start_bidding(client, operator, lid, closes_in=5, extension=1)
    await wait_status(client, lid, "bidding", timeout=30)

    public = (await client.get(f"/api/v1/listings/{lid}")).json()
    committed = public["reserve_commitment"]
    assert len(committed) == 64
    page = await client.get(f"/listings/{lid}")
    assert committed in page.text
    for view in (public, page.text):
        assert not any(form in str(view) for form in SECRET_FORMS)
    for value in ("1000000.00", "1300000.00", None):
        refused = await put_reserve(client, operator, lid, value)
        assert refused.status_code == 409 and refused.json()["code"] == "reserve_locked", refused.text
    staff_view = (await client.get(f"/api/v1/listings/{lid}", headers=operator)).json()
    assert staff_view["reserve_price"] == "1300000.00" and staff_view["reserve_commitment"] == committed

    # above the reserve the listing was created with, below the one committed: the committed one decides
    first = await bid(client, alice, lid, "1200000.00")
    assert first.status_code == 201, first.text
    committed_at = datetime.fromisoformat(public["reserve_committed_at"])
    assert committed_at <= datetime.fromisoformat(first.json()["accepted_at"])  # before any bid
    await wait_status(client, lid, "failed", timeout=15)
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["reason"] == "below_reserve" and result["reserve_price"] == "1300000.00"
    assert result["reserve_commitment"] == committed == recomputed("1300000.00", result["reserve_salt"])
    opened = (await client.get(f"/results/{lid}")).text
    assert result["reserve_salt"] in opened and committed in opened
    exported = (await client.get("/api/v1/results/export.csv")).text
    assert result["reserve_salt"] in exported and committed in exported
    after = await put_reserve(client, operator, lid, "1000000.00")
    assert after.status_code == 409 and after.json()["code"] == "listing_final"


async def test_no_reserve_is_committed_too(client: Client) -> None:
    listing, (alice,) = await live_auction(client, 1, closes_in=2, asset_class="technology")
    lid = listing["id"]
    committed = (await client.get(f"/api/v1/listings/{lid}")).json()["reserve_commitment"]
    operator = await staff(client, "operator")
    added = await put_reserve(client, operator, lid, "1500000.00")  # a reserve cannot appear later
    assert added.status_code == 409 and added.json()["code"] == "reserve_locked"
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["outcome"] == "sold" and result["reserve_price"] is None
    assert result["reserve_commitment"] == committed == recomputed(None, result["reserve_salt"])


async def test_a_mining_reserve_freezes_at_publication(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(
        client, operator, asset_class="mining_right", closes=600, bidding=601, bidding_closes=605
    )
    lid = listing["id"]
    committed = listing["reserve_commitment"]
    assert len(committed) == 64
    assert (await client.get(f"/api/v1/listings/{lid}")).json()["reserve_commitment"] == committed
    refused = await put_reserve(client, operator, lid, "1200000.00")
    assert refused.status_code == 409 and refused.json()["code"] == "reserve_locked"
    staff_view = (await client.get(f"/api/v1/listings/{lid}", headers=operator)).json()
    assert staff_view["reserve_price"] == "1100000.00"


async def test_a_draft_reserve_may_change_whatever_its_dates(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await client.post("/api/v1/listings", json=listing_body("mining_right"), headers=operator)
    lid = created.json()["id"]
    changed = await put_reserve(client, operator, lid, "1200000.00")
    assert changed.status_code == 200 and changed.json()["reserve_price"] == "1200000.00"
    assert "reserve_commitment" not in changed.json()
