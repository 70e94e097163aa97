"""Issue 15, item 9 through HTTP: the mining rules' current text, no mining tender, and the
state-owned technology disclosure of 10 or 20 working days by the start price."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from exchange.clock import utcnow
from listings.profiles import earliest_bidding_date
from listings.workdays import SHANGHAI, add_working_days, local_date
from tests.support.api import Client, staff
from tests.support.listings import listing_body

pytestmark = pytest.mark.databases()


@pytest.fixture(autouse=True)
def _english(client: Client) -> None:
    """The details asserted here are the domain's English sentences (``Accept-Language: en``)."""
    client.headers["Accept-Language"] = "en"


def opening_on(day: date) -> dict[str, Any]:
    """Announced now; bidding from ``day`` 09:00 (Shanghai) for a day."""
    now = utcnow()
    opens = datetime(day.year, day.month, day.day, 9, tzinfo=SHANGHAI)
    return {
        "announce_at": now.isoformat(),
        "registration_opens_at": (now + timedelta(hours=1)).isoformat(),  # after publication
        "registration_closes_at": (opens - timedelta(hours=1)).isoformat(),
        "bidding_opens_at": opens.isoformat(),
        "bidding_closes_at": (opens + timedelta(days=1)).isoformat(),
        "extension_seconds": 300,
    }


async def publish(client: Client, operator: dict[str, str], body: dict[str, Any]) -> Any:
    created = await client.post("/api/v1/listings", json=body, headers=operator)
    assert created.status_code == 201, created.text
    return await client.post(f"/api/v1/listings/{created.json()['id']}/publish", headers=operator)


async def test_a_mining_tender_is_not_offered(client: Client) -> None:
    operator = await staff(client, "operator")
    refused = await client.post(
        "/api/v1/listings", json=listing_body("mining_right", "sealed_bid"), headers=operator
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "listing_invalid"
    [error] = [e for e in refused.json()["errors"] if e["field"] == "method"]
    assert error["code"] == "method_not_allowed"
    assert "tender (招标) is scored" in error["message"]
    # The other classes keep their sealed quote, and mining its auctions and 挂牌.
    for body in (listing_body("technology", "sealed_bid"), listing_body("mining_right", "english")):
        assert (await client.post("/api/v1/listings", json=body, headers=operator)).status_code == 201


async def test_a_mining_lead_cites_the_current_rules(client: Client) -> None:
    operator = await staff(client, "operator")
    body = listing_body(
        "mining_right", "english", schedule=opening_on(local_date(utcnow()) + timedelta(days=10))
    )
    short = await publish(client, operator, body)
    assert short.status_code == 422, short.text
    assert short.json()["code"] == "announcement_lead_too_short"
    assert "矿业权出让交易规则, 自然资规〔2023〕1号" in short.json()["detail"]
    assert "2019" not in short.json()["detail"]


@pytest.mark.parametrize(
    ("start_price", "working_days"),
    [("1000000.00", 10), ("10000000.00", 10), ("10000000.01", 20), ("25000000.00", 20)],
)
async def test_state_owned_technology_is_disclosed_by_its_start_price(
    client: Client, start_price: str, working_days: int
) -> None:
    operator = await staff(client, "operator")
    today = local_date(utcnow())
    # The app counts with the calendar this process holds (loaded at its start-up).
    earliest = earliest_bidding_date(
        "technology", "english", today, state_owned=True, start_price=int(start_price.replace(".", ""))
    )
    assert earliest == add_working_days(today, working_days)
    attributes = listing_body("technology")["attributes"] | {"state_owned": True}

    def body(opens: date) -> dict[str, Any]:
        return listing_body(
            "technology",
            "english",
            schedule=opening_on(opens),
            attributes=attributes,
            start_price=start_price,
            increment="100.00",
            deposit="1000.00",
        )

    short = await publish(client, operator, body(add_working_days(earliest, -1)))
    assert short.status_code == 422, short.text
    assert short.json()["code"] == "announcement_lead_too_short"
    assert f"at least {working_days} are required" in short.json()["detail"]
    assert "32号令" in short.json()["detail"]
    published = await publish(client, operator, body(earliest))
    assert published.status_code == 200, published.text
