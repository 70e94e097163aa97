"""挂牌 registration running into the listing period: bidders apply, pay and quote while it runs.

Through HTTP on both databases: the schedule a 挂牌 may publish (and the one other methods may
not), applying and qualifying during bidding, the new bidder admitted to the running auction
without an event that would count it, money after the registration close refunded, and the
audit log replaying the admissions to the stored outcome.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from auctions.audit_replay import replay_listing
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from tests.support.api import Client, bidder, staff
from tests.support.auctions import auction_view, bid
from tests.support.bank import deliver, notice
from tests.support.flow import apply, decide, use_sandbox, wait_status
from tests.support.listings import listing_body, sandbox_schedule

pytestmark = pytest.mark.databases()


async def publish(client: Client, operator: dict[str, str], schedule: dict[str, Any], **body: Any) -> Any:
    use_sandbox(client)
    created = await client.post(
        "/api/v1/listings",
        json=listing_body("land_use_right", body.pop("method", "listing"), schedule=schedule, **body),
        headers=operator,
    )
    assert created.status_code == 201, created.text
    return await client.post(f"/api/v1/listings/{created.json()['id']}/publish", headers=operator)


async def until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - utcnow()).total_seconds()))


async def pay(client: Client, application: dict[str, Any]) -> Any:
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    assert paid.status_code == 200, paid.text
    return paid.json()


async def test_only_a_listing_may_keep_registration_open_and_only_until_its_quotes_end(
    client: Client,
) -> None:
    operator = await staff(client, "operator")
    start = utcnow() + timedelta(seconds=30)
    late = sandbox_schedule(start, registration=1, registration_closes=50, bidding=10, closes=100)
    english = await publish(client, operator, late, method="english")
    assert english.status_code == 422 and english.json()["code"] == "schedule_order_invalid"
    assert (await publish(client, operator, late, method="listing")).status_code == 200
    # a quote freeze of 60 s ends the quote phase at 40 s: registration at 50 s is too late
    frozen = await publish(client, operator, late, method="listing", freeze_seconds=60)
    assert frozen.status_code == 422 and frozen.json()["code"] == "registration_closes_too_late"
    assert [e["field"] for e in frozen.json()["errors"]] == ["schedule.registration_closes_at"]
    after_bidding = sandbox_schedule(start, registration=20, registration_closes=50, bidding=10, closes=100)
    opened_late = await publish(client, operator, after_bidding, method="listing")
    assert opened_late.status_code == 422 and opened_late.json()["code"] == "schedule_order_invalid"


async def test_bidders_join_a_running_listing_as_they_qualify_and_the_log_replays(client: Client) -> None:
    operator = await staff(client, "operator")
    start = utcnow() + timedelta(seconds=1.5)
    schedule = sandbox_schedule(
        start, registration=0.1, registration_closes=9, bidding=3, closes=12, extension=1
    )
    published = await publish(client, operator, schedule, qualification="post")
    assert published.status_code == 200, published.text
    lid = published.json()["id"]
    await wait_status(client, lid, "registration")
    early = await bidder(client)
    first = await apply(client, lid, early)
    assert (await pay(client, first))["outcome"] == "deposit"

    await wait_status(client, lid, "bidding", timeout=15)
    before = await auction_view(client, lid)
    latecomer, tardy = await bidder(client), await bidder(client)
    second = await apply(client, lid, latecomer)  # registration is still open while bidding runs
    third = await apply(client, lid, tardy)
    assert (await pay(client, second))["outcome"] == "deposit"
    view = (await client.get(f"/api/v1/applications/{second['id']}", headers=latecomer)).json()
    assert view["status"] == "qualified"
    # admitted without an event: the public sequence counts nobody
    assert (await auction_view(client, lid))["last_seq"] == before["last_seq"]
    assert (await bid(client, latecomer, lid, "1100000.00")).status_code == 201
    assert (await bid(client, early, lid, "1110000.00")).status_code == 201

    await until(datetime.fromisoformat(schedule["registration_closes_at"]))
    too_late = await client.post(f"/api/v1/listings/{lid}/applications", headers=await bidder(client))
    assert too_late.status_code == 409 and too_late.json()["code"] == "registration_closed"
    refused = await pay(client, third)
    assert (refused["outcome"], refused["reason"]) == ("suspense", "after_deadline")

    await wait_status(client, lid, "closed", timeout=30)
    async with client.app.state.sessions() as session:
        report = await replay_listing(session, lid)
        admitted = (
            await session.execute(
                select(AuditEntry.payload).where(
                    AuditEntry.stream == f"listing:{lid}", AuditEntry.action == "auction.admitted"
                )
            )
        ).scalars()
        assert [p["bid_number"] for p in admitted] == [view["bid_number"]]
    assert report.matches and report.bids == 2, report
    assert report.stored is not None and report.stored["winners"][0]["price"] == 111_000_000


async def test_an_operator_admits_a_latecomer_until_the_quote_phase_ends(client: Client) -> None:
    operator = await staff(client, "operator")
    start = utcnow() + timedelta(seconds=1.5)
    schedule = sandbox_schedule(start, registration=0.1, registration_closes=60, bidding=2, closes=120)
    published = await publish(client, operator, schedule, qualification="pre")
    lid = published.json()["id"]
    await wait_status(client, lid, "bidding", timeout=15)
    latecomer = await bidder(client)
    application = await apply(client, lid, latecomer)
    await pay(client, application)
    assert (await bid(client, latecomer, lid, "1000000.00")).json()["code"] == "not_qualified"
    decided = await decide(client, operator, application["id"])  # 资格前审 during the listing period
    assert decided["status"] == "qualified"
    assert (await bid(client, latecomer, lid, "1000000.00")).status_code == 201
