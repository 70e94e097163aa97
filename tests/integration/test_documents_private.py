"""Private documents issued at the close: the winner's confirmation and the refund notices.

The app runs with ``issue_documents`` on: the close settles the listing, and
the issuing catch-up issues each winner's confirmation (成交确认书) and a
refund notice for every released deposit. Both belong to the bidder they are
addressed to: that bidder and the staff may fetch them, nobody else, and the
public results never list them.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import func, select

from documents.formatting import cn_date
from documents.models import Document
from exchange.app import create_app
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.settings import Settings
from settlement import payments
from settlement.models import RefundInstruction
from settlement.settlement_models import SettlementLine
from tests.support.api import Client, bidder, staff
from tests.support.auctions import bid, live_auction
from tests.support.bank import deliver, notice
from tests.support.flow import apply, decide, open_registration, use_sandbox, wait_status
from tests.support.follow_up import rescind_after_grace
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.settlement import closed_uniform_auction

PUBLIC = {"listing_announcement", "result_announcement", "bid_record"}


@pytest.fixture
async def pclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(replace(settings, issue_documents=True))) as client:
        yield client


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def embedded_fonts(pdf: bytes) -> set[str]:
    """BaseFont names of the fonts whose descriptor carries the font program."""
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = described["/FontDescriptor"].get_object()
            if any(key.startswith("/FontFile") for key in descriptor):
                names.add(str(font["/BaseFont"]))
    return names


async def me(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    return dict((await client.get("/api/v1/users/me", headers=headers)).json())


async def documents_of(client: Client, listing_id: int, headers: dict[str, str] | None = None) -> list[Any]:
    response = await client.get("/api/v1/documents", params={"listing_id": listing_id}, headers=headers or {})
    assert response.status_code == 200, response.text
    return list(response.json())


async def wait_documents(
    client: Client, listing_id: int, operator: dict[str, str], count: dict[str, int], timeout: float = 90
) -> list[dict[str, Any]]:
    """Poll as staff until the listing has at least ``count[kind]`` documents of each kind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await documents_of(client, listing_id, operator)
        kinds = [d["kind"] for d in found]
        if all(kinds.count(kind) >= n for kind, n in count.items()):
            return found
        assert loop.time() < deadline, f"documents {count} never issued, have {kinds}"
        await asyncio.sleep(0.5)


