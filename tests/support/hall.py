"""Seeding a live server for the hall and bidder-page browser tests, through its CLI and public API."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.bank import signed
from tests.support.flow import publish_in_time, start_bidding
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import EXCHANGE, Server

PASSWORD = "Bidder-pass-2026"
EXTENSION = 4
"""Seconds a late bid extends the close by (short, so a test sees it happen)."""


async def add_operator(web: Server) -> None:
    """The operator ``ops``; a second auction on the same server reuses it."""
    await asyncio.to_thread(
        subprocess.run,
        [str(EXCHANGE), "users", "add", "--role", "operator", "--username", "ops", "--password", PASSWORD],
        env=web.env,
        cwd=web.cwd,
        check=False,
        capture_output=True,
    )


async def token(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def wait_status(http: httpx.AsyncClient, listing_id: int, status: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await http.get(f"/api/v1/listings/{listing_id}")).json()["status"] != status:
        assert loop.time() < deadline, f"listing {listing_id} never reached {status}"
        await asyncio.sleep(0.1)


async def seed_auction(
    web: Server, bidders: list[str], bidding_seconds: float, *, lead: float = 0, **body: Any
) -> tuple[int, dict[str, dict[str, str]]]:
    """An English auction about to open with ``bidders`` qualified: (listing id, auth headers by name)."""
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        operator = await token(http, "ops")

        def schedule() -> dict[str, Any]:
            return sandbox_schedule(
                datetime.now(UTC) + timedelta(seconds=0.5),
                registration=0.1,
                registration_closes=600,  # until the bidders qualify: see start_bidding below
                bidding=601,
                closes=601 + bidding_seconds,
                extension=EXTENSION,
            )

        created = await http.post(
            "/api/v1/listings",
            json=listing_body(schedule=schedule(), **{"reserve_price": "1000000.00", **body}),
            headers=operator,
        )
        assert created.status_code == 201, created.text
        lid = created.json()["id"]
        await publish_in_time(http, lid, operator, schedule)
        await wait_status(http, lid, "registration", 5)
        heads = {}
        for name in bidders:
            registered = await http.post(
                "/api/v1/auth/register",
                json={
                    "username": name,
                    "password": PASSWORD,
                    "display_name": f"{name} 有限公司",
                    "kind": "enterprise",
                    "credit_code": credit_code(),
                },
            )
            assert registered.status_code == 201, registered.text
            heads[name] = await token(http, name)
            application = (
                await http.post(f"/api/v1/listings/{lid}/applications", headers=heads[name])
            ).json()
            decided = await http.post(
                f"/api/v1/applications/{application['id']}/decision", json={"approve": True}, headers=operator
            )
            assert decided.status_code == 200, decided.text
            payload, signature = signed(
                {
                    "txn_id": f"T{secrets.token_hex(6)}",
                    "account": application["deposit_account"],
                    "amount": application["deposit_due"],
                    "paid_at": datetime.now(UTC).isoformat(),
                }
            )
            paid = await http.post("/api/v1/bank/notifications", content=payload, headers=signature)
            assert paid.json()["outcome"] == "deposit", paid.text
        # ``lead``: extra seconds between the last deposit and the opening
        await start_bidding(
            http, operator, lid, closes_in=bidding_seconds, extension=EXTENSION, opens_in=0.6 + lead
        )
        if not lead:
            await wait_status(http, lid, "bidding", 30)
    return lid, heads
