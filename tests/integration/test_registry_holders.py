"""Where a registry holder is, on PostgreSQL and SQLite: an enterprise's own declaration of its
region and basin buys nothing until the registrar has verified it, and the registrar's correction
decides what it may buy (issue 18 review: an out-of-basin enterprise declared the seller's basin
and passed every trade check).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from exchange.audit.models import AuditEntry
from exchange.db import unit_of_work
from settlement.registry.book import STREAM
from settlement.registry.issuance import holder_by_code
from tests.support.api import Client, register_bidder, token_for
from tests.support.dvp import Party, issue, listed, offer, people, user_id
from tests.support.ids import credit_code
from tests.support.registry import BASIN, REGION, open_verified

pytestmark = pytest.mark.databases()

HOLDERS = "/api/v1/registry/holders"
DATONG = "140202"
"""大同市城区: Shanxi like Taiyuan, but in the Hai River basin (海河), not the Yellow River's."""


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["code"] == code, body
    return body


async def _bidder(client: Client) -> tuple[dict[str, str], str, int]:
    """A Shanxi enterprise (credit code 91 140100 ...) with a login and no registry account yet."""
    code = credit_code()
    user = await register_bidder(client, credit_code=code)
    return await token_for(client, user["username"]), code, int(user["id"])


async def _declares(client: Client, region_code: str, basin: str | None) -> Party:
    """An enterprise that opens its own registry account, declaring where it is."""
    headers, code, uid = await _bidder(client)
    opened = await client.post(HOLDERS, json={"region_code": region_code, "basin": basin}, headers=headers)
    assert opened.status_code == 201, opened.text
    assert opened.json()["verified"] is False
    return Party(headers, uid, code, int(opened.json()["id"]))


async def _verified(client: Client) -> Party:
    headers, code, uid = await _bidder(client)
    holder_id = await open_verified(client, code, "太原某某化工有限公司", region_code=REGION, basin=BASIN)
    return Party(headers, uid, code, holder_id)


async def _agreement(client: Client, seller: Party, instrument_id: int, buyer: Party) -> Any:
    terms = {"instrument_id": instrument_id, "quantity": 100, "price": "900.00"}
    return await client.post(
        "/api/v1/registry/agreements",
        json={**terms, "buyer_credit_code": buyer.credit_code},
        headers=seller.headers,
    )


async def _apply(client: Client, listing_id: int, buyer: Party) -> Any:
    return await client.post(f"/api/v1/listings/{listing_id}/applications", headers=buyer.headers)


async def test_a_declared_basin_buys_nothing_until_the_registrar_verifies_it(client: Client) -> None:
    registrar, operator = await people(client)
    seller = await _verified(client)
    # COD: a water pollutant, traded within the Yellow River basin and within Shanxi
    instrument = await issue(client, registrar, seller, 10_000, region_code=REGION, basin=BASIN)
    listing = await listed(client, operator, (await offer(client, seller.headers, instrument, 1_000))["id"])
    # in Datong (Hai River basin) in truth, it declares itself in Taiyuan on the Yellow River
    outsider = await _declares(client, REGION, BASIN)
    _problem(await _apply(client, listing["id"], outsider), 409, "registry_account_unverified")
    _problem(await _agreement(client, seller, instrument, outsider), 409, "registry_account_unverified")

    waiting = await client.get(HOLDERS, params={"verified": "false"}, headers=registrar)
    assert waiting.status_code == 200, waiting.text
    assert outsider.credit_code in [h["credit_code"] for h in waiting.json()]
    assert seller.credit_code not in [h["credit_code"] for h in waiting.json()]

    # the registrar corrects the declaration: the correction, not the declaration, decides
    corrected = await client.post(
        f"{HOLDERS}/{outsider.credit_code}/verify",
        json={"region_code": DATONG, "basin": "海河"},
        headers=registrar,
    )
    assert corrected.status_code == 200, corrected.text
    view = corrected.json()
    assert (view["region_code"], view["basin"], view["verified"]) == (DATONG, "海河", True)
    assert view["verified_at"]
    _problem(await _apply(client, listing["id"], outsider), 409, "registry_out_of_basin")
    _problem(await _agreement(client, seller, instrument, outsider), 409, "registry_out_of_basin")
    waiting = (await client.get(HOLDERS, params={"verified": "false"}, headers=registrar)).json()
    assert outsider.credit_code not in [h["credit_code"] for h in waiting]

    # an honest declaration, verified as it stands, may buy
    neighbour = await _declares(client, "140107", BASIN)
    _problem(await _agreement(client, seller, instrument, neighbour), 409, "registry_account_unverified")
    confirmed = await client.post(f"{HOLDERS}/{neighbour.credit_code}/verify", json={}, headers=registrar)
    assert confirmed.status_code == 200 and confirmed.json()["region_code"] == "140107", confirmed.text
    applied = await _apply(client, listing["id"], neighbour)
    assert applied.status_code == 201, applied.text
    agreed = await _agreement(client, seller, instrument, neighbour)
    assert agreed.status_code == 201, agreed.text

    # who verified and when is on the holder and in the registry's audit chain
    registrar_id = await user_id(client, registrar)
    async with client.app.state.sessions() as session:
        row = await holder_by_code(session, outsider.credit_code)
        assert row is not None and row.verified_by == registrar_id and row.verified_at is not None
        events = (
            (
                await session.execute(
                    select(AuditEntry).where(
                        AuditEntry.stream == STREAM, AuditEntry.action == "registry.holder_verified"
                    )
                )
            )
            .scalars()
            .all()
        )
    mine = [e for e in events if e.payload["credit_code"] == outsider.credit_code]
    assert len(mine) == 1 and mine[0].actor == f"user:{registrar_id}"
    assert mine[0].payload["declared"] == {"region_code": REGION, "basin": BASIN}
    assert mine[0].payload["verified"] == {"region_code": DATONG, "basin": "海河"}

    _problem(
        await client.post(f"{HOLDERS}/{credit_code()}/verify", json={}, headers=registrar),
        404,
        "registry_not_found",
    )


