"""One legal entity, one bidder; a changed account's tokens stop at once; sealed answers count nothing.

Findings of an outside probe (issue 13), each over HTTP and each failing on the code before it:
three accounts of one enterprise qualified and bid against each other; a disabled bidder's
token still bid (201) and a demoted, disabled operator still suspended auctions; a sealed
quote's 201 carried ``seq`` 2, 3, 4, 5 for four bidders; a cancelled draft became public.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from auctions.models import BidRow
from exchange.app import create_app
from exchange.settings import Settings
from tests.support.api import PASSWORD, Client, register_bidder, staff, token_for
from tests.support.auctions import bid, live_auction
from tests.support.ids import credit_code, id_number
from tests.support.listings import listing_body


def _body(username: str, **fields: Any) -> dict[str, Any]:
    return {
        "username": username,
        "password": PASSWORD,
        "display_name": f"{username} 有限公司",
        "kind": "enterprise",
        **fields,
    }


@pytest.mark.parametrize(
    "spelling",
    [str.lower, lambda code: f" {code[:6]} {code[6:12]} {code[12:]} ", lambda code: code],
    ids=["lower-case", "spaced", "same"],
)
async def test_one_credit_code_registers_one_bidder(client: Client, spelling: Any) -> None:
    code = credit_code()
    first = await client.post("/api/v1/auth/register", json=_body("lanhua_1", credit_code=code))
    assert first.status_code == 201
    second = await client.post("/api/v1/auth/register", json=_body("lanhua_2", credit_code=spelling(code)))
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "entity_already_registered"
    users = (await client.get("/api/v1/users/", headers=await staff(client, "admin"))).json()
    assert [u["username"] for u in users if u["role"] == "bidder"] == ["lanhua_1"]


async def test_one_id_number_registers_one_bidder(client: Client) -> None:
    number = id_number(serial=417)
    body = {"kind": "individual", "id_number": number}
    assert (await client.post("/api/v1/auth/register", json=_body("wang_1", **body))).status_code == 201
    again = await client.post(
        "/api/v1/auth/register", json=_body("wang_2", kind="individual", id_number=number.lower())
    )
    assert again.status_code == 409 and again.json()["code"] == "entity_already_registered"


async def test_simultaneous_registrations_of_one_entity_leave_one_account(client: Client) -> None:
    code = credit_code()
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/auth/register", json=_body(f"yangmei_{i}", credit_code=code))
            for i in range(8)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"entity_already_registered"}


# ---- a changed account's tokens --------------------------------------------------------------


async def _me(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    return dict((await client.get("/api/v1/users/me", headers=headers)).json())


async def _user_id(client: Client, headers: dict[str, str]) -> int:
    return int((await _me(client, headers))["id"])


async def test_a_disabled_bidders_token_no_longer_bids(client: Client) -> None:
    listing, (headers, other) = await live_auction(client, 2, closes_in=30)
    admin = await staff(client, "admin")
    assert (await bid(client, headers, listing["id"], "1000000.00")).status_code == 201
    me = await _me(client, headers)
    user_id = me["id"]
    changed = await client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"active": False})
    assert changed.status_code == 200

    lane = await bid(client, headers, listing["id"], "1020000.00")  # the fast lane takes this one
    route = await client.post(  # an Origin header sends the same bid through the Litestar route
        f"/api/v1/auctions/{listing['id']}/bids",
        json={"amount": "1020000.00"},
        headers={**headers, "Idempotency-Key": secrets.token_hex(6), "Origin": "http://testserver.local"},
    )
    for refused in (lane, route):
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "token_revoked"
    assert (await client.get("/api/v1/users/me", headers=headers)).json()["code"] == "token_revoked"
    assert (await bid(client, other, listing["id"], "1010000.00")).status_code == 201

    # enabling the account again does not bring the old token back: its holder logs in anew
    await client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"active": True})
    assert (await bid(client, headers, listing["id"], "1030000.00")).status_code == 401
    fresh = await token_for(client, me["username"])
    assert (await bid(client, fresh, listing["id"], "1020000.00")).status_code == 201


async def test_a_demoted_operator_can_no_longer_run_auctions(client: Client) -> None:
    admin = await staff(client, "admin")
    operator = await staff(client, "operator", "ops_zhao")
    created = await client.post("/api/v1/listings", json=listing_body(), headers=operator)
    assert created.status_code == 201
    user_id = await _user_id(client, operator)
    demoted = await client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"role": "auditor"})
    assert demoted.status_code == 200
    for method, path, body in (
        ("POST", "/api/v1/listings", listing_body()),
        ("POST", f"/api/v1/listings/{created.json()['id']}/cancel", {"reason": "测试"}),
    ):
        refused = await client.request(method, path, json=body, headers=operator)
        assert refused.status_code == 401 and refused.json()["code"] == "token_revoked", refused.text
    # the new role works with a new token
    auditor = await token_for(client, "ops_zhao")
    assert (await client.get("/api/v1/audit/system", headers=auditor)).status_code == 200


async def test_a_change_on_one_instance_stops_the_token_on_another(
    client: Client, settings: Settings
) -> None:
    """Two instances share the database: the other one refuses the token on its next request."""
    operator = await staff(client, "operator", "ops_qian")
    admin = await staff(client, "admin")
    async with AsyncTestClient(app=create_app(settings)) as other:
        assert (await other.get("/api/v1/listings?status=draft", headers=operator)).status_code == 200
        user_id = await _user_id(client, operator)
        await client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"active": False})
        refused = await other.get("/api/v1/listings?status=draft", headers=operator)
        assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"


async def test_staff_tokens_live_shorter_than_bidders(client: Client) -> None:
    await register_bidder(client, "xiyang")
    await staff(client, "operator", "ops_sun")
    security = client.app.state.settings.security
    answers = {}
    for name in ("xiyang", "ops_sun"):
        token = await client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
        answers[name] = token.json()["expires_in"]
    assert answers == {"xiyang": security.token_ttl_seconds, "ops_sun": security.staff_token_ttl_seconds}
    assert answers["ops_sun"] < answers["xiyang"]


# ---- sealed answers --------------------------------------------------------------------------


async def test_a_sealed_quotes_answer_counts_no_other_quote(client: Client) -> None:
    listing, heads = await live_auction(client, 4, closes_in=30, method="sealed_bid")
    answers = []
    for i, headers in enumerate(heads):
        key = f"quote-{i}"
        answer = await bid(client, headers, listing["id"], f"{1000000 + 10000 * i}.00", key)
        assert answer.status_code == 201, answer.text
        answers.append(answer.json())
        replay = await bid(client, headers, listing["id"], f"{1000000 + 10000 * i}.00", key)
        assert replay.status_code == 200 and replay.json() == answer.json()
    assert all("seq" not in a for a in answers)
    async with client.app.state.sessions() as session:
        stored = list(
            (await session.execute(select(BidRow.id).where(BidRow.listing_id == listing["id"]))).scalars()
        )
    receipts = [a["bid_id"] for a in answers]
    assert not set(receipts) & set(stored)  # not the bid's row id, which counts every bid
    assert receipts != sorted(receipts) or max(receipts) - min(receipts) > 10**6  # nothing to count by


# ---- drafts ----------------------------------------------------------------------------------


async def test_a_cancelled_draft_never_becomes_public(client: Client) -> None:
    operator = await staff(client, "operator")
    created = await client.post(
        "/api/v1/listings", json=listing_body(title="从未公告的地块"), headers=operator
    )
    listing_id = created.json()["id"]
    cancelled = await client.post(
        f"/api/v1/listings/{listing_id}/cancel", json={"reason": "撤回"}, headers=operator
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await client.get(f"/api/v1/listings/{listing_id}")).status_code == 404
    catalogue = (await client.get("/api/v1/listings?status=cancelled")).json()
    assert listing_id not in [item["id"] for item in catalogue["items"]]
    assert (await client.get(f"/listings/{listing_id}")).status_code == 404
    assert "从未公告的地块" not in (await client.get("/?status=cancelled")).text
    # staff still see it
    assert (await client.get(f"/api/v1/listings/{listing_id}", headers=operator)).status_code == 200
