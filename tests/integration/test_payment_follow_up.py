"""The payment follow-up after the hammer, on PostgreSQL and SQLite (settlement/followup.py,
settlement/tracked.py): the 公示 and the confirmation by the sweep, the contract anchor, the
day-end job (late fees, reminders, notices, the proposal of rescission after the grace), the
operator's rescission (定金 capped at 20% of the price, the rest refunded, late fees reversed),
tracked payments collected by the tax bureau, the notices endpoints and the relisting.

The app runs under the sandbox profile from its start, so a result's 公示 counts seconds. The
day-end job is run for chosen days (``tests/support/follow_up.py``) once the app's own timers are
stopped; nothing moves the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from exchange.app import create_app
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.settings import Settings
from listings.workdays import add_working_days, local_date, working_day_on_or_after
from settlement import followup, ledger, payments
from settlement.late_fees import first_late_day
from settlement.lines import FEE_REVENUE, late_fee_code, receivable_code, seller_payable_code
from settlement.models import LedgerTransaction, RefundInstruction
from settlement.notice_models import CollectionNotice, Notice, PaymentReminder
from settlement.schedule import add_months
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine
from tests.support.api import Client, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import wait_status
from tests.support.follow_up import (
    COLLECTOR_SECRET,
    collection_notice,
    day_end,
    deliver_collection,
    settlement,
    shanghai_morning,
    sign_contract,
    stop_follow_up,
)
from tests.support.settlement import user_id

pytestmark = pytest.mark.databases()


@pytest.fixture
async def fclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    """The app under the sandbox profile from its start, with the tax bureau's signing key."""
    sandbox = replace(
        settings, profile="sandbox", security=replace(settings.security, collector_secret=COLLECTOR_SECRET)
    )
    async with AsyncTestClient(app=create_app(sandbox)) as test_client:
        yield test_client


async def _sold(
    client: Client, amount: str = "1110000.00", **body: Any
) -> tuple[int, dict[str, str], dict[str, str]]:
    """A listing sold to the first of two bidders at ``amount``, settled by the app: (id, winner, loser)."""
    listing, (winner, loser) = await live_auction(client, 2, closes_in=2, **body)
    lid = listing["id"]
    assert (await bid(client, winner, lid, amount)).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (await client.get(f"/api/v1/settlements/{lid}", headers=winner)).status_code != 200:
        assert loop.time() < deadline, "the app never settled the close"
        await asyncio.sleep(0.2)
    return lid, winner, loser


async def _line(client: Client, listing_id: int) -> SettlementLine:
    async with client.app.state.sessions() as session:
        return (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == listing_id))
        ).scalar_one()


async def _installments(client: Client, line_id: int) -> list[tuple[str, int, str]]:
    async with client.app.state.sessions() as session:
        rows = await session.execute(
            select(SettlementInstallment.label, SettlementInstallment.amount, SettlementInstallment.status)
            .where(SettlementInstallment.line_id == line_id)
            .order_by(SettlementInstallment.seq)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _snapshot(client: Client, listing_id: int) -> tuple[int, int, int, list[tuple[str, int]]]:
    """Ledger transactions, reminders and notices of the listing, and every line's late fees."""
    async with client.app.state.sessions() as session:
        txns = (
            await session.execute(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.listing_id == listing_id)
            )
        ).scalar_one()
        reminders = (
            await session.execute(
                select(func.count())
                .select_from(PaymentReminder)
                .where(PaymentReminder.listing_id == listing_id)
            )
        ).scalar_one()
        notices = (
            await session.execute(
                select(func.count()).select_from(Notice).where(Notice.listing_id == listing_id)
            )
        ).scalar_one()
        fees = (
            await session.execute(
                select(SettlementLine.payment_account, SettlementLine.late_fees).where(
                    SettlementLine.listing_id == listing_id
                )
            )
        ).all()
        return int(txns), int(reminders), int(notices), [tuple(f) for f in fees]  # type: ignore[misc]


