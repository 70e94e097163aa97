"""Work that may run only once a session's transaction has committed: broadcasting what it wrote.

A hook that runs inside somebody else's transaction (a listing's suspension
records the auction's ``suspended`` event in the operator's transaction) cannot
broadcast there: the commit may still fail, and a watcher told of an event the
database does not hold would resume from a ``seq`` that never existed. So it
hands a coroutine to ``after_commit``, which starts it as a task right after
the commit, and drops it on a rollback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, None]]

_KEY = "exchange.after_commit"
_running: set[asyncio.Task[None]] = set()
"""Strong references: the loop keeps only weak ones to the tasks it runs."""


def after_commit(session: AsyncSession, work: Work) -> None:
    """Start ``work()`` once the session's transaction commits; never if it rolls back."""
    session.sync_session.info.setdefault(_KEY, []).append(work)


# Both events also fire when a savepoint (``begin_nested``) is released or rolled back; the work
# belongs to the outermost transaction, so those are not its end.


@event.listens_for(Session, "after_commit")
def _start(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for work in session.info.pop(_KEY, ()):
        task = asyncio.get_running_loop().create_task(work())
        _running.add(task)
        task.add_done_callback(_finished)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_KEY, None)


def _finished(task: asyncio.Task[None]) -> None:
    _running.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("work after a commit failed", exc_info=error)
