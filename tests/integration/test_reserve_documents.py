"""The issued PDFs, downloaded as the public does: the announcement carries the reserve's commitment
(mining rights: frozen at publication), the result announcement opens it, and a sealed bid's
announcement states its award rule without an increment (issue 15, items 1, 6 and 9)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from dataclasses import replace

import pypdf
import pytest
from litestar.testing import AsyncTestClient

from exchange.app import create_app
from exchange.settings import Settings
from tests.integration.test_reserve_commitment import recomputed
from tests.support.api import Client, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import open_registration, qualified_bidder, start_bidding, wait_status


@pytest.fixture
async def pclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(replace(settings, issue_documents=True))) as client:
        yield client


async def document_text(client: Client, listing_id: int, kind: str, timeout: float = 60) -> str:
    """The text of the listing's public document of ``kind``, without whitespace (the layout spaces
    headings and splits digests into groups)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        listed = (await client.get("/api/v1/documents", params={"listing_id": listing_id})).json()
        found = [d for d in listed if d["kind"] == kind]
        if found:
            pdf = (await client.get(found[0]["url"])).content
            text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
            return re.sub(r"\s+", "", text)
        assert loop.time() < deadline, f"no {kind} issued"
        await asyncio.sleep(0.5)


async def test_a_mining_announcement_carries_the_commitment_and_the_result_opens_it(
    pclient: Client,
) -> None:
    operator = await staff(pclient, "operator")
    listing = await open_registration(
        pclient, operator, asset_class="mining_right", closes=600, bidding=601, bidding_closes=603
    )
    lid, committed = listing["id"], listing["reserve_commitment"]
    announcement = await document_text(pclient, lid, "listing_announcement")
    assert committed in announcement and "1,100,000.00" not in announcement
    heads = [(await qualified_bidder(pclient, operator, listing))[0] for _ in range(3)]  # mining: >= 3
    await start_bidding(pclient, operator, lid, closes_in=2, extension=1)
    await wait_status(pclient, lid, "bidding", timeout=30)
    assert (await bid(pclient, heads[0], lid, "1200000.00")).status_code == 201
    await wait_status(pclient, lid, "closed", timeout=15)

    opened = await document_text(pclient, lid, "result_announcement")
    result = (await pclient.get(f"/api/v1/results/{lid}")).json()
    assert result["reserve_price"] == "1100000.00" and "1,100,000.00" in opened
    assert result["reserve_salt"] in opened and committed in opened
    assert recomputed(result["reserve_price"], result["reserve_salt"]) == committed


async def test_a_sealed_announcement_states_its_award_rule_and_the_result_the_fallback(
    pclient: Client,
) -> None:
    listing, (alice, bob) = await live_auction(
        pclient, 2, closes_in=2, method="sealed_bid", award_rule="closest_to_average"
    )
    lid = listing["id"]
    for who, amount in ((alice, "1200000.00"), (bob, "1400000.00")):
        assert (await bid(pclient, who, lid, amount)).status_code == 201
    await wait_status(pclient, lid, "closed", timeout=15)
    announcement = await document_text(pclient, lid, "listing_announcement")
    assert "加价幅度" not in announcement and "10,000.00" not in announcement  # the increment
    assert "有效报价不足三个的" in announcement and "报价提交在先者为竞得人" in announcement
    # land: the commitment comes with the opening; an announcement issued after it prints it
    committed = (await pclient.get(f"/api/v1/listings/{lid}")).json()["reserve_commitment"]
    assert "于竞价开始时锁定" in announcement or committed in announcement
    opened = await document_text(pclient, lid, "result_announcement")
    assert "有效报价不足三个" in opened and "1,400,000.00" in opened
