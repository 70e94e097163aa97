"""Listings through HTTP: every asset class published, field errors, lifecycle, roles."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from exchange.clock import utcnow
from listings.models import Listing
from listings.schemas import ListingCreate, ListingUpdate
from tests.support.api import Client, bidder, staff
from tests.support.listings import listing_body, sandbox_schedule, statutory_schedule

ASSET_CLASSES = ["land_use_right", "mining_right", "emission_right", "water_right", "technology"]


async def _create(client: Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/listings", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize("asset_class", ASSET_CLASSES)
async def test_every_class_publishes_under_the_statutory_profile(client: Client, asset_class: str) -> None:
    operator = await staff(client, "operator")
    created = await _create(
        client, operator, listing_body(asset_class, schedule=statutory_schedule(asset_class))
    )
    assert created["status"] == "draft"
    published = await client.post(f"/api/v1/listings/{created['id']}/publish", headers=operator)
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["status"] == "announced"
    assert len(body["seed_commitment"]) == 64
    public = await client.get(f"/api/v1/listings/{created['id']}")
    assert public.status_code == 200
    assert public.json()["attributes"] == body["attributes"]
    assert public.json()["price_unit"]


@pytest.mark.parametrize(
    ("asset_class", "field", "value", "error_field"),
    [
        ("land_use_right", "term_years", 71, "attributes.term_years"),
        ("mining_right", "boundary", [["119.9", "30.1"], ["119.95", "30.1"]], "attributes.boundary"),
        ("emission_right", "pollutant", "PM2.5", "attributes.pollutant"),
        ("water_right", "volume", "-5", "attributes.volume"),
        ("technology", "ip_type", "trademark", "attributes.ip_type"),
    ],
)
async def test_invalid_attributes_name_the_field(
    client: Client, asset_class: str, field: str, value: Any, error_field: str
) -> None:
    operator = await staff(client, "operator")
    body = listing_body(asset_class)
    body["attributes"][field] = value
    response = await client.post("/api/v1/listings", json=body, headers=operator)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "listing_invalid"
    assert any(e["field"].startswith(error_field) for e in problem["errors"]), problem["errors"]
    listings = await client.get("/api/v1/listings", headers=operator)
    assert listings.json()["total"] == 0


async def test_method_parameters_are_checked(client: Client) -> None:
    operator = await staff(client, "operator")
    response = await client.post(
        "/api/v1/listings",
        json=listing_body("emission_right", "uniform_price", max_bidder_share="1.5", lot=None),
        headers=operator,
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert "max_bidder_share" in fields
    money = await client.post("/api/v1/listings", json=listing_body(increment="10.001"), headers=operator)
    assert money.status_code == 400  # not a money string at all: schema validation


async def test_statutory_lead_time_is_enforced_on_publish(client: Client) -> None:
    operator = await staff(client, "operator")
    schedule = statutory_schedule("land_use_right")
    opens = utcnow() + timedelta(days=19)
    schedule.update(
        registration_closes_at=(opens - timedelta(days=1)).isoformat(),
        bidding_opens_at=opens.isoformat(),
        bidding_closes_at=(opens + timedelta(days=20)).isoformat(),
    )
    created = await _create(client, operator, listing_body(schedule=schedule))
    response = await client.post(f"/api/v1/listings/{created['id']}/publish", headers=operator)
    assert response.status_code == 422
    assert response.json()["code"] == "announcement_lead_too_short"
    again = await client.get(f"/api/v1/listings/{created['id']}", headers=operator)
    assert again.json()["status"] == "draft"


async def test_land_deposit_below_twenty_percent_is_refused(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await _create(
        client, operator, listing_body(schedule=statutory_schedule("land_use_right"), deposit="199999.99")
    )
    response = await client.post(f"/api/v1/listings/{created['id']}/publish", headers=operator)
    assert response.status_code == 422
    assert response.json()["code"] == "deposit_below_minimum"


async def test_sandbox_profile_accepts_one_second_periods(client: Client) -> None:
    client.app.state.settings = _sandbox(client)
    operator = await staff(client, "operator")
    created = await _create(client, operator, listing_body(schedule=sandbox_schedule(bidding=3, closes=5)))
    response = await client.post(f"/api/v1/listings/{created['id']}/publish", headers=operator)
    assert response.status_code == 200, response.text


def _sandbox(client: Client) -> Any:
    from dataclasses import replace

    return replace(client.app.state.settings, profile="sandbox")


async def test_only_drafts_are_edited_and_only_by_operators(client: Client) -> None:
    operator = await staff(client, "operator")
    auditor = await staff(client, "auditor")
    someone = await bidder(client)
    created = await _create(client, operator, listing_body(schedule=statutory_schedule("land_use_right")))
    url = f"/api/v1/listings/{created['id']}"
    assert (await client.patch(url, json={"title": "新标题"}, headers=someone)).status_code == 403
    assert (await client.patch(url, json={"title": "新标题"}, headers=auditor)).status_code == 403
    assert (await client.patch(url, json={"title": "新标题"})).status_code == 401
    edited = await client.patch(url, json={"title": "新标题", "start_price": "900000.00"}, headers=operator)
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "新标题" and edited.json()["start_price"] == "900000.00"
    invalid = await client.patch(url, json={"deposit": "-1.00"}, headers=operator)
    assert invalid.status_code == 422
    await client.post(f"{url}/publish", headers=operator)
    late = await client.patch(url, json={"title": "再改"}, headers=operator)
    assert late.status_code == 409 and late.json()["code"] == "listing_not_draft"


async def test_an_edit_is_a_merge_patch_null_clears_an_optional_field(client: Client) -> None:
    operator = await staff(client, "operator")
    body = listing_body("emission_right", "english", price_cap="1500000.00", cap_rule="lottery")
    body["lottery_window_seconds"] = 600
    created = await _create(client, operator, body)
    url = f"/api/v1/listings/{created['id']}"
    assert created["price_cap"] == "1500000.00" and created["method_params"]["cap_rule"] == "lottery"

    # Clearing the cap alone leaves a lottery with nothing to draw at: the merged listing is refused.
    half = await client.patch(url, json={"price_cap": None}, headers=operator)
    assert half.status_code == 422, half.text
    assert [e["code"] for e in half.json()["errors"]] == ["cap_required"]
    assert (await client.get(url, headers=operator)).json()["price_cap"] == "1500000.00"

    cleared = await client.patch(
        url,
        json={"price_cap": None, "cap_rule": None, "lottery_window_seconds": None, "description": None},
        headers=operator,
    )
    assert cleared.status_code == 200, cleared.text
    saved = (await client.get(url, headers=operator)).json()
    assert saved.get("price_cap") is None and saved.get("description", "") == ""
    assert saved["method_params"].get("cap_rule") is None
    assert saved["method_params"].get("lottery_window_seconds") is None
    assert saved["title"] == body["title"] and saved["start_price"] == body["start_price"]  # not sent: kept

    for required in ("title", "start_price", "schedule", "method"):
        refused = await client.patch(url, json={required: None}, headers=operator)
        assert refused.status_code == 400 and refused.json()["code"] == "validation_failed", refused.text
        assert [e["field"] for e in refused.json()["errors"]] == [required]
    after = (await client.get(url, headers=operator)).json()
    assert {**after, "server_time": None} == {**saved, "server_time": None}

    audit = await client.get(f"/api/v1/audit/listing:{created['id']}", headers=await staff(client, "auditor"))
    updates = [e["payload"] for e in audit.json() if e["action"] == "listing.updated"]
    assert len(updates) == 1 and updates[0]["price_cap"] is None


async def test_a_uniform_price_draft_with_a_share_cap_can_be_edited(client: Client) -> None:
    """The share is kept as the decimal it was given as; one stored as a fraction ("3/10",
    as before) is still edited and relisted, instead of failing as a 500."""
    operator = await staff(client, "operator")
    body = listing_body("emission_right", "uniform_price", max_bidder_share="0.3")
    created = await _create(client, operator, body)
    assert created["method_params"]["max_bidder_share"] == "0.3"
    url = f"/api/v1/listings/{created['id']}"
    async with client.app.state.sessions() as session:
        listing = await session.get(Listing, created["id"])
        assert listing is not None
        listing.method_params = {**listing.method_params, "max_bidder_share": "3/10"}
        await session.commit()

    later = datetime.fromisoformat(body["schedule"]["bidding_closes_at"]) + timedelta(minutes=1)
    schedule = {**body["schedule"], "bidding_closes_at": later.isoformat()}
    edited = await client.patch(url, json={"title": "改名", "schedule": schedule}, headers=operator)
    assert edited.status_code == 200, edited.text
    assert edited.json()["method_params"]["max_bidder_share"] == "0.3"
    audit = await client.get(f"/api/v1/audit/listing:{created['id']}", headers=await staff(client, "auditor"))
    (update,) = [e["payload"] for e in audit.json() if e["action"] == "listing.updated"]
    assert datetime.fromisoformat(update["bidding_closes_at"]) == later  # the edited dates are on record
    assert update["title"] == "改名"


def test_an_edit_takes_every_creation_field_but_the_asset_class() -> None:
    created = set(ListingCreate.__struct_fields__) - {"asset_class"}
    assert set(ListingUpdate.__struct_fields__) == created


async def test_suspend_resume_cancel(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await _create(client, operator, listing_body(schedule=statutory_schedule("land_use_right")))
    url = f"/api/v1/listings/{created['id']}"
    not_live = await client.post(f"{url}/suspend", json={"reason": "x"}, headers=operator)
    assert not_live.status_code == 409
    await client.post(f"{url}/publish", headers=operator)
    suspended = await client.post(f"{url}/suspend", json={"reason": "权属争议"}, headers=operator)
    assert suspended.json()["status"] == "suspended"
    resumed = await client.post(f"{url}/resume", json={}, headers=operator)
    assert resumed.json()["status"] == "announced"
    cancelled = await client.post(f"{url}/cancel", json={"reason": "规划调整"}, headers=operator)
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["status_reason"] == "规划调整"
    again = await client.post(f"{url}/cancel", json={"reason": "again"}, headers=operator)
    assert again.status_code == 409 and again.json()["code"] == "listing_final"
    audit = await client.get(f"/api/v1/audit/listing:{created['id']}", headers=await staff(client, "auditor"))
    actions = [e["action"] for e in audit.json()]
    assert actions == [
        "listing.created",
        "listing.published",
        "listing.suspended",
        "listing.resumed",
        "listing.cancelled",
    ]


async def test_catalogue_filters_and_pages(client: Client) -> None:
    operator = await staff(client, "operator")
    for asset_class in ASSET_CLASSES:
        created = await _create(
            client, operator, listing_body(asset_class, schedule=statutory_schedule(asset_class))
        )
        await client.post(f"/api/v1/listings/{created['id']}/publish", headers=operator)
    await _create(client, operator, listing_body("technology", schedule=statutory_schedule("technology")))
    everything = (await client.get("/api/v1/listings")).json()
    assert everything["total"] == 5  # the draft is not public
    assert (await client.get("/api/v1/listings", headers=operator)).json()["total"] == 6
    water = (await client.get("/api/v1/listings", params={"asset_class": "water_right"})).json()
    assert [item["asset_class"] for item in water["items"]] == ["water_right"]
    region = (await client.get("/api/v1/listings", params={"region": "320571"})).json()
    assert [item["asset_class"] for item in region["items"]] == ["land_use_right"]
    province = (await client.get("/api/v1/listings", params={"region": "32"})).json()
    assert [item["asset_class"] for item in province["items"]] == ["land_use_right"]
    assert (await client.get("/api/v1/listings", params={"region": "3205719"})).json()["total"] == 0
    page = (await client.get("/api/v1/listings", params={"page": 2, "page_size": 2, "sort": "id"})).json()
    assert [item["id"] for item in page["items"]] == [
        everything["items"][2]["id"],
        everything["items"][1]["id"],
    ]
    bad = await client.get("/api/v1/listings", params={"asset_class": "gold"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_failed"
    drafts_hidden = await client.get("/api/v1/listings", params={"status": "draft"})
    assert drafts_hidden.json()["total"] == 0
