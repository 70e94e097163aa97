"""Uniform price: the share limit per group of affiliated bidders, and the bid guarantee (issue 15, item 7).

Through HTTP on both databases: an enterprise declares its group by the controlling company's
credit code (at registration or later, audited); two affiliated accounts together cannot bid
beyond the share while an unaffiliated one can; a bid its deposit does not cover is 422
``guarantee_exceeded`` and changes nothing; a group declared while the auction runs does not
apply to it; the audit log replays to the stored outcome.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import func, select

from auctions.audit_replay import replay_listing
from auctions.models import Auction, BidRow
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from tests.support.api import Client, register_bidder, staff, token_for
from tests.support.bank import deliver, notice
from tests.support.flow import apply, decide, open_registration, start_bidding, wait_status
from tests.support.ids import credit_code, id_number
from tests.support.listings import listing_body

pytestmark = pytest.mark.databases()


@pytest.fixture(autouse=True)
def _english(client: Client) -> None:
    """The details asserted here are the domain's English sentences (``Accept-Language: en``)."""
    client.headers["Accept-Language"] = "en"


async def offer(client: Client, headers: dict[str, str], listing_id: int, amount: str, quantity: str) -> Any:
    return await client.post(
        f"/api/v1/auctions/{listing_id}/bids",
        json={"amount": amount, "quantity": quantity},
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )


async def qualify(
    client: Client, operator: dict[str, str], listing_id: int, **account: Any
) -> dict[str, str]:
    user = await register_bidder(client, **account)
    headers = await token_for(client, user["username"])
    application = await apply(client, listing_id, headers)
    await decide(client, operator, application["id"])
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text
    return headers


async def stored(client: Client, listing_id: int) -> tuple[int, Any]:
    async with client.app.state.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(BidRow).where(BidRow.listing_id == listing_id)
        )
        auction = await session.get(Auction, listing_id)
        assert auction is not None
        return int(count or 0), auction.state


async def test_affiliates_share_one_limit_and_bids_stay_within_the_deposit(client: Client) -> None:
    operator = await staff(client, "operator")
    # 12.5 t offered, half per group: at most 12 lots of 0.5 t; a deposit of 50.00 at a ratio of
    # 0.1 covers bids worth 500.00 yuan
    listing = await open_registration(
        client,
        operator,
        closes=600,
        bidding=601,
        bidding_closes=615,
        asset_class="emission_right",
        method="uniform_price",
        start_price="100.00",
        increment="1.00",
        deposit="50.00",
        bid_guarantee_ratio="0.1",
        undersubscribed="sell_available",
    )
    lid = listing["id"]
    assert listing["method_params"]["bid_guarantee_ratio"] == "0.1"
    parent_code = credit_code()
    parent = await qualify(client, operator, lid, credit_code=parent_code)
    subsidiary = await qualify(client, operator, lid, group_code=parent_code.lower())  # normalised
    independent = await qualify(client, operator, lid)
    await start_bidding(client, operator, lid, closes_in=12, extension=3)
    await wait_status(client, lid, "bidding", timeout=30)

    assert (await offer(client, parent, lid, "100.00", "4.000")).status_code == 201
    # the subsidiary declared the parent's code: 4 t + 2.5 t is above the group's 6.25 t
    over = await offer(client, subsidiary, lid, "100.00", "2.500")
    assert (over.status_code, over.json()["code"]) == (422, "quantity_invalid"), over.text
    assert "4.000" not in over.json()["detail"] and "4000" not in over.json()["detail"]
    assert (await offer(client, subsidiary, lid, "100.00", "2.000")).status_code == 201
    # an unaffiliated company bids up to the limit on its own
    assert (await offer(client, independent, lid, "100.00", "4.000")).status_code == 201

    # 400.00 + 200.00 of bids need 60.00 of guarantee: the deposit of 50.00 does not cover them
    before = await stored(client, lid)
    refused = await offer(client, independent, lid, "100.00", "2.000")
    assert (refused.status_code, refused.json()["code"]) == (422, "guarantee_exceeded"), refused.text
    assert refused.json()["detail"] == (
        "your bids would need a guarantee of 60.00 yuan; your deposit of 50.00 yuan covers bids worth up to 500.00 yuan"
    )
    assert await stored(client, lid) == before
    assert (await offer(client, independent, lid, "100.00", "1.000")).status_code == 201

    # withdrawing the group now changes nothing in the running auction: it was fixed at the opening
    withdrawn = await client.put("/api/v1/users/me/group", json={"group_code": None}, headers=subsidiary)
    assert withdrawn.status_code == 200 and withdrawn.json()["group_code"] is None, withdrawn.text
    still = await offer(client, subsidiary, lid, "100.00", "0.500")
    assert (still.status_code, still.json()["code"]) == (422, "quantity_invalid"), still.text

    await wait_status(client, lid, "closed", timeout=30)
    async with client.app.state.sessions() as session:
        opened = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.stream == f"listing:{lid}", AuditEntry.action == "auction.opened"
                )
            )
        ).scalar_one()
        report = await replay_listing(session, lid)
    terms = opened.payload["terms"]
    assert len({t["group"] for t in terms}) == 2 and {t["deposit"] for t in terms} == {5000}
    assert all(t["group"] in opened.payload["qualified"] for t in terms)  # a bid number, no identity
    assert report.matches and report.bids == 4


