"""Every endpoint against every role: each gets exactly what it should, and nothing more.

Statuses here are about the guard: 401 for anonymous callers, 403 for the
wrong role, anything else means the guard let the caller through (the
request may still fail its own validation, which is fine here).
"""

from __future__ import annotations

import hashlib
from typing import Any

from documents.models import Document
from exchange.clock import utcnow
from exchange.db import unit_of_work
from tests.support.api import Client, bidder, staff
from tests.support.flow import apply, open_registration
from tests.support.listings import listing_body, statutory_schedule

ANON, BIDDER, OPERATOR, AUDITOR, ADMIN = "anonymous", "bidder", "operator", "auditor", "admin"
REGISTRAR = "registrar"
EVERYONE = {ANON, BIDDER, OPERATOR, AUDITOR, ADMIN, REGISTRAR}
STAFF = {OPERATOR, AUDITOR, ADMIN}
REGISTRY_STAFF = STAFF | {REGISTRAR}
"""The registry's staff: the exchange's and the authority's (who may read any holder's account)."""


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
        ("POST", f"{app}/consortium/confirmation", {"confirm": True}, {BIDDER}),  # issue 20: joint bids
        ("GET", f"{app}/consortium", None, STAFF | {BIDDER}),
        ("GET", "/api/v1/consortia/invitations", None, {BIDDER}),
        ("GET", "/api/v1/users/", None, {ADMIN}),
        ("POST", "/api/v1/users/staff", {}, {ADMIN}),
        ("PATCH", "/api/v1/users/1", {}, {ADMIN}),
        ("GET", "/api/v1/users/me", None, EVERYONE - {ANON}),
        ("PUT", "/api/v1/users/me/group", {"group_code": None}, {BIDDER}),
        ("POST", "/api/v1/users/me/keys", {}, {BIDDER}),  # issue 20: keys that sign bids
        ("GET", "/api/v1/users/me/keys", None, {BIDDER}),
        ("DELETE", "/api/v1/users/me/keys/00000000000000000000000000000000", None, {BIDDER}),
        ("POST", "/api/v1/settlements/1/review", {"verdict": "passed"}, {OPERATOR}),
        ("POST", "/api/v1/settlements/1/contract", {"signed_on": "2026-01-05"}, {OPERATOR}),
        ("POST", "/api/v1/settlements/1/rescission", {"reason": "x"}, {OPERATOR}),
        ("POST", "/api/v1/settlements/1/payments", {}, {OPERATOR}),
        ("GET", "/api/v1/notices/me", None, EVERYONE - {ANON}),
        ("POST", "/api/v1/notices/1/read", None, EVERYONE - {ANON}),
        ("POST", f"/api/v1/results/{listing_id}/objections", {"reasons": "x"}, EVERYONE - {ANON}),
        ("GET", f"/api/v1/results/{listing_id}/objections", None, EVERYONE),
        ("POST", "/api/v1/objections/1/attachments", None, EVERYONE - {ANON}),
        ("GET", "/api/v1/objections/1/attachments/1", None, EVERYONE - {ANON}),
        ("POST", "/api/v1/objections/1/answer", {"decision": "dismissed", "answer": "x"}, {OPERATOR}),
        ("POST", "/api/v1/objections/1/resolve", {"outcome": "stands", "reason": "x"}, {OPERATOR}),
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
        ("GET", f"/api/v1/documents?listing_id={listing_id}", None, EVERYONE),
        ("GET", f"/api/v1/documents/verify/{'0' * 64}", None, EVERYONE),
        ("GET", "/api/v1/documents/verify?number=2026-00001-GG", None, EVERYONE),
        ("GET", "/verify", None, EVERYONE),
        ("GET", "/verify?number=2026-00001-GG", None, EVERYONE),
        ("GET", f"/verify/{'0' * 64}", None, EVERYONE),
        *_registry_matrix(),
    ]


