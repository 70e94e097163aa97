"""Every endpoint against every role: each gets exactly what it should, and nothing more.

Statuses here are about the guard: 401 for anonymous callers, 403 for the
wrong role, anything else means the guard let the caller through (the
request may still fail its own validation, which is fine here).
"""

from __future__ import annotations

from typing import Any

from tests.support.api import Client, bidder, staff
from tests.support.flow import apply, open_registration

ANON, BIDDER, OPERATOR, AUDITOR, ADMIN = "anonymous", "bidder", "operator", "auditor", "admin"
EVERYONE = {ANON, BIDDER, OPERATOR, AUDITOR, ADMIN}
STAFF = {OPERATOR, AUDITOR, ADMIN}


def _matrix(listing_id: int, application_id: int) -> list[tuple[str, str, dict[str, Any] | None, set[str]]]:
    """(method, path, json body, roles let through)."""
    app = f"/api/v1/applications/{application_id}"
    lst = f"/api/v1/listings/{listing_id}"
    return [
        ("GET", "/api/v1/listings", None, EVERYONE),
        ("GET", lst, None, EVERYONE),
        ("POST", "/api/v1/listings", {}, {OPERATOR}),
        ("PATCH", lst, {"title": "x"}, {OPERATOR}),
        ("POST", f"{lst}/publish", None, {OPERATOR}),
        ("POST", f"{lst}/suspend", {"reason": "x"}, {OPERATOR}),
        ("POST", f"{lst}/resume", {}, {OPERATOR}),
        ("PUT", f"{lst}/reserve", {"reserve_price": "1.00"}, {OPERATOR}),
        ("POST", f"{lst}/applications", None, {BIDDER}),
        ("GET", f"{lst}/applications", None, STAFF),
        ("GET", "/api/v1/applications/mine", None, {BIDDER}),
        ("POST", f"{app}/decision", {"approve": True}, {OPERATOR}),
        ("GET", "/api/v1/users/", None, {ADMIN}),
        ("POST", "/api/v1/users/staff", {}, {ADMIN}),
        ("PATCH", "/api/v1/users/1", {}, {ADMIN}),
        ("GET", "/api/v1/users/me", None, EVERYONE - {ANON}),
        ("GET", "/api/v1/audit/", None, {AUDITOR, ADMIN}),
        ("GET", "/api/v1/audit/system", None, {AUDITOR, ADMIN}),
        ("GET", "/api/v1/audit/system/verify", None, {AUDITOR, ADMIN}),
        ("GET", "/api/v1/accounts/me", None, {BIDDER}),
        ("GET", "/api/v1/accounts/bank_clearing", None, STAFF),
        ("GET", "/api/v1/refunds/", None, STAFF),
        ("GET", "/api/v1/refunds/file", None, STAFF),
        ("POST", "/api/v1/refunds/1/paid", {"paid_reference": "x"}, {OPERATOR}),
        ("POST", f"/api/v1/auctions/{listing_id}/bids", {"amount": "1.00"}, {BIDDER}),
        ("GET", f"/api/v1/auctions/{listing_id}/bids", None, EVERYONE),
    ]


async def test_every_endpoint_every_role(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    owner = await bidder(client)
    application = await apply(client, listing["id"], owner)
    headers = {
        ANON: {},
        BIDDER: await bidder(client),
        OPERATOR: await staff(client, "operator"),
        AUDITOR: await staff(client, "auditor"),
        ADMIN: await staff(client, "admin"),
    }
    wrong = []
    for method, path, body, allowed in _matrix(listing["id"], application["id"]):
        for role, auth in headers.items():
            extra = {"Idempotency-Key": "matrix"} if path.endswith("/bids") else {}
            response = await client.request(method, path, json=body, headers={**auth, **extra})
            let_through = response.status_code not in (401, 403) or (
                response.status_code == 403 and response.json().get("code") == "not_qualified"
            )
            if let_through != (role in allowed):
                wrong.append(f"{role} {method} {path} -> {response.status_code}")
            if role == ANON and role not in allowed:
                assert response.status_code == 401, (method, path, response.text)
    assert not wrong, wrong


async def test_a_bidder_sees_nothing_of_other_bidders(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    owner, other = await bidder(client, "owner_co"), await bidder(client, "other_co")
    mine = await apply(client, listing["id"], owner)
    theirs = await apply(client, listing["id"], other)
    peek = await client.get(f"/api/v1/applications/{theirs['id']}", headers=owner)
    assert peek.status_code == 404 and theirs["deposit_account"] not in peek.text
    texts = []
    for path in (
        "/api/v1/applications/mine",
        "/api/v1/accounts/me",
        f"/api/v1/listings/{listing['id']}",
        "/api/v1/listings",
        f"/api/v1/listings/{listing['id']}/applications",
        "/api/v1/users/me",
    ):
        texts.append((await client.get(path, headers=owner)).text)
    joined = "\n".join(texts)
    assert theirs["deposit_account"] not in joined
    assert str(theirs["id"]) not in joined
    assert "other_co" not in joined
    assert mine["deposit_account"] in joined
    public = (await client.get(f"/api/v1/listings/{listing['id']}")).json()
    assert not {"applicants", "application_count", "applications"} & set(public)
