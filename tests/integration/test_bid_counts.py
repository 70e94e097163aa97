"""One bid count everywhere: the result page, the results API, the CSV export, the result
announcement (PDF), the bid record and ``exchange audit replay`` agree on a lot whose price reached
its cap and went to a lottery.

Acceptances of the cap price are stored as bid rows and logged as ``bid.accepted``, but they are
lottery entries, not bids (``documents.results.bid_count``): counting rows or log entries counted
them too (a lot showed 21 on the page and in the CSV, 20 in the PDF and the replay).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from auctions.audit_replay import replay_listing
from auctions.models import BidRow
from exchange.audit.models import AuditEntry
from exchange.settings import Settings
from tests.support.api import Client, staff
from tests.support.auctions import live_auction
from tests.support.flow import wait_status
from tests.support.server import base_env

pytestmark = pytest.mark.databases()

CAP = "1100000.00"


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def offer(client: Client, headers: dict[str, str], listing_id: int, amount: str, **fields: str) -> Any:
    response = await client.post(
        f"/api/v1/auctions/{listing_id}/bids",
        json={"amount": amount, **fields},
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def wait_phase(client: Client, listing_id: int, phase: str, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await client.get(f"/api/v1/auctions/{listing_id}")).json()["phase"] != phase:
        assert loop.time() < deadline, f"the auction never reached {phase}"
        await asyncio.sleep(0.05)


def cli_replay(settings: Settings, listing_id: int) -> str:
    exe = Path(sys.executable).with_name("exchange")
    env = base_env(EXCHANGE_DATABASE_URL=settings.database.url)
    done = subprocess.run(
        [exe, "audit", "replay", str(listing_id)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_page_api_csv_pdf_and_replay_count_the_same_bids(client: Client, settings: Settings) -> None:
    listing, (alice, bob, carol, dave) = await live_auction(
        client, 4, closes_in=3, extension=1, price_cap=CAP, cap_rule="lottery", lottery_window_seconds=3
    )
    lid = listing["id"]
    await offer(client, alice, lid, "1000000.00")
    await offer(client, bob, lid, "1050000.00")
    await offer(client, carol, lid, "1080000.00")
    await offer(client, alice, lid, CAP, nonce=secrets.token_hex(16))  # the capping bid: a bid
    await wait_phase(client, lid, "lottery")
    await offer(client, bob, lid, CAP, nonce=secrets.token_hex(16))  # acceptances: lottery entries
    await offer(client, dave, lid, CAP, nonce=secrets.token_hex(16))
    await wait_status(client, lid, "closed", timeout=30)

    async with client.app.state.sessions() as session:
        rows = (
            await session.execute(select(func.count()).select_from(BidRow).where(BidRow.listing_id == lid))
        ).scalar_one()
        logged = (
            await session.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.stream == f"listing:{lid}", AuditEntry.action == "bid.accepted")
            )
        ).scalar_one()
        report = await replay_listing(session, lid)
    expected = 4
    assert rows == logged == expected + 2  # what a count of rows or of log entries gives
    assert report.matches and report.bids == expected and report.entries == expected + 2

    # the results API, and the page people read
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["bids"] == expected and len(result["draw"]["candidates"]) == 3
    page = await client.get(f"/results/{lid}")
    assert page.status_code == 200
    assert re.search(rf'data-field="bids">\s*{expected}\s*<', page.text), page.text

    # the open-data CSV
    export = await client.get("/api/v1/results/export.csv")
    (line,) = [
        r
        for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))
        if r["listing_id"] == str(lid)
    ]
    assert line["bids"] == str(expected)

    # the result announcement and the bid record, as issued
    issuer = client.app.state.document_issuer
    operator = await staff(client, "operator")
    kinds: dict[str, dict[str, Any]] = {}
    for _ in range(3):
        await issuer.catch_up()
        listed = (await client.get("/api/v1/documents", params={"listing_id": lid}, headers=operator)).json()
        kinds = {d["kind"]: d for d in listed}
        if {"result_announcement", "bid_record"} <= kinds.keys():
            break
    announcement = flat(text_of((await client.get(kinds["result_announcement"]["url"])).content))
    assert f"有效报价次数{expected}" in announcement
    record = flat(text_of((await client.get(kinds["bid_record"]["url"])).content))
    assert f"有效报价次数{expected}" in record and "接受最高限价、参加摇号的号牌" in record

    # and the command an auditor runs
    printed = await asyncio.to_thread(cli_replay, settings, lid)
    assert f"listing {lid}: {expected} bids replayed (and 2 acceptances of the cap price" in printed
    assert "MATCH" in printed
