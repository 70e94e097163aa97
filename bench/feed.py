"""Live feed latency: from a bid's acknowledgement to its delivery to every WebSocket watcher.

What it does, in one run:

1. creates a scratch database and starts ``.venv/bin/exchange serve`` on 127.0.0.1 with
   the sandbox profile, PostgreSQL and Redis (a random key prefix), as bench/bids.py does;
2. seeds through the public API (bench/seeding.py, as bench/bids.py): an operator, a pool of bidders,
   one hot lot and ``--lots`` (100) more english lots, each with qualified bidders, and
   waits until every auction is open;
3. for each scenario, ``--watcher-procs`` processes open ``--watchers`` (2,000)
   WebSockets ``/api/v1/auctions/{id}/feed`` in total:

   - ``one``      every watcher on the hot lot
   - ``hundred``  the watchers spread evenly over 100 lots

   then this process bids at ``--rate`` bids/s (open loop, round robin over the lots, the
   lot's bidders taking turns) for ``--seconds``;
4. matches every delivered ``bid`` event to its acknowledgement by (lot, seq): latency is
   the watcher's receive time minus the moment the bidder had its 201 (both
   ``time.monotonic()``, one clock for every process on Linux). The exchange publishes a
   bid before it answers, so a delivery often beats the 201: it counts as 0 ms and is
   counted apart. Because of that the report also gives send -> delivery (from the moment
   the bid was sent), which shows the fan-out itself. Missing, duplicated and out-of-order
   deliveries are counted too.

Target: 2,000 watchers, p99 <= 1 s. (Issue 7 asked for 200 ms; since issue 19 these anonymous
watchers are the public, paced to a frame every 250 ms, and a public watcher's target is 1 s:
bench/crowd.py measures the crowd, with bidders who get every event at once.) ``--batch`` asks
for ``batch=true`` frames. Run ``.venv/bin/python -m bench.feed --help``. Only 127.0.0.1 is
contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import secrets
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import BenchError, say
from bench import ceiling as ceiling_mod
from bench.http_client import KEEPALIVE
from bench.loadgen import fen
from bench.scenarios import percentile
from bench.seeding import INCREMENT, OPERATOR, PASSWORD, SeededLot, current_views, seed, wait_open
from bench.server import Server, ServerConfig, clean_redis, free_port, machine_busy, process_cpu, workdir
from exchange.demo.api import ApiError, problem_code
from exchange.money import format_yuan

P99_TARGET_MS = 1000.0

Receipt = tuple[int, int, float]
"""(listing id, seq, time.monotonic() at receipt) of one delivered bid event."""


# ---------------------------------------------------------------- watchers (separate processes)


async def _watch_all(
    ws_base: str,
    listing_ids: list[int],
    after: dict[int, int],
    compression: bool,
    ready: Connection,
    stop: Event,
    batch: bool = False,
) -> tuple[list[Receipt], dict[str, int]]:
    import websockets

    receipts: list[Receipt] = []
    problems: Counter[str] = Counter()
    gate = asyncio.Semaphore(64)
    sockets: list[Any] = []

    async def connect(listing_id: int) -> Any:
        for attempt in range(5):
            async with gate:
                try:
                    return await websockets.connect(
                        f"{ws_base}/api/v1/auctions/{listing_id}/feed?after_seq={after[listing_id]}"
                        + ("&batch=true" if batch else ""),
                        ping_interval=None,  # the server's heartbeats are enough
                        compression="deflate" if compression else None,
                        open_timeout=60,
                        max_queue=None,
                    )
                except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                    problems[f"connect: {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.2 * (attempt + 1))
        return None

    async def receive(ws: Any, listing_id: int) -> None:
        decode = msgspec.json.decode
        now = time.monotonic
        last = 0
        try:
            async for raw in ws:
                at = now()
                frame = decode(raw)
                for event in frame["events"] if frame.get("kind") == "batch" else [frame]:
                    seq = int(event.get("seq", 0))
                    if seq:
                        if seq <= last:
                            problems["out of order"] += 1  # a duplicate or a step back on this socket
                        last = max(last, seq)
                    if event.get("kind") == "bid":
                        receipts.append((listing_id, seq, at))
        except websockets.ConnectionClosed as exc:
            problems[f"closed by the server: {exc.rcvd.code if exc.rcvd else '?'}"] += 1

    connected = await asyncio.gather(*(connect(i) for i in listing_ids))
    tasks = []
    for ws, listing_id in zip(connected, listing_ids, strict=True):
        if ws is None:
            problems["never connected"] += 1
            continue
        sockets.append(ws)
        tasks.append(asyncio.create_task(receive(ws, listing_id)))
    ready.send(len(sockets))
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return receipts, dict(problems)


def _watcher_process(
    ws_base: str,
    listing_ids: list[int],
    after: dict[int, int],
    compression: bool,
    ready: Connection,
    stop: Event,
    out: Connection,
    batch: bool = False,
) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    receipts, problems = asyncio.run(_watch_all(ws_base, listing_ids, after, compression, ready, stop, batch))
    out.send((receipts, problems))


# ---------------------------------------------------------------- the bidder (this process)


@dataclass
class Lot:
    listing_id: int
    tokens: list[str]
    next_amount: int
    last_seq: int
    """Where the watchers start (after_seq): only events of this run are timed."""
    turn: int = 0
    busy: bool = False


async def _drive(
    base_url: str, lots: list[Lot], rate: float, seconds: float
) -> tuple[dict[tuple[int, int], tuple[float, float]], Counter[str]]:
    """Bid; returns (sent, acknowledged) monotonic times by (lot, seq), and the outcomes."""
    acks: dict[tuple[int, int], tuple[float, float]] = {}
    outcomes: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=32, keepalive_expiry=KEEPALIVE)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30, trust_env=False) as client:

        async def bid(lot: Lot) -> None:
            lot.busy = True
            try:
                token = lot.tokens[lot.turn % len(lot.tokens)]
                sent_at = time.monotonic()
                response = await client.post(
                    f"/api/v1/auctions/{lot.listing_id}/bids",
                    json={"amount": format_yuan(lot.next_amount)},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(12)},
                )
                at = time.monotonic()
                if response.status_code == 201:
                    acks[(lot.listing_id, int(response.json()["seq"]))] = (sent_at, at)
                    lot.next_amount += INCREMENT
                    lot.turn += 1
                    outcomes["201"] += 1
                else:
                    outcomes[problem_code(response)] += 1
                    view = (await client.get(f"/api/v1/auctions/{lot.listing_id}")).json()
                    lot.next_amount = fen(view["next_min_bid"])
                    lot.turn += 1
            except httpx.HTTPError as exc:
                outcomes[type(exc).__name__] += 1
            finally:
                lot.busy = False

        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        sent = 0
        index = 0
        while (now := time.monotonic()) < started + seconds:
            due = started + sent / rate
            if due > now:
                await asyncio.sleep(due - now)
            sent += 1
            for _ in range(len(lots)):  # the next lot without a bid in flight
                lot = lots[index % len(lots)]
                index += 1
                if not lot.busy:
                    task = asyncio.create_task(bid(lot))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    break
            else:
                outcomes["skipped: every lot busy"] += 1
        await asyncio.gather(*tasks)
    return acks, outcomes


# ---------------------------------------------------------------- one scenario


@dataclass
class Figures:
    scenario: str
    watchers: int
    lots: int
    rate: float
    seconds: float
    bids_acked: int
    deliveries: int
    expected: int
    missing: int
    duplicates: int
    out_of_order: int
    before_ack: int
    sent_p50_ms: float | None
    sent_p99_ms: float | None
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    """send -> 201 as the bidder saw it."""
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_cpu_pct: float
    watchers_cpu_pct: float
    machine_cpu_pct: float
    connect_seconds: float
    problems: dict[str, int]
    outcomes: dict[str, int]


def run_scenario(name: str, server: Server, lots: list[Lot], args: argparse.Namespace) -> Figures:
    ws_base = server.url.replace("http://", "ws://")
    assignment = [lots[i % len(lots)].listing_id for i in range(args.watchers)]
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    procs, readies, outs = [], [], []
    for k in range(args.watcher_procs):
        ready_recv, ready_send = ctx.Pipe(duplex=False)
        out_recv, out_send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_watcher_process,
            args=(
                ws_base,
                assignment[k :: args.watcher_procs],
                {lot.listing_id: lot.last_seq for lot in lots},
                args.compression == "deflate",
                ready_send,
                stop,
                out_send,
                args.batch,
            ),
            daemon=True,
        )
        proc.start()
        procs.append(proc)
        readies.append(ready_recv)
        outs.append(out_recv)
    started = time.monotonic()
    connected = sum(int(r.recv()) for r in readies)
    connect_seconds = time.monotonic() - started
    say(
        f"{name}: {connected}/{args.watchers} watchers connected in {connect_seconds:.1f} s on {len(lots)} lot(s)"
    )
    time.sleep(2)  # let the handshakes' replays and the first heartbeats settle

    cpu0, (busy0, total0) = process_cpu(server.pid), machine_busy()
    watchers0 = sum(process_cpu(p.pid or 0) for p in procs)
    t0 = time.monotonic()
    acks, outcomes = asyncio.run(_drive(server.url, lots, args.rate, args.seconds))
    time.sleep(args.drain)  # deliveries still on their way
    wall = time.monotonic() - t0
    cpu1, (busy1, total1) = process_cpu(server.pid), machine_busy()
    watchers1 = sum(process_cpu(p.pid or 0) for p in procs)
    stop.set()
    receipts: list[Receipt] = []
    problems: Counter[str] = Counter()
    for out in outs:
        got, trouble = out.recv()
        receipts.extend(got)
        problems.update(trouble)
    for proc in procs:
        proc.join(30)

    watchers_per_lot = Counter(assignment)
    expected = sum(watchers_per_lot[listing_id] for listing_id, _ in acks)
    latencies: list[float] = []
    from_send: list[float] = []
    before = duplicates = 0
    seen: dict[tuple[int, int], int] = defaultdict(int)
    for listing_id, seq, at in receipts:
        seen[(listing_id, seq)] += 1
        times = acks.get((listing_id, seq))
        if times is None:
            continue  # a bid acknowledged after the driver stopped listening, or not ours
        sent_at, acked = times
        from_send.append((at - sent_at) * 1000)
        delta = (at - acked) * 1000
        if delta < 0:
            before += 1
        latencies.append(max(0.0, delta))
    for key, count in seen.items():
        duplicates += max(0, count - watchers_per_lot[key[0]])
    out_of_order = problems.pop("out of order", 0)
    delivered = sum(1 for listing_id, seq, _ in receipts if (listing_id, seq) in acks)
    latencies.sort()
    from_send.sort()
    ack_times = sorted((acked - sent) * 1000 for sent, acked in acks.values())
    return Figures(
        scenario=name,
        watchers=connected,
        lots=len(lots),
        rate=args.rate,
        seconds=args.seconds,
        bids_acked=len(acks),
        deliveries=delivered,
        expected=expected,
        missing=max(0, expected - delivered),
        duplicates=duplicates,
        out_of_order=out_of_order,
        before_ack=before,
        sent_p50_ms=percentile(from_send, 0.50),
        sent_p99_ms=percentile(from_send, 0.99),
        ack_p50_ms=percentile(ack_times, 0.50),
        ack_p99_ms=percentile(ack_times, 0.99),
        p50_ms=percentile(latencies, 0.50),
        p90_ms=percentile(latencies, 0.90),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else None,
        server_cpu_pct=100 * (cpu1 - cpu0) / wall,
        watchers_cpu_pct=100 * (watchers1 - watchers0) / wall,
        machine_cpu_pct=100 * (busy1 - busy0) / max(1e-9, total1 - total0),
        connect_seconds=connect_seconds,
        problems=dict(problems),
        outcomes=dict(outcomes),
    )


# ---------------------------------------------------------------- the run


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def report(results: list[Figures]) -> str:
    lines = [
        "| scenario | watchers | lots | bids/s | acked bids | deliveries (expected) | p50 ms | p90 ms "
        "| p99 ms | max ms | target | send -> delivery p50 / p99 ms | send -> 201 p50 / p99 ms "
        "| CPU % server / watchers / machine |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |",
    ]
    for r in results:
        met = r.p99_ms is not None and r.p99_ms <= P99_TARGET_MS and r.missing == 0
        lines.append(
            f"| {r.scenario} | {r.watchers:,} | {r.lots} | {r.rate:g} | {r.bids_acked} "
            f"| {r.deliveries:,} ({r.expected:,}) | {_f(r.p50_ms)} | {_f(r.p90_ms)} | {_f(r.p99_ms)} "
            f"| {_f(r.max_ms)} | p99 <= {P99_TARGET_MS:g}: {'met' if met else '**missed**'} "
            f"| {_f(r.sent_p50_ms)} / {_f(r.sent_p99_ms)} | {_f(r.ack_p50_ms)} / {_f(r.ack_p99_ms)} "
            f"| {r.server_cpu_pct:.0f} / {r.watchers_cpu_pct:.0f} / {r.machine_cpu_pct:.0f} |"
        )
    for r in results:
        lines.append(
            f"{r.scenario}: missing {r.missing}, duplicates {r.duplicates}, out of order {r.out_of_order}, "
            f"before the 201 {r.before_ack}, connecting took {r.connect_seconds:.1f} s, "
            f"bid outcomes {r.outcomes}, watcher problems {r.problems or 'none'}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed",
        description="Latency from a bid's 201 to its delivery to WebSocket watchers (see bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--watchers", type=int, default=2000, help="WebSocket watchers per scenario")
    add("--watcher-procs", type=int, default=2, help="processes holding the watchers")
    add("--scenario", action="append", choices=["one", "hundred"], help="repeatable; default: both")
    add("--lots", type=int, default=100, help="lots of the 'hundred' scenario")
    add("--rate", type=float, default=5.0, help="bids per second, open loop")
    add("--seconds", type=float, default=20.0, help="how long bids arrive")
    add("--drain", type=float, default=5.0, help="seconds to wait for late deliveries after the last bid")
    add(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="permessage-deflate as browsers offer it, or none",
    )
    add("--batch", action="store_true", help="watchers ask for batch=true frames (issue 19)")
    add("--registration-seconds", type=float, default=90, help="registration window of each seeded lot")
    add("--seed-concurrency", type=int, default=8, help="lots seeded at the same time")
    add("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis of the server (local only)")
    add("--pg-port", type=int, default=5432, help="PostgreSQL port on 127.0.0.1 (user postgres, trust auth)")
    add("--admin-db", default="test", help="database used to CREATE/DROP the scratch database")
    add("--server-env", action="append", default=[], metavar="EXCHANGE_X=VALUE", help="more server settings")
    add("--keep", action="store_true", help="keep the scratch database and the server log")
    add("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    add("--check", action="store_true", help="exit with status 1 when the target is missed")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        parser.error("only a local Redis (127.0.0.1) is used")
    scenarios = args.scenario or ["one", "hundred"]
    pg = ceiling_mod.Postgres(port=args.pg_port, admin_db=args.admin_db)
    run = secrets.token_hex(3)
    prefix = f"bench-feed-{run}"
    seed_args = argparse.Namespace(
        lots=args.lots if "hundred" in scenarios else 0,
        hot_bidders=3,
        bidders_per_lot=3,
        bidders=6,
        seed_concurrency=args.seed_concurrency,
        registration_seconds=args.registration_seconds,
        hold_hours=6,
    )
    results: list[Figures] = []
    failure: str | None = None
    with (
        workdir(args.keep) as tmp,
        ceiling_mod.scratch_database(pg, "bench_feed", keep=args.keep) as database,
    ):
        config = ServerConfig(
            database=database,
            port=free_port(),
            redis_url=args.redis_url,
            redis_prefix=prefix,
            bid_rate=100_000,
            pool_size=None,
            workdir=tmp,
            pg=pg,
            extra_env=dict(item.split("=", 1) for item in args.server_env),
        )
        server = Server(config)
        say(f"server: database {database}, redis prefix {prefix}, port {config.port}, log {server.log}")
        try:
            server.start()
            server.cli("users", "add", "--role", "operator", "--username", OPERATOR, "--password", PASSWORD)
            started = time.monotonic()
            seeded = asyncio.run(seed(server.url, config.bank_secret, seed_args, run))
            say(f"seed: done in {time.monotonic() - started:.0f} s; waiting for the auctions to open ...")
            every = [seeded.hot, *seeded.spread]
            asyncio.run(wait_open(server.url, every, patience=120))
            tokens = [b.token for b in seeded.bidders]

            def lots_of(seeded_lots: list[SeededLot]) -> list[Lot]:
                fresh = asyncio.run(current_views(server.url, [s.listing_id for s in seeded_lots]))
                return [
                    Lot(
                        s.listing_id,
                        [tokens[i] for i in s.bidders],
                        fen(fresh[s.listing_id]["next_min_bid"]),
                        int(fresh[s.listing_id]["last_seq"]),
                    )
                    for s in seeded_lots
                ]

            for name in scenarios:
                lots = lots_of([seeded.hot] if name == "one" else seeded.spread[: args.lots])
                result = run_scenario(name, server, lots, args)
                results.append(result)
                say(
                    f"{name}: p50 {_f(result.p50_ms)} ms, p99 {_f(result.p99_ms)} ms, missing {result.missing}"
                )
                if server.proc is not None and server.proc.poll() is not None:
                    raise BenchError(f"the server died during {name}:\n{server.tail()}")
        except (BenchError, ApiError, httpx.HTTPError) as exc:
            failure = str(exc) or repr(exc)
            say(f"FAILED: {failure}")
            say(f"--- server log (tail) ---\n{server.tail()}")
        finally:
            server.stop()
            with contextlib.suppress(Exception):
                asyncio.run(clean_redis(args.redis_url, prefix))
    print()
    if results:
        print(report(results))
    if args.json:
        payload = {"scenarios": [asdict(r) for r in results], "failure": failure, "args": vars(args)}
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    if failure:
        return 2
    if args.check and any(r.p99_ms is None or r.p99_ms > P99_TARGET_MS or r.missing for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
