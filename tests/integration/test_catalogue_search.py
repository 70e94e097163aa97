"""The catalogue's keyword search (``?q=``) on both databases: title, 地块编号, 坐落, seller and 文号,
case-insensitive for ASCII, every word required, LIKE wildcards taken literally."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Client, staff
from tests.support.listings import attributes, listing_body


@pytest.mark.databases()
async def test_keywords_search_title_parcel_location_and_seller(client: Client) -> None:
    operator = await staff(client, "operator")
    land: dict[str, Any] = attributes("land_use_right")

    async def create(title: str, seller: str, **attrs: str) -> int:
        body = listing_body(title=title, attributes={**land, **attrs})
        body["seller"] = {**body["seller"], "name": seller}
        created = await client.post("/api/v1/listings", json=body, headers=operator)
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    east = await create(
        "苏州东区工业用地", "苏州市自然资源和规划局", parcel_code="SZ-2026-E17", location="东环路 100% 地段"
    )
    west = await create(
        "西区商业用地 Plaza", "无锡市自然资源局", parcel_code="WX-2026-W03", location="西环路"
    )
    other = listing_body("emission_right", title="二氧化硫排污权")
    other["seller"] = {**other["seller"], "name": "省生态环境厅"}
    emission = await client.post("/api/v1/listings", json=other, headers=operator)
    assert emission.status_code == 201, emission.text

    async def found(q: str) -> set[int]:
        response = await client.get("/api/v1/listings", params={"q": q, "page_size": 100}, headers=operator)
        assert response.status_code == 200, response.text
        return {int(item["id"]) for item in response.json()["items"]}

    assert await found("工业") == {east}  # title
    assert await found("sz-2026") == {east}  # parcel code, any case
    assert await found("西环路") == {west}  # location
    assert await found("无锡") == {west}  # seller
    assert await found("plaza") == {west}
    assert await found("苏州 E17") == {east}  # every word, each anywhere
    assert await found("苏州 W03") == set()
    assert await found("100%") == {east}  # % is a character, not a wildcard
    assert await found("_") == set()
    assert {east, west, int(emission.json()["id"])} <= await found("  ")
    too_long = await client.get("/api/v1/listings", params={"q": "x" * 101})
    assert too_long.status_code == 400