def _registry_matrix() -> list[tuple[str, str, dict[str, Any] | None, set[str]]]:
    """The rights registry (issue 18): holders act for themselves, the registrar issues and decides
    deliveries and pledges, operators approve offers and agreements; only the statistics are public."""
    reg = "/api/v1/registry"
    answer = {"decision": "dismissed", "answer": "x"}
    return [
        ("POST", f"{reg}/holders", {}, {BIDDER, REGISTRAR}),
        ("GET", f"{reg}/holders/me", None, {BIDDER}),
        ("GET", f"{reg}/holders/me/movements", None, {BIDDER}),
        ("GET", f"{reg}/holders/911401000000000013", None, REGISTRY_STAFF),
        ("GET", f"{reg}/holders?verified=false", None, REGISTRY_STAFF),
        ("POST", f"{reg}/holders/911401000000000013/verify", {}, {REGISTRAR}),
        ("POST", f"{reg}/instruments", {}, {REGISTRAR}),
        ("GET", f"{reg}/instruments/1", None, EVERYONE - {ANON}),
        ("POST", f"{reg}/offers", {}, {BIDDER, REGISTRAR}),
        ("GET", f"{reg}/offers", None, REGISTRY_STAFF | {BIDDER}),
        ("POST", f"{reg}/offers/1/approve", {}, {OPERATOR}),
        ("POST", f"{reg}/offers/1/reject", {"reason": "x"}, {OPERATOR}),
        ("POST", f"{reg}/agreements", {}, {BIDDER, OPERATOR}),
        ("GET", f"{reg}/agreements/1", None, EVERYONE),
        ("POST", f"{reg}/agreements/1/objections", {"reasons": "x"}, EVERYONE - {ANON}),
        ("POST", f"{reg}/agreements/objections/1/answer", answer, {OPERATOR}),
        ("GET", f"{reg}/deliveries/1", None, REGISTRY_STAFF | {BIDDER}),
        ("POST", f"{reg}/deliveries/1/approve", None, {REGISTRAR}),
        ("POST", f"{reg}/deliveries/1/refuse", {"reason": "x"}, {REGISTRAR}),
        ("POST", f"{reg}/deliveries/1/permit-change", None, {REGISTRAR}),
        ("POST", f"{reg}/pledges", {}, {BIDDER, REGISTRAR}),
        ("POST", f"{reg}/pledges/1/release", None, {REGISTRAR}),
        ("POST", f"{reg}/pledges/1/enforce", {}, {REGISTRAR}),
        ("POST", f"{reg}/obligations", {}, {REGISTRAR}),
        ("POST", f"{reg}/surrenders", {}, {BIDDER}),
        ("GET", f"{reg}/statistics", None, EVERYONE),
        ("GET", f"{reg}/statistics/export.json", None, EVERYONE),
        ("GET", f"{reg}/statistics/export.csv", None, EVERYONE),
        ("GET", "/api/v1/transparency/tree-heads/latest", None, EVERYONE),  # issue 20
        ("GET", "/api/v1/transparency/tree-heads/1", None, EVERYONE),
        ("GET", "/api/v1/transparency/entries/0", None, EVERYONE),
        ("GET", "/api/v1/transparency/consistency?first=1&second=1", None, EVERYONE),
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
        REGISTRAR: await staff(client, "registrar"),
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


async def _document(
    client: Client, listing_id: int, kind: str, *, public: bool, owner_id: int | None = None
) -> str:
    """A stored document row, its number returned; what the list shows is metadata, so no PDF is rendered."""
    key = f"{kind}:{listing_id}:{owner_id}"
    pdf = f"%PDF-1.7 {key}".encode()
    async with unit_of_work(client.app.state.sessions) as session:
        session.add(
            Document(
                listing_id=listing_id,
                kind=kind,
                key=key,
                sha256=hashlib.sha256(pdf).hexdigest(),
                size=len(pdf),
                pdf=pdf,
                title=kind,
                meta={},
                public=public,
                owner_id=owner_id,
                audit_head="0" * 64,
                created_at=utcnow(),
            )
        )
    return key


async def test_each_role_lists_the_documents_it_may_download(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    lid = listing["id"]
    winner, loser = await bidder(client, "winner_co"), await bidder(client, "loser_co")
    ids = {
        name: (await client.get("/api/v1/users/me", headers=h)).json()["id"]
        for name, h in (("w", winner), ("l", loser))
    }
    announcement = await _document(client, lid, "listing_announcement", public=True)
    confirmation = await _document(client, lid, "confirmation", public=False, owner_id=ids["w"])
    notice = await _document(client, lid, "refund_notice", public=False, owner_id=ids["l"])
    await _document(client, lid + 1, "listing_announcement", public=True)  # another listing's: never listed
    everything = {announcement, confirmation, notice}
    expected = {
        ANON: ({}, {announcement}),
        "winner": (winner, {announcement, confirmation}),
        "loser": (loser, {announcement, notice}),
        "another bidder": (await bidder(client), {announcement}),
        OPERATOR: (operator, everything),
        AUDITOR: (await staff(client, "auditor"), everything),
        ADMIN: (await staff(client, "admin"), everything),
    }
    for role, (headers, numbers) in expected.items():
        response = await client.get("/api/v1/documents", params={"listing_id": lid}, headers=headers)
        assert response.status_code == 200, (role, response.text)
        assert {d["number"] for d in response.json()} == numbers, role


async def test_the_registrar_sees_the_exchange_as_the_public_does(client: Client) -> None:
    """The registrar is the authority's staff, not the exchange's: no reserve price, no unpublished
    listing, no applicant (issue 18 review)."""
    operator = await staff(client, "operator")
    registrar = await staff(client, "registrar")
    listing = await open_registration(client, operator)
    lid = listing["id"]
    reserved = await client.put(
        f"/api/v1/listings/{lid}/reserve", json={"reserve_price": "7654321.09"}, headers=operator
    )
    assert reserved.status_code == 200, reserved.text
    draft = await client.post(
        "/api/v1/listings",
        json=listing_body(schedule=statutory_schedule("land_use_right")),
        headers=operator,
    )
    assert draft.status_code == 201, draft.text
    seen = await client.get(f"/api/v1/listings/{lid}", headers=registrar)
    assert seen.status_code == 200 and seen.json()["has_reserve"] is True, seen.text
    assert "reserve_price" not in seen.json() and "7654321" not in seen.text
    assert (await client.get(f"/api/v1/listings/{lid}", headers=operator)).json()[
        "reserve_price"
    ] == "7654321.09"
    assert (await client.get(f"/api/v1/listings/{draft.json()['id']}", headers=registrar)).status_code == 404

    async def catalogue(headers: dict[str, str] | None) -> set[int]:
        found = await client.get("/api/v1/listings", params={"page_size": 100}, headers=headers)
        assert found.status_code == 200, found.text
        return {item["id"] for item in found.json()["items"]}

    public = await catalogue(None)
    assert await catalogue(registrar) == public
    assert lid in public and draft.json()["id"] not in public
    assert draft.json()["id"] in await catalogue(operator)
    applicants = await client.get(f"/api/v1/listings/{lid}/applications", headers=registrar)
    assert applicants.status_code == 403, applicants.text
