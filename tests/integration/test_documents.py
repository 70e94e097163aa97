"""Documents: PDFs with the CJK font embedded, stored once per key, verifiable by SHA-256.

Rendering goes through a real process pool (one per module). The HTTP tests
mount ``DocumentController`` on a small Litestar app of their own (the real
app registers it in ``exchange/app.py``) against the suite's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from documents import samples, store
from documents.controllers import DocumentController
from documents.data import DocumentKind
from documents.formatting import bid_table, yuan, yuan_upper
from documents.models import Document
from documents.render import (
    DataOnlyURLFetcher,
    PdfMetadata,
    Renderer,
    RenderTimeout,
    URLRefused,
    html_to_pdf,
)
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.db import create_engine, session_factory, unit_of_work
from exchange.deps import DEPENDENCIES
from exchange.errors import EXCEPTION_HANDLERS
from exchange.identity.guards import credentials_middleware
from exchange.identity.models import User
from exchange.identity.tokens import Principal, issue_token
from exchange.settings import Settings

WINNER = samples.WINNER


class CountingRenderer(Renderer):
    """The real pool, counting the renders it was asked for."""

    def __init__(self) -> None:
        super().__init__(workers=2, timeout=60)
        self.calls = 0

    async def render(self, template: str, context: Mapping[str, Any], metadata: PdfMetadata) -> bytes:
        self.calls += 1
        return await super().render(template, context, metadata)


@pytest.fixture(scope="module")
async def renderer() -> AsyncIterator[CountingRenderer]:
    pool = CountingRenderer()
    await pool.start()
    yield pool
    await pool.aclose()


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """Text without whitespace: letter-spaced headings come out as "成 交 公 示"."""
    return re.sub(r"\s+", "", text)


def fonts_of(pdf: bytes) -> list[tuple[str, set[str]]]:
    """(BaseFont, font-file keys of its descriptor) for every font on every page."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            described = descendants[0].get_object() if descendants else font
            descriptor = described["/FontDescriptor"].get_object()
            found.append((str(font["/BaseFont"]), {k for k in descriptor if k.startswith("/FontFile")}))
    return found


def images_of(pdf: bytes) -> int:
    count = 0
    for page in PdfReader(io.BytesIO(pdf)).pages:
        xobjects = page["/Resources"].get("/XObject") or {}
        count += sum(1 for x in xobjects.values() if x.get_object().get("/Subtype") == "/Image")
    return count


# --- pure: formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "零元整"),
        (5, "伍分"),
        (50, "伍角整"),
        (100_00, "壹佰元整"),
        (10_00, "壹拾元整"),
        (1_005_00, "壹仟零伍元整"),
        (10_005_00, "壹万零伍元整"),
        (1_000_500_00, "壹佰万零伍佰元整"),
        (100_000_001_00, "壹亿零壹元整"),
        (12_345_605, "壹拾贰万叁仟肆佰伍拾陆元零伍分"),
        (15_300_000_00, "壹仟伍佰叁拾万元整"),
        (1_000_010_000_00, "壹拾亿零壹万元整"),
    ],
)
def test_amounts_in_capitals(fen: int, text: str) -> None:
    assert yuan_upper(fen) == text


def test_amounts_in_figures() -> None:
    assert yuan(15_300_000_00) == "15,300,000.00"
    assert yuan(-5) == "-0.05"


def test_bid_table_lines_up() -> None:
    record = samples.bid_record(120)
    table = bid_table(record.bids, record.winners)
    lengths = {len(line) for line, _ in table.lines}
    assert len(lengths) == 1 and lengths.pop() == sum(table.widths)
    assert [won for _, won in table.lines] == [b.bid_number == "A017" for b in record.bids]
    first, _ = table.lines[0]
    assert first.split() == ["1", "2026-12-22", "10:00:00.000", "A003", "12,800,000.00"]


# --- pure: the URL fetcher ---------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[str]]]:
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()
    server.server_close()


def test_fetcher_allows_only_data_uris(http_server: tuple[str, list[str]]) -> None:
    base, hits = http_server
    fetcher = DataOnlyURLFetcher()
    for url in ("file:///etc/passwd", f"{base}/x.css", "https://example.org/x.png", "ftp://127.0.0.1/x"):
        with pytest.raises(URLRefused):
            fetcher.fetch(url)
    assert hits == []
    response = fetcher.fetch("data:text/plain;base64,5YWs5ZGK")
    assert response.read().decode() == "公告"


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 0, 0)).save(path)
    return path


