"""The audit chain verifies, and editing or deleting any entry is found at that entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from exchange.audit import chain
from exchange.db import unit_of_work
from tests.support.api import Client

STREAM = "listing-42"


async def _write_chain(client: Client, n: int = 6) -> list[str]:
    hashes = []
    async with unit_of_work(client.app.state.sessions) as session:
        for i in range(n):
            entry = await chain.append(
                session, STREAM, "user:1", "bid.accepted", {"amount": 100 * i, "名": "竞价"}
            )
            hashes.append(entry.hash)
    return hashes


async def _verify(client: Client) -> chain.ChainReport:
    async with client.app.state.sessions() as session:
        return await chain.verify_stream(session, STREAM)


async def _tamper(pg_url: str, sql: str) -> None:
    """As a database superuser would: bypassing the append-only trigger."""
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_chain_verifies_and_links(client: Client) -> None:
    hashes = await _write_chain(client)
    report = await _verify(client)
    assert report.ok and report.entries == 6 and report.head == hashes[-1]
    async with client.app.state.sessions() as session:
        assert await chain.head_of(session, STREAM) == hashes[-1]


async def test_the_database_refuses_changes(client: Client) -> None:
    await _write_chain(client, 2)
    async with client.app.state.sessions() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(chain.AuditEntry.__table__.update().values(actor="x"))
        await session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(chain.AuditEntry.__table__.delete())


@pytest.mark.parametrize(
    ("sql", "broken_at"),
    [
        ("UPDATE audit_log SET payload = '{\"amount\": 1}' WHERE stream = 'listing-42' AND seq = 3", 3),
        ("UPDATE audit_log SET actor = 'user:2' WHERE stream = 'listing-42' AND seq = 1", 1),
        ("UPDATE audit_log SET at = at + interval '1 second' WHERE stream = 'listing-42' AND seq = 5", 5),
        ("DELETE FROM audit_log WHERE stream = 'listing-42' AND seq = 4", 4),
        ("DELETE FROM audit_log WHERE stream = 'listing-42' AND seq = 6", 6),
        ("DELETE FROM audit_log WHERE stream = 'listing-42' AND seq = 1", 1),
    ],
)
async def test_tampering_is_detected_at_that_entry(client: Client, db: str, sql: str, broken_at: int) -> None:
    await _write_chain(client)
    await _tamper(db, sql)
    report = await _verify(client)
    assert not report.ok
    assert report.broken_at == broken_at


async def test_rehashed_forgery_is_caught_by_the_next_link(client: Client, db: str) -> None:
    """Editing an entry and recomputing its own hash still breaks the following entry."""
    await _write_chain(client)
    async with client.app.state.sessions() as session:
        entries = list(
            (
                await session.execute(
                    chain.select(chain.AuditEntry)
                    .where(chain.AuditEntry.stream == STREAM)
                    .order_by(chain.AuditEntry.seq)
                )
            ).scalars()
        )
    third = entries[2]
    forged = chain.chain_hash(
        third.prev_hash, chain.canonical(STREAM, 3, third.actor, third.action, {"amount": 1}, third.at)
    )
    await _tamper(db, f"UPDATE audit_log SET payload='{{\"amount\": 1}}', hash='{forged}' WHERE seq=3")
    report = await _verify(client)
    assert report.broken_at == 4


async def test_cli_names_the_broken_entry(client: Client, db: str, tmp_path: Path) -> None:
    await _write_chain(client)
    env = {"EXCHANGE_DATABASE_URL": db, "PATH": "/usr/bin:/bin"}
    exe = Path(sys.executable).with_name("exchange")
    ok = subprocess.run(
        [exe, "audit", "verify", STREAM], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    assert f"ok      {STREAM}: 6 entries" in ok.stdout
    await _tamper(db, "UPDATE audit_log SET action = 'bid.withdrawn' WHERE seq = 2")
    bad = subprocess.run([exe, "audit", "verify"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1
    assert f"BROKEN  {STREAM}: entry 2" in bad.stdout
