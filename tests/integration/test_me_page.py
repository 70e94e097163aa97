"""The winner's page (/me) after the close: outcomes in words, the deposit received, and what the
winner owes, by when and where (issue 16). Real auctions run to their close, on both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from documents.models import Document
from exchange.clock import utcnow
from exchange.db import unit_of_work
from settlement import closing
from settlement.notice_models import Notice
from settlement.settlement_models import Settlement, SettlementLine
from tests.integration.test_post_qualification import paid_bidder
from tests.support.api import Client, bidder, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import apply, decide, open_registration, qualified_bidder, start_bidding, wait_status
from tests.support.settlement import user_id

pytestmark = pytest.mark.databases()


async def as_user(client: Client, headers: dict[str, str], path: str) -> Any:
    token = headers["Authorization"].split()[1]
    return await client.get(path, headers={"cookie": f"exchange_session={token}"})


async def _settled(client: Client, listing_id: int) -> Settlement:
    async with unit_of_work(client.app.state.sessions) as session:
        settlement = await closing.settle(session, listing_id, client.app.state.settings.settlement)
    assert settlement is not None
    return settlement


async def _line(client: Client, listing_id: int) -> SettlementLine:
    async with client.app.state.sessions() as session:
        return (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == listing_id))
        ).scalar_one()


async def _notice(client: Client, user: int, listing_id: int, title: str, body: str) -> None:
    async with unit_of_work(client.app.state.sessions) as session:
        session.add(
            Notice(
                user_id=user,
                listing_id=listing_id,
                kind="test",
                title=title,
                body=body,
                created_at=utcnow() - timedelta(minutes=1),
            )
        )


async def test_winner_and_losers_see_the_outcome_and_the_deposit_received(client: Client) -> None:
    listing, (alice, bob, carol) = await live_auction(
        client, 3, closes_in=2, asset_class="water_right", method="english"
    )
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1110000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    await _settled(client, lid)
    line = await _line(client, lid)
    assert line.bidder_id == await user_id(client, bob)

    won = (await as_user(client, bob, "/me")).text
    assert 'data-outcome="won"' in won and "竞得" in won
    assert "200,000.00" in won  # the deposit received, though it is now part of the price
    assert "已转作成交价款" in won
    assert "1,110,000.00" in won  # the price
    assert f"{line.amount_due / 100:,.2f}" in won
    assert line.payment_account in won
    assert 'data-field="late_fees"' in won
    assert "由税务部门征收" not in won  # water rights are paid to the exchange
    assert "付款条件" in won and "逾期付款的，每日按逾期金额的 1‰ 缴纳违约金" in won
    english = (await as_user(client, bob, "/me?lang=en")).text
    assert "Won" in english and "Paid so far" in english

    bob_id = await user_id(client, bob)
    await _notice(client, bob_id, lid, "只给竞得人的通知", "请于期限内签订合同。")
    async with client.app.state.sessions() as session:
        bobs_documents = list(
            (await session.execute(select(Document.id).where(Document.owner_id == bob_id))).scalars()
        )
    assert "只给竞得人的通知" in (await as_user(client, bob, "/me")).text

    for loser in (alice, carol):
        lost = (await as_user(client, loser, "/me")).text
        # only the caller's own: nobody else's notices, nor the winner's private documents
        assert "只给竞得人的通知" not in lost
        assert not any(f"/api/v1/documents/{d}" in lost for d in bobs_documents)
        assert 'data-outcome="lost"' in lost and "未竞得" in lost
        # The released deposit still reads as received (the account's balance is 0 now).
        assert '<dd data-field="deposit_paid">200,000.00' in lost
        assert "退还中" in lost or "已退还" in lost
        assert "data-settlement" not in lost


async def test_failed_and_cancelled_listings_read_in_words(client: Client) -> None:
    operator = await staff(client, "operator")
    failed, (dave,) = await live_auction(client, 1, closes_in=1)
    cancelled = await open_registration(client, operator, asset_class="technology", method="english")
    erin, _ = await qualified_bidder(client, operator, cancelled)
    await wait_status(client, failed["id"], "failed", timeout=15)
    response = await client.post(
        f"/api/v1/listings/{cancelled['id']}/cancel", json={"reason": "出让人撤回"}, headers=operator
    )
    assert response.status_code == 200, response.text
    page = (await as_user(client, dave, "/me")).text
    assert 'data-outcome="failed"' in page and "流拍" in page
    assert '<dd data-field="deposit_paid">200,000.00' in page
    terminated = (await as_user(client, erin, "/me")).text
    assert 'data-outcome="cancelled"' in terminated and "终止" in terminated
    assert '<dd data-field="deposit_paid">200,000.00' in terminated


async def test_land_is_paid_to_the_tax_authority_and_notices_show(client: Client) -> None:
    listing, (frank,) = await live_auction(client, 1, closes_in=2)  # land, an online auction
    lid = listing["id"]
    assert (await bid(client, frank, lid, "1100000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    await _settled(client, lid)
    await _notice(client, await user_id(client, frank), lid, "缴款提醒", "请按期缴纳成交价款。")
    page = (await as_user(client, frank, "/me")).text
    assert 'data-outcome="won"' in page
    assert "由税务部门征收" in page
    async with client.app.state.sessions() as session:
        settlement = await session.get(Settlement, lid)
    assert settlement is not None and settlement.contract_due_on is not None  # land waits for its contract
    due = settlement.contract_due_on
    assert (
        f'<dd data-field="contract_due_on">{due.year}年{due.month}月{due.day}日' in page
    )  # dates in Chinese
    assert "公示 ends" not in (await as_user(client, frank, "/me?lang=en")).text
    assert "缴款提醒" in page and "请按期缴纳成交价款。" in page


async def _post_qualified_sale(client: Client) -> tuple[int, dict[str, str], dict[str, str], dict[str, str]]:
    """资格后审: two paid bidders, the first wins at 1,100,000 yuan; (listing id, operator, winner, loser)."""
    operator = await staff(client, "operator")
    listing = await open_registration(
        client, operator, closes=600, bidding=601, bidding_closes=602, qualification="post"
    )
    lid = listing["id"]
    (winner, _), (loser, _) = [await paid_bidder(client, lid) for _ in range(2)]
    await start_bidding(client, operator, lid, closes_in=2, extension=1)
    await wait_status(client, lid, "bidding", timeout=30)
    assert (await bid(client, winner, lid, "1100000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=30)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (await client.get(f"/api/v1/settlements/{lid}", headers=operator)).status_code != 200:
        assert loop.time() < deadline, "the close was never settled"
        await asyncio.sleep(0.1)
    return lid, operator, winner, loser


async def test_a_post_qualified_winner_reads_awaiting_review_until_the_review(client: Client) -> None:
    """资格后审: the settlement waits in ``review`` without lines; the winner is not told 未竞得."""
    lid, operator, winner, loser = await _post_qualified_sale(client)
    settlement = (await client.get(f"/api/v1/settlements/{lid}", headers=operator)).json()
    assert (settlement["status"], settlement["lines"]) == ("review", [])
    page = (await as_user(client, winner, "/me")).text
    assert 'data-outcome="pending_review"' in page and "待资格审查" in page
    assert "未竞得" not in page and 'data-field="pending_review"' in page
    assert "data-settlement" not in page  # nothing to pay before the review
    english = (await as_user(client, winner, "/me?lang=en")).text
    assert "awaiting the winner&#39;s review" in english
    other = (await as_user(client, loser, "/me")).text
    assert 'data-outcome="lost"' in other and "待资格审查" not in other

    passed = await client.post(
        f"/api/v1/settlements/{lid}/review", json={"verdict": "passed"}, headers=operator
    )
    assert passed.status_code == 200, passed.text
    after = (await as_user(client, winner, "/me")).text
    assert 'data-outcome="won"' in after and "data-settlement" in after
    assert "待资格审查" not in after


async def test_an_applicant_rejected_before_the_bidding_reads_no_outcome(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, asset_class="technology", method="english")
    kept, _ = await qualified_bidder(client, operator, listing)
    refused = await bidder(client)
    application = await apply(client, listing["id"], refused)
    await decide(client, operator, application["id"], approve=False)
    response = await client.post(
        f"/api/v1/listings/{listing['id']}/cancel", json={"reason": "出让人撤回"}, headers=operator
    )
    assert response.status_code == 200, response.text
    page = (await as_user(client, refused, "/me")).text
    assert f'data-application="{application["id"]}"' in page
    assert 'data-field="outcome"' not in page  # it took no part: "终止" is not its result
    assert 'data-outcome="cancelled"' in (await as_user(client, kept, "/me")).text
