"""closest_to_average through the API: with fewer than three valid quotes the highest wins and the
result says which rule applied (issue 15, item 6); a sealed quote has a range, not a grid."""

from __future__ import annotations

import pytest

from tests.support.api import Client
from tests.support.auctions import bid, live_auction
from tests.support.flow import wait_status

pytestmark = pytest.mark.databases()


async def test_two_valid_quotes_go_to_the_higher_and_the_result_says_why(client: Client) -> None:
    listing, (alice, bob, carol) = await live_auction(
        client, 3, closes_in=3, method="sealed_bid", award_rule="closest_to_average"
    )
    lid = listing["id"]
    for who, amount in ((alice, "1200000.00"), (bob, "1400000.50"), (carol, "1050000.00")):
        quoted = await bid(client, who, lid, amount)  # off the increment's grid is fine
        assert quoted.status_code == 201, quoted.text
    await wait_status(client, lid, "closed", timeout=15)
    # carol's quote is below the reserve (1,100,000.00): two valid quotes, no meaningful average
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["price"] == "1400000.50" and result["average_quote"] is None
    assert result["award_rule"] == "highest" and result["award_fallback"] is True
    page = (await client.get(f"/results/{lid}")).text
    assert 'data-field="award_rule"' in page


async def test_three_valid_quotes_go_to_the_closest_to_their_average(client: Client) -> None:
    listing, bidders = await live_auction(
        client, 3, closes_in=3, method="sealed_bid", award_rule="closest_to_average"
    )
    lid = listing["id"]
    for who, amount in zip(bidders, ("1500000.00", "1200000.00", "1800000.00"), strict=True):
        assert (await bid(client, who, lid, amount)).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["price"] == "1500000.00" and result["average_quote"] == "1500000.00"
    assert result["award_rule"] == "closest_to_average" and result["award_fallback"] is False
