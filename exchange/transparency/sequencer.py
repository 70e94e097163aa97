"""The sequencer: every ``tree_head_seconds`` it appends what is not yet logged and signs a head.

An outbox by query, as ``documents.issuing`` issues documents: the facts (a close, a document, a
day of registry movements) commit on their own paths, which this job never touches; it finds
them afterwards, so a crash in between only delays their leaves. What is not yet logged is asked
by ``sources``, which the app registers (the kernel reads no domain's tables): each returns the
leaves of one kind not yet in the log, in a deterministic order, and is asked inside the log's
lock (``exchange.transparency.log.lock``), so two instances never append one thing twice nor
fork the tree: the second waits, then finds nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
    ) -> None:
        self._sessions = sessions
        self._key = key
        self._sources = tuple(sources)

    async def run_once(self, now: datetime | None = None) -> store.Appended:
        """One round: lock, collect, append, sign; all in one transaction."""
        now = now or utcnow()
        async with unit_of_work(self._sessions) as session:
            await store.lock(session)
            leaves: list[Leaf] = []
            for source in self._sources:
                leaves.extend(await source(session, now))
            appended = await store.append_and_sign(session, leaves, self._key, now)
        if appended.head is not None:
            logger.info(
                "transparency log: %d leaves appended, tree head %d signed",
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

    def start(self, timers: Timers, seconds: float) -> None:
        timers.every(JOB_ID, seconds, self.tick)