async def test_a_group_is_declared_at_registration_or_later_and_audited(client: Client) -> None:
    parent_code = credit_code()
    bad = await client.post(
        "/api/v1/auth/register",
        json={
            "username": f"grp_{secrets.token_hex(3)}",
            "password": "Bidder-pass-2026",
            "display_name": "关联公司",
            "kind": "enterprise",
            "credit_code": credit_code(),
            "group_code": parent_code[:-1] + ("0" if parent_code[-1] != "0" else "1"),
        },
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "group_code_invalid"), bad.text
    person = await client.post(
        "/api/v1/auth/register",
        json={
            "username": f"grp_{secrets.token_hex(3)}",
            "password": "Bidder-pass-2026",
            "display_name": "张三",
            "kind": "individual",
            "id_number": id_number(),
            "group_code": parent_code,
        },
    )
    assert (person.status_code, person.json()["code"]) == (422, "group_code_invalid"), person.text

    own = credit_code()
    user = await register_bidder(client, credit_code=own, group_code=own)  # its own code: no group
    headers = await token_for(client, user["username"])
    assert (await client.get("/api/v1/users/me", headers=headers)).json()["group_code"] is None
    declared = await client.put("/api/v1/users/me/group", json={"group_code": parent_code}, headers=headers)
    assert declared.status_code == 200 and declared.json()["group_code"] == parent_code, declared.text
    invalid = await client.put("/api/v1/users/me/group", json={"group_code": "123"}, headers=headers)
    assert (invalid.status_code, invalid.json()["code"]) == (422, "group_code_invalid")
    operator = await staff(client, "operator")
    assert (
        await client.put("/api/v1/users/me/group", json={"group_code": None}, headers=operator)
    ).status_code == 403
    async with client.app.state.sessions() as session:
        changes = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "bidder.group_declared")))
            .scalars()
            .all()
        )
    assert [(e.actor, e.payload["from"], e.payload["to"]) for e in changes] == [
        (f"user:{user['id']}", None, parent_code)
    ]


async def test_the_guarantee_ratio_is_a_uniform_price_parameter_with_a_default(client: Client) -> None:
    operator = await staff(client, "operator")
    body = listing_body("emission_right", "uniform_price")
    del body["bid_guarantee_ratio"]
    created = await client.post("/api/v1/listings", json=body, headers=operator)
    assert created.status_code == 201, created.text
    assert created.json()["method_params"]["bid_guarantee_ratio"] == "1"  # 17 CCR 95912(i)
    for ratio in ("0", "1.5"):
        wrong = await client.post(
            "/api/v1/listings", json={**body, "bid_guarantee_ratio": ratio}, headers=operator
        )
        assert wrong.status_code == 422, wrong.text
        assert [e["code"] for e in wrong.json()["errors"]] == ["guarantee_ratio_out_of_range"]
    english = await client.post(
        "/api/v1/listings", json=listing_body(bid_guarantee_ratio="0.5"), headers=operator
    )
    assert english.status_code == 422
    assert [(e["field"], e["code"]) for e in english.json()["errors"]] == [
        ("bid_guarantee_ratio", "not_applicable")
    ]
