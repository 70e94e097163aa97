"""Appending to and verifying the hash chains.

``hash = sha256(prev_hash + canonical(entry))`` where ``canonical`` is the
entry's fields as compact, key-sorted UTF-8 JSON. Anyone holding the entries
can recompute every hash with nothing but SHA-256 and JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.models import AuditEntry, AuditHead
from exchange.clock import isoformat, utcnow

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


@dataclass(frozen=True)
class ChainReport:
    stream: str
    entries: int
    head: str
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


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


async def verify_stream(session: AsyncSession, stream: str) -> ChainReport:
    entries = list(
        (
            await session.execute(
                select(AuditEntry).where(AuditEntry.stream == stream).order_by(AuditEntry.seq)
            )
        ).scalars()
    )
    head = await session.get(AuditHead, stream)
    return verify_entries(stream, entries, head)


async def streams(session: AsyncSession) -> list[str]:
    heads = select(AuditHead.stream)
    logged = select(AuditEntry.stream).distinct()
    names = set((await session.execute(heads)).scalars()) | set((await session.execute(logged)).scalars())
    return sorted(names)


async def head_of(session: AsyncSession, stream: str) -> str:
    head = await session.get(AuditHead, stream)
    return head.hash if head is not None else GENESIS
