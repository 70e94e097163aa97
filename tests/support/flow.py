"""Walking a listing to registration and bidders through applying and paying."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from exchange.clock import utcnow
from tests.support.api import Client, bidder, staff
from tests.support.bank import deliver, notice
from tests.support.listings import listing_body, sandbox_schedule


def use_sandbox(client: Client) -> None:
    client.app.state.settings = replace(client.app.state.settings, profile="sandbox")


async def wait_status(client: Client, listing_id: int, status: str, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await client.get(f"/api/v1/listings/{listing_id}")).json()["status"] != status:
        assert loop.time() < deadline, f"listing {listing_id} never reached {status}"
        await asyncio.sleep(0.05)


async def publish_in_time(
    http: Client | httpx.AsyncClient,
    listing_id: int,
    operator: dict[str, str],
    schedule: Callable[[], dict[str, Any]] | dict[str, Any],
) -> dict[str, Any]:
    """Publish a draft whose announcement is moments away; when a loaded machine took longer than
    that, the draft's dates move on (``schedule()`` again, or the dates given moved later by the
    delay), as an operator's would: an announcement may not be in the past at publication."""
    if isinstance(schedule, dict):
        schedule = _later(schedule)
    for _ in range(3):
        published = await http.post(f"/api/v1/listings/{listing_id}/publish", headers=operator)
        if published.status_code != 422 or not published.json()["code"].startswith("schedule_"):
            break
        moved = await http.patch(
            f"/api/v1/listings/{listing_id}", json={"schedule": schedule()}, headers=operator
        )
        assert moved.status_code == 200, moved.text
    assert published.status_code == 200, published.text
    return dict(published.json())


def _later(schedule: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def moved() -> dict[str, Any]:
        late = utcnow() - datetime.fromisoformat(schedule["registration_opens_at"])
        by = max(late, timedelta(0)) + timedelta(seconds=1)
        return {
            key: (datetime.fromisoformat(value) + by).isoformat() if key.endswith("_at") else value
            for key, value in schedule.items()
        }

    return moved


async def open_registration(
    client: Client,
    operator: dict[str, str],
    *,
    closes: float = 30,
    bidding: float = 60,
    bidding_closes: float = 120,
    extension: int = 5,
    **body: Any,
) -> dict[str, Any]:
    """A sandbox listing already in its registration window (offsets in seconds)."""
    use_sandbox(client)

    def schedule() -> dict[str, Any]:
        return sandbox_schedule(
            utcnow() + timedelta(seconds=1.5),  # room for creating and publishing
            registration=0.1,
            registration_closes=closes,
            bidding=bidding,
            closes=bidding_closes,
            extension=extension,
        )

    created = await client.post(
        "/api/v1/listings", json=listing_body(schedule=schedule(), **body), headers=operator
    )
    assert created.status_code == 201, created.text
    listing = created.json()
    published = await publish_in_time(client, listing["id"], operator, schedule)
    await wait_status(client, listing["id"], "registration")
    return published


def bidding_now(
    listing: dict[str, Any], *, closes_in: float, extension: int, opens_in: float = 0.6
) -> dict[str, Any]:
    """A schedule that ends ``listing``'s registration now and opens bidding ``opens_in`` seconds later.

    Seeders open registration for as long as a loaded machine could need, qualify their
    bidders, then move the dates as an operator does (中止, then 恢复 with this schedule:
    ``start_bidding``): a test waits for the states it needs instead of betting that every
    deposit arrives within a registration window of so many seconds.
    """
    registration_opens = datetime.fromisoformat(listing["schedule"]["registration_opens_at"])
    # the sandbox's shortest registration period is one second
    closes = max(utcnow() + timedelta(seconds=opens_in / 2), registration_opens + timedelta(seconds=1.05))
    opens = closes + timedelta(seconds=opens_in / 2)
    return {
        "announce_at": listing["schedule"]["announce_at"],
        "registration_opens_at": listing["schedule"]["registration_opens_at"],
        "registration_closes_at": closes.isoformat(),
        "bidding_opens_at": opens.isoformat(),
        "bidding_closes_at": (opens + timedelta(seconds=closes_in)).isoformat(),
        "extension_seconds": extension,
    }


PAUSE = {"reason": "调整竞价时间"}


async def start_bidding(
    http: httpx.AsyncClient, operator: dict[str, str], listing_id: int, **timing: Any
) -> None:
    """``bidding_now`` through the API (``timing``: its keyword arguments)."""
    listing = (await http.get(f"/api/v1/listings/{listing_id}", headers=operator)).json()
    assert listing["status"] == "registration", listing["status"]
    paused = await http.post(f"/api/v1/listings/{listing_id}/suspend", json=PAUSE, headers=operator)
    assert paused.status_code == 200, paused.text
    schedule = bidding_now(listing, **timing)
    resumed = await http.post(
        f"/api/v1/listings/{listing_id}/resume", json={"schedule": schedule}, headers=operator
    )
    assert resumed.status_code == 200, resumed.text


async def apply(client: Client, listing_id: int, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(f"/api/v1/listings/{listing_id}/applications", headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def decide(client: Client, operator: dict[str, str], application_id: int, approve: bool = True) -> Any:
    body = {"approve": approve} if approve else {"approve": False, "reason": "资格不符"}
    response = await client.post(
        f"/api/v1/applications/{application_id}/decision", json=body, headers=operator
    )
    assert response.status_code == 200, response.text
    return response.json()


async def qualified_bidder(
    client: Client, operator: dict[str, str], listing: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """A bidder who applied, was approved and paid in full: (headers, application)."""
    headers = await bidder(client)
    application = await apply(client, listing["id"], headers)
    await decide(client, operator, application["id"])
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert view["status"] == "qualified", view
    return headers, view


__all__ = ["staff"]


async def qualify_many(client: Client, listing_id: int, count: int) -> list[int]:
    """``count`` qualified bidders through the service layer (same rules, no HTTP round trips).

    For tests that need many bidders inside a short registration window.
    """
    from exchange.db import unit_of_work
    from exchange.identity.services import create_staff, register_bidder
    from exchange.identity.tokens import Principal
    from listings import applications
    from settlement.bank import parse_notice, receive
    from tests.support.api import PASSWORD
    from tests.support.bank import signed
    from tests.support.ids import credit_code

    sessions = client.app.state.sessions
    hooks = client.app.state.listing_hooks
    async with unit_of_work(sessions) as session:
        ops = await create_staff(
            session,
            passwords=client.app.state.passwords,
            username=f"ops_many_{listing_id}",
            password=PASSWORD,
            role="operator",
            display_name=None,
            actor="test",
        )
    operator = Principal(ops.id, ops.username, "operator")
    user_ids = []
    for i in range(count):
        async with sessions() as session:
            user = await register_bidder(
                session,
                passwords=client.app.state.passwords,
                username=f"many_{listing_id}_{i}",
                password=PASSWORD,
                display_name=f"竞买人{i}",
                kind="enterprise",
                credit_code=credit_code(),
                id_number=None,
            )
        async with sessions() as session:
            application, _ = await applications.apply(
                session, listing_id, Principal(user.id, user.username, "bidder")
            )
        async with sessions() as session:
            await applications.decide(session, application.id, True, None, operator, hooks)
        body, _ = signed(
            notice(application.deposit_account, f"{application.deposit_due / 100:.2f}", utcnow())
        )
        async with sessions() as session:
            assert (await receive(session, body, parse_notice(body), hooks)).outcome == "deposit"
        user_ids.append(user.id)
    return user_ids
