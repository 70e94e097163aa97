"""Issue 18's "done when", end to end over HTTP through the real app, on PostgreSQL and SQLite.

The registrar issues a lot of COD to a Suzhou enterprise; the enterprise sells part of it by
auction (offer, the operator approves and publishes, another enterprise of the same basin
applies, pays its deposit by a signed bank notice, bids and wins, then pays in full by a signed
bank notice); the app settles by itself and delivers; both green responsibility accounts show
the trade, the seller is paid. The same through a negotiated transfer (协议转让) with its 公示
(an objection filed and dismissed on the way). An enterprise of another basin is refused with a
clear problem, at the auction and at the agreement. The app runs under the sandbox profile from
its start, so statutory periods count seconds; nothing but the bank's notices is simulated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from exchange.app import create_app
from exchange.clock import utcnow
from exchange.settings import Settings
from settlement import ledger
from settlement.lines import seller_payable_code
from tests.support.api import Client, staff
from tests.support.bank import deliver, notice
from tests.support.dvp import Party, enterprise, issue, offer, payouts
from tests.support.flow import publish_in_time, start_bidding, wait_status
from tests.support.listings import listing_body, sandbox_schedule

pytestmark = pytest.mark.databases()

SUZHOU, TAIHU = "320505", "太湖"


@pytest.fixture
async def rclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    """The app under the sandbox profile from its start (its sweeps and 公示 count seconds)."""
    async with AsyncTestClient(app=create_app(replace(settings, profile="sandbox"))) as test_client:
        yield test_client


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    """Poll ``check`` until it returns something truthy (the app's own timers move things on)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        assert loop.time() < deadline, f"never: {what}"
        await asyncio.sleep(0.2)
    return result


async def account(client: Client, party: Party) -> dict[str, Any]:
    response = await client.get("/api/v1/registry/holders/me", headers=party.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def holding(statement: dict[str, Any], instrument_id: int) -> dict[str, Any]:
    lines = [h for h in statement["holdings"] if h["instrument"]["id"] == instrument_id]
    return dict(lines[0]) if lines else {"available": 0, "held": 0, "pledged": 0, "frozen": 0, "total": 0}


async def bank_pays(client: Client, account_number: str, amount: str) -> dict[str, Any]:
    paid = await deliver(client, notice(account_number, amount, utcnow()))
    assert paid.status_code == 200, paid.text
    return dict(paid.json())


async def approved_and_published(client: Client, operator: dict[str, str], offer_id: int) -> dict[str, Any]:
    """The operator approves the offer into a draft (an English auction), publishes it, and
    registration opens (for long enough: bidding is opened by moving the dates later)."""

    def schedule() -> dict[str, Any]:
        return sandbox_schedule(
            utcnow() + timedelta(seconds=1.5),
            registration=0.1,
            registration_closes=600,
            bidding=601,
            closes=610,
        )

    body = listing_body(
        "emission_right",
        "english",
        schedule=schedule(),
        start_price="100000.00",
        increment="1000.00",
        deposit="20000.00",
    )
    body["attributes"]["pollutant"] = "SO2"  # the instrument's own attributes override the client's
    approved = await client.post(f"/api/v1/registry/offers/{offer_id}/approve", json=body, headers=operator)
    assert approved.status_code == 200, approved.text
    draft = approved.json()
    assert draft["status"] == "draft" and draft["asset_class"] == "emission_right"
    assert draft["attributes"]["pollutant"] == "COD" and draft["attributes"]["quantity"] == "12.5"
    published = await publish_in_time(client, draft["id"], operator, schedule)
    await wait_status(client, draft["id"], "registration")
    return published


async def qualified(client: Client, operator: dict[str, str], listing_id: int, buyer: Party) -> None:
    applied = await client.post(f"/api/v1/listings/{listing_id}/applications", headers=buyer.headers)
    assert applied.status_code == 201, applied.text
    application = applied.json()
    decided = await client.post(
        f"/api/v1/applications/{application['id']}/decision", json={"approve": True}, headers=operator
    )
    assert decided.status_code == 200, decided.text
    paid = await bank_pays(client, application["deposit_account"], application["deposit_due"])
    assert paid["outcome"] == "deposit", paid


async def test_a_holder_sells_part_of_its_holding_by_auction(rclient: Client) -> None:
    client = rclient
    registrar, operator = await staff(client, "registrar"), await staff(client, "operator")
    seller, buyer = await enterprise(client), await enterprise(client)
    outsider = await enterprise(client, basin="长江")  # same prefecture, another basin
    instrument_id = await issue(client, registrar, seller, 20_000)  # 20 t/a of COD, in kg/a
    made = await offer(client, seller.headers, instrument_id, 12_500)
    assert holding(await account(client, seller), instrument_id)["available"] == 7_500
    listing = await approved_and_published(client, operator, made["id"])
    lid = listing["id"]
    assert listing["seller"]["credit_code"] == seller.credit_code

    refused = await client.post(f"/api/v1/listings/{lid}/applications", headers=outsider.headers)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "registry_out_of_basin" and problem["detail"], problem
    english = await client.post(
        f"/api/v1/listings/{lid}/applications", headers={**outsider.headers, "Accept-Language": "en"}
    )
    assert english.status_code == 409 and "basin" in english.json()["detail"], english.text  # nothing written

    await qualified(client, operator, lid, buyer)
    await start_bidding(client, operator, lid, closes_in=2, extension=1)
    await wait_status(client, lid, "bidding", timeout=30)
    placed = await client.post(
        f"/api/v1/auctions/{lid}/bids",
        json={"amount": "100000.00"},
        headers={**buyer.headers, "Idempotency-Key": "e2e-bid"},
    )
    assert placed.status_code == 201, placed.text
    await wait_status(client, lid, "closed", timeout=30)

    async def settled() -> dict[str, Any] | None:
        response = await client.get(f"/api/v1/settlements/{lid}", headers=buyer.headers)
        return dict(response.json()) if response.status_code == 200 else None

    view = await eventually(settled, "the app settles the close")
    (line,) = view["lines"]
    assert holding(await account(client, buyer), instrument_id)["total"] == 0  # not before payment
    paid = await bank_pays(client, line["payment_account"], line["amount_due"])
    assert paid["outcome"] == "payment", paid

    bought = await account(client, buyer)
    assert holding(bought, instrument_id)["available"] == 12_500
    (acquisition,) = bought["acquisitions"]
    assert (acquisition["quantity"], acquisition["price"], acquisition["via"]) == (
        12_500,
        "100000.00",
        "auction",
    )
    assert acquisition["status"] == "delivered"
    assert acquisition["listing_id"] == lid and acquisition["permit_change"] == "pending"
    sold = await account(client, seller)
    assert holding(sold, instrument_id) | {"instrument": None} == {
        "instrument": None,
        "available": 7_500,
        "held": 0,
        "pledged": 0,
        "frozen": 0,
        "total": 7_500,
    }
    (sale,) = sold["sales"]
    assert sale["delivery_id"] == acquisition["delivery_id"] and sale["price"] == "100000.00"
    assert (acquisition["counterparty"], sale["counterparty"]) == (
        sold["holder"]["name"],
        bought["holder"]["name"],
    )
    assert sold["audit_head"] == bought["audit_head"]
    # the seller is paid: the price leaves the listing's payable for a payout instruction
    (payout, _txn) = (await payouts(client, lid))[0]
    assert payout.amount == 10_000_000
    async with client.app.state.sessions() as session:
        assert await ledger.balance(session, seller_payable_code(lid)) == 0
    # the delivery, to its parties and staff; the registrar confirms the permit change
    delivery_id = acquisition["delivery_id"]
    for party in (buyer, seller):
        seen = await client.get(f"/api/v1/registry/deliveries/{delivery_id}", headers=party.headers)
        assert seen.status_code == 200 and seen.json()["status"] == "delivered", seen.text
    hidden = await client.get(f"/api/v1/registry/deliveries/{delivery_id}", headers=outsider.headers)
    assert hidden.status_code == 404
    confirmed = await client.post(
        f"/api/v1/registry/deliveries/{delivery_id}/permit-change", headers=registrar
    )
    assert confirmed.status_code == 200 and confirmed.json()["permit_change"] == "confirmed", confirmed.text
    # the movements: issued in, offered out to the hold, and the hold delivered
    movements = (await client.get("/api/v1/registry/holders/me/movements", headers=seller.headers)).json()
    assert sum(m["amount"] for m in movements["items"] if m["account_kind"] == "holding") == 7_500
    # the public statistics count the trade and both holders, and name neither
    stats = (await client.get("/api/v1/registry/statistics")).json()
    (row,) = [r for r in stats if (r["sub_type"], r["region_code"]) == ("COD", SUZHOU)]
    assert (row["volume_traded"], row["value"], row["trades"], row["holders"]) == (12_500, "100000.00", 1, 2)
    assert row["average_unit_price"] == "8.0000"  # yuan per kg/a
    assert seller.credit_code not in str(stats) and buyer.credit_code not in str(stats)


async def test_a_negotiated_transfer_with_its_publicity(rclient: Client) -> None:
    client = rclient
    registrar, operator = await staff(client, "registrar"), await staff(client, "operator")
    seller, buyer, neighbour = await enterprise(client), await enterprise(client), await enterprise(client)
    outsider = await enterprise(client, basin="长江")
    instrument_id = await issue(client, registrar, seller, 10_000)
    terms = {"instrument_id": instrument_id, "quantity": 4_000, "price": "36000.00"}

    refused = await client.post(
        "/api/v1/registry/agreements",
        json={**terms, "buyer_credit_code": outsider.credit_code},
        headers=seller.headers,
    )
    assert refused.status_code == 409 and refused.json()["code"] == "registry_out_of_basin", refused.text
    assert holding(await account(client, seller), instrument_id)["available"] == 10_000

    created = await client.post(
        "/api/v1/registry/agreements",
        json={**terms, "buyer_credit_code": buyer.credit_code},
        headers=seller.headers,
    )
    assert created.status_code == 201, created.text
    agreement = created.json()
    assert agreement["status"] == "publicity" and agreement["seller_credit_code"] == seller.credit_code
    assert holding(await account(client, seller), instrument_id) | {"instrument": None} == {
        "instrument": None,
        "available": 6_000,
        "held": 4_000,
        "pledged": 0,
        "frozen": 0,
        "total": 10_000,
    }
    url = f"/api/v1/registry/agreements/{agreement['id']}"
    public = (await client.get(url)).json()  # the 公示: anyone sees the parties and terms
    assert public["buyer_credit_code"] == buyer.credit_code and "payment_account" not in public
    payment_account = (await client.get(url, headers=buyer.headers)).json()["payment_account"]
    assert payment_account

    # an objection holds the confirmation until the operator dismisses it
    objected = await client.post(
        f"{url}/objections", json={"reasons": "价格明显偏低"}, headers=neighbour.headers
    )
    assert objected.status_code == 201, objected.text
    await asyncio.sleep(0.5)
    dismissed = await client.post(
        f"/api/v1/registry/agreements/objections/{objected.json()['id']}/answer",
        json={"decision": "dismissed", "answer": "价格经双方协商，符合规定"},
        headers=operator,
    )
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed", dismissed.text

    async def confirmed() -> bool:
        return bool((await client.get(url)).json()["status"] == "confirmed")

    await eventually(confirmed, "the 公示 ends and the agreement is confirmed", timeout=60)
    assert holding(await account(client, buyer), instrument_id)["total"] == 0  # not before payment
    paid = await bank_pays(client, payment_account, "36000.00")
    assert paid["outcome"] != "suspense", paid

    async def delivered() -> bool:
        return bool((await client.get(url)).json()["status"] == "delivered")

    await eventually(delivered, "the paid agreement is delivered", timeout=10)
    bought, sold = await account(client, buyer), await account(client, seller)
    assert holding(bought, instrument_id)["available"] == 4_000
    assert holding(sold, instrument_id)["total"] == 6_000
    (acquisition,) = bought["acquisitions"]
    (sale,) = sold["sales"]
    assert acquisition["delivery_id"] == sale["delivery_id"]
    assert (
        acquisition["via"],
        acquisition["agreement_id"],
        acquisition["quantity"],
        acquisition["price"],
    ) == (
        "agreement",
        agreement["id"],
        4_000,
        "36000.00",
    )
    stats = (await client.get("/api/v1/registry/statistics")).json()
    (row,) = [r for r in stats if (r["sub_type"], r["region_code"]) == ("COD", SUZHOU)]
    assert (row["volume_traded"], row["value"], row["trades"]) == (4_000, "36000.00", 1)
