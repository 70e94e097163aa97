"""``audit verify`` against someone with database access, and while bids go on.

A chain rewritten and re-hashed from some entry on, or cut short with its head
moved back, holds together again; what gives it away are the heads recorded
outside it: every document's ``audit_head`` and the auction's ``close_head``.
And a verification must read one snapshot: an intact chain that grows while it
is read is not "missing" anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import await_only

from auctions.models import Auction
from documents.models import Document
from documents.results import recorded_heads
from exchange.app import create_app
from exchange.audit import chain
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.db import create_engine, session_factory, unit_of_work
from exchange.migrate import upgrade
from exchange.settings import DatabaseSettings, Settings
from tests.support.api import Client, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import wait_status
from tests.support.server import EXCHANGE, base_env

DOCUMENT_KINDS = {
    "listing_announcement",
    "result_announcement",
    "bid_record",
    "confirmation",
    "refund_notice",
}


@pytest.fixture
async def pclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(replace(settings, issue_documents=True))) as client:
        yield client


async def closed_listing(client: Client) -> int:
    """A sold english auction whose documents have all been issued, so nothing appends to its stream any more."""
    listing, (alice, bob) = await live_auction(client, 2, closes_in=2)
    lid = int(listing["id"])
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1200000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while True:
        async with client.app.state.sessions() as session:
            query = select(Document.kind).where(Document.listing_id == lid)
            kinds = list((await session.execute(query)).scalars())
        if sorted(kinds) == sorted(DOCUMENT_KINDS):
            return lid
        assert loop.time() < deadline, f"documents never all issued, have {kinds}"
        await asyncio.sleep(0.5)


async def entries_of(sessions: async_sessionmaker[AsyncSession], stream: str) -> list[AuditEntry]:
    async with sessions() as session:
        query = select(AuditEntry).where(AuditEntry.stream == stream).order_by(AuditEntry.seq)
        return list((await session.execute(query)).scalars())


async def documents_of(sessions: async_sessionmaker[AsyncSession], listing_id: int) -> list[Document]:
    async with sessions() as session:
        query = select(Document).where(Document.listing_id == listing_id).order_by(Document.created_at)
        return list((await session.execute(query)).scalars())


async def verify(client: Client, stream: str, *, cross_check: bool = True) -> chain.ChainReport:
    async with client.app.state.sessions() as session:
        return await chain.verify_stream(session, stream, recorded_heads if cross_check else None)


async def as_superuser(db: str) -> asyncpg.Connection:
    """Someone with database access: the append-only triggers do not fire for them."""
    conn = await asyncpg.connect(db.replace("postgresql+asyncpg", "postgresql"))
    await conn.execute("SET session_replication_role = replica")
    return conn


async def rewrite(
    db: str, stream: str, start: int, forge: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Change entry ``start`` with ``forge``, re-hash it and every entry after it, move the head."""
    conn = await as_superuser(db)
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT seq, actor, action, payload, at, hash FROM audit_log WHERE stream = $1 ORDER BY seq",
                stream,
            )
            prev = next((r["hash"] for r in rows if r["seq"] == start - 1), chain.GENESIS)
            for row in rows:
                if row["seq"] < start:
                    continue
                payload = json.loads(row["payload"])
                if row["seq"] == start:
                    payload = forge(payload)
                body = chain.canonical(stream, row["seq"], row["actor"], row["action"], payload, row["at"])
                digest = chain.chain_hash(prev, body)
                await conn.execute(
                    "UPDATE audit_log SET payload = $1::jsonb, prev_hash = $2, hash = $3 "
                    "WHERE stream = $4 AND seq = $5",
                    json.dumps(payload),
                    prev,
                    digest,
                    stream,
                    row["seq"],
                )
                prev = digest
            await conn.execute("UPDATE audit_head SET hash = $1 WHERE stream = $2", prev, stream)
    finally:
        await conn.close()