async def test_the_publicity_ends_and_the_sweep_confirms_the_sale(fclient: Client) -> None:
    lid, winner, _ = await _sold(fclient, asset_class="technology", publicity_working_days=3)
    view = await settlement(fclient, lid, winner)
    assert view["status"] == "publicity" and view["confirmed_at"] is None
    assert view["publicity_ends_at"] is not None and view["lines"][0]["installments"] == []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while (view := await settlement(fclient, lid, winner))["status"] == "publicity":
        assert loop.time() < deadline, "the sweep never confirmed the sale"
        await asyncio.sleep(0.3)
    # technology counts from the confirmation: its installments exist at once
    assert view["status"] == "pending_payment" and view["confirmed_at"] is not None
    confirmed_on = local_date(utcnow())
    assert view["contract_due_on"] in {
        add_working_days(d, 10).isoformat() for d in (confirmed_on - timedelta(days=1), confirmed_on)
    }
    (full,) = view["lines"][0]["installments"]
    assert full["label"] == "full" and full["amount"] == view["lines"][0]["amount_due"]
    assert view["lines"][0]["tracked"] is False
    assert view["lines"][0]["account"] == {"account_number": view["lines"][0]["payment_account"]}
    async with fclient.app.state.sessions() as session:
        actions = list(
            (
                await session.execute(select(AuditEntry.action).where(AuditEntry.stream == f"listing:{lid}"))
            ).scalars()
        )
        assert actions.count("settlement.confirmed") == 1 and actions.count("settlement.installments") == 1

    # the winner was told, in Chinese, in the app
    notices = await fclient.get("/api/v1/notices/me", headers=winner)
    assert notices.status_code == 200, notices.text
    (confirmed,) = [n for n in notices.json() if n["listing_id"] == lid]
    assert (
        confirmed["kind"] == "confirmed" and confirmed["title"] == "成交确认" and confirmed["read_at"] is None
    )
    read = await fclient.post(f"/api/v1/notices/{confirmed['id']}/read", headers=winner)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = await fclient.post(f"/api/v1/notices/{confirmed['id']}/read", headers=winner)
    assert again.json()["read_at"] == read.json()["read_at"]
    operator = await staff(fclient, "operator")
    other = await fclient.post(f"/api/v1/notices/{confirmed['id']}/read", headers=operator)
    assert other.status_code == 404 and other.json()["code"] == "notice_not_found"
    assert (await fclient.get("/api/v1/notices/me")).status_code == 401


async def test_land_waits_for_the_contract_and_counts_from_its_signing(fclient: Client) -> None:
    lid, winner, _ = await _sold(fclient)
    operator = await staff(fclient, "operator")
    view = await settlement(fclient, lid, operator)
    assert view["status"] == "awaiting_contract" and view["lines"][0]["installments"] == []
    assert view["lines"][0]["tracked"] is True
    url = f"/api/v1/settlements/{lid}/contract"
    today = local_date(utcnow())
    future = await fclient.post(
        url, json={"signed_on": (today + timedelta(days=1)).isoformat()}, headers=operator
    )
    assert future.status_code == 422 and future.json()["code"] == "contract_date_invalid"
    before = await fclient.post(
        url, json={"signed_on": (today - timedelta(days=30)).isoformat()}, headers=operator
    )
    assert before.status_code == 422 and before.json()["code"] == "contract_date_invalid"
    assert (await fclient.post(url, json={"signed_on": today.isoformat()}, headers=winner)).status_code == 403
    signed = await sign_contract(fclient, operator, lid, today)
    assert signed["status"] == "pending_payment" and signed["contract_signed_on"] == today.isoformat()
    dues = {i["label"]: i["due_date"] for i in signed["lines"][0]["installments"]}
    assert dues == {
        "service_fee": add_months(today, 1).isoformat(),
        "first": add_months(today, 1).isoformat(),
        "balance": add_months(today, 12).isoformat(),
    }
    twice = await fclient.post(url, json={"signed_on": today.isoformat()}, headers=operator)
    assert twice.status_code == 409 and twice.json()["code"] == "contract_not_expected"


