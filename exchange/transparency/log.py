"""The transparency log's store: appending leaves, signing tree heads, reading proofs.

Appends are serialized: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by its one
writer (every writing transaction is ``BEGIN IMMEDIATE``, ``exchange.db``). Within the lock the
caller asks what is not yet logged, so two instances never append one thing twice; the unique
``(kind, subject)`` and the index as primary key hold even if a caller forgot the lock.

Before it signs a new head the sequencer recomputes the root of the last signed size from the
stored leaves: a leaf rewritten in the database stops the log (``LogRewritten``) instead of
signing a tree that forks from what mirrors hold.

A head is signed at every interval even when the tree has not grown (``head_due``), so a mirror
sees the log alive and a verifier can tell a leaf withheld from one not yet due; heads' times only
grow (``head_time``).

Proofs and roots are computed from the stored leaf hashes (O(n) hashes for a tree of n leaves,
``exchange.transparency.merkle``), never cached: a rewritten leaf shows in the next proof. The
hashing runs in a worker thread, off the event loop; the sequencer recomputes the last head's root
in a read snapshot (``check_signed``), so on SQLite a round holds the write lock only while it
hashes the new root. That is the known limit: at about a million leaves a round takes a second or so,
and the store would then keep its complete subtrees' roots (``merkle.*_with``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.db import is_postgres
from exchange.signing import SignedTreeHead, SigningKey, TreeHead, format_timestamp, sign_tree_head
from exchange.transparency import merkle
from exchange.transparency.leaves import Kind, Leaf
from exchange.transparency.models import Covered, LogEntry, SignedHead

_LOCK_KEY = 0x7472616E73706172  # "transpar": the advisory lock of the log's appends


class LogRewritten(RuntimeError):
    """The stored leaves no longer give the root of a head the log signed."""


async def lock(session: AsyncSession) -> None:
    """Hold the log's append lock until the transaction ends."""
    if is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


async def size(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(LogEntry))).scalar_one())


async def leaf_hashes(session: AsyncSession, tree_size: int | None = None) -> list[bytes]:
    """The hashes of the first ``tree_size`` leaves (all of them by default), in order."""
    query = select(LogEntry.leaf_hash).order_by(LogEntry.leaf_index)
    if tree_size is not None:
        query = query.limit(tree_size)
    return [bytes.fromhex(h) for h in (await session.execute(query)).scalars()]


async def logged(session: AsyncSession, kind: Kind, subjects: Sequence[str]) -> dict[str, LogEntry]:
    """The leaves of ``kind`` about ``subjects`` that are logged, by subject."""
    if not subjects:
        return {}
    query = select(LogEntry).where(LogEntry.kind == kind, LogEntry.subject.in_(list(subjects)))
    return {entry.subject: entry for entry in (await session.execute(query)).scalars()}


def head_json(row: SignedHead) -> SignedTreeHead:
    """A stored head as published (``exchange.signing.sign_tree_head``'s form)."""
    return {
        "tree_size": row.tree_size,
        "timestamp": format_timestamp(row.timestamp),
        "root_hash": row.root_hash,
        "signature": row.signature,  # type: ignore[typeddict-item]
    }


