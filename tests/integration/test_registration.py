"""Bidder self-registration: every rejection has its code and books nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from exchange.audit.models import AuditEntry
from exchange.identity.models import User
from listings.calendar_store import CALENDAR_STREAM
from tests.support.api import PASSWORD, Client, register_bidder
from tests.support.ids import credit_code, id_number

NOT_CALENDAR = AuditEntry.stream != CALENDAR_STREAM
"""The test database holds invented calendar years, imported and audited (tests/conftest.py)."""


async def _counts(client: Client) -> tuple[int, int]:
    async with client.app.state.sessions() as session:
        users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
        audit = (await session.execute(select(func.count()).where(NOT_CALENDAR))).scalar_one()
    return users, audit


def _body(**fields: Any) -> dict[str, Any]:
    body = {
        "username": "shanxi_coal",
        "password": PASSWORD,
        "display_name": "山西煤业有限公司",
        "kind": "enterprise",
        "credit_code": credit_code(),
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


async def test_enterprise_registers_and_is_audited(client: Client) -> None:
    response = await client.post("/api/v1/auth/register", json=_body())
    assert response.status_code == 201
    assert response.json()["role"] == "bidder"
    assert set(response.json()) == {"id", "username", "role"}
    async with client.app.state.sessions() as session:
        entry = (await session.execute(select(AuditEntry).where(NOT_CALENDAR))).scalar_one()
        user = (await session.execute(select(User))).scalar_one()
    assert entry.action == "bidder.registered"
    assert entry.payload["user_id"] == user.id
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in str(entry.payload)


async def test_individual_with_id_number(client: Client) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json=_body(kind="individual", credit_code=None, id_number=id_number(), username="zhang_san"),
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"credit_code": credit_code()[:-1] + "!"}, 422, "credit_code_invalid", "credit_code"),
        ({"credit_code": credit_code()[:17]}, 422, "credit_code_invalid", "credit_code"),
        ({"credit_code": "91350100M000100Y44"}, 422, "credit_code_invalid", "credit_code"),
        ({"credit_code": "91350100M000I00Y43"}, 422, "credit_code_invalid", "credit_code"),
        ({"credit_code": None}, 422, "credit_code_required", "credit_code"),
        (
            {"kind": "individual", "credit_code": None, "id_number": "110105194912310021"},
            422,
            "id_number_invalid",
            "id_number",
        ),
        ({"password": "short1"}, 422, "password_weak", "password"),
        ({"password": "onlyletterslong"}, 422, "password_weak", "password"),
        ({"password": "shanxi_coal12345"}, 422, "password_weak", "password"),
        ({"kind": "staff"}, 400, "validation_failed", "kind"),
        ({"username": "a b"}, 400, "validation_failed", "username"),
        ({"role": "admin"}, 400, "validation_failed", "role"),
    ],
)
async def test_rejections_have_codes_and_book_nothing(
    client: Client, fields: dict[str, Any], status: int, code: str, field: str
) -> None:
    response = await client.post("/api/v1/auth/register", json=_body(**fields))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert any(e["field"] == field for e in problem["errors"]), problem
    assert await _counts(client) == (0, 0)


async def test_duplicate_username_case_insensitive(client: Client) -> None:
    await register_bidder(client, "taiyuan_steel")
    before = await _counts(client)
    response = await client.post("/api/v1/auth/register", json=_body(username="Taiyuan_Steel"))
    assert response.status_code == 409
    assert response.json()["code"] == "username_taken"
    assert await _counts(client) == before


async def test_malformed_json_is_a_problem(client: Client) -> None:
    response = await client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
