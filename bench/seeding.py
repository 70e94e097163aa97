"""The bid benchmark's lots and bidders, seeded through the public API (``exchange.demo.seeding``).

A pool of enterprise bidders, one hot lot and ``--lots`` spread lots (english,
land use right), each published, applied to, paid for with a signed bank notice
and approved, with bidding open for hours so that nothing closes during a run.
Seeding is most of a full run's time, so ``--seed-concurrency`` lots seed at
once, each qualifying all its bidders at once; up to a tenth of the spread lots
may fail and are dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx

from bench import BenchError, say
from bench.http_client import KEEPALIVE
from exchange.demo.api import Account, ApiError, expect
from exchange.demo.seeding import RegistrationOver, Seeder, register_bidder
from exchange.money import format_yuan
from listings.samples import attributes_of

PASSWORD = f"Bench-{secrets.token_hex(6)}-9"
"""Of every account the run creates (random per run: nothing here is a real secret)."""
OPERATOR = "benchoperator"

START_PRICE = 100_000_000  # fen: 1,000,000.00 yuan
INCREMENT = 10_000  # fen: 100.00 yuan
DEPOSIT = 20_000_000  # fen: 200,000.00 yuan (land: at least 20% of the start price)
REGISTRATION_LEAD = 3.0
"""Seconds from creating a listing to its registration opening (publish must come first)."""


@dataclass
class SeededLot:
    listing_id: int
    bidders: list[int]
    """Indexes into the bidder pool of the qualified bidders of this lot."""
    opens_at: datetime


@dataclass
class Seeded:
    bidders: list[Account]
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
        "start_price": format_yuan(START_PRICE),
        "increment": format_yuan(INCREMENT),
        "deposit": format_yuan(DEPOSIT),
        "reserve_price": format_yuan(START_PRICE),
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


def client(base_url: str, connections: int, **kwargs: Any) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=min(connections, 64),
        keepalive_expiry=KEEPALIVE,
    )
    return httpx.AsyncClient(base_url=base_url, limits=limits, trust_env=False, **kwargs)


async def seed(
    base_url: str, bank_secret: str, args: argparse.Namespace, run: str, hot_bidders: int | None = None
) -> Seeded:
    """``hot_bidders``: qualified bidders on the hot lot (default --hot-bidders; more for paced)."""
    hot_bidders = max(args.hot_bidders, hot_bidders or 0)
    requests = 0

    async def count(request: httpx.Request) -> None:
        nonlocal requests
        requests += 1

    async with client(
        base_url, args.seed_concurrency * 4, timeout=60, event_hooks={"request": [count]}
    ) as http:
        operator = Account(http, OPERATOR, PASSWORD)
        await operator.login()
        seeder = Seeder(http, operator, bank_secret, txn_prefix="BENCH")

        # the spread lots draw their bidders from the pool they always did (hot lot's extra
        # bidders for paced, beyond it, are registered but bid on the hot lot only)
        spread_pool = max(args.bidders_per_lot, args.hot_bidders, args.bidders)
        pool_size = max(spread_pool, hot_bidders)
        started = time.monotonic()
        gate = asyncio.Semaphore(4)  # Argon2 hashing is deliberately slow; do not pile up

        async def register(i: int) -> Account:
            async with gate:
                return await register_bidder(
                    http, f"b{run}{i:05d}", PASSWORD, f"基准竞买人{i}有限公司", i + 1
                )

        bidders = list(await asyncio.gather(*(register(i) for i in range(pool_size))))
        say(f"seed: {pool_size} bidders registered and logged in ({time.monotonic() - started:.1f} s)")

        async def lot(index: int, members: list[int]) -> SeededLot:
            body = partial(listing_body, index, args.registration_seconds, timedelta(hours=args.hold_hours))
            listing = await seeder.listing(body, lead=REGISTRATION_LEAD, patience=15)
            try:
                await seeder.qualify_all(listing, [bidders[i] for i in members])
            except RegistrationOver as exc:
                raise BenchError(
                    f"{exc} of {args.registration_seconds:g} s: raise --registration-seconds"
                ) from exc
            return SeededLot(listing.listing_id, members, listing.at("bidding_opens_at"))

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
                    seeded: SeededLot | None = await lot(index, members)
                except (BenchError, ApiError) as exc:
                    if index == 0 or len(failed) >= max(3, total // 10):
                        raise
                    failed.append(str(exc))
                    say(f"seed: lot {index} dropped: {exc}")
                    seeded = None
            done += 1
            now = time.monotonic()
            if done == total or now - last_report >= 5:
                last_report = now
                rate = done / (now - started)
                say(
                    f"seed: {done}/{total} lots ({rate:.1f} lots/s, "
                    f"{requests / (now - started):.0f} requests/s, ETA {(total - done) / rate:.0f} s)"
                )
            return seeded

        lots = list(await asyncio.gather(*(one(i) for i in range(total))))
        hot = lots[0]
        assert hot is not None
        return Seeded(bidders, hot, [lot for lot in lots[1:] if lot is not None], failed)


async def wait_open(base_url: str, lots: list[SeededLot], patience: float) -> dict[int, dict[str, Any]]:
    """Poll GET /api/v1/auctions/{id} until every lot is open; returns the views."""
    views: dict[int, dict[str, Any]] = {}
    async with client(base_url, 16, timeout=30) as http:
        latest = max(lot.opens_at for lot in lots)
        deadline = time.monotonic() + max(0.0, (latest - datetime.now(UTC)).total_seconds()) + patience
        pending = [lot.listing_id for lot in lots]
        last: dict[int, str] = {}
        gate = asyncio.Semaphore(16)

        async def look(listing_id: int) -> None:
            async with gate:
                response = await http.get(f"/api/v1/auctions/{listing_id}")
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
    async with client(base_url, 16, timeout=30) as http:
        gate = asyncio.Semaphore(16)

        async def look(listing_id: int) -> tuple[int, dict[str, Any]]:
            async with gate:
                response = await http.get(f"/api/v1/auctions/{listing_id}")
            return listing_id, expect(response, 200, f"read auction {listing_id}")

        return dict(await asyncio.gather(*(look(i) for i in listing_ids)))