async def latest_head(session: AsyncSession) -> SignedHead | None:
    """The newest head: timestamps only grow and sizes never shrink, so it is the last by the
    primary key ``(tree_size, timestamp)``, which its index answers without a scan."""
    query = select(SignedHead).order_by(SignedHead.tree_size.desc(), SignedHead.timestamp.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def head_at(session: AsyncSession, tree_size: int) -> SignedHead | None:
    """The newest head the log signed at ``tree_size`` (one is signed every interval)."""
    query = (
        select(SignedHead)
        .where(SignedHead.tree_size == tree_size)
        .order_by(SignedHead.timestamp.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


@dataclass(frozen=True)
class Appended:
    """What one round appended, and the head it signed (``None``: nothing new and no head due)."""

    leaves: int
    head: SignedTreeHead | None


_MILLISECOND = timedelta(milliseconds=1)


def head_time(now: datetime, last: SignedHead | None) -> datetime:
    """The next head's instant: ``now`` to the millisecond, and after the last head's, so a head's
    time never goes backwards whichever instance signs it and whatever its clock says."""
    moment = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if last is not None and moment <= last.timestamp:
        moment = last.timestamp + _MILLISECOND
    return moment


def head_due(now: datetime, last: SignedHead | None, interval_seconds: float) -> bool:
    """Whether a head is due without new leaves: half an interval after the last, so one
    instance's timer signs one at each interval and two instances at most two."""
    return last is not None and now - last.timestamp >= timedelta(seconds=interval_seconds / 2)


async def check_signed(session: AsyncSession, head: SignedHead) -> None:
    """That the stored leaves still give ``head``'s root (``LogRewritten`` if not), hashed off the
    event loop. The sequencer asks it in a read snapshot, outside SQLite's write lock."""
    hashes = await leaf_hashes(session, head.tree_size)
    await asyncio.to_thread(_check_signed, hashes, head.tree_size, head.root_hash)


def _check_signed(hashes: Sequence[bytes], tree_size: int, root_hash: str) -> None:
    if tree_size > len(hashes):
        raise LogRewritten(f"the log signed {tree_size} leaves and holds {len(hashes)}")
    if merkle.root(hashes[:tree_size]).hex() != root_hash:
        raise LogRewritten(f"the stored leaves no longer give the root the log signed at {tree_size}")


async def append_and_sign(
    session: AsyncSession,
    leaves: Sequence[Leaf],
    key: SigningKey,
    now: datetime,
    interval_seconds: float = 60.0,
    last: SignedHead | None = None,
    checked: tuple[int, datetime] | None = None,
) -> Appended:
    """Append ``leaves`` after the stored ones and sign the head of the new tree.

    The caller holds ``lock``, has chosen ``leaves`` inside it and passes the latest head it read
    there (``last``); ``checked``: the ``(tree_size, timestamp)`` of a head whose root the caller
    has already recomputed from the leaves (``check_signed``), not done again. A head is signed when the tree grew, when it has leaves and no head yet, or
    when the interval's head is due (``head_due``); never for the empty tree. The O(n) hashing
    (the last head's root recomputed, the new root) runs in a worker thread, off the event loop.
    """
    hashes = await leaf_hashes(session)
    if last is not None and checked != (last.tree_size, last.timestamp):
        await asyncio.to_thread(_check_signed, hashes, last.tree_size, last.root_hash)
    start = len(hashes)
    for leaf in leaves:
        encoded = leaf.encoded()
        digest = merkle.leaf_hash(encoded)
        session.add(
            LogEntry(
                leaf_index=len(hashes),
                kind=leaf.kind,
                subject=leaf.subject,
                data=encoded.decode("utf-8"),
                leaf_hash=digest.hex(),
                logged_at=now,
            )
        )
        session.add_all(
            Covered(kind="registry_entry", item=item, leaf_index=len(hashes)) for item in leaf.covers
        )
        hashes.append(digest)
    grew = len(hashes) > start or (last is None and bool(hashes))
    if not hashes or not (grew or head_due(now, last, interval_seconds)):
        await session.flush()
        return Appended(len(leaves), None)
    moment = head_time(now, last)
    head = TreeHead(len(hashes), moment, await asyncio.to_thread(merkle.root, hashes))
    signed = sign_tree_head(key, head)
    session.add(
        SignedHead(
            tree_size=head.tree_size,
            root_hash=head.root_hash.hex(),
            timestamp=head.timestamp,
            interval_seconds=interval_seconds,
            signature=dict(signed["signature"]),
        )
    )
    await session.flush()
    return Appended(len(leaves), signed)


@dataclass(frozen=True)
class Inclusion:
    """A leaf with its path to the root of the tree of ``tree_size`` leaves."""

    entry: LogEntry
    tree_size: int
    proof: list[bytes]

    def json(self) -> dict[str, Any]:
        return {
            "index": self.entry.leaf_index,
            "kind": self.entry.kind,
            "subject": self.entry.subject,
            "data": json.loads(self.entry.data),
            "leaf_hash": self.entry.leaf_hash,
            "logged_at": format_timestamp(self.entry.logged_at),
            "tree_size": self.tree_size,
            "inclusion_proof": [p.hex() for p in self.proof],
        }


async def inclusions(session: AsyncSession, entries: Sequence[LogEntry], tree_size: int) -> list[Inclusion]:
    """The inclusion proofs of ``entries`` in the tree of ``tree_size`` (each below it)."""
    hashes = await leaf_hashes(session, tree_size)
    if len(hashes) < tree_size:
        raise merkle.MerkleError("index_out_of_range", f"the log holds {len(hashes)} leaves, not {tree_size}")

    def proofs() -> list[Inclusion]:
        return [Inclusion(e, tree_size, merkle.inclusion_proof(e.leaf_index, hashes)) for e in entries]

    return await asyncio.to_thread(proofs)


async def consistency(session: AsyncSession, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) from the stored leaves; ``MerkleError`` for sizes it has no proof of."""
    hashes = await leaf_hashes(session, second)
    if len(hashes) < second:
        raise merkle.MerkleError("size_out_of_range", f"the log holds {len(hashes)} leaves, not {second}")
    return await asyncio.to_thread(merkle.consistency_proof, first, hashes)
