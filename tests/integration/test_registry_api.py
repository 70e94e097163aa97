"""The registry's API (settlement/registry/controllers.py), on PostgreSQL and SQLite: who may call
each endpoint, what each answers, the problems it explains, the green responsibility account,
the public statistics and their open-data export, and the OpenAPI document that says so.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest

from exchange.spreadsheet import BOM
from tests.support.api import Client, bidder, register_bidder, staff, token_for
from tests.support.dvp import SUZHOU, TAIHU, Party, issue, offer
from tests.support.ids import credit_code
from tests.support.registry import open_verified, registrar_token

pytestmark = pytest.mark.databases()

REGISTRY_OPERATIONS = {
    ("post", "/api/v1/registry/holders"),
    ("get", "/api/v1/registry/holders/me"),
    ("get", "/api/v1/registry/holders/me/movements"),
    ("get", "/api/v1/registry/holders/{credit_code}"),
    ("get", "/api/v1/registry/holders"),
    ("post", "/api/v1/registry/holders/{credit_code}/verify"),
    ("post", "/api/v1/registry/instruments"),
    ("get", "/api/v1/registry/instruments/{instrument_id}"),
    ("post", "/api/v1/registry/offers"),
    ("get", "/api/v1/registry/offers"),
    ("post", "/api/v1/registry/offers/{offer_id}/approve"),
    ("post", "/api/v1/registry/offers/{offer_id}/reject"),
    ("post", "/api/v1/registry/agreements"),
    ("get", "/api/v1/registry/agreements/{agreement_id}"),
    ("post", "/api/v1/registry/agreements/{agreement_id}/objections"),
    ("post", "/api/v1/registry/agreements/objections/{objection_id}/answer"),
    ("get", "/api/v1/registry/deliveries/{delivery_id}"),
    ("post", "/api/v1/registry/deliveries/{delivery_id}/approve"),
    ("post", "/api/v1/registry/deliveries/{delivery_id}/refuse"),
    ("post", "/api/v1/registry/deliveries/{delivery_id}/permit-change"),
    ("post", "/api/v1/registry/pledges"),
    ("post", "/api/v1/registry/pledges/{pledge_id}/release"),
    ("post", "/api/v1/registry/pledges/{pledge_id}/enforce"),
    ("post", "/api/v1/registry/obligations"),
    ("post", "/api/v1/registry/surrenders"),
    ("get", "/api/v1/registry/statistics"),
    ("get", "/api/v1/registry/statistics/export.json"),
    ("get", "/api/v1/registry/statistics/export.csv"),
}
PUBLIC = {
    ("get", "/api/v1/registry/statistics"),
    ("get", "/api/v1/registry/statistics/export.json"),
    ("get", "/api/v1/registry/statistics/export.csv"),
}
OPTIONAL = {("get", "/api/v1/registry/agreements/{agreement_id}")}


async def enterprise(client: Client, *, region_code: str = SUZHOU, basin: str | None = TAIHU) -> Party:
    """A bidder enterprise whose registry account the registrar opened (so verified) in Suzhou."""
    code = credit_code()
    user = await register_bidder(client, credit_code=code)
    headers = await token_for(client, user["username"])
    holder_id = await open_verified(
        client, code, f"{user['username']} 有限公司", region_code=region_code, basin=basin
    )
    return Party(headers, int(user["id"]), code, holder_id)


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = dict(response.json())
    assert body["code"] == code, body
    assert body["detail"], body
    return body


async def _me(client: Client, party: Party) -> dict[str, Any]:
    response = await client.get("/api/v1/registry/holders/me", headers=party.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _holding(account: dict[str, Any], instrument_id: int) -> dict[str, Any]:
    (line,) = [h for h in account["holdings"] if h["instrument"]["id"] == instrument_id]
    return dict(line)


async def test_the_openapi_document_has_every_registry_operation(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    found = {
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/registry")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert found == REGISTRY_OPERATIONS
    for method, path in found:
        operation = document["paths"][path][method]
        assert operation["operationId"] and operation["tags"] == ["registry"], (method, path)
        assert operation["summary"], (method, path)
        assert "409" in operation["responses"] and "403" in operation["responses"], (method, path)
        security = operation.get("security", document["security"])
        if (method, path) in PUBLIC:
            assert security == [] or {} in security, (method, path, security)
        elif (method, path) in OPTIONAL:
            assert {} in security and {"bearer": []} in security, (method, path, security)
        else:
            assert security == [{"bearer": []}], (method, path, security)
    holder_body = document["components"]["schemas"]["HolderCreate"]
    assert holder_body["additionalProperties"] is False
    assert holder_body["properties"]["region_code"]["pattern"] == "^[0-9]{6}$"


async def test_a_bidder_opens_its_own_account_once(client: Client) -> None:
    code = credit_code()
    user = await register_bidder(client, credit_code=code)
    headers = await token_for(client, user["username"])
    assert (await client.get("/api/v1/registry/holders/me", headers=headers)).status_code == 404
    # the credit code was registered in Shanxi (91 14 0100 ...): the enterprise cannot place itself
    # in Suzhou on its own word
    elsewhere = await client.post(
        "/api/v1/registry/holders", json={"region_code": "320505", "basin": "太湖"}, headers=headers
    )
    assert _problem(elsewhere, 422, "registry_region_mismatch")["errors"][0]["field"] == "region_code"
    body = {"region_code": "140105", "basin": "黄河"}
    opened = await client.post("/api/v1/registry/holders", json=body, headers=headers)
    assert opened.status_code == 201, opened.text
    holder = opened.json()
    assert (holder["credit_code"], holder["name"], holder["region_code"], holder["basin"]) == (
        code,
        f"{user['username']} 有限公司",
        "140105",
        "黄河",
    )
    assert (holder["verified"], holder["verified_at"]) == (False, None)
    again = await client.post("/api/v1/registry/holders", json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == holder["id"]
    moved = await client.post("/api/v1/registry/holders", json={**body, "basin": "长江"}, headers=headers)
    _problem(moved, 409, "registry_holder_conflict")
    named = await client.post(
        "/api/v1/registry/holders", json={**body, "credit_code": credit_code()}, headers=headers
    )
    assert _problem(named, 422, "validation_failed")["errors"][0]["field"] == "credit_code"
    bad = await client.post("/api/v1/registry/holders", json={"region_code": "3205"}, headers=headers)
    assert bad.status_code == 400, bad.text
    account = await _me(client, Party(headers, int(user["id"]), code, holder["id"]))
    assert account["holder"]["id"] == holder["id"]
    assert account["holdings"] == [] and account["compliance"] == [] and account["compliant"] is True
    assert len(account["audit_head"]) == 64


async def test_only_enterprises_and_no_staff_hold(client: Client) -> None:
    individual = await register_bidder(
        client, kind="individual", credit_code=None, id_number="110101199003074514"
    )
    person = await token_for(client, individual["username"])
    refused = await client.post("/api/v1/registry/holders", json={"region_code": "320505"}, headers=person)
    _problem(refused, 422, "registry_enterprise_only")
    registrar = await registrar_token(client)
    missing = await client.post("/api/v1/registry/holders", json={"region_code": "320505"}, headers=registrar)
    assert {e["field"] for e in _problem(missing, 422, "validation_failed")["errors"]} == {
        "credit_code",
        "name",
    }
    code = credit_code()
    opened = await client.post(
        "/api/v1/registry/holders",
        json={"region_code": "320505", "basin": "太湖", "credit_code": code, "name": "苏州某某化工有限公司"},
        headers=registrar,
    )
    assert opened.status_code == 201 and opened.json()["credit_code"] == code, opened.text
    assert opened.json()["verified"] is True and opened.json()["verified_at"]
    for role in ("operator", "auditor", "admin"):
        headers = await staff(client, role)
        response = await client.post(
            "/api/v1/registry/holders", json={"region_code": "320505"}, headers=headers
        )
        _problem(response, 403, "forbidden")


async def test_issuance_green_account_and_movements(client: Client) -> None:
    registrar = await registrar_token(client)
    seller = await enterprise(client)
    instrument_id = await issue(client, registrar, seller, 20_000)
    account = await _me(client, seller)
    line = _holding(account, instrument_id)
    assert (line["available"], line["held"], line["pledged"], line["frozen"], line["total"]) == (
        20_000,
        0,
        0,
        0,
        20_000,
    )
    assert line["instrument"]["sub_type"] == "COD" and line["instrument"]["unit"] == "kg/a"
    movements = (await client.get("/api/v1/registry/holders/me/movements", headers=seller.headers)).json()
    assert movements["total"] == 1 and movements["items"][0]["amount"] == 20_000
    assert movements["items"][0]["account_kind"] == "holding"
    # the staff's view of the same account, by credit code; never a bidder's
    for role_headers in (registrar, await staff(client, "operator"), await staff(client, "auditor")):
        seen = await client.get(f"/api/v1/registry/holders/{seller.credit_code}", headers=role_headers)
        assert seen.status_code == 200 and seen.json()["holdings"] == account["holdings"], seen.text
    other = await enterprise(client)
    peek = await client.get(f"/api/v1/registry/holders/{seller.credit_code}", headers=other.headers)
    _problem(peek, 403, "forbidden")
    unknown = await client.get(f"/api/v1/registry/holders/{credit_code()}", headers=registrar)
    _problem(unknown, 404, "registry_not_found")
    # the instrument: a bidder sees the right, staff its issuance too
    public = (await client.get(f"/api/v1/registry/instruments/{instrument_id}", headers=other.headers)).json()
    assert "legal_basis" not in public and public["region_code"] == "320505"
    detail = (await client.get(f"/api/v1/registry/instruments/{instrument_id}", headers=registrar)).json()
    assert (detail["issued"], detail["in_reserve"]) == (20_000, 0) and detail["legal_basis"]
    _problem(
        await client.get("/api/v1/registry/instruments/999999", headers=registrar), 404, "registry_not_found"
    )


async def test_issuance_problems(client: Client) -> None:
    registrar = await registrar_token(client)
    body = {
        "right_type": "emission",
        "sub_type": "COD",
        "region_code": "320505",
        "basin": "太湖",
        "valid_from": "2026-01-01",
        "valid_until": "2025-01-01",
        "origin": "paid",
        "legal_basis": "苏环〔2026〕1号",
        "quantity": 1000,
        "reference": "api-invalid-1",
    }
    invalid = await client.post("/api/v1/registry/instruments", json=body, headers=registrar)
    assert "valid_until" in {
        e["field"] for e in _problem(invalid, 422, "registry_issuance_invalid")["errors"]
    }
    nobody = await client.post(
        "/api/v1/registry/instruments",
        json={**body, "valid_until": "2030-01-01", "holder_credit_code": credit_code()},
        headers=registrar,
    )
    _problem(nobody, 409, "registry_no_account")
    operator = await staff(client, "operator")
    _problem(await client.post("/api/v1/registry/instruments", json=body, headers=operator), 403, "forbidden")
    _problem(await client.post("/api/v1/registry/instruments", json=body), 401, "unauthenticated")


async def test_offers_encumber_and_are_seen_by_their_holder_and_staff(client: Client) -> None:
    registrar = await registrar_token(client)
    operator = await staff(client, "operator")
    seller, other = await enterprise(client), await enterprise(client)
    instrument_id = await issue(client, registrar, seller, 10_000)
    made = await offer(client, seller.headers, instrument_id, 4_000)
    assert (
        made["status"] == "pending" and made["holder_id"] == seller.holder_id and made["listing_id"] is None
    )
    line = _holding(await _me(client, seller), instrument_id)
    assert (line["available"], line["held"], line["total"]) == (6_000, 4_000, 10_000)
    too_much = await client.post(
        "/api/v1/registry/offers",
        json={"instrument_id": instrument_id, "quantity": 6_001},
        headers=seller.headers,
    )
    _problem(too_much, 409, "registry_insufficient")
    # another holder cannot offer what it does not hold
    theirs = await client.post(
        "/api/v1/registry/offers", json={"instrument_id": instrument_id, "quantity": 1}, headers=other.headers
    )
    assert theirs.status_code == 409, theirs.text
    no_account = await client.post(
        "/api/v1/registry/offers",
        json={"instrument_id": instrument_id, "quantity": 1},
        headers=await bidder(client),
    )
    _problem(no_account, 409, "registry_no_account")
    mine = (await client.get("/api/v1/registry/offers", headers=seller.headers)).json()
    assert [o["id"] for o in mine] == [made["id"]]
    assert (await client.get("/api/v1/registry/offers", headers=other.headers)).json() == []
    everything = (await client.get("/api/v1/registry/offers", headers=operator)).json()
    assert made["id"] in [o["id"] for o in everything]
    rejected = await client.post(
        f"/api/v1/registry/offers/{made['id']}/reject", json={"reason": "材料不全"}, headers=operator
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    line = _holding(await _me(client, seller), instrument_id)
    assert (line["available"], line["held"]) == (10_000, 0)
    twice = await client.post(
        f"/api/v1/registry/offers/{made['id']}/reject", json={"reason": "材料不全"}, headers=operator
    )
    _problem(twice, 409, "registry_offer_state")
    _problem(
        await client.post("/api/v1/registry/offers/999999/reject", json={"reason": "x"}, headers=operator),
        404,
        "registry_not_found",
    )
    # the registrar sells from the reserve
    reserve_lot = await issue(client, registrar, None, 5_000)
    from_reserve = await client.post(
        "/api/v1/registry/offers", json={"instrument_id": reserve_lot, "quantity": 5_000}, headers=registrar
    )
    assert from_reserve.status_code == 201 and from_reserve.json()["holder_id"] is None, from_reserve.text
    detail = (await client.get(f"/api/v1/registry/instruments/{reserve_lot}", headers=registrar)).json()
    assert detail["in_reserve"] == 0


async def test_a_bidder_sees_only_its_own_deliveries(client: Client) -> None:
    registrar = await registrar_token(client)
    someone = await enterprise(client)
    _problem(
        await client.get("/api/v1/registry/deliveries/999999", headers=someone.headers),
        404,
        "registry_not_found",
    )
    _problem(
        await client.post("/api/v1/registry/deliveries/999999/approve", headers=registrar),
        404,
        "registry_not_found",
    )
    _problem(
        await client.post("/api/v1/registry/deliveries/1/approve", headers=someone.headers), 403, "forbidden"
    )


async def test_statistics_are_public_and_exported(client: Client) -> None:
    registrar = await registrar_token(client)
    seller = await enterprise(client)
    await issue(client, registrar, seller, 7_000)
    await issue(client, registrar, None, 3_000)
    rows = (await client.get("/api/v1/registry/statistics")).json()
    (row,) = [
        r for r in rows if (r["right_type"], r["sub_type"], r["region_code"]) == ("emission", "COD", "320505")
    ]
    assert row == {
        "right_type": "emission",
        "sub_type": "COD",
        "region_code": "320505",
        "unit": "kg/a",
        "issued": 10_000,
        "volume_traded": 0,
        "value": "0.00",
        "average_unit_price": None,
        "trades": 0,
        "holders": 1,
    }
    exported = (await client.get("/api/v1/registry/statistics/export.json")).json()
    assert exported["schema_version"] == "1" and exported["statistics"] == rows
    response = await client.get("/api/v1/registry/statistics/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.decode("utf-8").startswith(BOM)
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["sub_type"], r["issued"], r["holders"]) for r in table] == [
        (r["sub_type"], str(r["issued"]), str(r["holders"])) for r in rows
    ]
    assert seller.credit_code not in response.text and seller.credit_code not in str(rows)


async def test_obligations_surrenders_and_compliance(client: Client) -> None:
    registrar = await registrar_token(client)
    holder, other = await enterprise(client), await enterprise(client)
    instrument_id = await issue(client, registrar, holder, 10_000)
    year = date.today().year
    body = {
        "holder_credit_code": holder.credit_code,
        "right_type": "emission",
        "sub_type": "COD",
        "year": year,
        "quantity": 3_000,
    }
    entered = await client.post("/api/v1/registry/obligations", json=body, headers=registrar)
    assert entered.status_code == 201, entered.text
    obligation = entered.json()
    assert (obligation["holder_id"], obligation["verified_quantity"]) == (holder.holder_id, 3_000)
    again = await client.post("/api/v1/registry/obligations", json=body, headers=registrar)
    assert again.status_code == 201 and again.json()["id"] == obligation["id"]
    changed = await client.post(
        "/api/v1/registry/obligations", json={**body, "quantity": 4_000}, headers=registrar
    )
    _problem(changed, 409, "registry_obligation_conflict")
    nobody = await client.post(
        "/api/v1/registry/obligations", json={**body, "holder_credit_code": credit_code()}, headers=registrar
    )
    _problem(nobody, 404, "registry_not_found")
    (line,) = (await _me(client, holder))["compliance"]
    assert (line["verified"], line["surrendered"], line["shortfall"], line["compliant"]) == (
        3_000,
        0,
        3_000,
        False,
    )
    # a holder with a shortfall may not pledge (rule 8)
    pledge = {
        "instrument_id": instrument_id,
        "quantity": 1_000,
        "pledgee_name": "中国工商银行苏州分行",
        "pledgee_code": credit_code(),
        "contract_reference": "ZY-2026-001",
    }
    refused = await client.post("/api/v1/registry/pledges", json=pledge, headers=holder.headers)
    _problem(refused, 409, "registry_pledge_refused")

    async def surrender(party: Party, quantity: int, instrument: int = instrument_id) -> Any:
        return await client.post(
            "/api/v1/registry/surrenders",
            json={"obligation_id": obligation["id"], "instrument_id": instrument, "quantity": quantity},
            headers=party.headers,
        )

    _problem(await surrender(other, 1_000), 404, "registry_not_found")  # another holder's obligation
    air = await issue(client, registrar, holder, 500, sub_type="SO2", basin=None)
    _problem(await surrender(holder, 100, air), 409, "registry_instrument_mismatch")
    _problem(await surrender(holder, 10_001), 409, "registry_insufficient")
    first = await surrender(holder, 1_000)
    assert first.status_code == 201 and first.json()["quantity"] == 1_000, first.text
    assert (await surrender(holder, 2_000)).status_code == 201
    account = await _me(client, holder)
    (line,) = account["compliance"]
    assert (line["surrendered"], line["shortfall"], line["compliant"]) == (3_000, 0, True)
    assert account["compliant"] is True and len(account["surrenders"]) == 2
    assert _holding(account, instrument_id)["available"] == 7_000
    # surrendered units are final: the sink appears in no one's account
    assert _holding(account, instrument_id)["total"] == 7_000


async def test_pledges_lock_until_released_or_enforced(client: Client) -> None:
    registrar = await registrar_token(client)
    holder, creditor = await enterprise(client), await enterprise(client)
    instrument_id = await issue(client, registrar, holder, 10_000)
    pledge = {
        "instrument_id": instrument_id,
        "quantity": 2_000,
        "pledgee_name": "苏州某某典当有限公司",
        "pledgee_code": creditor.credit_code,
        "contract_reference": "ZY-2026-002",
    }
    named = await client.post(
        "/api/v1/registry/pledges",
        json={**pledge, "holder_credit_code": holder.credit_code},
        headers=holder.headers,
    )
    _problem(named, 422, "validation_failed")
    unnamed = await client.post("/api/v1/registry/pledges", json=pledge, headers=registrar)
    _problem(unnamed, 422, "validation_failed")
    made = await client.post("/api/v1/registry/pledges", json=pledge, headers=holder.headers)
    assert made.status_code == 201 and made.json()["status"] == "active", made.text
    account = await _me(client, holder)
    line = _holding(account, instrument_id)
    assert (line["available"], line["pledged"], line["total"]) == (8_000, 2_000, 10_000)
    assert [p["status"] for p in account["pledges"]] == ["active"]
    pledge_id = made.json()["id"]
    _problem(
        await client.post(f"/api/v1/registry/pledges/{pledge_id}/release", headers=holder.headers),
        403,
        "forbidden",
    )
    released = await client.post(f"/api/v1/registry/pledges/{pledge_id}/release", headers=registrar)
    assert released.status_code == 200 and released.json()["status"] == "released", released.text
    assert _holding(await _me(client, holder), instrument_id)["available"] == 10_000
    _problem(
        await client.post(f"/api/v1/registry/pledges/{pledge_id}/release", headers=registrar),
        409,
        "registry_pledge_state",
    )
    # by the registrar for the holder, then enforced: the creditor's holding
    second = await client.post(
        "/api/v1/registry/pledges",
        json={**pledge, "quantity": 1_500, "holder_credit_code": holder.credit_code},
        headers=registrar,
    )
    assert second.status_code == 201, second.text
    enforced = await client.post(
        f"/api/v1/registry/pledges/{second.json()['id']}/enforce",
        json={"creditor_credit_code": creditor.credit_code},
        headers=registrar,
    )
    assert enforced.status_code == 200 and enforced.json()["status"] == "enforced", enforced.text
    assert _holding(await _me(client, creditor), instrument_id)["available"] == 1_500
    assert _holding(await _me(client, holder), instrument_id)["total"] == 8_500
    unknown = await client.post(
        f"/api/v1/registry/pledges/{second.json()['id']}/enforce",
        json={"creditor_credit_code": credit_code()},
        headers=registrar,
    )
    _problem(unknown, 404, "registry_not_found")


async def test_agreements_their_parties_and_objections(client: Client) -> None:
    registrar, operator = await registrar_token(client), await staff(client, "operator")
    seller, buyer, neighbour = await enterprise(client), await enterprise(client), await enterprise(client)
    instrument_id = await issue(client, registrar, seller, 10_000)
    terms = {"instrument_id": instrument_id, "quantity": 3_000, "price": "27000.00"}
    no_buyer = await client.post(
        "/api/v1/registry/agreements",
        json={**terms, "buyer_credit_code": credit_code()},
        headers=seller.headers,
    )
    _problem(no_buyer, 409, "registry_no_account")
    for_other = await client.post(
        "/api/v1/registry/agreements",
        json={**terms, "buyer_credit_code": buyer.credit_code, "seller_credit_code": neighbour.credit_code},
        headers=seller.headers,
    )
    _problem(for_other, 422, "validation_failed")
    zero = await client.post(
        "/api/v1/registry/agreements",
        json={**terms, "price": "0.00", "buyer_credit_code": buyer.credit_code},
        headers=seller.headers,
    )
    _problem(zero, 422, "validation_failed")
    created = await client.post(
        "/api/v1/registry/agreements",
        json={**terms, "buyer_credit_code": buyer.credit_code, "seller_credit_code": seller.credit_code},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    agreement = created.json()
    assert (agreement["status"], agreement["price"], agreement["quantity"]) == (
        "publicity",
        "27000.00",
        3_000,
    )
    url = f"/api/v1/registry/agreements/{agreement['id']}"
    public = (await client.get(url)).json()
    assert "payment_account" not in public
    # under 公示 the public sees who deals, to object
    assert (public["seller_credit_code"], public["buyer_credit_code"]) == (
        seller.credit_code,
        buyer.credit_code,
    )
    assert "payment_account" not in (await client.get(url, headers=neighbour.headers)).json()
    for party in (seller.headers, buyer.headers, operator, registrar):
        assert (await client.get(url, headers=party)).json()["payment_account"] == agreement[
            "payment_account"
        ]
    _problem(await client.get("/api/v1/registry/agreements/999999"), 404, "registry_not_found")
    objected = await client.post(
        f"{url}/objections", json={"reasons": "存在关联交易"}, headers=neighbour.headers
    )
    assert objected.status_code == 201 and objected.json()["status"] == "open", objected.text
    upheld = await client.post(
        f"/api/v1/registry/agreements/objections/{objected.json()['id']}/answer",
        json={"decision": "upheld", "answer": "经核实存在关联交易"},
        headers=operator,
    )
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld", upheld.text
    cancelled = (await client.get(url)).json()
    assert cancelled["status"] == "cancelled"
    # a negotiation that came to nothing keeps its parties' names public, not their codes
    assert (cancelled["seller"], cancelled["buyer"]) == (public["seller"], public["buyer"])
    assert "seller_credit_code" not in cancelled and "buyer_credit_code" not in cancelled
    assert seller.credit_code not in (await client.get(url, headers=neighbour.headers)).text
    for party in (seller.headers, buyer.headers, operator):
        seen = (await client.get(url, headers=party)).json()
        assert (seen["seller_credit_code"], seen["buyer_credit_code"]) == (
            seller.credit_code,
            buyer.credit_code,
        )
    assert _holding(await _me(client, seller), instrument_id)["available"] == 10_000
    late = await client.post(f"{url}/objections", json={"reasons": "x"}, headers=neighbour.headers)
    assert late.status_code == 409, late.text


async def test_a_surrender_repeated_with_its_key_is_booked_once(client: Client) -> None:
    registrar = await registrar_token(client)
    holder = await enterprise(client)
    instrument_id = await issue(client, registrar, holder, 5_000)
    body = {
        "holder_credit_code": holder.credit_code,
        "right_type": "emission",
        "sub_type": "COD",
        "year": date.today().year,
        "quantity": 4_000,
    }
    obligation = (await client.post("/api/v1/registry/obligations", json=body, headers=registrar)).json()
    surrender = {"obligation_id": obligation["id"], "instrument_id": instrument_id, "quantity": 1_500}
    keyed = {**holder.headers, "Idempotency-Key": "lvyue-2026-1"}
    first = await client.post("/api/v1/registry/surrenders", json=surrender, headers=keyed)
    assert first.status_code == 201, first.text
    again = await client.post("/api/v1/registry/surrenders", json=surrender, headers=keyed)
    assert again.status_code == 200 and again.json() == first.json(), again.text
    # the body's reference is the same key
    by_body = await client.post(
        "/api/v1/registry/surrenders", json={**surrender, "reference": "lvyue-2026-1"}, headers=holder.headers
    )
    assert by_body.status_code == 200 and by_body.json()["id"] == first.json()["id"], by_body.text
    other = await client.post(
        "/api/v1/registry/surrenders", json={**surrender, "quantity": 10}, headers=keyed
    )
    _problem(other, 409, "idempotency_conflict")
    both = await client.post(
        "/api/v1/registry/surrenders", json={**surrender, "reference": "another"}, headers=keyed
    )
    _problem(both, 422, "validation_failed")
    (line,) = (await _me(client, holder))["compliance"]
    assert (line["surrendered"], line["shortfall"]) == (1_500, 2_500)
    assert _holding(await _me(client, holder), instrument_id)["available"] == 3_500
    # without a key every call is a surrender of its own
    for _ in range(2):
        plain = await client.post("/api/v1/registry/surrenders", json=surrender, headers=holder.headers)
        assert plain.status_code == 201, plain.text
    assert _holding(await _me(client, holder), instrument_id)["available"] == 500
