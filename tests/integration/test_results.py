"""Results, documents at the close and the open-data export, end to end."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from dataclasses import replace

import pypdf
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from exchange.app import create_app
from exchange.audit.chain import append
from exchange.audit.models import AuditEntry
from exchange.settings import Settings
from tests.support.api import Client
from tests.support.auctions import bid, live_auction
from tests.support.flow import wait_status


@pytest.fixture
async def pclient(db: str, settings: Settings) -> Client:  # type: ignore[misc]
    async with AsyncTestClient(app=create_app(replace(settings, issue_documents=True))) as client:
        yield client


async def _documents(
    client: Client, listing_id: int, kinds: set[str], timeout: float = 60
) -> dict[str, dict[str, str]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get(f"/api/v1/results/{listing_id}")
        if response.status_code == 200:
            found = {d["kind"]: d for d in response.json()["documents"]}
            if kinds <= set(found):
                return found
        assert loop.time() < deadline, f"documents {kinds} never issued"
        await asyncio.sleep(0.5)


async def test_a_sold_auction_is_published_with_its_documents(pclient: Client) -> None:
    listing, (alice, bob) = await live_auction(pclient, 2, closes_in=2)
    lid = listing["id"]
    assert (await bid(pclient, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(pclient, bob, lid, "1200000.00")).status_code == 201
    await wait_status(pclient, lid, "closed", timeout=10)
    documents = await _documents(pclient, lid, {"listing_announcement", "result_announcement", "bid_record"})

    result = (await pclient.get(f"/api/v1/results/{lid}")).json()
    assert result["outcome"] == "sold" and result["price"] == "1200000.00"
    assert result["premium_rate"] == "20.00"
    assert result["bids"] == 2 and result["bidders"] == 2
    (winner,) = result["winners"]
    assert winner["price"] == "1200000.00" and winner["name"].endswith("有限公司")
    assert len(result["audit_head"]) == 64
    async with pclient.app.state.sessions() as session:
        closing = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.stream == f"listing:{lid}", AuditEntry.action == "auction.closed"
                )
            )
        ).scalar_one()
        # Settlement and documents append to the stream after the close: the published head stays.
        later = await append(session, f"listing:{lid}", "test", "test.note", {})
        await session.commit()
    assert result["audit_head"] == closing.hash != later.hash
    again = (await pclient.get(f"/api/v1/results/{lid}")).json()
    assert again["audit_head"] == closing.hash

    pdf = await pclient.get(documents["result_announcement"]["url"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == documents["result_announcement"]["sha256"]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    compact = "".join(text.split())  # the title is letter-spaced in the layout
    assert "成交公示" in compact and "".join(winner["name"].split()) in compact and "1,200,000.00" in compact
    verified = await pclient.get(f"/api/v1/documents/verify/{documents['result_announcement']['sha256']}")
    assert verified.status_code == 200 and verified.json()["kind"] == "result_announcement"
    announcement = await pclient.get(documents["listing_announcement"]["url"])
    assert "1100000" not in announcement.text  # the reserve is never printed

    listed = (await pclient.get("/api/v1/results")).json()
    assert [r["listing_id"] for r in listed] == [lid]
    exported = (await pclient.get("/api/v1/results/export.json")).json()
    assert exported["schema_version"] == "1" and exported["results"][0]["price"] == "1200000.00"
    rows = list(
        csv.DictReader(
            io.StringIO((await pclient.get("/api/v1/results/export.csv")).content.decode("utf-8-sig"))
        )
    )
    assert rows[0]["listing_id"] == str(lid) and rows[0]["outcome"] == "sold"


async def test_no_result_before_the_close(pclient: Client) -> None:
    listing, _ = await live_auction(pclient, 2, closes_in=30)
    response = await pclient.get(f"/api/v1/results/{listing['id']}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
