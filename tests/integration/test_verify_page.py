"""The verification page for people (``/verify``), Chinese first: a document is looked up by the
number printed on it (what its QR code holds) or by the SHA-256 of the file in hand.

A document found names itself and shows the stored original's SHA-256; a number or digest not
found is a 404 page that says so; a document that is not public answers its number only to its
addressee and the staff (numbers are guessable), while its digest, which only a holder of the
file knows, names it to anyone (metadata only, no download link).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from typing import Any
from urllib.parse import quote

import pytest
from pypdf import PdfReader

from documents.models import Document
from exchange.clock import utcnow
from exchange.db import unit_of_work
from tests.support.api import Client, bidder, staff
from tests.support.flow import open_registration

pytestmark = pytest.mark.databases()


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def page(client: Client, path: str, headers: dict[str, str] | None = None) -> Any:
    """A page as a browser asks for it: the session cookie carries the user's token."""
    cookie = {}
    if headers:
        cookie = {"cookie": f"exchange_session={headers['Authorization'].split()[1]}"}
    return await client.get(path, headers=cookie)


async def announcement(client: Client, listing_id: int) -> dict[str, Any]:
    """The listing's announcement, issued by the catch-up as in production."""
    issuer = client.app.state.document_issuer
    for _ in range(20):
        await issuer.catch_up()
        listed = (await client.get("/api/v1/documents", params={"listing_id": listing_id})).json()
        if listed:
            return dict(listed[0])
        await asyncio.sleep(0.2)
    raise AssertionError("the announcement was never issued")


async def private_document(client: Client, listing_id: int, owner_id: int, number: str) -> tuple[str, str]:
    """A stored non-public document (a refund notice of ``owner_id``): (number, sha256)."""
    pdf = f"%PDF-1.7 {number}".encode()
    digest = hashlib.sha256(pdf).hexdigest()
    async with unit_of_work(client.app.state.sessions) as session:
        session.add(
            Document(
                listing_id=listing_id,
                kind="refund_notice",
                key=f"refund_notice:{number}",
                number=number,
                sha256=digest,
                size=len(pdf),
                pdf=pdf,
                title="测试标的 保证金退还通知",
                meta={},
                public=False,
                owner_id=owner_id,
                audit_head="0" * 64,
                created_at=utcnow(),
            )
        )
    return number, digest


async def test_a_document_is_verified_by_its_printed_number_and_by_its_digest(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    lid = listing["id"]
    issued = await announcement(client, lid)
    number = issued["number"]
    assert re.fullmatch(rf"20\d\d-{lid:05d}-GG", number), number  # a number people read, not a key
    pdf = (await client.get(issued["url"])).content
    digest = hashlib.sha256(pdf).hexdigest()
    assert digest == issued["sha256"]

    # what the paper copy prints: the number, and the address its QR code holds
    text = flat("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    public_url = client.app.state.settings.documents.public_url.rstrip("/")
    assert f"文件编号：{number}" in text and f"{public_url}/verify?number={number}" in text
    assert issued["key"] not in text

    # by number (the QR code): Chinese first, the original's digest to compare with the file in hand
    by_number = await page(client, f"/verify?number={quote(number)}")
    assert by_number.status_code == 200
    html = by_number.text
    assert "文件核验" in html and "本平台签发的文件" in html and "Document verification" not in html
    assert f'data-field="number">{number}<' in html and digest in html
    assert 'data-field="download"' in html and issued["url"] in html  # public: anyone downloads it
    assert f'href="/listings/{lid}"' in html and "请计算所持 PDF 文件的 SHA-256 摘要" in html

    # by digest: the file in hand is the original
    by_digest = await page(client, f"/verify/{digest.upper()}")
    assert by_digest.status_code == 200 and "您提交的摘要与该原件一致" in by_digest.text
    assert f'data-field="number">{number}<' in by_digest.text

    # a changed byte is another digest: not found, as a 404 page that says so
    altered = bytearray(pdf)
    altered[len(altered) // 2] ^= 1
    forged = await page(client, f"/verify/{hashlib.sha256(bytes(altered)).hexdigest()}")
    assert (
        forged.status_code == 404 and "未找到" in forged.text and "所持文件不是平台签发的原件" in forged.text
    )
    assert number not in forged.text
    for path in (
        "/verify/not-a-digest",
        f"/verify?number={quote(number)}X",
        "/verify?number=listing_announcement:1",
    ):
        missing = await page(client, path)
        assert missing.status_code == 404 and "未找到" in missing.text, path
    # the form alone, nothing asked
    empty = await page(client, "/verify")
    assert empty.status_code == 200 and 'name="number"' in empty.text and "未找到" not in empty.text

    # English on request (the choice is kept in a cookie: asked last)
    english = await page(client, f"/verify?number={quote(number)}&lang=en")
    assert english.status_code == 200 and "Issued by this exchange" in english.text


async def test_a_private_document_answers_its_number_to_its_addressee_and_the_staff(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    lid = listing["id"]
    owner, other = await bidder(client), await bidder(client)
    owner_id = (await client.get("/api/v1/users/me", headers=owner)).json()["id"]
    number, digest = await private_document(client, lid, owner_id, f"2026-{lid:05d}-TH-9001")
    path = f"/verify?number={quote(number)}"

    for who, headers in (("anonymous", None), ("another bidder", other)):
        hidden = await page(client, path, headers)
        assert hidden.status_code == 404, who
        assert "没有可向您显示的该编号文件" in hidden.text and digest not in hidden.text, who
    for who, headers in (
        ("the addressee", owner),
        ("an operator", operator),
        ("an auditor", await staff(client, "auditor")),
    ):
        shown = await page(client, path, headers)
        assert shown.status_code == 200, who
        assert digest in shown.text and 'data-field="download"' in shown.text, who
        assert "否（仅当事人和工作人员可下载）" in shown.text, who

    # the digest names it to anyone who holds the file, without offering the download
    held = await page(client, f"/verify/{digest}")
    assert held.status_code == 200 and f'data-field="number">{number}<' in held.text
    assert 'data-field="download"' not in held.text
    # the JSON API for programs answers the same
    assert (await client.get("/api/v1/documents/verify", params={"number": number})).status_code == 404
    api = await client.get("/api/v1/documents/verify", params={"number": number}, headers=owner)
    assert api.status_code == 200 and api.json()["sha256"] == digest and api.json()["number"] == number
