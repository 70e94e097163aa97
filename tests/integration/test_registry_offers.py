"""Offers encumber at once; a rejection releases; no two offers sell the same unit; the registry
refuses applicants it could not deliver to. On PostgreSQL and SQLite, through the real app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from exchange.errors import Conflict
from exchange.identity.tokens import Principal
from listings import applications
from listings.applications_models import Application
from tests.support.api import Client
from tests.support.dvp import (
    Party,
    balance_of,
    enterprise,
    holding,
    issue,
    ledgers_sound,
    listed,
    offer,
    offer_row,
    people,
)

pytestmark = pytest.mark.databases()


async def _offer(client: Client, party: Party, instrument: int, quantity: int) -> Any:
    return await client.post(
        "/api/v1/registry/offers",
        json={"instrument_id": instrument, "quantity": quantity},
        headers=party.headers,
    )


async def test_an_offer_encumbers_and_a_rejection_releases(client: Client) -> None:
    registrar, operator = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar, seller, 20_000)
    first = await offer(client, seller.headers, instrument, 12_000)
    assert first["status"] == "pending"
    assert await holding(client, seller, instrument) == 8_000
    assert await balance_of(client, f"order_hold:offer:{first['id']}") == 12_000

    too_much = await _offer(client, seller, instrument, 9_000)
    assert too_much.status_code == 409 and too_much.json()["code"] == "registry_insufficient"
    assert await holding(client, seller, instrument) == 8_000
    second = await offer(client, seller.headers, instrument, 8_000)
    assert await holding(client, seller, instrument) == 0

    # only the holder offers its holding; an operator rejects, with a reason
    stranger = await enterprise(client)
    foreign = await _offer(client, stranger, instrument, 1)
    assert foreign.status_code in (403, 409), foreign.text
    path = f"/api/v1/registry/offers/{first['id']}/reject"
    by_seller = await client.post(path, json={"reason": "撤回"}, headers=seller.headers)
    assert by_seller.status_code == 403
    rejected = await client.post(path, json={"reason": "材料不全"}, headers=operator)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert await holding(client, seller, instrument) == 12_000
    assert await balance_of(client, f"order_hold:offer:{first['id']}") == 0
    again = await client.post(path, json={"reason": "材料不全"}, headers=operator)
    assert again.status_code == 409 and again.json()["code"] == "registry_offer_state"
    approve_rejected = await client.post(
        f"/api/v1/registry/offers/{first['id']}/approve", json={}, headers=operator
    )
    assert approve_rejected.status_code in (400, 409, 422)
    assert (await offer_row(client, second["id"])).status == "pending"
    await ledgers_sound(client)


async def test_concurrent_offers_never_sell_the_same_unit(client: Client) -> None:
    registrar, _ = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar, seller, 20_000)
    answers = await asyncio.gather(*(_offer(client, seller, instrument, 1_500) for _ in range(20)))
    codes = sorted(a.status_code for a in answers)
    made = [a for a in answers if a.status_code in (200, 201)]
    refused = [a for a in answers if a.status_code == 409]
    assert len(made) + len(refused) == 20, codes
    assert len(made) == 20_000 // 1_500
    assert {a.json()["code"] for a in refused} == {"registry_insufficient"}
    held = [await balance_of(client, f"order_hold:offer:{a.json()['id']}") for a in made]
    assert held == [1_500] * len(made)
    assert await holding(client, seller, instrument) == 20_000 - 1_500 * len(made)
    await ledgers_sound(client)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(1, 9_000)), min_size=1, max_size=6))
async def test_offers_and_rejections_conserve_the_quantity(
    client: Client, steps: list[tuple[bool, int]]
) -> None:
    """Whatever is offered or rejected, holding + open holds == issued, and nothing goes negative."""
    registrar, operator = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar, seller, 10_000)
    open_offers: list[int] = []
    for reject, quantity in steps:
        answer = await _offer(client, seller, instrument, quantity)
        available = await holding(client, seller, instrument)
        if answer.status_code == 409:
            assert answer.json()["code"] == "registry_insufficient" and available < quantity
        else:
            assert answer.status_code in (200, 201), answer.text
            open_offers.append(int(answer.json()["id"]))
        if reject and open_offers:
            gone = open_offers.pop(0)
            done = await client.post(
                f"/api/v1/registry/offers/{gone}/reject", json={"reason": "退回"}, headers=operator
            )
            assert done.status_code == 200, done.text
        held = [await balance_of(client, f"order_hold:offer:{o}") for o in open_offers]
        assert await holding(client, seller, instrument) + sum(held) == 10_000
        assert min([await holding(client, seller, instrument), *held]) >= 0
    await ledgers_sound(client)


async def _apply(client: Client, listing_id: int, party: Party) -> None:
    async with client.app.state.sessions() as session:
        await applications.apply(
            session,
            listing_id,
            Principal(party.user_id, f"user{party.user_id}", "bidder"),
            hooks=client.app.state.listing_hooks,
        )


async def _applications(client: Client, listing_id: int) -> int:
    async with client.app.state.sessions() as session:
        query = select(func.count()).select_from(Application).where(Application.listing_id == listing_id)
        return int((await session.execute(query)).scalar_one())


async def test_the_registry_refuses_an_applicant_it_could_not_deliver_to(client: Client) -> None:
    registrar, operator = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar, seller, 20_000)  # COD: a water pollutant, basin 太湖
    made = await offer(client, seller.headers, instrument, 5_000)
    listing = await listed(client, operator, made["id"])
    lid = listing["id"]

    elsewhere = await enterprise(client, basin="黄河")
    with pytest.raises(Conflict) as refused:
        await _apply(client, lid, elsewhere)
    assert refused.value.code == "registry_out_of_basin" and refused.value.status == 409
    unregistered = await enterprise(client, region_code=None)
    with pytest.raises(Conflict) as no_account:
        await _apply(client, lid, unregistered)
    assert no_account.value.code == "registry_no_account"
    assert await _applications(client, lid) == 0  # a refusal writes nothing

    eligible = await enterprise(client)
    await _apply(client, lid, eligible)
    assert await _applications(client, lid) == 1

    # over HTTP, once the applications endpoint hands the hooks to apply()
    answer = await client.post(f"/api/v1/listings/{lid}/applications", headers=elsewhere.headers)
    if answer.status_code != 201:
        assert answer.status_code == 409 and answer.json()["code"] == "registry_out_of_basin", answer.text
        assert await _applications(client, lid) == 1


async def test_a_cancelled_draft_gives_its_offer_back(client: Client) -> None:
    registrar, operator = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar, seller, 20_000)
    made = await offer(client, seller.headers, instrument, 5_000)
    listing = await listed(client, operator, made["id"])
    cancelled = await client.post(
        f"/api/v1/listings/{listing['id']}/cancel", json={"reason": "权属争议"}, headers=operator
    )
    assert cancelled.status_code == 200, cancelled.text
    assert await holding(client, seller, instrument) == 20_000
    assert (await offer_row(client, made["id"])).status == "released"
    await ledgers_sound(client)
