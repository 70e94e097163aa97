"""The load generator of bench/bids.py: bidders bidding on lots over ``HttpPool``, in one process.

A ``WorkSpec`` (picklable: ``--workers`` runs one per process) says which lots,
bidders and clients; ``run_worker`` bids for its seconds, closed loop (every
client as fast as it can) or open loop (a fixed rate), and returns a
``WorkResult``; ``merge`` adds the processes' results up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bench import BenchError
from bench.http_client import GRACE, HttpError, HttpPool


def fen(text: str) -> int:
    """``"1000.50"`` -> 100050: by hand, since it runs for every price a rejection gives."""
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


class _Problem(msgspec.Struct):
    code: str | None = None
    next_min_bid: str | None = None


class _View(msgspec.Struct):
    status: str | None = None
    next_min_bid: str | None = None


_PROBLEM = msgspec.json.Decoder(_Problem)
_VIEW = msgspec.json.Decoder(_View)


def problem_of(status: int, body: bytes) -> tuple[str, str | None]:
    """The ``code`` of a problem response (or ``http_<status>``) and the ``next_min_bid`` it gives."""
    try:
        problem = _PROBLEM.decode(body)
    except msgspec.DecodeError:  # also msgspec.ValidationError: not an object, code not a string
        return f"http_{status}", None
    return problem.code or f"http_{status}", problem.next_min_bid


@dataclass
class LotSpec:
    listing_id: int
    increment: int
    next_min: int
    bidders: list[int]


@dataclass
class WorkSpec:
    base_url: str
    tokens: list[str]
    lots: list[LotSpec]
    seconds: float
    clients: int
    strategy: str
    rate: float | None = None
    """Open loop at this many bids/s; None: closed loop, every client as fast as it can."""
    max_in_flight: int = 256
    """Open loop: bids in flight at most (and connections in its pool)."""
    warm: int = 1
    """Open loop: connections opened before the clock starts (more open on demand)."""
    worker: int = 0


@dataclass
class WorkResult:
    elapsed: float = 0.0
    sent: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    refreshes: int = 0
    skipped: int = 0
    """Sends due (open loop) or attempted (closed loop) with no bidder free to bid on the lot."""
    capped: int = 0
    """Open loop: sends due while --paced-in-flight bids were already in flight (not sent)."""
    late: int = 0
    ack_ms: list[float] = field(default_factory=list)
    """Send -> 201 of every accepted bid."""
    all_ms: list[float] = field(default_factory=list)
    """Send -> response of every bid, accepted or not."""
    client_cpu: float = 0.0
    connects: int = 0
    resent: int = 0
    error_sample: str = ""


LATE = 0.005
"""Open loop: a send more than this many seconds behind its schedule counts as late."""


class LiveLot:
    """A lot as one worker process sees it: the price it knows and the bidders it may use."""

    def __init__(self, spec: LotSpec, host: str, tokens: list[str]) -> None:
        self.id = spec.listing_id
        self.path = f"/api/v1/auctions/{spec.listing_id}/bids"
        self.view = f"/api/v1/auctions/{spec.listing_id}"
        self.view_request = f"GET {self.view} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        self.host = host
        self.tokens = tokens
        self.heads: dict[int, bytes] = {}
        """Per bidder: the bid request up to the Idempotency-Key's value."""
        self.increment = spec.increment
        self.next_min = spec.next_min
        self.issued = spec.next_min - spec.increment
        self.free: deque[int] = deque(spec.bidders)
        self.recent: deque[int] = deque(maxlen=2)
        self.leader: int | None = None
        self.alive = True
        self.refreshing: asyncio.Future[None] | None = None

    def head(self, bidder: int) -> bytes:
        head = self.heads.get(bidder)
        if head is None:
            head = self.heads[bidder] = (
                f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.tokens[bidder]}\r\n"
                "Content-Type: application/json\r\nIdempotency-Key: "
            ).encode()
        return head

    def claim(self, ladder: bool) -> tuple[int, int] | None:
        """(bidder, amount) for the next bid, or None when no bidder may bid right now."""
        for _ in range(len(self.free)):
            bidder = self.free.popleft()
            if bidder in self.recent or bidder == self.leader:
                self.free.append(bidder)
                continue
            amount = max(self.next_min, self.issued + self.increment) if ladder else self.next_min
            self.issued = max(self.issued, amount)
            self.recent.append(bidder)
            return bidder, amount
        return None

    def release(self, bidder: int) -> None:
        self.free.append(bidder)

    def learn(self, next_min: int) -> None:
        self.next_min = max(self.next_min, next_min)
        self.issued = max(self.issued, self.next_min - self.increment)

    def accepted(self, bidder: int, amount: int) -> None:
        if amount + self.increment > self.next_min:
            self.next_min = amount + self.increment
            self.leader = bidder


