"""Accepted bids per second through the public HTTP API, as a ratio to the raw-SQL ceiling.

What it does, in one run:

1. measures the pgbench ceiling (bench/ceiling.py) on a scratch database;
2. creates another scratch database and starts ``.venv/bin/exchange serve`` on
   127.0.0.1 with the sandbox profile, PostgreSQL and Redis (a random key prefix);
3. seeds everything through the public API (with httpx): an operator (``exchange users add``),
   a pool of enterprise bidders (``POST /auth/register``), one hot lot plus
   ``--lots`` spread lots (english, land use right), each published, applied to,
   paid for with a signed bank notice and approved, until every auction is open;
4. drives bids with a minimal asyncio HTTP/1.1 keep-alive client of its own on uvloop
   (``HttpPool``: prebuilt request bytes, status line, headers and a Content-Length or
   chunked body parsed by hand; httpx cost the client 1-2 ms of CPU per request):

   - ``hot``     one lot, ``--hot-clients`` closed-loop clients, a connection each (pgbench: -c 8)
   - ``spread``  every spread lot, ``--spread-clients`` clients on random lots (pgbench: -c 32)
   - ``paced``   the hot lot, open loop at half the measured hot ceiling (or ``--paced-rate``),
                 at most ``--paced-in-flight`` bids in flight over a pool of connections, with
                 ``--paced-bidders`` bidders on the hot lot (enough for every bid in flight)

   and reports accepted bids/s, p50/p99 acknowledgement latency (send -> 201), the
   ratios to the ceiling, and where the CPU went (client, server process, machine).

Bidding strategy (``--strategy``): ``ladder`` (default) gives each bid in flight on a
lot the next free step above the highest amount already handed out, so concurrent
bids on one lot do not all race for the same amount; ``min`` sends exactly the known
``next_min_bid``, so on a hot lot all but one of the concurrent bids are rejected.
Both learn the price from their own 201s and, after a 409/422, from the problem's
``next_min_bid`` (or ``GET /api/v1/auctions/{id}`` if it has none); only 201s are
counted as accepted.

Run ``.venv/bin/python -m bench.bids --help``. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import msgspec

from exchange.identity.codes import CREDIT_ALPHABET, credit_check_character
from listings.samples import attributes_of
from settlement.bank import sign

try:
    from bench import ceiling as ceiling_mod
except ImportError:  # run as a script: bench/ itself is on sys.path
    import ceiling as ceiling_mod  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PASSWORD = f"Bench-{secrets.token_hex(6)}-9"
"""Of every account the run creates (random per run: nothing here is a real secret)."""
OPERATOR = "benchoperator"

# Targets of the brief, as ratios to the pgbench ceiling of the same run.
HOT_TARGET = 0.5
SPREAD_TARGET = 0.4
P99_TARGET_MS = 50.0

START_PRICE = 100_000_000  # fen: 1,000,000.00 yuan
INCREMENT = 10_000  # fen: 100.00 yuan
DEPOSIT = 20_000_000  # fen: 200,000.00 yuan (land: at least 20% of the start price)
KEEPALIVE = 2.0
"""Seconds an idle client connection is kept: below uvicorn's 5 s keep-alive timeout, so
a request rarely goes out on a connection the server is closing (the bid client then sends
it once more on a new connection; httpx raises ReadError)."""
REGISTRATION_LEAD = 3.0
"""Seconds from creating a listing to its registration opening (publish must come first)."""

# ---------------------------------------------------------------- small helpers


def credit_code(serial: int) -> str:
    """A valid unified social credit code (GB 32100-2015): 91 enterprise, Taiyuan 140100, a serial."""
    org = ""
    n = serial
    for _ in range(9):
        n, r = divmod(n, len(CREDIT_ALPHABET))
        org = CREDIT_ALPHABET[r] + org
    first17 = "91140100" + org
    return first17 + credit_check_character(first17)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def say(message: str) -> None:
    print(message, flush=True)


class BenchError(RuntimeError):
    pass


def _problem(response: httpx.Response) -> str:
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return f"http_{response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return str(body["code"])
    return f"http_{response.status_code}"


def _expect(response: httpx.Response, status: int | tuple[int, ...], what: str) -> Any:
    wanted = (status,) if isinstance(status, int) else status
    if response.status_code not in wanted:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response.json()


# ---------------------------------------------------------------- CPU accounting (Linux /proc)

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by one process, 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (``exchange serve --workers N``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += process_cpu(current)
        todo.extend(children.get(current, []))
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


# ---------------------------------------------------------------- the server


@dataclass
class ServerConfig:
    database: str
    port: int
    redis_url: str
    redis_prefix: str
    bid_rate: int
    pool_size: int | None
    workdir: Path
    pg: ceiling_mod.Postgres
    processes: int = 1
    """``exchange serve --workers``."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """More EXCHANGE_* settings from --server-env."""
    profile: Path | None = None
    """Run the server under cProfile and write its stats here when it stops."""
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    bank_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        env.update(
            EXCHANGE_DATABASE_URL=self.pg.url(self.database),
            EXCHANGE_REDIS_URL=self.redis_url,
            EXCHANGE_REDIS_PREFIX=self.redis_prefix,
            EXCHANGE_PROFILE="sandbox",
            EXCHANGE_SECRET_KEY=self.secret_key,
            EXCHANGE_BANK_SECRET=self.bank_secret,
            EXCHANGE_BID_RATE_PER_SECOND=str(self.bid_rate),
            EXCHANGE_VAR_DIR=str(self.workdir / "var"),
        )
        env.update({"EXCHANGE_TOKEN_TTL_SECONDS": "86400"})  # a long seeding must not outlive tokens
        if self.pool_size:
            env["EXCHANGE_DATABASE_POOL_SIZE"] = str(self.pool_size)
        env.update(self.extra_env)
        return env


def exchange_executable() -> Path:
    for candidate in (Path(sys.executable).with_name("exchange"), REPO / ".venv" / "bin" / "exchange"):
        if candidate.exists():
            return candidate
    found = shutil.which("exchange")
    if found is None:
        raise BenchError("the exchange command is not installed (pip install -e . in the venv)")
    return Path(found)


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.log = config.workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.config.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(exchange_executable()), *args],
            env=self.config.env(),
            cwd=self.config.workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"exchange {' '.join(args[:2])} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def code_origin(self) -> list[str]:
        """The folders the server imports its packages from (``--server-env PYTHONPATH=DIR``)."""
        python = exchange_executable().with_name("python")
        done = subprocess.run(
            [
                str(python if python.exists() else sys.executable),
                "-c",
                "import auctions, exchange; print(exchange.__file__); print(auctions.__file__)",
            ],
            env=self.config.env(),
            cwd=self.config.workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"the server's code does not import: {done.stderr.strip()[-2000:]}")
        return [str(Path(line).parents[1]) for line in done.stdout.split()]

    def start(self, timeout: float = 60) -> None:
        self.cli("db", "upgrade")
        with self.log.open("ab") as log:
            command = [str(exchange_executable()), "serve", "--host", HOST, "--port", str(self.config.port)]
            if self.config.processes > 1:
                command += ["--workers", str(self.config.processes)]
            if self.config.profile:
                command = [sys.executable, "-m", "cProfile", "-o", str(self.config.profile), *command]
            self.proc = subprocess.Popen(
                command,
                env=self.config.env(),
                cwd=self.config.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    return
            time.sleep(0.2)
        raise BenchError(f"the server did not become healthy in {timeout:g} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        # the scheduler logs every sweep at INFO; keep what says something
        return "\n".join([line for line in text if "apscheduler" not in line][-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.config.profile:
            # uvicorn re-raises the signal it stopped on: SIGINT becomes KeyboardInterrupt, which
            # lets cProfile write its stats, while SIGTERM would kill the process first
            self.proc.send_signal(signal.SIGINT)
        else:
            self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- seeding through the public API


@dataclass
class Bidder:
    username: str
    token: str


@dataclass
class SeededLot:
    listing_id: int
    bidders: list[int]
    """Indexes into the bidder pool of the qualified bidders of this lot."""
    opens_at: datetime


@dataclass
class Seeded:
    bidders: list[Bidder]
    hot: SeededLot
    spread: list[SeededLot]
    failed: list[str] = field(default_factory=list)
    """Why spread lots were dropped (at most a tenth of them may be)."""


def listing_body(
    index: int, registration_seconds: float, hold: timedelta, lead: float = REGISTRATION_LEAD
) -> dict[str, Any]:
    now = datetime.now(UTC)
    closes_registration = now + timedelta(seconds=lead + registration_seconds)
    opens = closes_registration + timedelta(seconds=1)
    return {
        "asset_class": "land_use_right",
        "title": f"基准测试地块 {index}",
        "description": "bench/bids.py 压力测试标的",
        "attributes": attributes_of("land_use_right"),
        "method": "english",
        "start_price": yuan(START_PRICE),
        "increment": yuan(INCREMENT),
        "deposit": yuan(DEPOSIT),
        "reserve_price": yuan(START_PRICE),
        "schedule": {
            # publishing stamps announce_at with its own time, so registration opens a bit later
            "announce_at": now.isoformat(),
            "registration_opens_at": (now + timedelta(seconds=lead)).isoformat(),
            "registration_closes_at": closes_registration.isoformat(),
            "bidding_opens_at": opens.isoformat(),
            "bidding_closes_at": (opens + hold).isoformat(),
            "extension_seconds": 5,
        },
    }


class Seeder:
    def __init__(self, client: httpx.AsyncClient, bank_secret: str, args: argparse.Namespace) -> None:
        self.client = client
        self.bank_secret = bank_secret
        self.args = args
        self.operator: dict[str, str] = {}
        self.requests = 0

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        try:
            return await self.client.post(path, **kwargs)
        except httpx.TransportError as exc:  # not retried: a POST may have been processed
            raise BenchError(f"POST {path}: {exc!r}") from exc

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(3):
            self.requests += 1
            try:
                return await self.client.get(path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == 2:
                    raise BenchError(f"GET {path}: {exc!r}") from exc
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    async def token(self, username: str) -> str:
        response = await self.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        return str(_expect(response, 200, f"log in {username}")["access_token"])

    async def register(self, serial: int, run: str) -> Bidder:
        username = f"b{run}{serial:05d}"
        body = {
            "username": username,
            "password": PASSWORD,
            "display_name": f"基准竞买人{serial}有限公司",
            "kind": "enterprise",
            "credit_code": credit_code(serial + 1),
        }
        _expect(await self.post("/api/v1/auth/register", json=body), 201, f"register {username}")
        return Bidder(username, await self.token(username))

    async def pay(self, account: str, amount: str) -> None:
        payload = {
            "txn_id": f"BENCH{secrets.token_hex(8)}",
            "account": account,
            "amount": amount,
            "paid_at": datetime.now(UTC).isoformat(),
        }
        raw = json.dumps(payload).encode()
        signature = sign(self.bank_secret, raw)
        response = await self.post(
            "/api/v1/bank/notifications",
            content=raw,
            headers={"X-Signature": signature, "Content-Type": "application/json"},
        )
        body = _expect(response, 200, f"bank notice for {account}")
        if body.get("outcome") != "deposit":
            raise BenchError(f"the deposit on {account} was not booked as a deposit: {body}")

    async def qualify(self, listing_id: int, bidder: Bidder) -> str:
        """Apply, pay the deposit, get approved: returns the bid number."""
        auth = {"Authorization": f"Bearer {bidder.token}"}
        applied = _expect(
            await self.post(f"/api/v1/listings/{listing_id}/applications", headers=auth),
            201,
            f"apply to listing {listing_id}",
        )
        await self.pay(applied["deposit_account"], applied["deposit_due"])
        decided = _expect(
            await self.post(
                f"/api/v1/applications/{applied['id']}/decision",
                json={"approve": True},
                headers=self.operator,
            ),
            200,
            f"approve application {applied['id']}",
        )
        if decided.get("status") != "qualified":
            decided = _expect(
                await self.get(f"/api/v1/applications/{applied['id']}", headers=auth),
                200,
                f"read application {applied['id']}",
            )
        if decided.get("status") != "qualified":
            raise BenchError(f"application {applied['id']} is {decided.get('status')}, not qualified")
        return str(decided.get("bid_number"))

    async def wait_listing(self, listing_id: int, status: str, patience: float) -> None:
        deadline = time.monotonic() + patience
        while True:
            body = _expect(
                await self.get(f"/api/v1/listings/{listing_id}"), 200, f"read listing {listing_id}"
            )
            if body["status"] == status:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"listing {listing_id} is {body['status']}, never reached {status}")
            await asyncio.sleep(0.2)

    async def lot(self, index: int, pool: list[Bidder], members: list[int]) -> SeededLot:
        body = listing_body(index, self.args.registration_seconds, timedelta(hours=self.args.hold_hours))
        created = _expect(
            await self.post("/api/v1/listings", json=body, headers=self.operator), 201, "create listing"
        )
        listing_id = int(created["id"])
        lead = REGISTRATION_LEAD
        for _ in range(4):
            published = await self.post(f"/api/v1/listings/{listing_id}/publish", headers=self.operator)
            if published.status_code != 422 or _problem(published) != "schedule_order_invalid":
                break
            # publishing stamps announce_at with its own time; a slow server can pass
            # registration_opens_at before it publishes: move the schedule and try again
            lead *= 2
            body["schedule"] = listing_body(
                index, self.args.registration_seconds, timedelta(hours=self.args.hold_hours), lead
            )["schedule"]
            self.requests += 1
            _expect(
                await self.client.patch(
                    f"/api/v1/listings/{listing_id}",
                    json={"schedule": body["schedule"]},
                    headers=self.operator,
                ),
                200,
                f"reschedule listing {listing_id}",
            )
        _expect(published, 200, f"publish listing {listing_id}")
        await self.wait_listing(listing_id, "registration", patience=15)
        try:
            await asyncio.gather(*(self.qualify(listing_id, pool[i]) for i in members))
        except BenchError as exc:
            closes = datetime.fromisoformat(body["schedule"]["registration_closes_at"])
            if datetime.now(UTC) >= closes:
                raise BenchError(
                    f"{exc} (seeding listing {listing_id} outlasted its registration window of "
                    f"{self.args.registration_seconds:g} s: raise --registration-seconds)"
                ) from exc
            raise
        return SeededLot(listing_id, members, datetime.fromisoformat(body["schedule"]["bidding_opens_at"]))


async def seed(
    base_url: str, bank_secret: str, args: argparse.Namespace, run: str, hot_bidders: int | None = None
) -> Seeded:
    """``hot_bidders``: qualified bidders on the hot lot (default --hot-bidders; more for paced)."""
    hot_bidders = max(args.hot_bidders, hot_bidders or 0)
    limits = httpx.Limits(
        max_connections=args.seed_concurrency * 4, max_keepalive_connections=64, keepalive_expiry=KEEPALIVE
    )
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60, trust_env=False) as client:
        seeder = Seeder(client, bank_secret, args)
        seeder.operator = {"Authorization": f"Bearer {await seeder.token(OPERATOR)}"}

        # the spread lots draw their bidders from the pool they always did (hot lot's extra
        # bidders for paced, beyond it, are registered but bid on the hot lot only)
        spread_pool = max(args.bidders_per_lot, args.hot_bidders, args.bidders)
        pool_size = max(spread_pool, hot_bidders)
        started = time.monotonic()
        gate = asyncio.Semaphore(4)  # Argon2 hashing is deliberately slow; do not pile up

        async def register(i: int) -> Bidder:
            async with gate:
                return await seeder.register(i, run)

        bidders = list(await asyncio.gather(*(register(i) for i in range(pool_size))))
        say(f"seed: {pool_size} bidders registered and logged in ({time.monotonic() - started:.1f} s)")

        total = 1 + args.lots
        done = 0
        started = time.monotonic()
        last_report = started
        lots_gate = asyncio.Semaphore(args.seed_concurrency)

        failed: list[str] = []

        async def one(index: int) -> SeededLot | None:
            nonlocal done, last_report
            if index == 0:
                members = list(range(hot_bidders))
            else:
                k = args.bidders_per_lot
                members = sorted({(index * k + j) % spread_pool for j in range(k)})
            async with lots_gate:
                try:
                    lot: SeededLot | None = await seeder.lot(index, bidders, members)
                except BenchError as exc:
                    if index == 0 or len(failed) >= max(3, total // 10):
                        raise
                    failed.append(str(exc))
                    say(f"seed: lot {index} dropped: {exc}")
                    lot = None
            done += 1
            now = time.monotonic()
            if done == total or now - last_report >= 5:
                last_report = now
                rate = done / (now - started)
                say(
                    f"seed: {done}/{total} lots ({rate:.1f} lots/s, "
                    f"{seeder.requests / (now - started):.0f} requests/s, ETA {(total - done) / rate:.0f} s)"
                )
            return lot

        lots = list(await asyncio.gather(*(one(i) for i in range(total))))
        hot = lots[0]
        assert hot is not None
        return Seeded(bidders, hot, [lot for lot in lots[1:] if lot is not None], failed)


async def wait_open(base_url: str, lots: list[SeededLot], patience: float) -> dict[int, dict[str, Any]]:
    """Poll GET /api/v1/auctions/{id} until every lot is open; returns the views."""
    views: dict[int, dict[str, Any]] = {}
    limits = httpx.Limits(max_connections=16, keepalive_expiry=KEEPALIVE)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30, trust_env=False) as client:
        latest = max(lot.opens_at for lot in lots)
        deadline = time.monotonic() + max(0.0, (latest - datetime.now(UTC)).total_seconds()) + patience
        pending = [lot.listing_id for lot in lots]
        last: dict[int, str] = {}
        gate = asyncio.Semaphore(16)

        async def look(listing_id: int) -> None:
            async with gate:
                response = await client.get(f"/api/v1/auctions/{listing_id}")
            if response.status_code == 200 and response.json().get("status") == "open":
                views[listing_id] = response.json()
            else:
                last[listing_id] = f"HTTP {response.status_code} {response.text[:300]}"

        while pending:
            await asyncio.gather(*(look(i) for i in pending))
            pending = [i for i in pending if i not in views]
            if not pending:
                break
            if time.monotonic() > deadline:
                sample = pending[0]
                raise BenchError(
                    f"{len(pending)} of {len(lots)} auctions never opened; "
                    f"GET /api/v1/auctions/{sample} -> {last.get(sample)}"
                )
            await asyncio.sleep(0.5)
    return views


async def current_views(base_url: str, listing_ids: list[int]) -> dict[int, dict[str, Any]]:
    async with httpx.AsyncClient(
        base_url=base_url,
        limits=httpx.Limits(max_connections=16, keepalive_expiry=KEEPALIVE),
        timeout=30,
        trust_env=False,
    ) as client:
        gate = asyncio.Semaphore(16)

        async def look(listing_id: int) -> tuple[int, dict[str, Any]]:
            async with gate:
                response = await client.get(f"/api/v1/auctions/{listing_id}")
            return listing_id, _expect(response, 200, f"read auction {listing_id}")

        return dict(await asyncio.gather(*(look(i) for i in listing_ids)))


# ---------------------------------------------------------------- a minimal HTTP/1.1 client for the bidding phase

MAX_HEAD = 65_536
"""Bytes of response headers at most."""
GRACE = 30.0
"""Seconds after the end of a scenario before unanswered requests are given up (httpx's timeout was 30 s)."""


class HttpError(Exception):
    """A request got no complete response: refused, reset or closed connection, a malformed reply."""


class ConnectionClosed(HttpError):
    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered
        """Some of the response had arrived (so the request reached the server)."""


def parse_head(raw: bytes) -> tuple[int, int, bool, bool]:
    """(status, body length or -1, chunked, close) of a response head without its blank line."""
    lines = raw.split(b"\r\n")
    first = lines[0]
    if not first.startswith(b"HTTP/1.") or len(first) < 12:
        raise ValueError(f"not an HTTP/1.x status line: {first[:80]!r}")
    status = int(first[9:12])
    length, chunked, close = -1, False, first.startswith(b"HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            value = value.lower()
            if b"close" in value:
                close = True
            elif b"keep-alive" in value:
                close = False
    if status < 200 or status in (204, 304):
        return status, 0, False, close
    if chunked:
        return status, -1, True, close
    if length < 0:  # neither a length nor chunks: the body ends with the connection
        close = True
    return status, length, False, close


def dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """(body, end) of a chunked body beginning at ``start``, or None while it is incomplete."""
    body = bytearray()
    pos = start
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buffer[pos:eol]).split(b";", 1)[0], 16)
        if size == 0:  # then optional trailers and a blank line
            end = buffer.find(b"\r\n\r\n", eol)
            return None if end < 0 else (bytes(body), end + 4)
        pos = eol + 2 + size + 2
        if len(buffer) < pos:
            return None
        body += buffer[eol + 2 : pos - 2]


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.head: tuple[int, int, bool, bool] | None = None
        self.start = 0
        """Where the body of the response being read begins in the buffer."""
        self.closed = False
        self.reused = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Send a whole request; the future gives (status, body)."""
        assert self.transport is not None and self.waiter is None
        waiter = self.loop.create_future()
        if self.closed:
            waiter.set_exception(ConnectionClosed("connection already closed", answered=False))
            return waiter
        if self.buffer:  # anything the server sent unasked (an error before it closed)
            self.buffer.clear()
        self.head = None
        self.waiter = waiter
        self.transport.write(data)
        return waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            try:
                self.parse()
            except ValueError as exc:
                self.fail(HttpError(f"malformed response: {exc}"))

    def parse(self) -> None:
        buffer = self.buffer
        head = self.head
        while head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise ValueError(f"no end of the headers in {len(buffer)} bytes")
                return
            head = parse_head(bytes(buffer[:end]))
            if 100 <= head[0] < 200:  # an interim response: the real one follows
                del buffer[: end + 4]
                head = None
                continue
            self.head, self.start = head, end + 4
        status, length, chunked, close = head
        if length >= 0:
            stop = self.start + length
            if len(buffer) < stop:
                return
            body = bytes(buffer[self.start : stop])
        elif chunked:
            done = dechunk(buffer, self.start)
            if done is None:
                return
            body, stop = done
        else:
            return  # until the connection closes: connection_lost delivers it
        del buffer[:stop]
        self.finish(status, body, close)

    def finish(self, status: int, body: bytes, close: bool) -> None:
        waiter, self.waiter, self.head = self.waiter, None, None
        if close and not self.closed:
            self.closed = True
            assert self.transport is not None
            self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    def fail(self, exc: HttpError) -> None:
        waiter, self.waiter = self.waiter, None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        head = self.head
        if head is not None and head[1] < 0 and not head[2]:  # a body delimited by the close
            waiter.set_result((head[0], bytes(self.buffer[self.start :])))
            return
        reason = f": {exc!r}" if exc else " by the server"
        waiter.set_exception(ConnectionClosed(f"connection closed{reason}", answered=bool(self.buffer)))


class HttpPool:
    """Keep-alive connections to one server: a request takes the most recently idle one or opens one.

    A closed-loop client has a pool of its own (so one connection); the open loop shares
    one pool with as many connections as bids in flight.
    """

    def __init__(self, host: str, port: int, keepalive: float = KEEPALIVE) -> None:
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.idle: list[Connection] = []
        self.every: set[Connection] = set()
        self.aborted = False
        self.connects = 0
        self.resent = 0

    async def open(self) -> Connection:
        if self.aborted:
            raise HttpError("given up (the scenario is over)")
        try:
            _, conn = await asyncio.get_running_loop().create_connection(Connection, self.host, self.port)
        except OSError as exc:
            raise HttpError(f"connect to {self.host}:{self.port}: {exc!r}") from exc
        self.connects += 1
        self.every.add(conn)
        return conn

    async def warm(self, count: int) -> None:
        """Open ``count`` idle connections before the clock starts."""
        now = time.monotonic()
        for conn in await asyncio.gather(*(self.open() for _ in range(count))):
            conn.idle_since = now
            self.idle.append(conn)

    def drop(self, conn: Connection) -> None:
        self.every.discard(conn)
        if not conn.closed:
            conn.closed = True
            if conn.transport is not None:
                conn.transport.close()

    async def request(self, data: bytes) -> tuple[int, bytes]:
        """(status, body) of one request given as its complete bytes."""
        conn = None
        idle = self.idle
        if idle:
            now = time.monotonic()
            while idle:
                candidate = idle.pop()
                if not candidate.closed and now - candidate.idle_since < self.keepalive:
                    conn = candidate
                    break
                self.drop(candidate)
        if conn is None:
            conn = await self.open()
        try:
            status, body = await conn.request(data)
        except ConnectionClosed as exc:
            self.drop(conn)
            if not conn.reused or exc.answered or self.aborted:
                raise
            # the server closed the idle connection as the request went out, so it has not
            # seen it: send it once more on a new connection (the bid's Idempotency-Key stays)
            self.resent += 1
            conn = await self.open()
            try:
                status, body = await conn.request(data)
            except BaseException:
                self.drop(conn)
                raise
        except BaseException:
            self.drop(conn)
            raise
        if conn.closed:
            self.drop(conn)
        else:
            conn.reused = True
            conn.idle_since = time.monotonic()
            idle.append(conn)
        return status, body

    def abort(self) -> None:
        """Fail every request still waiting (the watchdog at the end of a scenario)."""
        self.aborted = True
        for conn in list(self.every):
            conn.fail(HttpError(f"no response {GRACE:g} s after the end of the scenario"))
        self.every.clear()
        self.idle.clear()

    def close(self) -> None:
        for conn in list(self.every):
            self.drop(conn)
        self.idle.clear()


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


# ---------------------------------------------------------------- the load generator (picklable)


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
            # connections for the bids expected in flight at the p99 target; more open on demand
            await pools[0].warm(min(spec.max_in_flight, max(1, math.ceil(spec.rate * P99_TARGET_MS / 1000))))
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
    runner: Callable[[Awaitable[WorkResult]], WorkResult] = asyncio.run
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


# ---------------------------------------------------------------- scenarios and the report


@dataclass
class ScenarioResult:
    name: str
    lots: int
    clients: int
    workers: int
    strategy: str
    offered_rate: float | None
    seconds: float
    sent: int
    accepted: int
    rejected: dict[str, int]
    errors: int
    refreshes: int
    skipped: int
    late: int
    accepted_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    p99_all_ms: float | None
    client_cpu_pct: float
    server_cpu_pct: float
    machine_cpu_pct: float
    ceiling_tps: float | None = None
    error_sample: str = ""
    load_average: float = 0.0
    """1-minute load average at the end: the machine is shared, so say how busy it was."""
    sent_per_s: float = 0.0
    """Bids sent per second (in paced: what was really offered)."""
    capped: int = 0
    """paced: sends due while --paced-in-flight bids were in flight (not sent)."""
    max_in_flight: int | None = None
    """paced: the in-flight limit."""
    client_us_per_request: float | None = None
    """Client CPU per HTTP request (bids and price refreshes), microseconds."""
    connects: int = 0
    """Connections the client opened (one per closed-loop client, more after closes)."""
    resent: int = 0
    """Requests sent again after the server closed an idle keep-alive connection under them."""

    @property
    def ratio(self) -> float | None:
        return self.accepted_per_s / self.ceiling_tps if self.ceiling_tps else None

    @property
    def paced_met(self) -> bool:
        """Every answer (201 or rejection) within the p99 target, at (95 % of) the offered rate:
        an open loop that could not send its rate, or fast rejections, prove nothing."""
        return (
            self.p99_ms is not None
            and self.p99_all_ms is not None
            and max(self.p99_ms, self.p99_all_ms) <= P99_TARGET_MS
            and self.offered_rate is not None
            and self.sent_per_s >= 0.95 * self.offered_rate
        )


def lot_specs(
    lots: list[SeededLot], views: dict[int, dict[str, Any]], bidders: int | None = None
) -> list[LotSpec]:
    """The open lots with their price; ``bidders``: use only the first so many of each lot's bidders."""
    specs = []
    for lot in lots:
        view = views[lot.listing_id]
        if view.get("status") != "open" or not view.get("next_min_bid"):
            continue
        specs.append(LotSpec(lot.listing_id, INCREMENT, fen(view["next_min_bid"]), lot.bidders[:bidders]))
    return specs


