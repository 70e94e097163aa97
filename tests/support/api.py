"""Acting through the public API as bidders and staff do."""

from __future__ import annotations

import itertools
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from exchange.db import unit_of_work
from exchange.identity.services import create_staff
from tests.support.ids import credit_code

PASSWORD = "Bidder-pass-2026"
_names = itertools.count(1)

Client = AsyncTestClient[Litestar]


async def register_bidder(client: Client, username: str | None = None, **fields: Any) -> dict[str, Any]:
    name = username or f"bidder{next(_names)}"
    body = {
        "username": name,
        "password": PASSWORD,
        "display_name": f"{name} 有限公司",
        "kind": "enterprise",
        "credit_code": credit_code(),
        **fields,
    }
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def token_for(client: Client, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = await client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def bidder(client: Client, username: str | None = None) -> dict[str, str]:
    """Register a bidder and return its auth headers."""
    user = await register_bidder(client, username)
    return await token_for(client, user["username"])


async def staff(client: Client, role: str, username: str | None = None) -> dict[str, str]:
    name = username or f"{role}{next(_names)}"
    async with unit_of_work(client.app.state.sessions) as session:
        await create_staff(
            session,
            passwords=client.app.state.passwords,
            username=name,
            password=PASSWORD,
            role=role,  # type: ignore[arg-type]
            display_name=None,
            actor="test",
        )
    return await token_for(client, name)
