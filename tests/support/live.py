"""Live exchanges in server processes, seeded and driven through the public API."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.support.bank import signed
from tests.support.flow import PAUSE, bidding_now
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import EXCHANGE

PASSWORD = "Bidder-pass-2026"


def token(url: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{url}/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def wait(url: str, listing_id: int, statuses: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        listing = httpx.get(f"{url}/api/v1/listings/{listing_id}").json()
        if listing["status"] in statuses:
            return dict(listing)
        assert time.monotonic() < deadline, f"listing stuck in {listing['status']}"
        time.sleep(0.1)


def seed(
    url: str, env: dict[str, str], cwd: Path, bidders: int, bidding_seconds: float
) -> tuple[int, list[dict[str, str]]]:
    subprocess.run(
        [str(EXCHANGE), "users", "add", "--role", "operator", "--username", "ops", "--password", PASSWORD],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    operator = token(url, "ops")
    schedule = sandbox_schedule(
        # publishing must come before the announcement: a loaded machine took 0.5 s to get there
        datetime.now(UTC) + timedelta(seconds=2),
        registration=0.1,
        registration_closes=600,  # until the bidders qualify: see start_bidding below
        bidding=601,
        closes=601 + bidding_seconds,
        extension=2,
    )
    # Reserve at the start price: however few bids a loaded machine gets in, the lot sells.
    body = listing_body(schedule=schedule, reserve_price="1000000.00")
    created = httpx.post(f"{url}/api/v1/listings", json=body, headers=operator)
    assert created.status_code == 201, created.text
    listing_id = created.json()["id"]
    assert httpx.post(f"{url}/api/v1/listings/{listing_id}/publish", headers=operator).status_code == 200
    wait(url, listing_id, {"registration"}, 5)
    heads = []
    for i in range(bidders):
        name = f"crash{i}_{secrets.token_hex(2)}"
        body = {
            "username": name,
            "password": PASSWORD,
            "display_name": name,
            "kind": "enterprise",
            "credit_code": credit_code(),
        }
        assert httpx.post(f"{url}/api/v1/auth/register", json=body).status_code == 201
        headers = token(url, name)
        application = httpx.post(f"{url}/api/v1/listings/{listing_id}/applications", headers=headers).json()
        httpx.post(
            f"{url}/api/v1/applications/{application['id']}/decision",
            json={"approve": True},
            headers=operator,
        )
        payload, sig = signed(
            {
                "txn_id": f"T{secrets.token_hex(6)}",
                "account": application["deposit_account"],
                "amount": application["deposit_due"],
                "paid_at": datetime.now(UTC).isoformat(),
            }
        )
        assert (
            httpx.post(f"{url}/api/v1/bank/notifications", content=payload, headers=sig).json()["outcome"]
            == "deposit"
        )
        heads.append(headers)
    listing = httpx.get(f"{url}/api/v1/listings/{listing_id}", headers=operator).json()
    assert httpx.post(f"{url}/api/v1/listings/{listing_id}/suspend", json=PAUSE, headers=operator).is_success
    schedule = bidding_now(listing, closes_in=bidding_seconds, extension=2)
    resumed = httpx.post(
        f"{url}/api/v1/listings/{listing_id}/resume", json={"schedule": schedule}, headers=operator
    )
    assert resumed.status_code == 200, resumed.text
    wait(url, listing_id, {"bidding"}, 30)
    return listing_id, heads


async def bidder_loop(
    urls: list[str],
    listing_id: int,
    headers: dict[str, str],
    acked: list[dict[str, Any]],
    stop: asyncio.Event,
) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        turn = 0
        while not stop.is_set():
            url = urls[turn % len(urls)]
            turn += 1
            try:
                view = (await client.get(f"{url}/api/v1/auctions/{listing_id}")).json()
                if view["status"] != "open":
                    return
                response = await client.post(
                    f"{url}/api/v1/auctions/{listing_id}/bids",
                    json={"amount": view["next_min_bid"]},
                    headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
                )
            except (httpx.HTTPError, KeyError, ValueError):
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 201:
                acked.append(response.json())
            await asyncio.sleep(0.15)


async def bid_for(
    seconds: float, urls: list[str], listing_id: int, heads: list[dict[str, str]], on_time: Any = None
) -> list[dict[str, Any]]:
    acked: list[dict[str, Any]] = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(bidder_loop(urls, listing_id, h, acked, stop)) for h in heads]
    await asyncio.sleep(seconds)
    if on_time is not None:
        on_time()
        await asyncio.sleep(0.5)  # requests in flight when the server died fail, they are not acked
    stop.set()
    await asyncio.gather(*tasks)
    return acked


async def close_record(db_url: str, listing_id: int) -> tuple[int, list[int], int]:
    """How many close events the auction has, its event seqs in order, and its audit entries after the opening."""
    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        closes = await conn.fetchval(
            "SELECT count(*) FROM auction_events WHERE listing_id = $1 AND kind IN ('closed', 'failed')",
            listing_id,
        )
        rows = await conn.fetch(
            "SELECT seq FROM auction_events WHERE listing_id = $1 ORDER BY seq", listing_id
        )
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE stream = $1 AND action LIKE 'auction.%' "
            "AND action <> 'auction.opened'",
            f"listing:{listing_id}",
        )
    finally:
        await conn.close()
    return int(closes), [int(r["seq"]) for r in rows], int(audited)
