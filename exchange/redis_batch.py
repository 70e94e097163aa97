"""Redis commands of concurrent requests, sent together: one pipeline per round trip.

Every bid makes two Redis calls: the rate-limit ``INCR`` before it and the live
event's ``XADD`` after its commit. Sent one by one through redis-py, they were
about a quarter of a bid's server CPU in the bid benchmark (a pool checkout, a
retry wrapper, a socket write and a wake-up per command). Here the first call
goes out at once; the calls that arrive while it is in flight wait for it and
then leave together in one pipeline (no ``MULTI``: each command stands alone,
in the order the calls were made). Nobody waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from redis.asyncio import Redis

TIMEOUT = 5.0
"""Seconds a pipeline may take before its callers are told it failed."""


class CommandBatcher:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.round_trips = 0
        """Pipelines sent so far (for tests and benchmarks)."""

    async def call(self, *command: Any) -> Any:
        """The reply to one command, or its error raised here."""
        return await self._enqueue(command)

    async def call_all(self, *commands: tuple[Any, ...]) -> list[Any]:
        """The replies to several commands, sent in this order in one pipeline (the first error raised)."""
        futures = [self._enqueue(command) for command in commands]
        replies = await asyncio.gather(*futures, return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return list(replies)

    def _enqueue(self, command: tuple[Any, ...]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
        if self._sender is None:
            # a fresh context: the sender serves every request, not the one that started it
            self._sender = asyncio.create_task(self._send(), context=contextvars.Context())
        return future

    async def _send(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send_batch(batch)
        finally:
            self._sender = None

    async def _send_batch(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        self.round_trips += 1
        try:
            # one sender for the process: a connection that never answers must not stall the rest
            async with asyncio.timeout(TIMEOUT), self.redis.pipeline(transaction=False) as pipe:
                for command, _ in batch:
                    pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # failed, timed out or cancelled: every caller of this batch hears it
            failure = exc if isinstance(exc, Exception) else ConnectionError("the Redis sender was stopped")
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