async def test_late_fees_reminders_then_a_rescission_capped_at_20_percent(fclient: Client) -> None:
    # deposit 300,000 yuan > 20% of the price (222,000): the excess deposit comes back
    lid, winner, loser = await _sold(fclient, asset_class="technology", deposit="300000.00")
    stop_follow_up(fclient)
    operator = await staff(fclient, "operator")
    line = await _line(fclient, lid)
    assert (line.price, line.deposit_applied) == (111_000_000, 30_000_000)
    ((label, amount, status),) = await _installments(fclient, line.id)
    assert (label, status) == ("full", "pending") and amount == line.amount_due
    async with unit_of_work(fclient.app.state.sessions) as session:  # a part paid on time
        paid = await payments.book_payment(
            session, account=line.payment_account, amount=2_055_000, txn_id="PART", paid_at=utcnow()
        )
        assert paid is not None and paid.applied == 2_055_000
    unpaid = amount - 2_055_000
    daily = (unpaid + 500) // 1000  # 1‰ a day, rounded half up
    view = await settlement(fclient, lid, operator)
    due = date.fromisoformat(view["lines"][0]["installments"][0]["due_date"])
    late = first_late_day(due)

    # Not late on the due day (moved to a working day), nor the day after it ends.
    assert await day_end(fclient, late) == 0
    assert (await _line(fclient, lid)).late_fees == 0
    # The first late day: one day's fee, a reminder, a notice; the same run again changes nothing.
    assert await day_end(fclient, late + timedelta(days=1)) == 1
    once = await _snapshot(fclient, lid)
    assert await day_end(fclient, late + timedelta(days=1)) == 0
    assert await _snapshot(fclient, lid) == once
    assert (await _line(fclient, lid)).late_fees == daily
    # A week later: 8 days of fees (calendar days) and a second reminder; none between.
    for day in range(2, 8):
        await day_end(fclient, late + timedelta(days=day))
    assert (await _snapshot(fclient, lid))[1] == 1
    assert await day_end(fclient, late + timedelta(days=8)) == 1
    assert (await _line(fclient, lid)).late_fees == 8 * daily
    async with fclient.app.state.sessions() as session:
        receivable = await ledger.balance(session, receivable_code(lid, line.application_id))
        assert receivable == unpaid + 8 * daily  # the receivable includes the fees
        assert await ledger.balance(session, late_fee_code(lid)) == -8 * daily  # owed to the seller
    view = await settlement(fclient, lid, winner)
    reminders = view["lines"][0]["reminders"]
    assert [(r["kind"], r["days_overdue"], r["issued_on"]) for r in reminders] == [
        ("reminder", 1, (late + timedelta(days=1)).isoformat()),
        ("reminder", 8, (late + timedelta(days=8)).isoformat()),
    ]
    assert view["lines"][0]["late_fees"] == f"{8 * daily / 100:.2f}"

    # No proposal before the grace (30 days for technology), so no rescission.
    url = f"/api/v1/settlements/{lid}/rescission"
    assert await day_end(fclient, late + timedelta(days=29)) == 1  # day 29 overdue: a reminder
    assert (await _line(fclient, lid)).rescission_proposed_at is None
    early = await fclient.post(url, json={"reason": "逾期"}, headers=operator)
    assert early.status_code == 409 and early.json()["code"] == "rescission_not_proposed"
    assert await day_end(fclient, late + timedelta(days=30)) == 1  # day 30: not beyond the grace
    assert (await _line(fclient, lid)).rescission_proposed_at is None
    assert await day_end(fclient, late + timedelta(days=31)) == 1  # day 31: proposed
    proposed = await _line(fclient, lid)
    assert proposed.rescission_proposed_at is not None and proposed.status == "pending_payment"
    fees = proposed.late_fees
    assert fees == 31 * daily
    assert await day_end(fclient, late + timedelta(days=31)) == 0  # once
    kinds = [r["kind"] for r in (await settlement(fclient, lid, operator))["lines"][0]["reminders"]]
    assert kinds.count("rescission_proposed") == 1 and kinds[-1] == "rescission_proposed"
    not_tracked = await fclient.post(
        f"/api/v1/settlements/{lid}/payments",
        json={
            "application_id": line.application_id,
            "amount": "1.00",
            "paid_on": local_date(utcnow()).isoformat(),
            "authority": "国家税务总局苏州市税务局",
            "reference": "NT-1",
        },
        headers=operator,
    )
    assert not_tracked.status_code == 409 and not_tracked.json()["code"] == "not_tracked"

    # The operator confirms: 20% of the price forfeited, the rest of the deposit and the payment refunded.
    assert (await fclient.post(url, json={"reason": "逾期"}, headers=winner)).status_code == 403
    done = await fclient.post(url, json={"reason": "逾期付款超过宽限期"}, headers=operator)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "rescinded" and body["lines"][0]["forfeited"] == "222000.00"
    assert body["lines"][0]["late_fees"] == "0.00" and body["lines"][0]["rescinded_at"] is not None
    async with fclient.app.state.sessions() as session:
        refunds = (
            await session.execute(
                select(LedgerTransaction.kind, RefundInstruction.amount)
                .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
                .where(RefundInstruction.application_id == line.application_id)
                .order_by(RefundInstruction.id)
            )
        ).all()
        assert [tuple(r) for r in refunds] == [
            ("deposit_refunded", 7_800_000),
            ("payment_refunded", 2_055_000),
        ]
        assert await ledger.balance(session, receivable_code(lid, line.application_id)) == 0
        assert await ledger.balance(session, seller_payable_code(lid)) == -22_200_000
        assert await ledger.balance(session, late_fee_code(lid)) == 0  # 定金 or 违约金, not both
        assert await ledger.balance(session, FEE_REVENUE) == 0
        reversed_fees = (
            await session.execute(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.listing_id == lid, LedgerTransaction.kind == "late_fee_reversed")
            )
        ).scalar_one()
        assert reversed_fees == 1
        assert (
            await ledger.unbalanced_transactions(session) == [] and await ledger.trial_balance(session) == 0
        )
        assert (await session.get(Settlement, lid)).status == "rescinded"  # type: ignore[union-attr]
    assert fees > 0
    titles = [n["title"] for n in (await fclient.get("/api/v1/notices/me", headers=winner)).json()]
    assert {"催缴通知", "拟解除合同通知", "解除合同通知"} <= set(titles)
    assert (await fclient.get("/api/v1/notices/me", headers=loser)).json() == []
    assert await day_end(fclient, late + timedelta(days=40)) == 0  # a rescinded line accrues nothing

    relisted = await fclient.post(f"/api/v1/settlements/{lid}/relist", headers=operator)
    assert relisted.status_code == 201, relisted.text
    assert relisted.json()["asset_class"] == "technology"


