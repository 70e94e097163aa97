"""Ledger invariants after an auction's close, shared by the settlement tests.

``check_close`` is the one definition of a correct sold close: every
transaction balances, each winner is charged exactly its price plus the fee
(the deposit applied, the rest owed by installments once the anchor event created them), every other deposit is
released in full with a refund due five working days after the release, and
the seller is owed exactly the prices.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.settlement_terms import DEFAULT_FEE_SCHEDULES
from listings.applications_models import Application
from listings.models import Listing
from listings.workdays import is_working_day, local_date
from settlement import ledger
from settlement.fees import service_fee
from settlement.lines import amount_paid, receivable_code, seller_payable_code
from settlement.models import LedgerEntry, LedgerTransaction, RefundInstruction
from settlement.refunds import REFUND_WORKING_DAYS
from settlement.settlement_models import SettlementInstallment, SettlementLine
from tests.support.api import Client
from tests.support.auctions import live_auction
from tests.support.flow import wait_status


def assert_five_working_days(refund: RefundInstruction) -> None:
    """Due on a working day, exactly 5 working days after the Shanghai date of the release."""
    released_on = local_date(refund.created_at)
    assert refund.due_date > released_on
    between = [released_on + timedelta(days=d) for d in range(1, (refund.due_date - released_on).days + 1)]
    assert sum(is_working_day(day) for day in between) == REFUND_WORKING_DAYS, (released_on, refund.due_date)
    assert is_working_day(refund.due_date)


async def user_id(client: Client, headers: dict[str, str]) -> int:
    return int((await client.get("/api/v1/users/me", headers=headers)).json()["id"])


async def applications_by_bidder(session: AsyncSession, listing_id: int) -> dict[int, Application]:
    """The listing's applications by bidder id."""
    rows = await session.execute(select(Application).where(Application.listing_id == listing_id))
    return {a.bidder_id: a for a in rows.scalars()}


async def lines_by_bidder(session: AsyncSession, listing_id: int) -> dict[int, SettlementLine]:
    rows = await session.execute(select(SettlementLine).where(SettlementLine.listing_id == listing_id))
    return {line.bidder_id: line for line in rows.scalars()}


async def check_close(
    session: AsyncSession, listing_id: int, prices: dict[int, int]
) -> dict[int, SettlementLine]:
    """The ledger after a sold close: winners owe exactly price + fee, everyone else is refunded."""
    listing = await session.get(Listing, listing_id)
    assert listing is not None
    lines = await lines_by_bidder(session, listing_id)
    assert {bidder: line.price for bidder, line in lines.items()} == prices
    for line in lines.values():
        receivable = receivable_code(listing_id, line.application_id)
        account = await ledger.find_account(session, receivable)
        assert account is not None
        charged = (
            await session.execute(
                select(func.sum(LedgerEntry.amount))
                .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
                .where(
                    LedgerTransaction.reference.like(f"settle:{listing_id}:{line.application_id}:%"),
                    LedgerEntry.amount > 0,
                    LedgerEntry.account_id == account.id,
                )
            )
        ).scalar_one()
        assert line.fee == service_fee(listing.asset_class, line.price, DEFAULT_FEE_SCHEDULES)  # the suite's
        assert int(charged) == line.price + line.fee  # the winner is charged price + fee, nothing else
        assert line.deposit_applied + line.amount_due == line.price + line.fee
        assert await ledger.balance(session, receivable) == line.amount_due - await amount_paid(session, line)
        assert await ledger.held_deposit(session, line.application_id) == 0
        plan = (
            await session.execute(
                select(SettlementInstallment).where(SettlementInstallment.line_id == line.id)
            )
        ).scalars()
        rows = list(plan)  # created by the anchor event (confirmation or contract), not at the close
        assert not rows or sum(i.amount - i.interest for i in rows) == line.amount_due
    for bidder, application in (await applications_by_bidder(session, listing_id)).items():
        assert await ledger.held_deposit(session, application.id) == 0
        if bidder not in lines:
            refund = (
                await session.execute(
                    select(RefundInstruction).where(RefundInstruction.application_id == application.id)
                )
            ).scalar_one()
            assert refund.amount == application.deposit_due
            assert_five_working_days(refund)
    assert await ledger.balance(session, seller_payable_code(listing_id)) == -sum(prices.values())
    assert await ledger.unbalanced_transactions(session) == []
    assert await ledger.trial_balance(session) == 0
    return lines


async def closed_uniform_auction(client: Client) -> tuple[int, list[dict[str, str]]]:
    """An emission right sold at a uniform price: three bidders ask 6 t/a each at three prices, then the close."""
    listing, heads = await live_auction(
        client,
        3,
        closes_in=2,
        asset_class="emission_right",
        method="uniform_price",
        start_price="100000.00",
        increment="1000.00",
    )
    lid = listing["id"]
    for headers, price in zip(heads, ("120000.00", "110000.00", "100000.00"), strict=True):
        placed = await client.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": price, "quantity": "6.000"},
            headers={**headers, "Idempotency-Key": f"u-{price}"},
        )
        assert placed.status_code == 201, placed.text
    await wait_status(client, lid, "closed", timeout=15)
    return lid, heads