async def test_confirmation_and_refund_notices_reach_only_their_bidders(pclient: Client) -> None:
    listing, (alice, bob, carol) = await live_auction(pclient, 3, closes_in=2)
    lid = listing["id"]
    assert (await bid(pclient, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(pclient, bob, lid, "1110000.00")).status_code == 201
    await wait_status(pclient, lid, "closed", timeout=15)
    operator = await staff(pclient, "operator")
    everything = await wait_documents(
        pclient, lid, operator, {"confirmation": 1, "refund_notice": 2, **dict.fromkeys(PUBLIC, 1)}
    )
    users = {name: await me(pclient, h) for name, h in (("alice", alice), ("bob", bob), ("carol", carol))}
    sessions = pclient.app.state.sessions
    async with sessions() as session:
        line = (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == lid))
        ).scalar_one()
        refunds = {
            r.application_id: r
            for r in (
                await session.execute(
                    select(RefundInstruction).where(RefundInstruction.application_id.is_not(None))
                )
            ).scalars()
        }
        owners = dict((await session.execute(select(Document.id, Document.owner_id))).all())
    assert line.bidder_id == users["bob"]["id"]

    (confirmation,) = [d for d in everything if d["kind"] == "confirmation"]
    notices = [d for d in everything if d["kind"] == "refund_notice"]
    assert confirmation["key"] == f"confirmation:{lid}:{line.bid_number}"
    assert re.fullmatch(rf"20\d\d-{lid:05d}-QR-{line.bid_number}", confirmation["number"])
    assert confirmation["public"] is False and owners[confirmation["id"]] == users["bob"]["id"]
    assert {n["key"] for n in notices} == {f"refund_notice:{r.id}" for r in refunds.values()}
    assert {owners[n["id"]] for n in notices} == {users["alice"]["id"], users["carol"]["id"]}
    alice_notice = next(n for n in notices if owners[n["id"]] == users["alice"]["id"])

    # The list answers each caller with what it may download.
    assert {d["kind"] for d in await documents_of(pclient, lid)} == PUBLIC
    mine = {d["number"] for d in await documents_of(pclient, lid, bob)}
    assert confirmation["number"] in mine and not {n["number"] for n in notices} & mine
    theirs = await documents_of(pclient, lid, alice)
    assert [d["number"] for d in theirs if not d["public"]] == [alice_notice["number"]]
    assert len(await documents_of(pclient, lid, await staff(pclient, "auditor"))) == len(everything)
    assert await documents_of(pclient, 999_999, operator) == []
    bad = await pclient.get("/api/v1/documents", params={"listing_id": "0"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")

    # Downloads: the addressee and staff yes, another bidder no, anonymous no.
    url = confirmation["url"]
    assert (await pclient.get(url)).status_code == 401
    assert (await pclient.get(url, headers=alice)).status_code == 403
    assert (await pclient.get(url, headers=carol)).json()["code"] == "forbidden"
    assert (await pclient.get(url, headers=operator)).status_code == 200
    download = await pclient.get(url, headers=bob)
    assert download.status_code == 200 and download.headers["cache-control"] == "private, no-store"
    assert (await pclient.get(alice_notice["url"], headers=alice)).status_code == 200
    assert (await pclient.get(alice_notice["url"], headers=bob)).status_code == 403
    assert (await pclient.get(alice_notice["url"])).status_code == 401

    # The public result lists the public documents only.
    result = (await pclient.get(f"/api/v1/results/{lid}")).json()
    assert {d["kind"] for d in result["documents"]} == PUBLIC
    for listed in (await pclient.get("/api/v1/results")).json():
        assert {d["kind"] for d in listed["documents"]} <= PUBLIC

    # The confirmation PDF: title, winner, price, fee, audit head, verification, embedded CJK font.
    pdf = download.content
    digest = hashlib.sha256(pdf).hexdigest()
    assert digest == confirmation["sha256"] == download.headers["x-document-sha256"]
    text = flat(text_of(pdf))
    assert "成交确认书" in text and flat(users["bob"]["display_name"]) in text
    assert "1,110,000.00" in text and "壹佰壹拾壹万元整" in text
    assert "1,665.00" in text and "910,000.00" in text  # fee; price less the 200,000 deposit
    assert line.bid_number in text and confirmation["number"] in text
    assert confirmation["audit_head"][:16] in text
    assert "/verify?number=" in text
    assert any("Noto-Serif-CJK-SC" in name for name in embedded_fonts(pdf))
    verified = await pclient.get(f"/api/v1/documents/verify/{digest}")
    assert verified.status_code == 200
    assert (verified.json()["kind"], verified.json()["id"]) == ("confirmation", confirmation["id"])
    altered = bytearray(pdf)
    altered[len(altered) // 2] ^= 0x01
    forged = hashlib.sha256(bytes(altered)).hexdigest()
    assert (await pclient.get(f"/api/v1/documents/verify/{forged}")).status_code == 404

    # Alice's refund notice: her name, the amount, why, and when the money is back at the latest.
    notice_pdf = (await pclient.get(alice_notice["url"], headers=operator)).content
    assert hashlib.sha256(notice_pdf).hexdigest() == alice_notice["sha256"]
    refund = next(r for r in refunds.values() if f"refund_notice:{r.id}" == alice_notice["key"])
    text = flat(text_of(notice_pdf))
    assert "保证金退还通知" in text and flat(users["alice"]["display_name"]) in text
    assert "200,000.00" in text and refund.amount == 20_000_000
    assert "未竞得" in text and flat(cn_date(refund.due_date)) in text
    assert any("Noto-Serif-CJK-SC" in name for name in embedded_fonts(notice_pdf))
    assert (await pclient.get(f"/api/v1/documents/verify/{alice_notice['sha256']}")).status_code == 200

    # Catching up again issues nothing new: one document per key, forever.
    issuer = pclient.app.state.document_issuer
    await issuer.catch_up()
    async with sessions() as session:
        count = (
            await session.execute(
                select(func.count()).select_from(Document).where(Document.listing_id == lid)
            )
        ).scalar_one()
    assert count == len(everything)


async def test_uniform_price_issues_one_confirmation_per_winner(pclient: Client) -> None:
    lid, heads = await closed_uniform_auction(pclient)
    operator = await staff(pclient, "operator")
    # c wins the 0.5 t/a left and gets back the part of its deposit above its price: its deposit
    # pays it in full, so its 交易鉴证书 follows the confirmation (issued after it, in a later pass)
    wanted = {"confirmation": 3, "refund_notice": 1, "result_announcement": 1, "transaction_certificate": 1}
    found = await wait_documents(pclient, lid, operator, wanted)
    confirmations = [d for d in found if d["kind"] == "confirmation"]
    assert len({d["number"] for d in confirmations}) == 3
    c = await me(pclient, heads[2])
    own = [d for d in await documents_of(pclient, lid, heads[2]) if not d["public"]]
    assert sorted(d["kind"] for d in own) == ["confirmation", "refund_notice", "transaction_certificate"]
    texts = {d["kind"]: flat(text_of((await pclient.get(d["url"], headers=heads[2])).content)) for d in own}
    assert flat(c["display_name"]) in texts["confirmation"]
    assert "0.500吨/年" in texts["confirmation"] and "100,000.00元/吨" in texts["confirmation"]
    assert "50,000.00" in texts["confirmation"]  # 0.5 t/a at 100,000 yuan
    assert "150,000.00" in texts["refund_notice"] and "超出应付成交价款" in texts["refund_notice"]
    # quantities in the listing's unit, not in the stored thousandths
    result = next(d for d in found if d["kind"] == "result_announcement")
    published = flat(text_of((await pclient.get(result["url"])).content))
    assert "12.500吨/年" in published and "6.000" in published and "0.500" in published


async def test_a_rejected_applicant_gets_a_refund_notice(pclient: Client) -> None:
    operator = await staff(pclient, "operator")
    listing = await open_registration(pclient, operator)
    headers = await bidder(pclient)
    application = await apply(pclient, listing["id"], headers)
    paid = await deliver(
        pclient, notice(application["deposit_account"], application["deposit_due"], utcnow())
    )
    assert paid.json()["outcome"] == "deposit", paid.text
    await decide(pclient, operator, application["id"], approve=False)
    found = await wait_documents(pclient, listing["id"], operator, {"refund_notice": 1})
    (refund_notice,) = [d for d in found if d["kind"] == "refund_notice"]
    assert [d["number"] for d in await documents_of(pclient, listing["id"], headers) if not d["public"]] == [
        refund_notice["number"]
    ]
    assert not [
        d for d in await documents_of(pclient, listing["id"], await bidder(pclient)) if not d["public"]
    ]
    text = flat(text_of((await pclient.get(refund_notice["url"], headers=headers)).content))
    assert "报名未获通过" in text and flat((await me(pclient, headers))["display_name"]) in text


async def test_an_announcement_waits_for_its_date_and_private_numbers_stay_unanswered(
    pclient: Client,
) -> None:
    operator = await staff(pclient, "operator")
    use_sandbox(pclient)
    later = sandbox_schedule(utcnow() + timedelta(minutes=5))
    created = (
        await pclient.post("/api/v1/listings", json=listing_body(schedule=later), headers=operator)
    ).json()
    lid = created["id"]
    assert (await pclient.post(f"/api/v1/listings/{lid}/publish", headers=operator)).status_code == 200
    sessions = pclient.app.state.sessions
    await pclient.app.state.document_issuer.catch_up()
    async with sessions() as session:
        issued = (await session.execute(select(Document).where(Document.listing_id == lid))).scalars().all()
    assert issued == []  # published, but announced only in five minutes
    hidden = await pclient.get(f"/api/v1/documents?listing_id={lid}")
    assert hidden.status_code == 404  # as the listing itself is
    assert (await pclient.get(f"/api/v1/documents?listing_id={lid}", headers=operator)).status_code == 200

    # A private document's number is answered to its readers only: refund_notice:<n> is guessable.
    async with sessions() as session:
        session.add(
            Document(
                listing_id=lid,
                kind="refund_notice",
                key="refund_notice:424242",
                sha256="ab" * 32,
                size=13,
                pdf=b"%PDF-1.7 test",
                title="refund_notice",
                meta={},
                public=False,
                owner_id=None,
                audit_head="0" * 64,
                created_at=utcnow(),
            )
        )
        await session.commit()
    assert (await pclient.get("/api/v1/documents/verify?number=refund_notice:424242")).status_code == 404
    found = await pclient.get("/api/v1/documents/verify?number=refund_notice:424242", headers=operator)
    assert found.status_code == 200 and found.json()["kind"] == "refund_notice"


async def test_a_winner_in_default_is_sent_a_notice_of_its_refunded_payments(pclient: Client) -> None:
    listing, (alice, bob) = await live_auction(pclient, 2, closes_in=2)
    lid = listing["id"]
    assert (await bid(pclient, alice, lid, "1110000.00")).status_code == 201
    await wait_status(pclient, lid, "closed", timeout=15)
    operator = await staff(pclient, "operator")
    await wait_documents(pclient, lid, operator, {"confirmation": 1, "refund_notice": 1})  # bob's deposit
    sessions = pclient.app.state.sessions
    async with unit_of_work(sessions) as session:
        line = (
            await session.execute(select(SettlementLine).where(SettlementLine.listing_id == lid))
        ).scalar_one()
        paid = await payments.book_payment(
            session, account=line.payment_account, amount=166_500, txn_id="D1", paid_at=utcnow()
        )
        assert paid is not None and paid.applied == 166_500  # the service fee, due at the contract
    await rescind_after_grace(pclient, operator, lid)  # never paid the price: rescinded after the grace

    await wait_documents(pclient, lid, operator, {"refund_notice": 2})
    # The deposit (200,000.00) is within 20% of the price (Civil Code art. 586): all of it is forfeited.
    (notice,) = [d for d in await documents_of(pclient, lid, alice) if d["kind"] == "refund_notice"]
    assert notice["title"].endswith("价款退还通知"), notice
    text = flat(text_of((await pclient.get(notice["url"], headers=alice)).content))
    assert "价款退还通知" in text and "1,665.00" in text and "未按期付清成交价款，本次成交已解除" in text
    assert "保证金退还通知" not in text
    (deposit,) = [d for d in await documents_of(pclient, lid, bob) if d["kind"] == "refund_notice"]
    assert deposit["title"].endswith("保证金退还通知")
    assert (await pclient.get(notice["url"], headers=bob)).status_code in (403, 404)


async def test_a_rescission_returns_the_deposit_beyond_the_capped_forfeit_with_a_notice(
    pclient: Client,
) -> None:
    """定金 is at most 20% of the price (Civil Code art. 586): of a 500,000.00 deposit on a
    1,110,000.00 sale, 222,000.00 is forfeited and 278,000.00 comes back, with its notice."""
    listing, (alice, _bob) = await live_auction(pclient, 2, closes_in=2, deposit="500000.00")
    lid = listing["id"]
    assert (await bid(pclient, alice, lid, "1110000.00")).status_code == 201
    await wait_status(pclient, lid, "closed", timeout=15)
    operator = await staff(pclient, "operator")
    await wait_documents(pclient, lid, operator, {"confirmation": 1, "refund_notice": 1})  # bob's deposit
    rescinded = await rescind_after_grace(pclient, operator, lid)
    assert rescinded["lines"][0]["forfeited"] == "222000.00"
    await wait_documents(pclient, lid, operator, {"refund_notice": 2})
    (notice,) = [d for d in await documents_of(pclient, lid, alice) if d["kind"] == "refund_notice"]
    assert notice["title"].endswith("保证金退还通知"), notice
    text = flat(text_of((await pclient.get(notice["url"], headers=alice)).content))
    assert "278,000.00" in text and "定金上限" in text