async def test_land_is_paid_to_the_tax_bureau_and_tracked(fclient: Client) -> None:
    lid, winner, _ = await _sold(fclient)
    stop_follow_up(fclient)
    operator = await staff(fclient, "operator")
    await sign_contract(fclient, operator, lid)
    line = await _line(fclient, lid)
    aid, today = line.application_id, local_date(utcnow())
    assert await _installments(fclient, line.id) == [
        ("service_fee", 166_500, "pending"),
        ("first", 35_500_000, "pending"),
        ("balance", 55_500_000, "pending"),
    ]

    # The tax bureau's signed notice of the first half.
    first = collection_notice(lid, aid, "355000.00", today, reference="SW-2026-0001")
    received = await deliver_collection(fclient, first)
    assert received.status_code == 200, received.text
    assert received.json() == {
        "reference": "SW-2026-0001",
        "duplicate": False,
        "listing_id": lid,
        "application_id": aid,
        "amount": "355000.00",
    }
    assert (await deliver_collection(fclient, first)).json()["duplicate"] is True
    changed = await deliver_collection(fclient, {**first, "amount": "1.00"})
    assert changed.status_code == 409 and changed.json()["code"] == "notice_duplicate"
    fclient.headers["Accept-Language"] = "en"  # the detail asserted is the domain's English sentence
    forged = await deliver_collection(fclient, first, secret="not-the-key")
    assert forged.status_code == 401 and forged.json()["code"] == "signature_invalid"
    assert "collecting authority" in forged.json()["detail"]
    unsigned = await fclient.post("/api/v1/settlements/collection-notices", json=first)
    assert unsigned.status_code == 401
    # a tracked payment never pays the exchange's fee: the first half is paid, the fee is not
    assert await _installments(fclient, line.id) == [
        ("service_fee", 166_500, "pending"),
        ("first", 35_500_000, "paid"),
        ("balance", 55_500_000, "pending"),
    ]

    # The balance, recorded by an operator from the notice on paper; more than the price owes is refused.
    url = f"/api/v1/settlements/{lid}/payments"
    notice = {
        "application_id": aid,
        "amount": "555000.01",
        "paid_on": today.isoformat(),
        "authority": "国家税务总局苏州市税务局",
        "reference": "SW-2026-0002",
    }
    too_much = await fclient.post(url, json=notice, headers=operator)
    assert too_much.status_code == 422 and too_much.json()["code"] == "amount_exceeds_outstanding"
    assert (
        await fclient.post(url, json={**notice, "amount": "555000.00"}, headers=winner)
    ).status_code == 403
    recorded = await fclient.post(url, json={**notice, "amount": "555000.00"}, headers=operator)
    assert recorded.status_code == 200, recorded.text
    view = recorded.json()
    assert view["status"] == "pending_payment" and view["lines"][0]["outstanding"] == "1665.00"
    assert view["lines"][0]["account"] == {
        "collected_by": "tax_bureau",
        "fee_account_number": line.payment_account,
    }

    # The fee to the exchange's account: paid in full.
    async with unit_of_work(fclient.app.state.sessions) as session:
        fee = await payments.book_payment(
            session, account=line.payment_account, amount=166_500, txn_id="FEE", paid_at=utcnow()
        )
        assert fee is not None and (fee.applied, fee.line_status) == (166_500, "paid")
    view = await settlement(fclient, lid, winner)
    assert view["status"] == "paid" and view["lines"][0]["paid"] == "911665.00"
    assert {i["status"] for i in view["lines"][0]["installments"]} == {"paid"}
    kinds = [t["kind"] for t in view["transactions"]]
    assert kinds.count("payment_tracked") == 2 and kinds.count("payment_received") == 1
    async with fclient.app.state.sessions() as session:
        # the seller was paid by the tax bureau: the exchange owes it only the deposit applied
        assert await ledger.balance(session, seller_payable_code(lid)) == -20_000_000
        assert await ledger.balance(session, FEE_REVENUE) == -166_500
        assert await ledger.balance(session, receivable_code(lid, aid)) == 0
        stored = (
            await session.execute(
                select(CollectionNotice.reference).where(CollectionNotice.listing_id == lid)
            )
        ).scalars()
        assert sorted(stored) == ["SW-2026-0001", "SW-2026-0002"]
        actions = (
            await session.execute(select(AuditEntry.action).where(AuditEntry.stream == f"listing:{lid}"))
        ).scalars()
        assert list(actions).count("settlement.payment_tracked") == 2
        assert (
            await ledger.unbalanced_transactions(session) == [] and await ledger.trial_balance(session) == 0
        )
    paid_late = await fclient.post(
        url, json={**notice, "reference": "SW-2026-0003", "amount": "1.00"}, headers=operator
    )
    assert paid_late.status_code == 409 and paid_late.json()["code"] == "line_not_payable"


