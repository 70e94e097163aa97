"""Settlement at the close on PostgreSQL: auctions driven through HTTP, then settled.

``settle`` is called directly (the app does not call it after a close yet),
which is also exactly the situation of a crash between the close and the
settlement.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange import app as app_module
from exchange.app import create_app
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.settings import Settings
from settlement import bank, closing, defaults, ledger, payments
from settlement.lines import FEE_REVENUE, receivable_code, seller_payable_code
from settlement.models import LedgerTransaction, RefundInstruction
from settlement.settlement_controllers import SettlementController
from settlement.settlement_models import Settlement, SettlementInstallment
from tests.support.api import Client, staff
from tests.support.auctions import bid, live_auction
from tests.support.bank import deliver, notice
from tests.support.flow import wait_status
from tests.support.settlement import (
    applications_by_bidder,
    check_close,
    closed_uniform_auction,
    lines_by_bidder,
    user_id,
)

_WIRED = "book_payment" in inspect.getsource(bank) and "SettlementController" in inspect.getsource(app_module)
"""Whether create_app and the bank notices already call settlement (until then the tests do)."""


@pytest.fixture
async def sclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    """The app with the settlement endpoints (registered here until create_app does it)."""
    app = create_app(settings)
    if not any(route.path.startswith("/api/v1/settlements") for route in app.routes):
        app.register(SettlementController)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def _settle(client: Client, listing_id: int) -> Settlement | None:
    async with unit_of_work(client.app.state.sessions) as session:
        return await closing.settle(session, listing_id, client.app.state.settings.settlement)


async def _count(session: AsyncSession, like: str) -> int:
    query = select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.reference.like(like))
    return int((await session.execute(query)).scalar_one())


async def test_english_close_charges_the_winner_and_releases_every_other_deposit(sclient: Client) -> None:
    listing, (alice, bob, carol) = await live_auction(sclient, 3, closes_in=2)
    lid = listing["id"]
    assert (await bid(sclient, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(sclient, bob, lid, "1110000.00")).status_code == 201
    await wait_status(sclient, lid, "closed", timeout=15)
    settlement = await _settle(sclient, lid)
    assert settlement is not None and settlement.status == "pending_payment" and settlement.outcome == "sold"
    bob_id, alice_id = await user_id(sclient, bob), await user_id(sclient, alice)
    sessions = sclient.app.state.sessions
    async with sessions() as session:
        lines = await check_close(session, lid, {bob_id: 111_000_000})
        line = lines[bob_id]
        assert (line.fee, line.deposit_applied, line.amount_due) == (166_500, 20_000_000, 91_166_500)
        plan = (
            await session.execute(
                select(SettlementInstallment)
                .where(SettlementInstallment.line_id == line.id)
                .order_by(SettlementInstallment.seq)
            )
        ).scalars()
        assert [(i.label, i.amount) for i in plan] == [
            ("contract", 166_500),
            ("first", 35_500_000),
            ("balance", 55_500_000),
        ]
        postings = await _count(session, "%")
        assert await ledger.balance(session, FEE_REVENUE) == -166_500
    assert (await _settle(sclient, lid)) is not None  # again: the same settlement, nothing booked
    async with sessions() as session:
        assert await _count(session, "%") == postings

    # Payments on the line's own account: the fee, then the rest with 1 yuan too much.
    async with unit_of_work(sessions) as session:
        assert (
            await payments.book_payment(session, account="6300", amount=1, txn_id="X", paid_at=utcnow())
            is None
        )
        first = await payments.book_payment(
            session, account=line.payment_account, amount=166_500, txn_id="P1", paid_at=utcnow()
        )
        assert first is not None and (first.applied, first.outstanding) == (166_500, 91_000_000)
        rest = await payments.book_payment(
            session, account=line.payment_account, amount=91_000_100, txn_id="P2", paid_at=utcnow()
        )
        assert rest is not None and (rest.applied, rest.refunded, rest.line_status) == (
            91_000_000,
            100,
            "paid",
        )
        again = await payments.book_payment(
            session, account=line.payment_account, amount=91_000_100, txn_id="P2", paid_at=utcnow()
        )
        assert again is not None and again.duplicate
        late = await payments.book_payment(
            session, account=line.payment_account, amount=500, txn_id="P3", paid_at=utcnow()
        )
        assert late is not None and (late.outcome, late.refunded, late.reason) == (
            "suspense",
            500,
            "settlement_paid",
        )
    async with sessions() as session:
        assert (await session.get(Settlement, lid)).status == "paid"
        assert await ledger.balance(session, receivable_code(lid, line.application_id)) == 0
        assert await ledger.balance(session, ledger.SUSPENSE) == 0  # both excesses are refunds now
        assert (
            await ledger.unbalanced_transactions(session) == [] and await ledger.trial_balance(session) == 0
        )

    # Who sees what.
    operator = await staff(sclient, "operator")
    url = f"/api/v1/settlements/{lid}"
    mine = await sclient.get(url, headers=bob)
    assert mine.status_code == 200, mine.text
    view = mine.json()
    assert view["status"] == "paid" and [x["bid_number"] for x in view["lines"]] == [line.bid_number]
    assert view["lines"][0]["amount_due"] == "911665.00" and view["lines"][0]["outstanding"] == "0.00"
    assert view["lines"][0]["amount_paid"] == "911665.00"
    kinds = {t["kind"] for t in view["transactions"]}
    assert {"deposit_received", "price_due", "fee_charged", "deposit_applied", "payment_received"} <= kinds
    assert "deposit_released" not in kinds  # the losers' releases are not the winner's business
    for txn in view["transactions"]:
        debit = sum(int(e["amount"].replace(".", "")) for e in txn["entries"] if e["side"] == "debit")
        credit = sum(int(e["amount"].replace(".", "")) for e in txn["entries"] if e["side"] == "credit")
        assert debit == credit
    assert (await sclient.get(url, headers=alice)).status_code == 403
    assert (await sclient.get(url, headers=carol)).status_code == 403
    assert (await sclient.get(url)).status_code == 401
    full = (await sclient.get(url, headers=operator)).json()
    assert sum(t["kind"] == "deposit_released" for t in full["transactions"]) == 2
    missing = await sclient.get("/api/v1/settlements/999999", headers=operator)
    assert missing.status_code == 404 and missing.json()["code"] == "settlement_not_found"
    refused = await sclient.post(f"{url}/relist", headers=operator)
    assert refused.status_code == 409 and refused.json()["code"] == "settlement_not_in_default"
    assert alice_id not in {line.bidder_id for line in lines.values()}


async def test_sealed_bid_close(sclient: Client) -> None:
    listing, (alice, bob) = await live_auction(sclient, 2, closes_in=2, method="sealed_bid")
    lid = listing["id"]
    assert (await bid(sclient, alice, lid, "1300000.00")).status_code == 201
    assert (await bid(sclient, bob, lid, "1200000.00")).status_code == 201
    await wait_status(sclient, lid, "closed", timeout=15)
    assert await _settle(sclient, lid) is not None
    async with sclient.app.state.sessions() as session:
        await check_close(session, lid, {await user_id(sclient, alice): 130_000_000})


async def test_uniform_price_close_settles_each_allocation(sclient: Client) -> None:
    lid, heads = await closed_uniform_auction(sclient)
    assert await _settle(sclient, lid) is not None
    a, b, c = [await user_id(sclient, h) for h in heads]
    async with sclient.app.state.sessions() as session:
        # clearing price 100,000 yuan per t/a: 6 t/a, 6 t/a and the 0.5 t/a left
        lines = await check_close(session, lid, {a: 60_000_000, b: 60_000_000, c: 5_000_000})
        assert [lines[x].quantity for x in (a, b, c)] == [6000, 6000, 500]
        assert all(line.fee == 0 for line in lines.values())  # no fee on emission rights
        # c's deposit exceeds its price: 50,000 yuan applied, the other 150,000 refunded
        assert (lines[c].deposit_applied, lines[c].amount_due, lines[c].status) == (5_000_000, 0, "paid")
        refund = (
            await session.execute(
                select(RefundInstruction).where(RefundInstruction.application_id == lines[c].application_id)
            )
        ).scalar_one()
        assert refund.amount == 15_000_000
        assert (await session.get(Settlement, lid)).status == "pending_payment"
    view = (await sclient.get(f"/api/v1/settlements/{lid}", headers=heads[2])).json()
    assert view["lines"][0]["quantity"] == "0.500" and view["lines"][0]["unit"] == "t/a"


async def test_a_crash_between_close_and_settlement_settles_once(sclient: Client) -> None:
    # one after the other: the test client blocks this loop while a request runs
    sold, (alice, _bob) = await live_auction(sclient, 2, closes_in=2)
    assert (await bid(sclient, alice, sold["id"], "1100000.00")).status_code == 201
    failed, (carol, _dave) = await live_auction(sclient, 2, closes_in=2, reserve_price="5000000.00")
    assert (await bid(sclient, carol, failed["id"], "1000000.00")).status_code == 201
    await wait_status(sclient, sold["id"], "closed", timeout=15)
    await wait_status(sclient, failed["id"], "failed", timeout=15)
    sessions = sclient.app.state.sessions
    terms = sclient.app.state.settings.settlement
    # Nobody settled at the close (the crash); two instances catch up at the same moment.
    # (Once the app settles by itself it is a third contender; the outcome must be the same.)
    results = await asyncio.gather(
        closing.settle_pending(sessions, terms), closing.settle_pending(sessions, terms)
    )
    assert sum(results) == 2 or (_WIRED and sum(results) < 2)
    assert await closing.settle_pending(sessions, terms) == 0
    assert await closing.settle_pending(sessions, terms) == 0
    assert await _settle(sclient, sold["id"]) is not None
    async with sessions() as session:
        settlements = {s.listing_id: s for s in (await session.execute(select(Settlement))).scalars()}
        assert set(settlements) == {sold["id"], failed["id"]}
        assert (
            settlements[failed["id"]].status == "released" and settlements[failed["id"]].outcome == "failed"
        )
        assert await _count(session, "settle:%") == 3  # price, fee, deposit applied: once
        assert await _count(session, "release:%") == 3  # bob's, carol's and dave's deposits: once each
        await check_close(session, sold["id"], {await user_id(sclient, alice): 110_000_000})
        for application in (await applications_by_bidder(session, failed["id"])).values():
            assert await ledger.held_deposit(session, application.id) == 0
            assert application.status == "closed"
        actions = (
            await session.execute(
                select(AuditEntry.action).where(AuditEntry.stream == f"listing:{failed['id']}")
            )
        ).scalars()
        assert list(actions).count("settlement.released") == 1


async def test_a_missed_payment_forfeits_the_deposit_and_the_listing_is_relisted(sclient: Client) -> None:
    listing, (alice, bob) = await live_auction(sclient, 2, closes_in=2)
    lid = listing["id"]
    assert (await bid(sclient, alice, lid, "1110000.00")).status_code == 201
    await wait_status(sclient, lid, "closed", timeout=15)
    assert await _settle(sclient, lid) is not None
    sessions = sclient.app.state.sessions
    winner = await user_id(sclient, alice)
    async with unit_of_work(sessions) as session:
        line = (await lines_by_bidder(session, lid))[winner]
        paid = await payments.book_payment(
            session, account=line.payment_account, amount=166_500, txn_id="F1", paid_at=utcnow()
        )
        assert paid is not None and paid.applied == 166_500  # the fee (contract installment) is paid
    async with unit_of_work(sessions) as session:
        assert await defaults.check_defaults(session, utcnow() + timedelta(days=3)) == 0
    async with unit_of_work(sessions) as session:  # 50% was due within a month
        assert await defaults.check_defaults(session, utcnow() + timedelta(days=40)) == 1
    async with unit_of_work(sessions) as session:
        assert await defaults.check_defaults(session, utcnow() + timedelta(days=400)) == 0  # once
        after = await payments.book_payment(
            session, account=line.payment_account, amount=1_000, txn_id="F2", paid_at=utcnow()
        )
        assert after is not None and (after.outcome, after.reason) == ("suspense", "settlement_default")
    async with sessions() as session:
        line = (await lines_by_bidder(session, lid))[winner]
        assert line.status == "default" and line.defaulted_at is not None
        plan = (
            await session.execute(
                select(SettlementInstallment.label, SettlementInstallment.status)
                .where(SettlementInstallment.line_id == line.id)
                .order_by(SettlementInstallment.seq)
            )
        ).all()
        assert [tuple(p) for p in plan] == [("contract", "paid"), ("first", "void"), ("balance", "void")]
        assert (await session.get(Settlement, lid)).status == "default"
        assert await ledger.balance(session, receivable_code(lid, line.application_id)) == 0
        # the seller keeps exactly the forfeited deposit; the fee is not earned
        assert await ledger.balance(session, seller_payable_code(lid)) == -20_000_000
        assert await ledger.balance(session, FEE_REVENUE) == 0
        refunds = (
            await session.execute(
                select(RefundInstruction.amount).where(
                    RefundInstruction.application_id == line.application_id
                )
            )
        ).scalars()
        assert list(refunds) == [166_500]  # what was paid comes back; the deposit does not
        assert (
            await ledger.unbalanced_transactions(session) == [] and await ledger.trial_balance(session) == 0
        )

    operator = await staff(sclient, "operator")
    url = f"/api/v1/settlements/{lid}/relist"
    assert (await sclient.post(url, headers=bob)).status_code == 403
    relisted = await sclient.post(url, headers=operator)
    assert relisted.status_code == 201, relisted.text
    draft: dict[str, Any] = relisted.json()
    assert draft["status"] == "draft" and draft["id"] != lid
    assert (draft["title"], draft["start_price"], draft["deposit"]) == (
        listing["title"],
        listing["start_price"],
        listing["deposit"],
    )
    again = await sclient.post(url, headers=operator)
    assert again.status_code == 409 and again.json()["code"] == "already_relisted"
    view = (await sclient.get(f"/api/v1/settlements/{lid}", headers=alice)).json()
    assert view["status"] == "default" and view["relisted_listing_id"] == draft["id"]
    async with sessions() as session:
        old = list(
            (
                await session.execute(select(AuditEntry.action).where(AuditEntry.stream == f"listing:{lid}"))
            ).scalars()
        )
        assert {"settlement.opened", "settlement.default", "settlement.relisted"} <= set(old)
        created = (
            await session.execute(
                select(AuditEntry.payload).where(
                    AuditEntry.stream == f"listing:{draft['id']}", AuditEntry.action == "listing.created"
                )
            )
        ).scalar_one()
        assert created["relisted_from"] == lid


@pytest.mark.skipif(not _WIRED, reason="create_app and settlement/bank.py do not wire settlement yet")
async def test_the_app_settles_by_itself_and_routes_bank_payments(sclient: Client) -> None:
    listing, (alice, _bob) = await live_auction(sclient, 2, closes_in=2)
    lid = listing["id"]
    assert (await bid(sclient, alice, lid, "1110000.00")).status_code == 201
    await wait_status(sclient, lid, "closed", timeout=15)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (view := await sclient.get(f"/api/v1/settlements/{lid}", headers=alice)).status_code != 200:
        assert loop.time() < deadline, view.text
        await asyncio.sleep(0.2)
    line = view.json()["lines"][0]
    paid = await deliver(sclient, notice(line["payment_account"], line["amount_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "payment", paid.text
    again = await deliver(sclient, notice(line["payment_account"], "1.00", utcnow()))
    assert again.json()["outcome"] == "suspense" and again.json()["reason"] == "settlement_paid"
    assert (await sclient.get(f"/api/v1/settlements/{lid}", headers=alice)).json()["status"] == "paid"
