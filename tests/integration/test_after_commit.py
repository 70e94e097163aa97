"""Work handed to ``after_commit`` starts after a commit, and never after a rollback."""

from __future__ import annotations

import asyncio

from litestar import Litestar
from sqlalchemy import text

from exchange.after_commit import after_commit


async def test_work_starts_after_the_commit_and_is_dropped_on_a_rollback(app: Litestar) -> None:
    ran: list[str] = []
    seen_by_work: list[int] = []
    done = asyncio.Event()

    async def count_committed() -> None:
        async with app.state.sessions() as other:  # a separate transaction sees only committed rows
            seen_by_work.append(
                (await other.execute(text("SELECT count(*) FROM after_commit_probe"))).scalar_one()
            )
        ran.append("committed")
        done.set()

    async def never() -> None:
        ran.append("rolled back")

    async with app.state.sessions() as session:
        await session.execute(text("CREATE TABLE after_commit_probe (n int)"))
        await session.commit()
        await session.execute(text("INSERT INTO after_commit_probe VALUES (1)"))
        after_commit(session, never)
        await session.rollback()
        await session.execute(text("INSERT INTO after_commit_probe VALUES (2)"))
        after_commit(session, count_committed)
        assert ran == []  # not before the commit
        await session.commit()
        await asyncio.wait_for(done.wait(), 5)
        await session.execute(text("DROP TABLE after_commit_probe"))
        await session.commit()
    await asyncio.sleep(0.05)  # a dropped piece of work would have started by now
    assert ran == ["committed"] and seen_by_work == [1]


async def test_a_savepoint_is_not_the_end_of_the_transaction(app: Litestar) -> None:
    """Released or rolled back, a savepoint neither starts the work nor drops it; the outer commit starts it."""
    ran: list[str] = []
    done = asyncio.Event()

    async def work() -> None:
        ran.append("after the commit")
        done.set()

    async with app.state.sessions() as session:
        after_commit(session, work)
        async with session.begin_nested():
            await session.execute(text("SELECT 1"))
        await asyncio.sleep(0.05)
        nested = await session.begin_nested()
        await nested.rollback()
        await asyncio.sleep(0.05)
        assert ran == []
        await session.commit()
        await asyncio.wait_for(done.wait(), 5)
    assert ran == ["after the commit"]
