"""The sandbox's "simulate a bank transfer": the deposit arrives as the bank's signed notice would.

Only under the sandbox profile; elsewhere the operation is absent (404 for everyone). The owner
of an application or an operator asks; another bidder's application does not exist for the caller.
"""

from __future__ import annotations

import pytest

from tests.support.api import Client, bidder, staff
from tests.support.flow import apply, decide, open_registration

pytestmark = pytest.mark.databases()

TRANSFERS = "/api/v1/sandbox/bank-transfers"


async def test_a_sandbox_deposit_arrives_as_the_banks_notice(client: Client) -> None:
    operator = await staff(client, "operator")
    alice, bob = await bidder(client), await bidder(client)

    # a statutory exchange has no such operation, whoever asks and whatever the body
    for headers in ({}, alice, operator):
        absent = await client.post(TRANSFERS, json={"application_id": 1}, headers=headers)
        assert (absent.status_code, absent.json()["code"]) == (404, "not_found"), absent.text
    operation = (await client.get("/schema/openapi.json")).json()["paths"][TRANSFERS]["post"]
    assert "sandbox" in operation["description"] and "404" in operation["description"]

    listing = await open_registration(client, operator)  # switches to the sandbox
    anonymous = await client.post(TRANSFERS, json={"application_id": 1})
    assert anonymous.status_code == 401  # there now, and for the applicant or an operator only
    mine = await apply(client, listing["id"], alice)
    theirs = await apply(client, listing["id"], bob)
    await decide(client, operator, mine["id"])

    # another bidder's application is not there for the caller; an auditor may not
    assert (await client.post(TRANSFERS, json={"application_id": mine["id"]}, headers=bob)).status_code == 404
    auditor = await staff(client, "auditor")
    refused = await client.post(TRANSFERS, json={"application_id": mine["id"]}, headers=auditor)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    unknown = await client.post(TRANSFERS, json={"application_id": 999_999_999}, headers=alice)
    assert unknown.status_code == 404

    # the owner: the whole deposit, to the application's own account, booked and qualifying
    paid = await client.post(TRANSFERS, json={"application_id": mine["id"]}, headers=alice)
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert (body["outcome"], body["amount"], body["account"]) == (
        "deposit",
        mine["deposit_due"],
        mine["deposit_account"],
    )
    assert body["txn_id"].startswith("SANDBOX-")
    view = (await client.get(f"/api/v1/applications/{mine['id']}", headers=alice)).json()
    assert view["status"] == "qualified" and view["bid_number"], view
    held = (await client.get("/api/v1/accounts/me", headers=alice)).json()
    assert held["total_held"] == mine["deposit_due"]
    again = await client.post(TRANSFERS, json={"application_id": mine["id"]}, headers=alice)
    assert (again.status_code, again.json()["code"]) == (409, "deposit_already_paid")

    # an operator pays a bidder's deposit before the review: it waits for the approval
    by_staff = await client.post(TRANSFERS, json={"application_id": theirs["id"]}, headers=operator)
    assert by_staff.status_code == 201 and by_staff.json()["outcome"] == "deposit", by_staff.text
    await decide(client, operator, theirs["id"])
    view = (await client.get(f"/api/v1/applications/{theirs['id']}", headers=bob)).json()
    assert view["status"] == "qualified", view

    # the bank's own words in the listing's audit log, as for a notice the bank sent
    entries = (await client.get(f"/api/v1/audit/listing:{listing['id']}", headers=auditor)).json()
    received = [e for e in entries if e["action"] == "deposit.received"]
    assert {(e["actor"], e["payload"]["txn_id"][:8]) for e in received} == {("bank", "SANDBOX-")}
    assert len(received) == 2

    # malformed bodies are the schema's
    extra = await client.post(TRANSFERS, json={"application_id": mine["id"], "amount": "1"}, headers=alice)
    assert extra.status_code == 400