async def truncate(db: str, stream: str, keep: int) -> None:
    """Delete every entry after ``keep`` and move the head back to it."""
    conn = await as_superuser(db)
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM audit_log WHERE stream = $1 AND seq > $2", stream, keep)
            await conn.execute(
                "UPDATE audit_head SET seq = $2, "
                "hash = (SELECT hash FROM audit_log WHERE stream = $1 AND seq = $2) WHERE stream = $1",
                stream,
                keep,
            )
    finally:
        await conn.close()


def closing_entry(entries: list[AuditEntry]) -> AuditEntry:
    (closing,) = [e for e in entries if e.action == "auction.closed"]
    return closing


async def verify_only(client: Client, stream: str, *, closes: bool) -> chain.ChainReport:
    """Cross-checked against the auction's close head only, or against the documents' heads only."""

    async def heads(session: AsyncSession, stream: str) -> list[chain.RecordedHead]:
        return [h for h in await recorded_heads(session, stream) if bool(h.of_action) == closes]

    async with client.app.state.sessions() as session:
        return await chain.verify_stream(session, stream, heads)


def first_invalidated(
    entries: list[AuditEntry], start: int, documents: list[Document], auction: Auction
) -> str:
    """What recorded the earliest head that re-hashing from entry ``start`` on changes (the one reported)."""
    seq_of = {e.hash: e.seq for e in entries}
    changed = [
        (d.created_at, f"document {d.id} ({d.key})")
        for d in documents
        if seq_of.get(d.audit_head, 0) >= start
    ]
    if closing_entry(entries).seq >= start and auction.closed_at is not None:
        changed.append((auction.closed_at, f"the close of auction {auction.listing_id}"))
    return min(changed)[1]


