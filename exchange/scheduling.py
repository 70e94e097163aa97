"""The in-process timer service (APScheduler 3.11 ``AsyncIOScheduler``).

Jobs only *wake up* the exchange; deadlines live in the database and every
job re-reads its row, so a missed, doubled or late job never changes an
outcome. Hence a generous misfire grace time and coalescing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("exchange.scheduling")

JobFunc = Callable[..., Awaitable[Any]]


class Timers:
    """Thin wrapper so the rest of the exchange does not depend on APScheduler's API."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1},
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def at(self, job_id: str, when: datetime, func: JobFunc, *args: Any) -> None:
        """Run ``func(*args)`` once at ``when``; re-arming the same id replaces the job."""
        self._scheduler.add_job(func, "date", run_date=when, args=args, id=job_id, replace_existing=True)

    def every(self, job_id: str, seconds: float, func: JobFunc, *args: Any) -> None:
        self._scheduler.add_job(
            func, "interval", seconds=seconds, args=args, id=job_id, replace_existing=True
        )

    def daily_shanghai(self, job_id: str, hour: int, minute: int, func: JobFunc, *args: Any) -> None:
        """Run ``func(*args)`` every day at ``hour:minute`` Asia/Shanghai time."""
        self._scheduler.add_job(
            func,
            "cron",
            hour=hour,
            minute=minute,
            timezone="Asia/Shanghai",
            args=args,
            id=job_id,
            replace_existing=True,
        )

    def cancel(self, job_id: str) -> None:
        job = self._scheduler.get_job(job_id)
        if job is not None:
            job.remove()

    def state(self) -> dict[str, Any]:
        return {"running": self.running, "jobs": len(self._scheduler.get_jobs()) if self.running else 0}