class Driver:
    def __init__(self, spec: WorkSpec) -> None:
        self.spec = spec
        self.result = WorkResult()
        self.ladder = spec.strategy == "ladder"
        self.prefix = f"{spec.worker}-{secrets.token_hex(4)}-".encode()
        self.counter = 0
        url = urlsplit(spec.base_url)
        if url.scheme != "http" or url.hostname is None:
            raise BenchError(f"only http://host:port is supported, not {spec.base_url}")
        self.host, self.port = url.hostname, url.port or 80
        self.lots = [LiveLot(lot, url.netloc, spec.tokens) for lot in spec.lots]
        self.rejected: Counter[str] = Counter()
        self.end = 0.0

    def pool(self) -> HttpPool:
        return HttpPool(self.host, self.port)

    async def refresh(self, pool: HttpPool, lot: LiveLot) -> None:
        """Learn the price from the auction view; concurrent callers share one GET."""
        if lot.refreshing is not None:
            await lot.refreshing
            return
        lot.refreshing = asyncio.get_running_loop().create_future()
        try:
            self.result.refreshes += 1
            status, body = await pool.request(lot.view_request)
            if status == 200:
                view = _VIEW.decode(body)
                if view.status != "open":
                    lot.alive = False
                elif view.next_min_bid:
                    lot.learn(fen(view.next_min_bid))
        except (HttpError, msgspec.DecodeError) as exc:
            self.result.errors += 1
            self.result.error_sample = self.result.error_sample or f"GET {lot.view}: {exc!r}"
        finally:
            lot.refreshing.set_result(None)
            lot.refreshing = None

    async def bid(self, pool: HttpPool, lot: LiveLot, bidder: int, amount: int) -> None:
        """One POST; books the outcome. Returns after any price refresh it triggered."""
        self.counter += 1
        body = b'{"amount":"%d.%02d"}' % divmod(amount, 100)
        data = b"%s%s%d\r\nContent-Length: %d\r\n\r\n%s" % (
            lot.head(bidder),
            self.prefix,
            self.counter,
            len(body),
            body,
        )
        result = self.result
        result.sent += 1
        started = time.perf_counter()
        try:
            status, content = await pool.request(data)
        except HttpError as exc:
            lot.release(bidder)
            result.errors += 1
            result.error_sample = result.error_sample or repr(exc)
            await asyncio.sleep(0.01)
            return
        took = (time.perf_counter() - started) * 1000
        lot.release(bidder)
        result.all_ms.append(took)
        if status == 201:
            # the 201 (BidAccepted) carries no next_min_bid: the price is learnt from the amount
            result.accepted += 1
            result.ack_ms.append(took)
            lot.accepted(bidder, amount)
            return
        code, next_min_bid = problem_of(status, content)
        self.rejected[code] += 1
        if status >= 500 and not result.error_sample:
            result.error_sample = f"HTTP {status} {content[:300].decode(errors='replace')}"
        if code == "auction_not_open":
            lot.alive = False
        elif code == "rate_limited":
            await asyncio.sleep(0.05)
        elif code in ("bid_below_minimum", "bid_not_on_increment", "already_leading"):
            if code == "already_leading":
                lot.leader = bidder
            if next_min_bid is not None:  # the rejection says the price to beat
                lot.learn(fen(next_min_bid))
            else:
                await self.refresh(pool, lot)
        else:
            await asyncio.sleep(0.005)

    def pick(self) -> LiveLot | None:
        lots = self.lots
        for _ in range(8):
            lot = lots[0] if len(lots) == 1 else random.choice(lots)
            if lot.alive:
                return lot
        alive = [lot for lot in lots if lot.alive]
        return random.choice(alive) if alive else None

    async def closed_loop(self, pool: HttpPool) -> None:
        while time.perf_counter() < self.end:
            lot = self.pick()
            if lot is None:
                return
            claim = lot.claim(self.ladder)
            if claim is None:
                self.result.skipped += 1
                await asyncio.sleep(0.001)
                continue
            await self.bid(pool, lot, *claim)

    async def open_loop(self, pool: HttpPool, rate: float) -> None:
        interval = 1.0 / rate
        cap = self.spec.max_in_flight
        result = self.result
        tasks: set[asyncio.Task[None]] = set()
        due = time.perf_counter()
        while True:
            now = time.perf_counter()
            if now >= self.end:
                break
            if now < due:
                # uvloop's timers have whole milliseconds: a shorter sleep returns at once and the
                # loop would spin; a send up to a millisecond behind its schedule is not late
                await asyncio.sleep(max(due - now, 0.001))
                continue
            if now - due > LATE:
                result.late += 1
            due += interval
            lot = self.pick()
            if lot is None:
                break
            if len(tasks) >= cap:
                result.capped += 1
                continue
            claim = lot.claim(self.ladder)
            if claim is None:
                result.skipped += 1
                continue
            task = asyncio.create_task(self.bid(pool, lot, *claim))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=GRACE)

    async def run(self) -> WorkResult:
        spec = self.spec
        if spec.rate:
            pools = [self.pool()]
            await pools[0].warm(spec.warm)
        else:
            pools = [self.pool() for _ in range(spec.clients)]
            await asyncio.gather(*(pool.warm(1) for pool in pools))

        def give_up() -> None:
            for pool in pools:
                pool.abort()

        watchdog = asyncio.get_running_loop().call_later(spec.seconds + GRACE, give_up)
        try:
            cpu = time.process_time()
            started = time.perf_counter()
            self.end = started + spec.seconds
            if spec.rate:
                await self.open_loop(pools[0], spec.rate)
            else:
                await asyncio.gather(*(self.closed_loop(pool) for pool in pools))
            self.result.elapsed = time.perf_counter() - started
            self.result.client_cpu = time.process_time() - cpu
        finally:
            watchdog.cancel()
            for pool in pools:
                pool.close()
        self.result.connects = sum(pool.connects for pool in pools)
        self.result.resent = sum(pool.resent for pool in pools)
        self.result.rejected = dict(self.rejected)
        return self.result


def run_worker(spec: WorkSpec) -> WorkResult:
    """Entry point of a load-generator process (also called in-process when --workers 1)."""
    runner: Callable[[Coroutine[Any, Any, WorkResult]], WorkResult] = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    return runner(Driver(spec).run())


def merge(results: list[WorkResult]) -> WorkResult:
    total = WorkResult()
    rejected: Counter[str] = Counter()
    for r in results:
        total.elapsed = max(total.elapsed, r.elapsed)
        total.sent += r.sent
        total.accepted += r.accepted
        rejected.update(r.rejected)
        total.errors += r.errors
        total.refreshes += r.refreshes
        total.skipped += r.skipped
        total.capped += r.capped
        total.late += r.late
        total.ack_ms.extend(r.ack_ms)
        total.all_ms.extend(r.all_ms)
        total.client_cpu += r.client_cpu
        total.connects += r.connects
        total.resent += r.resent
        total.error_sample = total.error_sample or r.error_sample
    total.rejected = dict(rejected)
    return total