async def test_an_intact_chain_with_documents_and_a_close_verifies(
    pclient: Client, db: str, tmp_path: Path
) -> None:
    lid = await closed_listing(pclient)
    stream = f"listing:{lid}"
    sessions = pclient.app.state.sessions
    entries = await entries_of(sessions, stream)
    async with sessions() as session:
        auction = await session.get(Auction, lid)
        assert auction is not None
    # the close recorded the hash of the entry it appended, outside the chain
    assert auction.close_head == closing_entry(entries).hash
    assert (await pclient.get(f"/api/v1/results/{lid}")).json()["audit_head"] == auction.close_head
    async with sessions() as session:
        assert len(await recorded_heads(session, stream)) == len(DOCUMENT_KINDS) + 1

    report = await verify(pclient, stream)
    assert report.ok, report
    assert (report.entries, report.head) == (len(entries), entries[-1].hash)

    auditor = await staff(pclient, "auditor")
    answer = (await pclient.get(f"/api/v1/audit/{stream}/verify", headers=auditor)).json()
    assert answer["ok"] is True and answer["recorded_by"] is None and answer["entries"] == len(entries)

    done = subprocess.run(
        [EXCHANGE, "audit", "verify"],
        env=base_env(EXCHANGE_DATABASE_URL=db),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ok      {stream}: {len(entries)} entries, head {entries[-1].hash}" in done.stdout


async def test_a_chain_rewritten_from_some_entry_on_is_caught_by_the_heads_recorded_elsewhere(
    pclient: Client, db: str
) -> None:
    lid = await closed_listing(pclient)
    stream = f"listing:{lid}"
    sessions = pclient.app.state.sessions
    entries = await entries_of(sessions, stream)
    closing = closing_entry(entries)
    documents = await documents_of(sessions, lid)
    async with sessions() as session:
        auction = await session.get(Auction, lid)
        assert auction is not None
    assert (await pclient.get(f"/api/v1/results/{lid}")).json()["audit_head"] == closing.hash

    # the winning bid made lower, and everything from it on re-hashed
    winning = [e for e in entries if e.action == "bid.accepted"][-1]
    await rewrite(db, stream, winning.seq, lambda payload: {**payload, "amount": 110000000})
    forged = await entries_of(sessions, stream)
    assert forged[winning.seq - 1].payload["amount"] == 110000000
    assert (await verify(pclient, stream, cross_check=False)).ok  # the chain alone holds together

    report = await verify(pclient, stream)
    assert not report.ok
    assert report.recorded_by == first_invalidated(entries, winning.seq, documents, auction)
    auditor = await staff(pclient, "auditor")
    answer = (await pclient.get(f"/api/v1/audit/{stream}/verify", headers=auditor)).json()
    assert answer["ok"] is False and answer["reason"] == report.reason
    assert (answer["recorded_by"], answer["recorded_head"]) == (report.recorded_by, report.recorded_head)
    close = await verify_only(pclient, stream, closes=True)
    assert not close.ok and close.broken_at == closing.seq and close.recorded_head == closing.hash
    assert close.reason == (
        f"the close of auction {lid} records head {closing.hash}, which is not the hash of the "
        f"auction.closed entry (entry {closing.seq})"
    )
    # what was published stays what the close recorded, not what the chain says now
    assert (await pclient.get(f"/api/v1/results/{lid}")).json()["audit_head"] == closing.hash
    exported = (await pclient.get("/api/v1/results/export.json")).json()["results"]
    assert [r["audit_head"] for r in exported] == [closing.hash]

    # rewritten from entry 6 on
    await rewrite(db, stream, 6, lambda payload: {**payload, "amount": 1})
    assert (await verify(pclient, stream, cross_check=False)).ok
    report = await verify(pclient, stream)
    assert not report.ok
    assert report.recorded_by == first_invalidated(entries, 6, documents, auction)
    seq_of = {e.hash: e.seq for e in entries}
    first = next(d for d in documents if seq_of[d.audit_head] >= 6)
    by_documents = await verify_only(pclient, stream, closes=False)
    assert not by_documents.ok and by_documents.broken_at is None
    assert by_documents.reason == (
        f"document {first.id} ({first.key}) records head {first.audit_head}, which is not in the chain"
    )


async def test_a_chain_cut_short_is_caught(pclient: Client, db: str) -> None:
    lid = await closed_listing(pclient)
    stream = f"listing:{lid}"
    sessions = pclient.app.state.sessions
    entries = await entries_of(sessions, stream)
    closing = closing_entry(entries)
    documents = await documents_of(sessions, lid)

    # back to the close: settlement and the documents after it are gone
    await truncate(db, stream, closing.seq)
    assert (await verify(pclient, stream, cross_check=False)).ok
    kept = {e.hash for e in entries[: closing.seq]}
    first = next(d for d in documents if d.audit_head not in kept)
    report = await verify(pclient, stream)
    assert not report.ok and report.entries == closing.seq
    assert report.recorded_by == f"document {first.id} ({first.key})"
    assert (
        report.reason
        == f"document {first.id} ({first.key}) records head {first.audit_head}, which is not in the chain"
    )

    # and back to before the close
    await truncate(db, stream, closing.seq - 1)
    assert (await verify(pclient, stream, cross_check=False)).ok
    report = await verify(pclient, stream)
    assert report.recorded_by == f"the close of auction {lid}"
    assert report.reason == (
        f"the close of auction {lid} records head {closing.hash}, "
        "but the chain has no auction.closed or auction.failed entry"
    )


async def _chain_with_a_document(
    sessions: async_sessionmaker[AsyncSession], stream: str, listing_id: int
) -> None:
    """Five entries, and a document (no PDF needed: only its recorded head is read) recording the third."""
    async with unit_of_work(sessions) as session:
        hashes = [(await chain.append(session, stream, "test", "test.note", {"n": n})).hash for n in range(5)]
        pdf = f"%PDF-1.7 {stream}".encode()
        session.add(
            Document(
                listing_id=listing_id,
                kind="result_announcement",
                key=f"result_announcement:{listing_id}",
                sha256=hashlib.sha256(pdf).hexdigest(),
                size=len(pdf),
                pdf=pdf,
                title="成交公示",
                meta={},
                public=True,
                owner_id=None,
                audit_head=hashes[2],
                created_at=utcnow(),
            )
        )


async def test_the_cli_says_which_recorded_head_the_chain_no_longer_holds(
    client: Client, db: str, tmp_path: Path
) -> None:
    sessions = client.app.state.sessions
    await _chain_with_a_document(sessions, "listing:7", 7)
    (document,) = await documents_of(sessions, 7)
    env = base_env(EXCHANGE_DATABASE_URL=db)
    done = subprocess.run(
        [EXCHANGE, "audit", "verify"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    await rewrite(db, "listing:7", 2, lambda payload: {"n": 99})
    done = subprocess.run(
        [EXCHANGE, "audit", "verify"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"BROKEN  listing:7: document {document.id} (result_announcement:7) records head "
        f"{document.audit_head}, which is not in the chain\n"
    ) in done.stdout


# --- one snapshot ----------------------------------------------------------------------------------


async def test_verifying_while_other_connections_append_never_cries_wolf(client: Client) -> None:
    """The outside probe: verifications of an intact chain racing commits to it, on PostgreSQL."""
    stream = "listing:1"
    sessions = client.app.state.sessions
    await _chain_with_a_document(sessions, stream, 1)
    stop = asyncio.Event()
    appended = 0

    async def writer(n: int) -> None:
        nonlocal appended
        while not stop.is_set():
            async with unit_of_work(sessions) as session:
                await chain.append(session, stream, f"writer:{n}", "bid.accepted", {"amount": appended})
            appended += 1
            await asyncio.sleep(0)

    async def verifier() -> list[chain.ChainReport]:
        reports = []
        try:
            for _ in range(100):
                async with sessions() as session:
                    reports.append(await chain.verify_stream(session, stream, recorded_heads))
        finally:
            stop.set()
        return reports

    writers = [asyncio.create_task(writer(n)) for n in range(3)]
    reports = await verifier()
    await asyncio.gather(*writers)
    false_alarms = [r for r in reports if not r.ok]
    assert not false_alarms, f"{len(false_alarms)} of {len(reports)}: {false_alarms[0]}"
    assert appended > 100  # the chain did grow while it was verified
    assert len({r.entries for r in reports}) > 30  # and was read at many lengths


def _append_between_statements(
    verifier: AsyncEngine, writer: async_sessionmaker[AsyncSession], stream: str
) -> None:
    """Deterministically, the race the probe hit: an append commits right after the entries are read."""
    done = False

    async def append() -> None:
        async with unit_of_work(writer) as session:
            await chain.append(session, stream, "writer", "bid.accepted", {"amount": 1})

    @event.listens_for(verifier.sync_engine, "after_cursor_execute")
    def between(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal done
        if not done and "FROM audit_log" in statement:
            done = True
            await_only(append())


async def test_an_append_committed_midway_is_not_seen_by_the_verification(db: str) -> None:
    verifier = create_engine(DatabaseSettings(url=db, null_pool=True))
    writer = create_engine(DatabaseSettings(url=db, null_pool=True))
    try:
        await _check_one_snapshot(verifier, session_factory(writer))
    finally:
        await verifier.dispose()
        await writer.dispose()


async def test_an_append_committed_midway_is_not_seen_on_sqlite_either(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    await asyncio.to_thread(upgrade, url)
    verifier = create_engine(DatabaseSettings(url=url))
    writer = create_engine(DatabaseSettings(url=url))
    try:
        await _check_one_snapshot(verifier, session_factory(writer))
    finally:
        await verifier.dispose()
        await writer.dispose()


async def _check_one_snapshot(verifier: AsyncEngine, writer: async_sessionmaker[AsyncSession]) -> None:
    stream = "listing:3"
    await _chain_with_a_document(writer, stream, 3)
    _append_between_statements(verifier, writer, stream)
    sessions = session_factory(verifier)
    async with sessions() as session:
        report = await chain.verify_stream(session, stream, recorded_heads)
    assert report.ok, report
    assert report.entries == 5  # as of the snapshot: the sixth committed after it began
    async with sessions() as session:
        report = await chain.verify_stream(session, stream, recorded_heads)
    assert report.ok and report.entries == 6
