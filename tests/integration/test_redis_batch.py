"""Concurrent Redis commands share round trips, and each caller gets its own reply or error."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from exchange.redis_batch import CommandBatcher
from tests.conftest import REDIS_URL


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_concurrent_commands_share_round_trips(redis: Redis) -> None:
    key = f"exchange-test-batch-{secrets.token_hex(4)}"
    batcher = CommandBatcher(redis)
    try:
        replies = await asyncio.gather(*(batcher.call("INCR", key) for _ in range(200)))
    finally:
        await redis.delete(key)
    assert sorted(replies) == list(range(1, 201))  # every INCR applied once, each reply its own
    assert 1 <= batcher.round_trips < 20


async def test_an_error_reaches_only_its_caller(redis: Redis) -> None:
    text, counter = (f"exchange-test-batch-{secrets.token_hex(4)}" for _ in range(2))
    batcher = CommandBatcher(redis)
    await redis.set(text, "not a number")
    try:
        results = await asyncio.gather(
            batcher.call("INCR", counter),
            batcher.call("INCR", text),
            batcher.call("INCR", counter),
            return_exceptions=True,
        )
        # commands of one call leave in order: the expiry applies to the stream just added
        await batcher.call_all(("XADD", counter + "s", "*", "data", "x"), ("PEXPIRE", counter + "s", 60_000))
        ttl = await redis.pttl(counter + "s")
    finally:
        await redis.delete(text, counter, counter + "s")
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], ResponseError)
    assert 0 < ttl <= 60_000


async def test_a_dead_server_fails_every_caller_and_the_next_batch_tries_again() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    batcher = CommandBatcher(dead)
    try:
        results = await asyncio.gather(*(batcher.call("PING") for _ in range(3)), return_exceptions=True)
        again = await asyncio.gather(batcher.call("PING"), return_exceptions=True)
    finally:
        await dead.aclose()
    assert all(isinstance(r, Exception) for r in [*results, *again])
    assert batcher.round_trips >= 2