async def test_a_backdated_tracked_payment_lowers_the_late_fees(fclient: Client) -> None:
    lid, winner, _ = await _sold(fclient)
    stop_follow_up(fclient)
    operator = await staff(fclient, "operator")
    view = await sign_contract(fclient, operator, lid)
    line = await _line(fclient, lid)
    rows = await _installments(fclient, line.id)
    assert [r[0] for r in rows] == ["service_fee", "first", "balance"]
    due = date.fromisoformat(view["lines"][0]["installments"][1]["due_date"])
    late = first_late_day(due)
    assert await day_end(fclient, late + timedelta(days=5)) == 1
    charged = (await _line(fclient, lid)).late_fees
    first_part = rows[1][1]
    fee_daily = (line.fee + 500) // 1000
    price_daily = (first_part + 500) // 1000
    assert charged == 5 * (fee_daily + price_daily)  # the fee and the price, each its own claim
    # the tax bureau's notice, recorded late, says the first half was paid on time: the fees on it go
    async with unit_of_work(fclient.app.state.sessions) as session:
        from settlement.tracked import record_collection

        await record_collection(
            session,
            listing_id=lid,
            application_id=line.application_id,
            amount=first_part,
            paid_on=local_date(utcnow()),
            authority="国家税务总局苏州市税务局",
            reference="SW-BACK",
            raw={},
            actor="test",
        )
    assert await day_end(fclient, late + timedelta(days=5)) == 1  # the same day, again
    assert (await _line(fclient, lid)).late_fees == 5 * fee_daily
    assert await day_end(fclient, late + timedelta(days=5)) == 0
    async with fclient.app.state.sessions() as session:
        assert await ledger.balance(session, late_fee_code(lid)) == -5 * fee_daily
        adjusted = (
            await session.execute(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.listing_id == lid, LedgerTransaction.kind == "late_fee_adjusted")
            )
        ).scalar_one()
        assert adjusted == 1
    assert await user_id(fclient, winner) == line.bidder_id