def drive(
    name: str,
    base_url: str,
    tokens: list[str],
    specs: list[LotSpec],
    *,
    seconds: float,
    clients: int,
    workers: int,
    strategy: str,
    server_pid: int,
    rate: float | None = None,
    max_in_flight: int = 256,
    ceiling_tps: float | None = None,
) -> ScenarioResult:
    workers = max(1, min(workers, len(specs)))
    parts: list[WorkSpec] = []
    for w in range(workers):
        share = specs[w::workers]
        parts.append(
            WorkSpec(
                base_url,
                tokens,
                share,
                seconds,
                max(1, clients // workers + (1 if w < clients % workers else 0)),
                strategy,
                rate=None if rate is None else rate / workers,
                max_in_flight=max(1, max_in_flight // workers),
                worker=w,
            )
        )
    server_cpu, (busy, total) = tree_cpu(server_pid), machine_busy()
    if workers == 1:
        results = [run_worker(parts[0])]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(run_worker, parts))
    merged = merge(results)
    server_cpu = tree_cpu(server_pid) - server_cpu
    busy2, total2 = machine_busy()
    elapsed = merged.elapsed or seconds
    requests = merged.sent + merged.refreshes
    return ScenarioResult(
        name=name,
        lots=len(specs),
        clients=clients,
        workers=workers,
        strategy=strategy,
        offered_rate=rate,
        seconds=round(elapsed, 3),
        sent=merged.sent,
        accepted=merged.accepted,
        rejected=merged.rejected,
        errors=merged.errors,
        refreshes=merged.refreshes,
        skipped=merged.skipped,
        late=merged.late,
        accepted_per_s=merged.accepted / elapsed,
        p50_ms=percentile(merged.ack_ms, 0.50),
        p99_ms=percentile(merged.ack_ms, 0.99),
        p99_all_ms=percentile(merged.all_ms, 0.99),
        client_cpu_pct=100 * merged.client_cpu / elapsed,
        server_cpu_pct=100 * server_cpu / elapsed,
        machine_cpu_pct=100 * (busy2 - busy) / (total2 - total) if total2 > total else float("nan"),
        ceiling_tps=ceiling_tps,
        error_sample=merged.error_sample,
        load_average=os.getloadavg()[0],
        sent_per_s=merged.sent / elapsed,
        capped=merged.capped,
        max_in_flight=max_in_flight if rate is not None else None,
        client_us_per_request=1e6 * merged.client_cpu / requests if requests else None,
        connects=merged.connects,
        resent=merged.resent,
    )


def _f(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def report(results: list[ScenarioResult]) -> str:
    header = (
        f"{'scenario':<8} {'lots':>5} {'cli':>4} {'offered/s':>9} {'accepted':>8} {'acc/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'ceiling':>7} {'ratio':>5} {'target':>11}  "
        f"{'cpu cli/srv/all %':>17}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        if r.name == "paced":
            target = f"p99<={P99_TARGET_MS:g}ms " + ("ok" if r.paced_met else "NO")
        else:
            goal = HOT_TARGET if r.name == "hot" else SPREAD_TARGET
            target = f">={goal:g} " + ("-" if r.ratio is None else ("ok" if r.ratio >= goal else "NO"))
        lines.append(
            f"{r.name:<8} {r.lots:>5} {r.clients:>4} {_f(r.offered_rate, '{:.0f}'):>9} {r.accepted:>8} "
            f"{r.accepted_per_s:>7.0f} {_f(r.p50_ms, '{:.2f}'):>7} {_f(r.p99_ms, '{:.2f}'):>7} "
            f"{_f(r.ceiling_tps, '{:.0f}'):>7} {_f(r.ratio, '{:.2f}'):>5} {target:>11}  "
            f"{r.client_cpu_pct:>5.0f}/{r.server_cpu_pct:>3.0f}/{r.machine_cpu_pct:>3.0f}"
        )
    lines.append("")
    for r in results:
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(r.rejected.items())) or "none"
        paced = (
            f", in-flight limit {r.max_in_flight} reached {r.capped}" if r.max_in_flight is not None else ""
        )
        lines.append(
            f"{r.name}: sent {r.sent} ({r.sent_per_s:.0f}/s), rejected: {rejected}; errors {r.errors}, "
            f"price refreshes {r.refreshes}, no free bidder {r.skipped}{paced}, late sends {r.late}, "
            f"p99 of all responses {_f(r.p99_all_ms, '{:.2f}')} ms, "
            f"client CPU {_f(r.client_us_per_request, '{:.0f}')} us/request, "
            f"connections {r.connects} (resent {r.resent}), load average {r.load_average:.1f}"
            + (f"; first error: {r.error_sample}" if r.error_sample else "")
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- main


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults only (not None, False or [] and not twice)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bids",
        description=(
            "Accepted bids/s and acknowledgement latency of the exchange over HTTP,\n"
            "as ratios to the pgbench ceiling measured in the same run (see bench/README.md)."
        ),
        formatter_class=_Help,
        epilog=(
            "Targets: hot >= 0.5 x hot ceiling, spread >= 0.4 x spread ceiling, "
            "paced p99 <= 50 ms at half the hot ceiling. Example of a quick run: "
            "python -m bench.bids --seconds 5 --lots 50"
        ),
    )
    add = parser.add_argument
    add("--seconds", type=float, default=10, help="duration of each bidding scenario")
    add("--lots", type=int, default=1000, help="spread lots (besides the one hot lot)")
    add(
        "--scenario",
        action="append",
        choices=["hot", "spread", "paced"],
        help="run only this scenario (repeatable; default: all three)",
    )
    add(
        "--strategy",
        choices=["ladder", "min"],
        default="ladder",
        help=(
            "ladder: each bid in flight on a lot takes the next free step above the amounts "
            "already handed out; min: every bid is the known next_min_bid (on a hot lot all "
            "but one of the concurrent bids are then rejected)"
        ),
    )
    add("--hot-clients", type=int, default=8, help="concurrent clients on the hot lot")
    add("--spread-clients", type=int, default=32, help="concurrent clients over the spread lots")
    add("--workers", type=int, default=1, help="load-generator processes for the spread scenario")
    add("--paced-rate", type=float, help="bids/s of the paced scenario (default: half the hot ceiling)")
    add(
        "--paced-in-flight",
        type=int,
        help=(
            "paced: bids in flight at most, and connections of its pool; a due send beyond it is "
            "not sent and counted (default: the paced rate x 2 x the p99 target of 50 ms, at least 16)"
        ),
    )
    add(
        "--paced-bidders",
        type=int,
        help=(
            "paced: qualified bidders on the hot lot (a bidder has one bid in flight and never bids "
            "twice in a row; default: --paced-in-flight + 4); the hot lot is seeded with "
            "max(--hot-bidders, this), the hot scenario uses the first --hot-bidders"
        ),
    )
    add("--hot-bidders", type=int, default=40, help="qualified bidders on the hot lot (hot scenario)")
    add(
        "--bidders-per-lot",
        type=int,
        default=5,
        help="qualified bidders on each spread lot (seeding costs 3 requests per bidder and lot)",
    )
    add("--bidders", type=int, default=40, help="size of the bidder pool shared by the lots")
    add(
        "--bid-rate",
        type=int,
        default=100_000,
        help="EXCHANGE_BID_RATE_PER_SECOND of the server, a per-bidder limit (default: 100000; the exchange's own: 10)",
    )
    add(
        "--server-workers",
        type=int,
        default=1,
        help="server processes (exchange serve --workers); CPU is summed over them",
    )
    add("--pool-size", type=int, help="EXCHANGE_DATABASE_POOL_SIZE of the server (default: the exchange's)")
    add("--ceiling-seconds", type=float, help="pgbench -T (default: --seconds)")
    add("--no-ceiling", action="store_true", help="skip pgbench (no ratios; paced needs --paced-rate)")
    add("--shared-dir", help="folder with ceiling_*.sql (default: $BENCH_SHARED_DIR or ../shared/bench)")
    add("--seed-concurrency", type=int, default=8, help="lots seeded at the same time")
    add(
        "--registration-seconds",
        type=float,
        default=120,
        help="registration window of each lot; seeding one lot must fit in it",
    )
    add("--hold-hours", type=float, default=6, help="bidding stays open this long (nothing closes mid-run)")
    add("--port", type=int, help="server port (default: a free one)")
    add("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis of the server (local only)")
    add("--pg-port", type=int, default=5432, help="PostgreSQL port on 127.0.0.1 (user postgres, trust auth)")
    add("--admin-db", default="test", help="database used to CREATE/DROP the scratch databases")
    add(
        "--server-env",
        action="append",
        default=[],
        metavar="EXCHANGE_X=VALUE",
        help=(
            "another environment variable of the server (repeatable), e.g. EXCHANGE_DATABASE_ECHO=1, "
            "or PYTHONPATH=DIR to serve another checkout's code (a before/after comparison)"
        ),
    )
    add(
        "--profile-server",
        metavar="PATH",
        help="run the server under cProfile and write its stats to PATH (read with pstats)",
    )
    add("--keep", action="store_true", help="keep the scratch database and the server log")
    add("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    add("--check", action="store_true", help="exit with status 1 when a target is missed")
    return parser


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bench-bids-"))
    try:
        yield path
    finally:
        if keep:
            say(f"kept {path} (server.log)")
        else:
            shutil.rmtree(path, ignore_errors=True)


async def _clean_redis(url: str, prefix: str) -> int:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        return len(keys)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        parser.error("only a local Redis (127.0.0.1) is used")
    if args.hot_bidders < 3 or args.bidders_per_lot < 3:
        parser.error("at least 3 bidders per lot are needed to alternate")
    if args.paced_bidders is not None and args.paced_bidders < 4:
        parser.error("--paced-bidders: at least 4 (the last two bidders and the leader wait)")
    if args.paced_in_flight is not None and args.paced_in_flight < 1:
        parser.error("--paced-in-flight: at least 1")
    # PYTHONPATH=<another checkout> runs that checkout's server: before/after in one sitting
    bad = [i for i in args.server_env if not i.startswith(("EXCHANGE_", "PYTHONPATH=")) or "=" not in i]
    if bad:
        parser.error(f"--server-env takes EXCHANGE_NAME=VALUE or PYTHONPATH=DIR, not {bad[0]!r}")
    scenarios = args.scenario or ["hot", "spread", "paced"]
    if args.lots < 1 and "spread" in scenarios:
        scenarios.remove("spread")
    pg = ceiling_mod.Postgres(port=args.pg_port, admin_db=args.admin_db)
    run = secrets.token_hex(3)
    results: list[ScenarioResult] = []
    ceiling: ceiling_mod.Ceiling | None = None
    failure: str | None = None

    if not args.no_ceiling:
        ceiling = ceiling_mod.measure(args.ceiling_seconds or args.seconds, pg=pg, shared=args.shared_dir)
        say(ceiling_mod.table(ceiling))
    paced_rate = args.paced_rate or (ceiling.hot.tps / 2 if ceiling else None)
    if "paced" in scenarios and paced_rate is None:
        say("paced: skipped (no ceiling measured and no --paced-rate)")
        scenarios.remove("paced")
    # the open loop holds at most this many bids in flight; each needs a bidder of its own, and
    # the last two bidders and the leader wait, so the hot lot gets that many bidders plus 4
    paced_in_flight = args.paced_in_flight or max(16, math.ceil((paced_rate or 0) * 2 * P99_TARGET_MS / 1000))
    paced_bidders = args.paced_bidders or paced_in_flight + 4
    hot_lot_bidders = max(args.hot_bidders, paced_bidders if "paced" in scenarios else 0)

    prefix = f"bench-{run}"
    with (
        workdir(args.keep) as tmp,
        ceiling_mod.scratch_database(pg, "bench_exchange", keep=args.keep) as database,
    ):
        config = ServerConfig(
            database=database,
            port=args.port or free_port(),
            redis_url=args.redis_url,
            redis_prefix=prefix,
            bid_rate=args.bid_rate,
            pool_size=args.pool_size,
            workdir=tmp,
            processes=args.server_workers,
            pg=pg,
            profile=Path(args.profile_server).resolve() if args.profile_server else None,
            extra_env=dict(item.split("=", 1) for item in args.server_env),
        )
        server = Server(config)
        say(f"server: database {database}, redis prefix {prefix}, port {config.port}, log {server.log}")
        try:
            origin = server.code_origin()
            say(f"server code: {', '.join(sorted(set(origin)))}")
            wanted = config.extra_env.get("PYTHONPATH")
            if wanted:
                dirs = {Path(d).resolve() for d in wanted.split(os.pathsep) if d}
                if not all(Path(o).resolve() in dirs for o in origin):
                    raise BenchError(
                        f"--server-env PYTHONPATH={wanted}, but the server imports from {origin}"
                    )
            server.start()
            server.cli("users", "add", "--role", "operator", "--username", OPERATOR, "--password", PASSWORD)
            started = time.monotonic()
            seeded = asyncio.run(seed(server.url, config.bank_secret, args, run, hot_lot_bidders))
            say(f"seed: done in {time.monotonic() - started:.0f} s; waiting for the auctions to open ...")
            every = [seeded.hot, *seeded.spread]
            asyncio.run(wait_open(server.url, every, patience=60))
            say(f"auctions: {len(every)} open")
            tokens = [b.token for b in seeded.bidders]
            for name in ("hot", "spread", "paced"):
                if name not in scenarios:
                    continue
                lots = seeded.spread if name == "spread" else [seeded.hot]
                specs = lot_specs(
                    lots,
                    asyncio.run(current_views(server.url, [lot.listing_id for lot in lots])),
                    bidders={"hot": args.hot_bidders, "paced": paced_bidders}.get(name),
                )
                if not specs:
                    raise BenchError(f"{name}: no open lot to bid on")
                tps = None
                if ceiling is not None:
                    tps = ceiling.spread.tps if name == "spread" else ceiling.hot.tps
                say(f"{name}: bidding for {args.seconds:g} s on {len(specs)} lot(s) ...")
                result = drive(
                    name,
                    server.url,
                    tokens,
                    specs,
                    seconds=args.seconds,
                    clients={"hot": args.hot_clients, "spread": args.spread_clients, "paced": 0}[name],
                    workers=args.workers if name == "spread" else 1,
                    strategy=args.strategy,
                    server_pid=server.pid,
                    rate=paced_rate if name == "paced" else None,
                    max_in_flight=paced_in_flight,
                    ceiling_tps=tps if name != "paced" else None,
                )
                results.append(result)
                say(
                    f"{name}: {result.accepted_per_s:.0f} accepted bids/s, p99 {_f(result.p99_ms, '{:.1f}')} ms"
                    + ("" if result.ratio is None else f", {result.ratio:.2f} of the ceiling")
                )
                if server.proc is not None and server.proc.poll() is not None:
                    raise BenchError(f"the server died during {name}:\n{server.tail()}")
        except (BenchError, httpx.HTTPError) as exc:
            failure = str(exc) or repr(exc)
            say(f"FAILED: {failure}")
            say(f"--- server log (tail) ---\n{server.tail()}")
        finally:
            server.stop()
            with contextlib.suppress(Exception):
                asyncio.run(_clean_redis(args.redis_url, prefix))

    print()
    if ceiling is not None:
        print(ceiling_mod.table(ceiling))
        print()
    if results:
        print(report(results))
    if args.json:
        payload = {
            "ceiling": None if ceiling is None else asdict(ceiling),
            "scenarios": [{**asdict(r), "ratio": r.ratio} for r in results],
            "failure": failure,
            "args": vars(args),
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    if failure:
        return 2
    if args.check:
        for r in results:
            if r.name == "paced" and not r.paced_met:
                return 1
            if (
                r.name != "paced"
                and r.ratio is not None
                and r.ratio < (HOT_TARGET if r.name == "hot" else SPREAD_TARGET)
            ):
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
