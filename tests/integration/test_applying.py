"""Applying with the online 竞买申请书 and 竞买承诺书 (issue 17): recorded when sent, both required
then, and the API still takes an application without them (clients written before)."""

from __future__ import annotations

from listings import declarations
from tests.support.api import Client, bidder, staff
from tests.support.flow import apply, open_registration


async def test_declarations_are_recorded_checked_and_optional(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    url = f"/api/v1/listings/{listing['id']}/applications"
    headers = await bidder(client)

    half = await client.post(
        url, json={"declarations": {"application_form": True, "commitment": False}}, headers=headers
    )
    assert half.status_code == 422, half.text
    assert half.json()["code"] == "declarations_required"
    assert [e["field"] for e in half.json()["errors"]] == ["declarations.commitment"]
    stale = {"application_form": True, "commitment": True, "version": "v0-old"}
    outdated = await client.post(url, json={"declarations": stale}, headers=headers)
    assert outdated.status_code == 409 and outdated.json()["code"] == "declarations_outdated"

    both = {"application_form": True, "commitment": True, "version": declarations.VERSION}
    created = await client.post(url, json={"declarations": both}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["declared_at"]
    view = (await client.get(f"/api/v1/applications/{created.json()['id']}", headers=headers)).json()
    assert view["declared_at"] == created.json()["declared_at"]
    async with client.app.state.sessions() as session:
        from listings.applications_models import Application

        row = await session.get(Application, created.json()["id"])
        assert row is not None and row.declaration_version == declarations.VERSION

    # no body, as before: applied, nothing declared
    plain = await apply(client, listing["id"], await bidder(client))
    assert "declared_at" not in plain
    empty = await client.post(url, json={}, headers=await bidder(client))
    assert empty.status_code == 201 and "declared_at" not in empty.json()