async def test_an_annulled_sale_refunds_the_whole_deposit_and_every_payment(fclient: Client) -> None:
    lid, winner, _ = await _sold(fclient, asset_class="technology")
    stop_follow_up(fclient)
    line = await _line(fclient, lid)
    sessions = fclient.app.state.sessions
    async with unit_of_work(sessions) as session:
        paid = await payments.book_payment(
            session, account=line.payment_account, amount=1_000_000, txn_id="ANN", paid_at=utcnow()
        )
        assert paid is not None and paid.applied == 1_000_000
    view = await settlement(fclient, lid, winner)
    due = date.fromisoformat(view["lines"][0]["installments"][0]["due_date"])
    assert await day_end(fclient, first_late_day(due) + timedelta(days=3)) == 1  # some late fees
    async with unit_of_work(sessions) as session:
        from settlement.annulment import annul_sale
        from settlement.lines import lock_listing

        listing = await lock_listing(session, lid)
        assert listing is not None
        await annul_sale(session, listing, reason="异议成立：竞买人串通", actor="test")
    async with sessions() as session:
        line = (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == lid))
        ).scalar_one()
        assert (line.status, line.forfeited, line.late_fees) == ("annulled", 0, 0)
        stored = await session.get(Settlement, lid)
        assert stored is not None and (stored.status, stored.annulled_reason) == (
            "annulled",
            "异议成立：竞买人串通",
        )
        refunds = (
            await session.execute(
                select(LedgerTransaction.kind, RefundInstruction.amount)
                .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
                .where(RefundInstruction.application_id == line.application_id)
                .order_by(RefundInstruction.id)
            )
        ).all()
        assert [tuple(r) for r in refunds] == [
            ("deposit_refunded", 20_000_000),
            ("payment_refunded", 1_000_000),
        ]
        for code in (receivable_code(lid, line.application_id), seller_payable_code(lid), late_fee_code(lid)):
            assert await ledger.balance(session, code) == 0, code
        assert await ledger.balance(session, FEE_REVENUE) == 0
        assert (
            await ledger.unbalanced_transactions(session) == [] and await ledger.trial_balance(session) == 0
        )
    assert await day_end(fclient, first_late_day(due) + timedelta(days=10)) == 0


async def test_a_contract_not_signed_by_its_deadline_is_proposed_for_rescission(fclient: Client) -> None:
    """The announcement says "逾期不签订的，保证金不予退还": the day after the deadline (moved to a
    working day) the day-end job proposes the rescission; the operator confirms it."""
    lid, _, _ = await _sold(fclient)
    operator = await staff(fclient, "operator")
    stop_follow_up(fclient)
    view = await settlement(fclient, lid, operator)
    assert view["status"] == "awaiting_contract"
    due = date.fromisoformat(view["contract_due_on"])
    url = f"/api/v1/settlements/{lid}/rescission"
    async with unit_of_work(fclient.app.state.sessions) as session:
        assert await followup.propose_unsigned(session, shanghai_morning(working_day_on_or_after(due))) == 0
    early = await fclient.post(url, json={"reason": "未按期签订合同"}, headers=operator)
    assert early.status_code == 409 and early.json()["code"] == "rescission_not_proposed"
    late = working_day_on_or_after(due) + timedelta(days=1)
    async with unit_of_work(fclient.app.state.sessions) as session:
        assert await followup.propose_unsigned(session, shanghai_morning(late)) == 1
    async with unit_of_work(fclient.app.state.sessions) as session:
        assert await followup.propose_unsigned(session, shanghai_morning(late)) == 0  # once
    done = await fclient.post(url, json={"reason": "未按期签订合同"}, headers=operator)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "rescinded"
    (line,) = done.json()["lines"]
    assert line["forfeited"] == "200000.00"  # the whole deposit: within 20% of 1,110,000.00
    signing = await fclient.post(
        f"/api/v1/settlements/{lid}/contract", json={"signed_on": late.isoformat()}, headers=operator
    )
    assert signing.status_code == 409
