"""Driving a sale through the payment follow-up: the contract, the day-end job on chosen days,
tracked payments, a rescission after the grace (settlement/followup.py).

The day-end job takes the moment it runs for (``followup.day_end(session, now)``), so a test runs
it on any day without touching the clock. The app's own timers (the 2-second sweep, which also
catches up the day-end job, and the daily job) would run it again on today: :func:`stop_follow_up`
cancels them once the test no longer needs the app to settle or confirm by itself.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from exchange.db import unit_of_work
from listings.workdays import SHANGHAI, local_date
from settlement import followup
from settlement.bank import sign
from tests.support.api import Client

COLLECTOR_SECRET = "test-collector-secret"


def stop_follow_up(client: Client) -> None:
    """No more automatic sweeps or day-end runs in this app (the test runs them)."""
    timers = client.app.state.timers
    timers.cancel("settlement:sweep")
    timers.cancel("settlement:day_end")


def shanghai_morning(day: date) -> datetime:
    """01:00 in Shanghai on ``day``, as UTC: the day-end job of the day before has run."""
    return datetime.combine(day, time(1), tzinfo=SHANGHAI).astimezone(UTC)


async def day_end(client: Client, day: date) -> int:
    """The day-end job as it runs early on ``day`` (it handles the day before)."""
    async with unit_of_work(client.app.state.sessions) as session:
        return await followup.day_end(session, shanghai_morning(day))


async def sign_contract(
    client: Client, operator: dict[str, str], listing_id: int, signed_on: date | None = None
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/settlements/{listing_id}/contract",
        json={"signed_on": (signed_on or local_date(datetime.now(UTC))).isoformat()},
        headers=operator,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def settlement(client: Client, listing_id: int, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"/api/v1/settlements/{listing_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def rescind_after_grace(
    client: Client, operator: dict[str, str], listing_id: int, reason: str = "逾期付款超过宽限期"
) -> dict[str, Any]:
    """Sign the contract if it is awaited, run the day-end job well past the grace of the first
    unpaid installment (a proposal), then an operator confirms the rescission; the view after it."""
    stop_follow_up(client)
    view = await settlement(client, listing_id, operator)
    if view["status"] == "awaiting_contract":
        view = await sign_contract(client, operator, listing_id)
    line = view["lines"][0]
    due = min(date.fromisoformat(i["due_date"]) for i in line["installments"] if i["status"] == "pending")
    grace = int(line["terms"]["grace_days"])
    # past the grace even when the due date falls in a week of holidays
    assert await day_end(client, due + timedelta(days=grace + 12)) >= 1
    rescinded = await client.post(
        f"/api/v1/settlements/{listing_id}/rescission", json={"reason": reason}, headers=operator
    )
    assert rescinded.status_code == 200, rescinded.text
    return dict(rescinded.json())


def collection_notice(
    listing_id: int, application_id: int, amount: str, paid_on: date, reference: str | None = None
) -> dict[str, Any]:
    return {
        "listing_id": listing_id,
        "application_id": application_id,
        "amount": amount,
        "paid_on": paid_on.isoformat(),
        "authority": "国家税务总局苏州市税务局",
        "reference": reference or f"SW{secrets.token_hex(6)}",
    }


async def deliver_collection(client: Client, payload: dict[str, Any], secret: str = COLLECTOR_SECRET) -> Any:
    """POST a collection notice signed as the tax bureau signs it."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"X-Signature": sign(secret, body), "Content-Type": "application/json"}
    return await client.post("/api/v1/settlements/collection-notices", content=body, headers=headers)
