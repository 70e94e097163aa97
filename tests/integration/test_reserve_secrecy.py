"""The reserve price never reaches anyone but staff before the close.

When it may change and how it is committed: ``test_reserve_commitment.py``.
"""

from __future__ import annotations

import logging

import pytest

from tests.support.api import Client, bidder, staff
from tests.support.listings import listing_body, statutory_schedule

RESERVE = "7654321.09"
FORMS = ("7654321.09", "765432109", "7654321")


def _leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


async def test_reserve_is_staff_only(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    operator = await staff(client, "operator")
    auditor = await staff(client, "auditor")
    someone = await bidder(client)
    body = listing_body(schedule=statutory_schedule("land_use_right"), reserve_price=RESERVE)
    created = await client.post("/api/v1/listings", json=body, headers=operator)
    listing_id = created.json()["id"]
    assert created.json()["reserve_price"] == RESERVE  # the operator who set it sees it
    await client.post(f"/api/v1/listings/{listing_id}/publish", headers=operator)
    changed = await client.put(
        f"/api/v1/listings/{listing_id}/reserve", json={"reserve_price": "7654321.00"}, headers=operator
    )
    assert changed.status_code == 200, changed.text
    await client.put(
        f"/api/v1/listings/{listing_id}/reserve", json={"reserve_price": RESERVE}, headers=operator
    )

    responses = []
    for headers in (None, someone):
        responses += [
            await client.get("/api/v1/listings", headers=headers),
            await client.get(f"/api/v1/listings/{listing_id}", headers=headers),
            await client.get("/api/v1/listings", params={"asset_class": "land_use_right"}, headers=headers),
            await client.put(
                f"/api/v1/listings/{listing_id}/reserve", json={"reserve_price": "1.00"}, headers=headers
            ),
            await client.get(f"/api/v1/audit/listing:{listing_id}", headers=headers),
            await client.get("/schema/openapi.json", headers=headers),
        ]
    for response in responses:
        assert not _leaks(response.text), (response.request.url, response.text[:300])
    detail = (await client.get(f"/api/v1/listings/{listing_id}")).json()
    assert detail["has_reserve"] is True and "reserve_price" not in detail
    assert (await client.get(f"/api/v1/listings/{listing_id}", headers=auditor)).json()[
        "reserve_price"
    ] == RESERVE
    assert not _leaks(caplog.text), "the reserve was logged"
