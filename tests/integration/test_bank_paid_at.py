"""A bank notice's ``paid_at`` is the bank's word; the exchange's clock decides (issue 13, item 8).

``paid_at`` may not be earlier than the account it was paid into existed, nor
later than the exchange's clock allows: otherwise 422 ``notice_invalid`` on
``paid_at``, booking nothing. Qualification and the deadline follow when the
exchange received the money, whatever ``paid_at`` says.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from exchange.clock import utcnow
from listings.applications_models import Application
from settlement.bank import CLOCK_SKEW, BankNotice
from settlement.models import LedgerTransaction, RefundInstruction
from tests.support.api import Client, bidder, staff
from tests.support.auctions import bid, live_auction
from tests.support.bank import deliver, notice, signed
from tests.support.flow import apply, decide, open_registration, qualified_bidder, wait_status


async def count(client: Client, model: type) -> int:
    async with client.app.state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def refused_on_paid_at(response: Any) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "notice_invalid"
    assert [e["field"] for e in body["errors"]] == ["paid_at"], body


async def test_paid_at_before_the_deposit_account_existed_is_422_and_books_nothing(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    headers = await bidder(client)
    application = await apply(client, listing["id"], headers)
    await decide(client, operator, application["id"])
    async with client.app.state.sessions() as session:
        opened = (await session.get(Application, application["id"])).created_at  # type: ignore[union-attr]
    account, due = application["deposit_account"], application["deposit_due"]
    for paid_at in (
        datetime(1, 1, 1, tzinfo=UTC),
        opened - timedelta(days=400),
        opened - timedelta(milliseconds=1),
        utcnow() + CLOCK_SKEW + timedelta(minutes=1),
    ):
        refused_on_paid_at(await deliver(client, notice(account, due, paid_at)))
    assert await count(client, BankNotice) == 0
    assert await count(client, LedgerTransaction) == 0
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert view["status"] == "approved" and view["deposit_paid"] == "0.00"
    accepted = await deliver(client, notice(account, due, opened))  # the very moment it was opened
    assert accepted.status_code == 200 and accepted.json()["outcome"] == "deposit", accepted.text


async def test_dates_utc_cannot_hold_are_422_not_500(client: Client) -> None:
    """Year 1 east of Greenwich and year 9999 west of it lie outside what a UTC timestamp holds."""
    for paid_at in ("0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-05:00"):
        payload = {"txn_id": "T-edge", "account": "6200000000000000000", "amount": "1.00", "paid_at": paid_at}
        body, headers = signed(payload)
        response = await client.post("/api/v1/bank/notifications", content=body, headers=headers)
        refused_on_paid_at(response)
    assert await count(client, BankNotice) == 0


async def test_a_deposit_received_after_the_deadline_never_qualifies_whatever_its_paid_at(
    client: Client,
) -> None:
    """Delivered once bidding opened, backdated before the deadline: refunded, not qualified."""
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, closes=3, bidding=4)
    await qualified_bidder(client, operator, listing)  # so that bidding opens
    headers = await bidder(client)
    application = await apply(client, listing["id"], headers)
    opened = utcnow()  # the deposit account exists by now, and a paid_at before it is implausible
    await decide(client, operator, application["id"])
    await wait_status(client, listing["id"], "bidding")
    closes = datetime.fromisoformat(listing["schedule"]["registration_closes_at"])
    backdated = min(opened, closes - timedelta(milliseconds=1))  # before the deadline, after the account
    late = await deliver(
        client, notice(application["deposit_account"], application["deposit_due"], backdated)
    )
    assert late.status_code == 200, late.text
    assert late.json()["outcome"] == "suspense" and late.json()["reason"] == "after_deadline"
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert view["status"] == "approved" and "bid_number" not in view
    async with client.app.state.sessions() as session:
        refunds = list((await session.execute(select(RefundInstruction))).scalars())
    assert [r.source_reference for r in refunds] == [f"bank:{late.json()['txn_id']}"]


async def test_paid_in_full_is_when_the_exchange_received_the_money(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    headers = await bidder(client)
    application = await apply(client, listing["id"], headers)
    await decide(client, operator, application["id"])
    async with client.app.state.sessions() as session:
        opened = (await session.get(Application, application["id"])).created_at  # type: ignore[union-attr]
    await asyncio.sleep(0.2)
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], opened))
    assert paid.json()["outcome"] == "deposit", paid.text
    async with client.app.state.sessions() as session:
        row = (await session.execute(select(BankNotice))).scalar_one()
        qualified = await session.get(Application, application["id"])
    assert qualified is not None and qualified.status == "qualified"
    assert row.paid_at == opened
    assert qualified.paid_in_full_at == row.received_at > opened


async def test_paid_at_before_the_settlement_line_existed_is_422(client: Client) -> None:
    listing, (alice, _bob) = await live_auction(client, 2, closes_in=2)
    assert (await bid(client, alice, listing["id"], "1110000.00")).status_code == 201  # above the reserve
    await wait_status(client, listing["id"], "closed", timeout=15)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (
        view := await client.get(f"/api/v1/settlements/{listing['id']}", headers=alice)
    ).status_code != 200:
        assert loop.time() < deadline, view.text
        await asyncio.sleep(0.2)
    line = view.json()["lines"][0]
    before = await count(client, LedgerTransaction)
    opened = datetime.fromisoformat(listing["schedule"]["bidding_closes_at"]) - timedelta(seconds=1)
    refused_on_paid_at(await deliver(client, notice(line["payment_account"], line["amount_due"], opened)))
    assert await count(client, LedgerTransaction) == before
    paid = await deliver(client, notice(line["payment_account"], line["amount_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "payment", paid.text