def _hostile_html(base: str, png: Path) -> str:
    return f"""<html><head>
    <link rel="stylesheet" href="{base}/linked.css">
    <style>@import url("{base}/imported.css"); @import url("file:///etc/passwd");
      body {{ background: url("{base}/bg.png") }}</style></head>
    <body><h1>成交公示</h1>
    <img src="file:///etc/passwd"><img src="file://{png}"><img src="{base}/img.png">
    <img src="data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==">
    </body></html>"""


def test_render_refuses_file_and_http(http_server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, hits = http_server
    png = _png(tmp_path / "secret.png")
    fetcher = DataOnlyURLFetcher()
    pdf = html_to_pdf(_hostile_html(base, png), PdfMetadata("t", samples.T0), fetcher)
    assert hits == []
    refused = set(fetcher.refused)
    assert {"file:///etc/passwd", f"file://{png}", f"{base}/img.png", f"{base}/linked.css"} <= refused
    assert images_of(pdf) == 1  # only the data: GIF
    assert "root:" not in text_of(pdf)
    assert "成交公示" in flat(text_of(pdf))


async def test_pool_render_refuses_file_and_http(
    renderer: Renderer, http_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, hits = http_server
    pdf = await renderer.render_html(
        _hostile_html(base, _png(tmp_path / "secret.png")), PdfMetadata("t", samples.T0)
    )
    assert hits == []
    assert images_of(pdf) == 1


def test_templates_escape_data() -> None:
    from documents.render import render_html

    evil = replace(samples.refund_notice(), bidder_name='<img src="file:///etc/passwd">某公司')
    html = render_html("refund_notice.html", {"doc": evil, "stamp": samples.stamp("refund_notice")})
    assert "<img" not in html and "&lt;img" in html


# --- rendering through the pool ----------------------------------------------------------------


async def test_result_announcement_pdf(renderer: Renderer) -> None:
    stamp = samples.stamp("result_announcement")
    pdf = await renderer.render(
        "result_announcement.html",
        {"doc": samples.result_announcement(), "stamp": stamp},
        PdfMetadata(stamp.title, stamp.issued_at),
    )
    text = text_of(pdf)
    assert "成交公示" in flat(text) and WINNER in text and "15,300,000.00" in text
    assert "壹仟伍佰叁拾万元整" in text and "19.53%" in text
    assert stamp.audit_head[:16] in text
    assert "https://exchange.example.org/verify?number=2026-00042-GS" in text
    assert "文件编号：2026-00042-GS" in text and "result_announcement:42" not in text
    assert len(PdfReader(io.BytesIO(pdf)).pages) <= 2  # seller, 公示 and objections since issue 16
    fonts = fonts_of(pdf)
    assert fonts and all(files & {"/FontFile2", "/FontFile3"} for _, files in fonts), fonts
    names = {name for name, _ in fonts}
    assert any("Noto-Serif-CJK-SC" in name for name in names), names
    assert any("Noto-Sans-CJK-SC" in name for name in names), names
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None
    assert info.title == "成交公示" and info.author == "公共资源交易平台"
    assert info["/CreationDate"].startswith("D:20261222102000+08")


@pytest.mark.parametrize("kind", list(samples.SAMPLES))
async def test_every_kind_renders(renderer: Renderer, kind: DocumentKind) -> None:
    stamp = samples.stamp(kind)
    pdf = await renderer.render(
        f"{kind}.html",
        {"doc": samples.SAMPLES[kind], "stamp": stamp},
        PdfMetadata(stamp.title, stamp.issued_at),
    )
    text = flat(text_of(pdf))
    heading = {"listing_announcement": "出让公告"}.get(kind, samples.TITLES[kind])
    assert heading in text
    assert stamp.number in text


async def test_announcement_says_reserve_without_amount(renderer: Renderer) -> None:
    stamp = samples.stamp("listing_announcement")
    data = samples.listing_announcement()
    pdf = await renderer.render(
        "listing_announcement.html", {"doc": data, "stamp": stamp}, PdfMetadata(stamp.title, stamp.issued_at)
    )
    text = text_of(pdf)
    assert "设有保留价（金额不公开）" in text
    assert "12,800,000.00" in text and data.seed_commitment is not None
    assert not hasattr(data, "reserve_price")  # the data class cannot carry it


async def test_draw_and_statistics_are_printed(renderer: Renderer) -> None:
    stamp = samples.stamp("result_announcement")
    for data, expected in (
        (samples.result_announcement(draw=True), ["5f1d9c0e7a3b2d4c", "A017 → A021 → A003"]),
        (samples.uniform_result(), ["1.52", "3,650.00", "宁夏宝丰能源集团股份有限公司"]),
        (samples.failed_result(), ["流拍公告", "无人报价"]),
    ):
        pdf = await renderer.render(
            "result_announcement.html", {"doc": data, "stamp": stamp}, PdfMetadata("t", stamp.issued_at)
        )
        text = flat(text_of(pdf))
        for fragment in expected:
            assert flat(fragment) in text, fragment


async def test_a_render_past_its_deadline_is_stopped() -> None:
    slow = Renderer(workers=1, timeout=0.05, warm_up=False)
    try:
        stamp = samples.stamp("bid_record")
        with pytest.raises(RenderTimeout):
            await slow.render(
                "bid_record.html",
                {"doc": samples.bid_record(3000), "stamp": stamp},
                PdfMetadata("t", samples.T0),
            )
        slow.timeout = 60
        assert (await slow.render_html("<p>之后</p>", PdfMetadata("t", samples.T0))).startswith(b"%PDF-")
    finally:
        await slow.aclose()


ORPHANING = """
import asyncio, sys
from datetime import datetime, UTC
from documents.render import PdfMetadata, Renderer

async def main() -> None:
    renderer = Renderer(workers=1, warm_up=False)
    await renderer.render_html("<p>x</p>", PdfMetadata("t", datetime.now(UTC)))
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_render_workers_exit_when_the_server_is_killed() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", ORPHANING], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        workers = [
            pid for pid in _children(server.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert workers, "the render pool has no worker"
        assert all(os.getpriority(os.PRIO_PROCESS, pid) >= 10 for pid in workers)  # niced behind the server
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "render workers outlived their killed server"
        time.sleep(0.1)


# --- the store and the HTTP endpoints ----------------------------------------------------------


@pytest.fixture
async def api(db: str, settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    engine = create_engine(settings.database)
    app = Litestar(
        route_handlers=[DocumentController],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[credentials_middleware],
        state=State({"settings": settings, "sessions": session_factory(engine)}),
    )
    async with AsyncTestClient(app=app) as client:
        yield client
    await engine.dispose()


async def bearer(
    api: AsyncTestClient[Litestar], settings: Settings, user_id: int, role: str
) -> dict[str, str]:
    """A token of account ``user_id`` in ``role``, the account created if need be (tokens are
    checked against their account on every request)."""
    async with unit_of_work(api.app.state.sessions) as session:
        if await session.get(User, user_id) is None:
            session.add(
                User(
                    id=user_id,
                    username=f"u{user_id}",
                    password_hash="-",
                    role=role,
                    kind="enterprise" if role == "bidder" else "staff",
                    display_name=f"u{user_id}",
                    active=True,
                    created_at=utcnow(),
                )
            )
    principal = Principal(user_id=user_id, username=f"u{user_id}", role=role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {issue_token(principal, settings.security.secret_key, 600)}"}


async def _issue(
    client: AsyncTestClient[Litestar], renderer: Renderer, kind: DocumentKind, **fields: Any
) -> Document:
    options: dict[str, Any] = {
        "key": f"{kind}:42",
        "number": samples.sample_number(kind),
        "kind": kind,
        "listing_id": 42,
        "public": kind != "confirmation",
        "title": samples.TITLES[kind],
        "data": samples.SAMPLES[kind],
        "audit_head": samples.AUDIT_HEAD,
        "base_url": "https://exchange.example.org/",
        "renderer": renderer,
    } | fields
    async with unit_of_work(client.app.state.sessions) as session:
        return await store.issue(session, **options)


async def test_issue_store_and_verify(api: AsyncTestClient[Litestar], renderer: CountingRenderer) -> None:
    before = renderer.calls
    document = await _issue(api, renderer, "result_announcement")
    assert renderer.calls == before + 1
    assert document.sha256 == hashlib.sha256(document.pdf).hexdigest()
    assert document.size == len(document.pdf)
    assert WINNER in text_of(document.pdf)

    response = await api.get(f"/api/v1/documents/verify/{document.sha256.upper()}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == document.id and body["kind"] == "result_announcement"
    assert body["sha256"] == document.sha256 and body["audit_head"] == samples.AUDIT_HEAD
    assert body["listing_id"] == 42 and body["size"] == len(document.pdf) and body["title"] == "成交公示"
    assert (body["number"], body["key"]) == ("2026-00042-GS", "result_announcement:42")
    assert document.number == "2026-00042-GS" and "2026-00042-GS" in text_of(document.pdf)

    by_number = await api.get("/api/v1/documents/verify", params={"number": "2026-00042-GS"})
    assert by_number.status_code == 200 and by_number.json()["sha256"] == document.sha256
    by_key = await api.get("/api/v1/documents/verify", params={"number": "result_announcement:42"})
    assert by_key.status_code == 404  # the key is internal; people quote the number

    download = await api.get(f"/api/v1/documents/{document.id}")
    assert download.status_code == 200
    assert download.content == document.pdf
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("inline")
    assert download.headers["x-content-type-options"] == "nosniff"

    altered = bytearray(document.pdf)
    altered[len(altered) // 2] ^= 0x01
    forged = hashlib.sha256(bytes(altered)).hexdigest()
    missing = await api.get(f"/api/v1/documents/verify/{forged}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert (await api.get("/api/v1/documents/verify/not-a-digest")).status_code == 404
    assert (await api.get("/api/v1/documents/999999")).json()["code"] == "not_found"

    async with api.app.state.sessions() as session:
        issued = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.stream == "listing:42", AuditEntry.action == "document.issued"
                )
            )
        ).scalar_one()
    assert issued.payload["sha256"] == document.sha256 and issued.payload["document_id"] == document.id


async def test_issuing_twice_returns_the_same_document(
    api: AsyncTestClient[Litestar], renderer: CountingRenderer
) -> None:
    first = await _issue(api, renderer, "confirmation", owner_id=7)
    calls = renderer.calls
    second = await _issue(api, renderer, "confirmation", owner_id=7)
    assert renderer.calls == calls  # not rendered again
    assert (second.id, second.sha256, second.pdf) == (first.id, first.sha256, first.pdf)

    async def concurrently() -> list[Document]:
        return list(await asyncio.gather(*(_issue(api, renderer, "bid_record") for _ in range(3))))

    racers = await concurrently()
    assert len({(d.id, d.sha256) for d in racers}) == 1
    async with api.app.state.sessions() as session:
        rows = await session.execute(select(Document.kind, func.count()).group_by(Document.kind))
        counts = {kind: count for kind, count in rows.all()}
        issued = (
            await session.execute(
                select(func.count()).where(
                    AuditEntry.action == "document.issued", AuditEntry.stream == "listing:42"
                )
            )
        ).scalar_one()
    assert counts == {"confirmation": 1, "bid_record": 1}
    assert issued == 2


async def test_confirmation_is_for_staff_and_the_winner(
    api: AsyncTestClient[Litestar], renderer: CountingRenderer, settings: Settings
) -> None:
    document = await _issue(api, renderer, "confirmation", owner_id=7)
    url = f"/api/v1/documents/{document.id}"
    anonymous = await api.get(url)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    other = await api.get(url, headers=await bearer(api, settings, 8, "bidder"))
    assert other.status_code == 403 and other.json()["code"] == "forbidden"
    for user_id, role in ((7, "bidder"), (1, "operator"), (2, "auditor"), (3, "admin")):
        response = await api.get(url, headers=await bearer(api, settings, user_id, role))
        assert response.status_code == 200, (role, response.text)
        assert response.content == document.pdf
        assert response.headers["cache-control"] == "private, no-store"
    # Verification confirms a non-public document exists, without its content.
    verified = await api.get(f"/api/v1/documents/verify/{document.sha256}")
    assert verified.status_code == 200
    assert verified.json()["public"] is False and "pdf" not in verified.json()


async def test_issued_documents_do_not_change(
    api: AsyncTestClient[Litestar], renderer: CountingRenderer
) -> None:
    document = await _issue(api, renderer, "bid_record", public=False)
    async with api.app.state.sessions() as session:
        with pytest.raises(DBAPIError, match="never changes"):
            await session.execute(
                update(Document).where(Document.id == document.id).values(pdf=b"%PDF-forged")
            )
        await session.rollback()
        await store.make_public(session, document.id)
        await session.commit()
    assert (await api.get(f"/api/v1/documents/{document.id}")).status_code == 200
