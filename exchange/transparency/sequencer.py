"""The sequencer: every ``tree_head_seconds`` it appends what is not yet logged and signs a head.

An outbox by query, as ``documents.issuing`` issues documents: the facts (a close, a document, a
day of registry movements) commit on their own paths, which this job never touches; it finds
them afterwards, so a crash in between only delays their leaves. What is not yet logged is asked
by ``sources``, which the app registers (the kernel reads no domain's tables): each returns the
leaves of one kind not yet in the log, in a deterministic order, and is asked inside the log's
lock (``exchange.transparency.log.lock``), so two instances never append one thing twice nor
fork the tree: the second waits, then finds nothing new.

A head is signed at each interval even when nothing is new (``exchange.transparency.log.head_due``):
a mirror sees the log alive, and the verifier fails a bundle that says a leaf is pending while a
head signed well after it was due is shown. A round with nothing new and no head due ends before
any hashing, found so in a read snapshot before the write transaction (on SQLite, before its
write lock); a busy round recomputes the last head's root from the leaves there too, so only the
new root is hashed under the lock. The time of a round is read after the lock is taken, so a round that waited for
another never signs a head older than the one it waited for.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.audit.chain import read_snapshot
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.scheduling import Timers
from exchange.signing import SigningKey
from exchange.transparency import log as store
from exchange.transparency.leaves import Leaf

logger = logging.getLogger("exchange.transparency")

Source = Callable[[AsyncSession, datetime], Awaitable[Sequence[Leaf]]]
"""``source(session, now)``: the leaves of one kind that are due and not yet logged, in order."""

JOB_ID = "transparency:sequence"


class Sequencer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        key: SigningKey,
        sources: Sequence[Source],
        interval_seconds: float = 60.0,
    ) -> None:
        self._sessions = sessions
        self._key = key
        self._sources = tuple(sources)
        self.interval_seconds = interval_seconds

    async def _prepare(self, now: datetime | None) -> tuple[bool, tuple[int, datetime] | None]:
        """In a read snapshot, outside SQLite's write lock: whether the round has anything to do
        (new leaves, or a head due; a quiet round, most of them, takes no write lock at all), and
        the last head's root recomputed from the stored leaves, the O(n) part of the check."""
        async with self._sessions() as session, read_snapshot(session) as snapshot:
            moment = now or utcnow()
            last = await store.latest_head(snapshot)
            if not store.head_due(moment, last, self.interval_seconds):
                for source in self._sources:
                    if await source(snapshot, moment):
                        break
                else:
                    return False, None
            if last is None:
                return True, None
            await store.check_signed(snapshot, last)
            return True, (last.tree_size, last.timestamp)

    async def run_once(self, now: datetime | None = None) -> store.Appended:
        """One round: lock, collect, append, sign; all in one transaction. ``now``: the round's
        time, for tests (by default the clock's, read once the lock is held)."""
        busy, checked = await self._prepare(now)
        if not busy:
            return store.Appended(0, None)
        async with unit_of_work(self._sessions) as session:
            await store.lock(session)
            moment = now or utcnow()
            last = await store.latest_head(session)
            leaves: list[Leaf] = []
            for source in self._sources:
                leaves.extend(await source(session, moment))
            if not leaves and not store.head_due(moment, last, self.interval_seconds):
                return store.Appended(0, None)
            appended = await store.append_and_sign(
                session, leaves, self._key, moment, self.interval_seconds, last, checked
            )
        if appended.head is not None:
            # a quiet log's head each interval is routine: at debug, not to fill the log
            logger.log(
                logging.INFO if appended.leaves else logging.DEBUG,
                "transparency log: %d leaves appended, tree head of %d leaves signed",
                appended.leaves,
                appended.head["tree_size"],
                extra={"tree_size": appended.head["tree_size"]},
            )
        return appended

    async def tick(self) -> None:
        """The timer's round: a failure is logged and the next round tries again."""
        try:
            await self.run_once()
        except store.LogRewritten:
            logger.critical(
                "transparency log: the stored leaves were rewritten; no head signed", exc_info=True
            )
        except Exception:
            logger.exception("transparency log: the round failed; the next one retries")

    def start(self, timers: Timers) -> None:
        timers.every(JOB_ID, self.interval_seconds, self.tick)
