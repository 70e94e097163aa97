"""Appending to and verifying the hash chains.

``hash = sha256(prev_hash + canonical(entry))`` where ``canonical`` is the
entry's fields as compact, key-sorted UTF-8 JSON. Anyone holding the entries
can recompute every hash with nothing but SHA-256 and JSON.

A chain that holds together proves little against someone who can write to the
database: rewritten from some entry on and re-hashed, or cut short with its
head moved back, it holds together again. What they cannot move as easily is a
head recorded elsewhere (a document's, an auction's close), so verification
checks each of those against the chain too (``RecordedHead``); the domain
packages say where they are (``documents.results.recorded_heads``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from exchange.audit.models import AuditEntry, AuditHead
from exchange.clock import isoformat, utcnow
from exchange.db import READ_SNAPSHOT

GENESIS = "0" * 64
SYSTEM_STREAM = "system"


def canonical(
    stream: str, seq: int, actor: str, action: str, payload: Mapping[str, Any], at: datetime
) -> bytes:
    body = {
        "stream": stream,
        "seq": seq,
        "actor": actor,
        "action": action,
        "payload": payload,
        "at": isoformat(at),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_around_seq(
    stream: str, actor: str, action: str, payload: Mapping[str, Any], at: datetime
) -> tuple[str, str]:
    """``canonical`` split at the entry's ``seq``: ``before + str(seq) + after`` is its text.

    Lets the database number and hash an entry in the statement that appends it
    (the bid path), so the head row is locked for one statement, not a round trip.
    """
    marker = ',"seq":-1,"stream":'
    text = canonical(stream, -1, actor, action, payload, at).decode()
    # the top-level seq is the last one: only the stream name (a JSON string) follows it
    before, found, rest = text.rpartition(marker)
    assert found, "canonical() keys are no longer sorted as expected"
    return before + ',"seq":', ',"stream":' + rest


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


async def _lock_head(session: AsyncSession, stream: str) -> AuditHead:
    query = select(AuditHead).where(AuditHead.stream == stream).with_for_update()
    head = (await session.execute(query)).scalar_one_or_none()
    if head is not None:
        return head
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(AuditHead).values(stream=stream, seq=0, hash=GENESIS).on_conflict_do_nothing()
    )
    return (await session.execute(query)).scalar_one()


async def append(
    session: AsyncSession,
    stream: str,
    actor: str,
    action: str,
    payload: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction (it commits or rolls back with it)."""
    head = await _lock_head(session, stream)
    seq = head.seq + 1
    when = at or utcnow()
    data = dict(payload or {})
    digest = chain_hash(head.hash, canonical(stream, seq, actor, action, data, when))
    entry = AuditEntry(
        stream=stream,
        seq=seq,
        actor=actor,
        action=action,
        payload=data,
        at=when,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    await session.execute(update(AuditHead).where(AuditHead.stream == stream).values(seq=seq, hash=digest))
    await session.flush()
    return entry


async def append_each(
    session: AsyncSession, entries: Sequence[tuple[str, str, str, Mapping[str, Any]]], *, at: datetime
) -> list[AuditEntry]:
    """``append`` for many entries ``(stream, actor, action, payload)`` of distinct streams at once:
    their heads locked in one statement (in stream order), the entries inserted and the heads moved
    in one flush. Entries and hashes are those ``append`` would write one by one."""
    streams = [stream for stream, *_ in entries]
    if len(set(streams)) != len(streams):
        raise ValueError("append_each takes one entry per stream")
    if not entries:
        return []
    query = (
        select(AuditHead)
        .where(AuditHead.stream.in_(streams))
        .order_by(AuditHead.stream)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    heads = {head.stream: head for head in (await session.execute(query)).scalars()}
    if len(heads) < len(streams):
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        fresh = [{"stream": s, "seq": 0, "hash": GENESIS} for s in sorted(set(streams) - set(heads))]
        await session.execute(insert(AuditHead).values(fresh).on_conflict_do_nothing())
        heads = {head.stream: head for head in (await session.execute(query)).scalars()}
    appended = []
    for stream, actor, action, payload in entries:
        head = heads[stream]
        seq, data = head.seq + 1, dict(payload)
        digest = chain_hash(head.hash, canonical(stream, seq, actor, action, data, at))
        appended.append(
            AuditEntry(
                stream=stream,
                seq=seq,
                actor=actor,
                action=action,
                payload=data,
                at=at,
                prev_hash=head.hash,
                hash=digest,
            )
        )
        head.seq, head.hash = seq, digest
    session.add_all(appended)
    await session.flush()
    return appended


@dataclass(frozen=True)
class ChainReport:
    stream: str
    entries: int
    head: str
    broken_at: int | None = None
    """The first entry that does not hold; for a recorded head the chain no longer holds, the entry
    it should be the hash of where there is one (``None`` for a document: any entry would do)."""
    reason: str | None = None
    recorded_by: str | None = None
    """What recorded the head the chain disagrees with, e.g. ``document 17 (result_announcement:42)``;
    ``None`` when the chain itself does not hold."""
    recorded_head: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.reason is None


@dataclass(frozen=True)
class RecordedHead:
    """A hash of a stream's chain kept outside the chain, which the chain must still hold."""

    recorded_by: str
    """Names it in a report: ``document 17 (result_announcement:42)``."""
    hash: str
    at: datetime
    """When it was recorded: the earliest head that disagrees is the one reported."""
    of_action: Collection[str] = ()
    """Empty: the hash of any entry (or ``GENESIS``, recorded while the stream was empty). Else: the
    hash of the stream's last entry with one of these actions (``auction.closed``)."""


RecordedHeads = Callable[[AsyncSession, str], Awaitable[Sequence[RecordedHead]]]
"""Where a stream's recorded heads are: called inside the verification's snapshot."""


def verify_entries(stream: str, entries: list[AuditEntry], head: AuditHead | None) -> ChainReport:
    """Recompute a chain; name the first entry (by sequence number) that does not hold."""
    prev = GENESIS
    expected_seq = 1
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainReport(stream, len(entries), prev, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            return ChainReport(stream, len(entries), prev, entry.seq, "previous-hash link does not match")
        body = canonical(entry.stream, entry.seq, entry.actor, entry.action, entry.payload, entry.at)
        if chain_hash(prev, body) != entry.hash:
            return ChainReport(stream, len(entries), prev, entry.seq, "content does not match its hash")
        prev = entry.hash
        expected_seq += 1
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        if head.seq >= expected_seq:
            return ChainReport(stream, len(entries), prev, expected_seq, f"entry {expected_seq} is missing")
        return ChainReport(stream, len(entries), prev, head.seq, "chain head does not match the entries")
    return ChainReport(stream, len(entries), prev)


def cross_check(
    report: ChainReport, entries: list[AuditEntry], recorded: Sequence[RecordedHead]
) -> ChainReport:
    """The first recorded head (by when it was recorded) that a chain which holds together does not hold."""
    hashes = {GENESIS, *(entry.hash for entry in entries)}
    for head in sorted(recorded, key=lambda h: h.at):
        if not head.of_action:
            if head.hash not in hashes:
                return _disagrees(report, head, None, f"records head {head.hash}, which is not in the chain")
            continue
        closing = next((e for e in reversed(entries) if e.action in head.of_action), None)
        if closing is None:
            actions = " or ".join(sorted(head.of_action))
            return _disagrees(
                report, head, None, f"records head {head.hash}, but the chain has no {actions} entry"
            )
        if closing.hash != head.hash:
            return _disagrees(
                report,
                head,
                closing.seq,
                f"records head {head.hash}, which is not the hash of the {closing.action} entry "
                f"(entry {closing.seq})",
            )
    return report


def _disagrees(report: ChainReport, head: RecordedHead, broken_at: int | None, what: str) -> ChainReport:
    return ChainReport(
        report.stream,
        report.entries,
        report.head,
        broken_at,
        f"{head.recorded_by} {what}",
        head.recorded_by,
        head.hash,
    )


@asynccontextmanager
async def read_snapshot(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A session of its own on ``session``'s engine whose reads all see one committed state.

    Verifying reads the entries, the head and the recorded heads in several
    statements; under READ COMMITTED an append committing in between (every
    bid appends) makes an intact chain look cut short. PostgreSQL: one
    REPEATABLE READ READ ONLY transaction. SQLite: one deferred transaction,
    which in WAL mode reads one snapshot without taking the write lock, so
    bids go on meanwhile. Its own connection, so the caller's transaction
    (and what it has loaded) is left alone.
    """
    engine = session.bind
    if not isinstance(engine, AsyncEngine):
        raise TypeError("a read snapshot needs a session bound to an engine")
    options: dict[str, Any] = {READ_SNAPSHOT: True}
    if engine.dialect.name == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    async with AsyncSession(engine, expire_on_commit=False, autoflush=False) as snapshot:
        await snapshot.connection(execution_options=options)
        try:
            yield snapshot
        finally:
            await snapshot.rollback()


async def check_stream(
    snapshot: AsyncSession, stream: str, recorded: RecordedHeads | None = None
) -> ChainReport:
    """Verify one stream with what ``snapshot`` (``read_snapshot``) reads; ``recorded``: its recorded heads."""
    query = select(AuditEntry).where(AuditEntry.stream == stream).order_by(AuditEntry.seq)
    entries = list((await snapshot.execute(query)).scalars())
    head = await snapshot.get(AuditHead, stream)
    report = verify_entries(stream, entries, head)
    if not report.ok or recorded is None:
        return report
    return cross_check(report, entries, await recorded(snapshot, stream))


async def verify_stream(
    session: AsyncSession, stream: str, recorded: RecordedHeads | None = None
) -> ChainReport:
    """Verify one stream in a snapshot of its own. Without ``recorded`` only the chain itself is checked."""
    async with read_snapshot(session) as snapshot:
        return await check_stream(snapshot, stream, recorded)


async def streams(session: AsyncSession) -> list[str]:
    heads = select(AuditHead.stream)
    logged = select(AuditEntry.stream).distinct()
    names = set((await session.execute(heads)).scalars()) | set((await session.execute(logged)).scalars())
    return sorted(names)


async def head_of(session: AsyncSession, stream: str) -> str:
    head = await session.get(AuditHead, stream)
    return head.hash if head is not None else GENESIS