async def test_an_enterprise_declares_only_its_own_province(client: Client) -> None:
    """GB 32100: characters 3-8 of a credit code are the division that registered it."""
    headers, code, _ = await _bidder(client)
    refused = await client.post(HOLDERS, json={"region_code": "320505", "basin": "太湖"}, headers=headers)
    _problem(refused, 422, "registry_region_mismatch")
    async with client.app.state.sessions() as session:
        assert await holder_by_code(session, code) is None
    # the registrar may place an enterprise anywhere (it moved since it registered)
    registrar, _ = await people(client)
    moved = await client.post(
        HOLDERS,
        json={"region_code": "320505", "basin": "太湖", "credit_code": code, "name": "迁址企业有限公司"},
        headers=registrar,
    )
    assert moved.status_code == 201 and moved.json()["verified"] is True, moved.text


async def test_an_unverified_holder_sells_nothing(client: Client) -> None:
    registrar, _ = await people(client)
    holder = await _declares(client, REGION, BASIN)
    buyer = await _verified(client)
    instrument = await issue(client, registrar, holder, 5_000, region_code=REGION, basin=BASIN)
    offered = await client.post(
        "/api/v1/registry/offers", json={"instrument_id": instrument, "quantity": 100}, headers=holder.headers
    )
    _problem(offered, 409, "registry_account_unverified")
    _problem(await _agreement(client, holder, instrument, buyer), 409, "registry_account_unverified")
    account = (await client.get(f"{HOLDERS}/me", headers=holder.headers)).json()
    (line,) = account["holdings"]
    assert (line["available"], line["held"]) == (5_000, 0)  # nothing was encumbered
    # the registrar repeating the declared particulars verifies the account as well
    again = await client.post(
        HOLDERS,
        json={
            "region_code": REGION,
            "basin": BASIN,
            "credit_code": holder.credit_code,
            "name": account["holder"]["name"],
        },
        headers=registrar,
    )
    assert again.status_code == 201 and again.json()["verified"] is True, again.text
    offered = await client.post(
        "/api/v1/registry/offers", json={"instrument_id": instrument, "quantity": 100}, headers=holder.headers
    )
    assert offered.status_code == 201, offered.text


async def test_verification_records_nothing_twice_and_may_clear_a_basin(client: Client) -> None:
    registrar, _ = await people(client)
    holder = await _declares(client, REGION, BASIN)
    url = f"{HOLDERS}/{holder.credit_code}/verify"
    first = await client.post(url, json={}, headers=registrar)
    again = await client.post(url, json={}, headers=registrar)
    assert first.status_code == again.status_code == 200
    assert again.json()["verified_at"] == first.json()["verified_at"]
    cleared = await client.post(url, json={"basin": None}, headers=registrar)
    assert cleared.json()["basin"] is None and cleared.json()["region_code"] == REGION, cleared.text
    bad = await client.post(url, json={"region_code": "32"}, headers=registrar)
    assert bad.status_code == 400, bad.text
    async with unit_of_work(client.app.state.sessions) as session:
        kinds = (
            (
                await session.execute(
                    select(AuditEntry.payload).where(
                        AuditEntry.stream == STREAM, AuditEntry.action == "registry.holder_verified"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len([p for p in kinds if p["credit_code"] == holder.credit_code]) == 2
