"""Failed logins slow down the next attempt, per client address and per login name.

What it replaces: five wrong passwords locked an account for 15 minutes, the
right password included, so anyone could lock any bidder out of a live auction,
and the lock answered 429 only for names that exist. Here nothing is locked:

- every failure makes the next attempt from the same address, and for the same
  name, wait a little longer: free for the first few, then 1 s, 2 s, 4 s, ...
  up to a cap. An attacker can keep a name waiting at most ``NAME.cap`` seconds
  per guess, which is also the most the name's owner ever waits; an address
  that sprays passwords over many names is slowed down by the address key,
  whose cap is long;
- the keys are the name as typed (folded to lower case) and the address, never
  the account, so unknown and known names are answered exactly alike;
- a successful login clears its name's failures (not its address's: one valid
  account must not launder an address that guesses at others).

Counters live in Redis when configured (every instance sees the same ones),
else in memory, and are forgotten ``Rule.window`` seconds after the last failure.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from exchange.errors import ExchangeError
from exchange.metrics import RATE_LIMITED
from exchange.redis_batch import CommandBatcher


@dataclass(frozen=True)
class Rule:
    free: int
    """Failures without any delay."""
    cap: float
    """The longest delay, in seconds."""
    window: int = 900
    """Seconds after the last failure at which the count is forgotten."""

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return float(min(self.cap, 2 ** (failures - self.free - 1)))


NAME = Rule(free=3, cap=30.0)
ADDRESS = Rule(free=10, cap=900.0)


@dataclass
class _Count:
    failures: int
    last: float


class LoginThrottle:
    def __init__(self, redis: CommandBatcher | None, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._local: dict[str, _Count] = {}

    def _keys(self, address: str, name: str) -> tuple[tuple[str, Rule], tuple[str, Rule]]:
        return (
            (f"{self._prefix}:login:address:{address}", ADDRESS),
            (f"{self._prefix}:login:name:{name.strip().lower()[:64]}", NAME),
        )

    async def check(self, address: str, name: str) -> None:
        """Raise 429 ``login_throttled`` with ``Retry-After`` while a key must still wait."""
        now = time.time()
        wait = 0.0
        for key, rule in self._keys(address, name):
            count = await self._read(key)
            if count is not None:
                wait = max(wait, count.last + rule.delay(count.failures) - now)
        if wait > 0:
            RATE_LIMITED.labels(limit="login").inc()
            raise ExchangeError(
                "too many failed logins from here or for this name; wait before trying again",
                code="login_throttled",
                status=429,
                headers={"Retry-After": str(math.ceil(wait))},
            )

    async def failed(self, address: str, name: str) -> None:
        now = time.time()
        for key, rule in self._keys(address, name):
            if self._redis is not None:
                await self._redis.call_all(
                    ("HINCRBY", key, "failures", 1),
                    ("HSET", key, "last", repr(now)),
                    ("EXPIRE", key, rule.window),
                )
            else:
                self._forget_old(now)
                count = self._local.get(key)
                failures = (count.failures if count and now - count.last < rule.window else 0) + 1
                self._local[key] = _Count(failures, now)

    async def succeeded(self, address: str, name: str) -> None:
        _, (key, _rule) = self._keys(address, name)
        if self._redis is not None:
            await self._redis.call("DEL", key)
        else:
            self._local.pop(key, None)

    async def _read(self, key: str) -> _Count | None:
        if self._redis is None:
            return self._local.get(key)
        failures, last = await self._redis.call("HMGET", key, "failures", "last")
        if failures is None or last is None:
            return None
        return _Count(int(failures), float(last))

    def _forget_old(self, now: float) -> None:
        if len(self._local) > 10_000:
            horizon = max(NAME.window, ADDRESS.window)
            self._local = {k: c for k, c in self._local.items() if now - c.last < horizon}
