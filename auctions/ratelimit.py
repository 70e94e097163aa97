"""Per-bidder bid rate limit: Redis when configured (shared by every instance), memory otherwise.

A fixed one-second window is enough here: it stops scripts hammering the
bid endpoint; fairness between humans is the auction's rolling countdown.
"""

from __future__ import annotations

import time
from collections import defaultdict

from exchange.errors import RateLimited
from exchange.metrics import RATE_LIMITED
from exchange.redis_batch import CommandBatcher


class BidRateLimiter:
    def __init__(self, redis: CommandBatcher | None, prefix: str, per_second: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.per_second = per_second
        self._local: dict[tuple[int, int], int] = defaultdict(int)

    async def check(self, bidder_id: int) -> None:
        window = int(time.time())
        if self._redis is not None:
            key = f"{self._prefix}:ratelimit:bids:{bidder_id}:{window}"
            count = await self._redis.call("INCR", key)
            if count == 1:  # a key left without its expiry (a crash here) only wastes memory
                await self._redis.call("EXPIRE", key, 2)
        else:
            if len(self._local) > 10000:
                self._local = defaultdict(int, {k: v for k, v in self._local.items() if k[1] >= window})
            self._local[(bidder_id, window)] += 1
            count = self._local[(bidder_id, window)]
        if int(count) > self.per_second:
            RATE_LIMITED.labels(limit="bid").inc()
            raise RateLimited(
                f"at most {self.per_second} bids a second per bidder", headers={"Retry-After": "1"}
            )
