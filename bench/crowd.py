"""Fair under a crowd (issue 19): the last minute of a famous auction, with thousands watching.

What one run does:

1. creates a scratch PostgreSQL database and starts one **intake** instance
   (``exchange serve``, sandbox profile, Redis under a random key prefix, as bench/bids.py)
   and ``--feed-instances`` (2) **feed** instances on the same database and Redis (other
   ports, ``EXCHANGE_ISSUE_DOCUMENTS=0``: they only serve WebSockets);
2. seeds through the public API (bench/seeding.py): one english lot with ``--bidders``
   (200) qualified bidders, then opens its bidding at once as an operator does (中止, then
   恢复 with a schedule whose registration has ended);
3. runs each scenario, in this order by default:

   - ``baseline``  no watchers at all: the bidders' 201 latency on its own;
   - ``split``     ``--watchers`` (5,000) public watchers and a feed socket per bidder, all on
                   the feed instances (round robin), bids on the intake;
   - ``single``    the same crowd on the intake instance itself (the arrangement before issue 19);

   In each, the bidders offer ``--rate`` (100) bids/s for ``--seconds`` (20), open loop
   (bench/loadgen.py on bench/http_client.py, ladder strategy, at most ``--in-flight`` in
   flight), while the watchers sit in their own processes (``--watcher-procs`` for the
   public, one for the bidders' sockets), each socket a raw asyncio WebSocket client
   (bench/ws_client.py). The public watchers ask for ``batch=true`` frames
   (``--public-mode plain`` for one message per event); the bidders' sockets carry their
   bearer token and take one message per event, as the hall does.
4. measures, with ``time.monotonic()`` (one clock for every process on Linux):

   - bidder send -> 201, p50/p99, and every offered bid answered (sent and answered);
   - bidders' feed: send -> delivery of every bid on every bidder socket, p99, and each
     socket's events in order with no gap and no duplicate;
   - public watchers: staleness, the time from a bid's 201 to the frame that carries it,
     over every (watcher, bid) pair, p50/p99/max, and bids missed;
   - CPU of each process over the bidding, the machine's, and its load average before.

Targets (issue 19): 201 p99 <= 50 ms with every bid answered; bidders' feed p99 <= 200 ms
in order, no gap, no duplicate; public staleness p99 <= 1 s, no bid missed; the 201 p99
within 20 % of the baseline of the same run. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import secrets
import subprocess
import sys
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import BenchError, say
from bench import ceiling as ceiling_mod
from bench.http_client import HttpError
from bench.loadgen import Driver, LotSpec, WorkResult, WorkSpec, fen, problem_of
from bench.scenarios import percentile
from bench.seeding import INCREMENT, OPERATOR, PASSWORD, current_views, seed, wait_open
from bench.server import Server, ServerConfig, clean_redis, free_port, machine_busy, process_cpu, workdir
from bench.ws_client import HandshakeError, connect
from exchange.demo.api import ApiError, expect

ACK_P99_MS = 50.0
BIDDER_FEED_P99_MS = 200.0
STALENESS_P99_MS = 1000.0
BASELINE_SLACK = 1.2
HISTOGRAM_MS = 10_000
"""Latencies are counted in 1 ms buckets up to this, and above it in one more."""
CHEAP_ARGON2 = {"EXCHANGE_ARGON2_TIME_COST": "1", "EXCHANGE_ARGON2_MEMORY_KIB": "8192"}
"""Seeding registers and logs in hundreds of bidders: two Argon2 hashes each (bids never hash)."""


# ---------------------------------------------------------------- the watchers (their own processes)


SEQ = b'"seq":'
"""How every event names its sequence number (and nothing else does: a heartbeat says last_seq)."""


def _seq_at(payload: bytes, at: int) -> int:
    start = at + len(SEQ)
    end = start
    while payload[end] in b"0123456789":
        end += 1
    return int(payload[start:end])


@dataclass
class WatchSpec:
    name: str
    host: str
    ports: list[int]
    listing_id: int
    after_seq: int
    count: int
    tokens: list[str] | None
    """One per socket (the bidders), or None (the public)."""
    batch: bool
    deflate: bool
    gate: int = 100
    """Handshakes at once."""
    nice: int = 0
    cpus: list[int] | None = None


@dataclass
class WatchResult:
    name: str
    sockets: int = 0
    connect_failures: int = 0
    connect_seconds: float = 0.0
    frames: int = 0
    events: int = 0
    pairs: int = 0
    """(socket, bid) deliveries timed."""
    expected_pairs: int = 0
    missed: int = 0
    """(socket, bid) pairs never delivered."""
    gaps: int = 0
    duplicates: int = 0
    """Events at or below what the socket had already seen (a duplicate or a step back)."""
    reconnects: int = 0
    closes: dict[str, int] = field(default_factory=dict)
    before_ref: int = 0
    """Deliveries before their reference time (a frame before the bidder had its 201)."""
    histogram: list[int] = field(default_factory=list)
    max_ms: float = 0.0


class _Watched:
    """One socket's record: its frames as (time, first seq, last seq), and what went wrong."""

    __slots__ = ("duplicates", "frames", "gaps", "last")

    def __init__(self, after: int) -> None:
        self.frames: list[tuple[float, int, int]] = []
        self.gaps = 0
        self.duplicates = 0
        self.last = after

    def take(self, at: float, payload: bytes) -> None:
        # Only the first and the last seq of a frame are read, by hand: a JSON decode of every
        # event cost the watchers' processes more CPU than the feed instances spent sending.
        first_at = payload.find(SEQ)
        if first_at < 0:
            return  # a heartbeat
        last_at = payload.rfind(SEQ)
        first, last = _seq_at(payload, first_at), _seq_at(payload, last_at)
        if last - first + 1 != payload.count(SEQ):
            self.gaps += 1  # a batch with a hole or a repeat inside
        if first <= self.last:
            self.duplicates += 1
        elif first > self.last + 1:
            self.gaps += first - self.last - 1
        self.last = max(self.last, last)
        self.frames.append((at, first, last))


async def _watch(spec: WatchSpec, stop: Event, ready: Connection) -> tuple[list[_Watched], WatchResult]:
    result = WatchResult(spec.name)
    watched = [_Watched(spec.after_seq) for _ in range(spec.count)]
    closes: Counter[str] = Counter()
    gate = asyncio.Semaphore(spec.gate)
    stopping = False
    query = "&batch=true" if spec.batch else ""

    async def keep(i: int) -> None:
        """Connect socket ``i``, and reconnect it from its last seq whenever the server closes it."""
        record = watched[i]
        port = spec.ports[i % len(spec.ports)]
        token = spec.tokens[i] if spec.tokens else None
        failures = 0
        while not stopping:
            path = f"/api/v1/auctions/{spec.listing_id}/feed?after_seq={record.last}{query}"
            try:
                async with gate:
                    sock = await connect(spec.host, port, path, record.take, token, spec.deflate)
            except (OSError, HandshakeError, TimeoutError):
                failures += 1
                result.connect_failures += 1
                if failures > 20:
                    return
                await asyncio.sleep(0.1 * failures)
                continue
            failures = 0
            if i not in opened:
                opened.add(i)
                if len(opened) == spec.count:
                    all_open.set()
            code = await sock.closed
            if not stopping:
                closes[str(code)] += 1
                result.reconnects += 1

    opened: set[int] = set()
    all_open = asyncio.Event()
    started = time.monotonic()
    tasks = [asyncio.create_task(keep(i)) for i in range(spec.count)]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(180):
            await all_open.wait()
    result.sockets = len(opened)
    result.connect_seconds = time.monotonic() - started
    ready.send((result.sockets, result.connect_failures, result.connect_seconds))
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    stopping = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    result.closes = dict(closes)
    return watched, result


def _analyse(watched: list[_Watched], result: WatchResult, refs: list[tuple[int, float]]) -> WatchResult:
    """Every (socket, bid) pair: delivery time minus the bid's reference time, in a histogram."""
    refs.sort()
    seqs = [seq for seq, _ in refs]
    times = [at for _, at in refs]
    histogram = [0] * (HISTOGRAM_MS + 2)
    top = HISTOGRAM_MS + 1
    worst = 0.0
    pairs = before = missed = 0
    for record in watched:
        seen = bytearray(len(seqs))
        result.frames += len(record.frames)
        result.gaps += record.gaps
        result.duplicates += record.duplicates
        for at, first, last in record.frames:
            result.events += last - first + 1
            lo, hi = bisect_left(seqs, first), bisect_right(seqs, last)
            for k in range(lo, hi):
                if seen[k]:
                    continue
                seen[k] = 1
                delta = (at - times[k]) * 1000
                if delta < 0:
                    before += 1
                    delta = 0.0
                worst = max(worst, delta)
                histogram[min(top, int(delta))] += 1
                pairs += 1
        missed += len(seqs) - sum(seen)
    result.histogram = histogram
    result.max_ms = worst
    result.pairs = pairs
    result.before_ref = before
    result.missed = missed
    result.expected_pairs = len(seqs) * len(watched)
    return result


def _watcher_process(
    spec: WatchSpec, ready: Connection, stop: Event, refs: Connection, out: Connection
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.nice(spec.nice)
    if spec.cpus:
        os.sched_setaffinity(0, spec.cpus)
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    watched, result = runner(_watch(spec, stop, ready))
    references: list[tuple[int, float]] = refs.recv()
    out.send(_analyse(watched, result, references))


# ---------------------------------------------------------------- the bidders (this process)


class _Accepted(msgspec.Struct):
    seq: int = 0


_read_accepted = msgspec.json.Decoder(_Accepted).decode


class CrowdDriver(Driver):
    """bench/loadgen.py's open loop, which also keeps (seq, sent, 201) of every accepted bid."""

    def __init__(self, spec: WorkSpec) -> None:
        super().__init__(spec)
        self.acks: list[tuple[int, float, float]] = []

    async def bid(self, pool: Any, lot: Any, bidder: int, amount: int) -> None:
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
        sent = time.monotonic()
        try:
            status, content = await pool.request(data)
        except HttpError as exc:
            lot.release(bidder)
            result.errors += 1
            result.error_sample = result.error_sample or repr(exc)
            return
        answered = time.monotonic()
        took = (answered - sent) * 1000
        lot.release(bidder)
        result.all_ms.append(took)
        if status == 201:
            result.accepted += 1
            result.ack_ms.append(took)
            self.acks.append((_read_accepted(content).seq, sent, answered))
            lot.accepted(bidder, amount)
            return
        code, next_min_bid = problem_of(status, content)
        self.rejected[code] += 1
        if status >= 500 and not result.error_sample:
            result.error_sample = f"HTTP {status} {content[:300].decode(errors='replace')}"
        if code == "already_leading":
            lot.leader = bidder
        if next_min_bid is not None:
            lot.learn(fen(next_min_bid))
        elif code in ("bid_below_minimum", "bid_not_on_increment", "already_leading"):
            await self.refresh(pool, lot)


async def _bid(spec: WorkSpec) -> tuple[WorkResult, list[tuple[int, float, float]]]:
    driver = CrowdDriver(spec)
    result = await driver.run()
    return result, driver.acks


# ---------------------------------------------------------------- one scenario


@dataclass
class Figures:
    scenario: str
    feed_instances: int
    public_watchers: int
    bidder_sockets: int
    load_before: tuple[float, float, float]
    offered: int
    sent: int
    answered: int
    accepted: int
    rejected: dict[str, int]
    errors: int
    not_sent: int
    """Sends due that found no free bidder or the in-flight limit reached."""
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    answer_p99_ms: float | None
    bidders: WatchResult | None
    public: WatchResult | None
    cpu_pct: dict[str, float]
    error_sample: str = ""


def _hist_percentile(histogram: list[int], q: float) -> float | None:
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    running = 0
    for ms, count in enumerate(histogram):
        running += count
        if running >= rank:
            return float(ms + 1) if ms <= HISTOGRAM_MS else float("inf")
    return None


def _merge(results: list[WatchResult], name: str) -> WatchResult:
    total = WatchResult(name, histogram=[0] * (HISTOGRAM_MS + 2))
    closes: Counter[str] = Counter()
    for r in results:
        for attribute in (
            "sockets",
            "connect_failures",
            "frames",
            "events",
            "pairs",
            "expected_pairs",
            "missed",
            "gaps",
            "duplicates",
            "reconnects",
            "before_ref",
        ):
            setattr(total, attribute, getattr(total, attribute) + getattr(r, attribute))
        total.connect_seconds = max(total.connect_seconds, r.connect_seconds)
        total.max_ms = max(total.max_ms, r.max_ms)
        total.histogram = [a + b for a, b in zip(total.histogram, r.histogram, strict=True)]
        closes.update(r.closes)
    total.closes = dict(closes)
    return total


def _loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def run_scenario(
    name: str,
    intake: Server,
    feeds: list[Server],
    listing_id: int,
    tokens: list[str],
    args: argparse.Namespace,
) -> Figures:
    ctx = multiprocessing.get_context("spawn")
    view = httpx.get(f"{intake.url}/api/v1/auctions/{listing_id}", timeout=30, trust_env=False).json()
    after, next_min = int(view["last_seq"]), fen(view["next_min_bid"])
    servers = feeds if name == "split" else [intake]
    ports = [server.config.port for server in servers]
    specs: list[WatchSpec] = []
    if name != "baseline":
        procs = max(1, args.watcher_procs)
        share = [args.watchers // procs + (1 if k < args.watchers % procs else 0) for k in range(procs)]
        for k, count in enumerate(share):
            if count:
                specs.append(
                    WatchSpec(
                        f"public-{k}",
                        "127.0.0.1",
                        ports[k % len(ports) :] + ports[: k % len(ports)],
                        listing_id,
                        after,
                        count,
                        None,
                        args.public_mode == "batch",
                        args.compression == "deflate",
                        nice=args.watcher_nice,
                        cpus=args.crowd_cpus,
                    )
                )
        if args.bidders_watch:
            specs.append(
                WatchSpec(
                    "bidders",
                    "127.0.0.1",
                    ports,
                    listing_id,
                    after,
                    len(tokens),
                    tokens,
                    args.bidder_mode == "batch",
                    args.compression == "deflate",
                    nice=args.watcher_nice,
                    cpus=args.crowd_cpus,
                )
            )
    stop = ctx.Event()
    running = []
    for spec in specs:
        ready_recv, ready_send = ctx.Pipe(duplex=False)
        refs_recv, refs_send = ctx.Pipe(duplex=False)
        out_recv, out_send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_watcher_process, args=(spec, ready_send, stop, refs_recv, out_send), daemon=True
        )
        proc.start()
        running.append((spec, proc, ready_recv, refs_send, out_recv))
    for spec, _proc, ready_recv, _, _ in running:
        if not ready_recv.poll(240):
            raise BenchError(f"{spec.name}: the watchers did not connect in 240 s")
        sockets, failures, seconds = ready_recv.recv()
        say(
            f"{name}: {spec.name}: {sockets}/{spec.count} sockets open in {seconds:.1f} s ({failures} failures)"
        )
    if running:
        time.sleep(args.settle)

    load = _loadavg()
    say(
        f"{name}: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; bidding {args.rate:g}/s for {args.seconds:g} s"
    )
    pids = {"intake": [intake.pid], "feeds": [s.pid for s in feeds if s is not intake]}
    pids["public watchers"] = [p.pid or 0 for s, p, *_ in running if s.tokens is None]
    pids["bidder sockets"] = [p.pid or 0 for s, p, *_ in running if s.tokens is not None]
    cpu0 = {key: sum(process_cpu(pid) for pid in group) for key, group in pids.items()}
    busy0, total0 = machine_busy()
    in_flight = args.in_flight or max(16, round(args.rate * 0.1))
    work_spec = WorkSpec(
        base_url=intake.url,
        tokens=tokens,
        lots=[LotSpec(listing_id, INCREMENT, next_min, list(range(len(tokens))))],
        seconds=args.seconds,
        clients=1,
        strategy="ladder",
        rate=args.rate,
        max_in_flight=in_flight,
        warm=min(in_flight, 16),
    )
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    profilers = _start_profilers(name, pids, args) if args.profile else []
    started = time.monotonic()
    work, acks = runner(_bid(work_spec))
    time.sleep(args.drain)
    wall = time.monotonic() - started
    for profiler in profilers:
        profiler.wait(60)
    cpu1 = {key: sum(process_cpu(pid) for pid in group) for key, group in pids.items()}
    busy1, total1 = machine_busy()
    stop.set()

    results: list[WatchResult] = []
    for spec_, _, _, refs_send, _ in running:
        # the public is timed from each bid's 201, the bidders from the moment it was sent
        refs = [(seq, acked if spec_.tokens is None else sent) for seq, sent, acked in acks]
        refs_send.send(refs)
    for spec_, proc, _, _, out_recv in running:
        if not out_recv.poll(600):
            raise BenchError(f"{spec_.name}: no result")
        results.append(out_recv.recv())
        proc.join(30)

    cpu = {key: 100 * (cpu1[key] - cpu0[key]) / wall for key in pids if pids[key]}
    cpu["bidders (HTTP)"] = 100 * work.client_cpu / max(1e-9, work.elapsed)
    cpu["machine"] = 100 * (busy1 - busy0) / max(1e-9, total1 - total0)
    ack = sorted(work.ack_ms)
    every = sorted(work.all_ms)
    public = [r for r in results if r.name.startswith("public")]
    bidders = [r for r in results if r.name == "bidders"]
    answered = len(work.all_ms)
    return Figures(
        scenario=name,
        feed_instances=len(feeds) if name == "split" else 0,
        public_watchers=sum(r.sockets for r in public),
        bidder_sockets=sum(r.sockets for r in bidders),
        load_before=load,
        offered=round(args.rate * args.seconds),
        sent=work.sent,
        answered=answered,
        accepted=work.accepted,
        rejected=dict(work.rejected),
        errors=work.errors,
        not_sent=work.skipped + work.capped,
        ack_p50_ms=percentile(ack, 0.50),
        ack_p99_ms=percentile(ack, 0.99),
        answer_p99_ms=percentile(every, 0.99),
        bidders=_merge(bidders, "bidders") if bidders else None,
        public=_merge(public, "public") if public else None,
        cpu_pct=cpu,
        error_sample=work.error_sample,
    )


def _renice(pid: int, niceness: int, cpus: list[int] | None) -> None:
    """Every thread of a process (Linux niceness and affinity are per thread)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
            if cpus:
                os.sched_setaffinity(int(task.name), cpus)


def _start_profilers(
    name: str, pids: dict[str, list[int]], args: argparse.Namespace
) -> list[subprocess.Popen[bytes]]:
    """py-spy on every server process for the bidding's seconds: collapsed stacks in --profile."""
    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    started = []
    for group in ("intake", "feeds"):
        for k, pid in enumerate(pids.get(group, [])):
            out = folder / f"{name}-{group}-{k}.txt"
            command = [
                args.py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(args.seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            ]
            started.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return started


# ---------------------------------------------------------------- the report


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(results: list[Figures]) -> str:
    baseline = next((r for r in results if r.scenario == "baseline"), None)
    lines = [
        "| scenario | load avg before | sockets public / bidders | bids offered / sent / answered / accepted "
        "| 201 p50 / p99 ms | vs baseline p99 | bidders' feed send -> delivery p50 / p99 / max ms "
        "| bidders' feed order | public staleness p50 / p99 / max ms | public missed | CPU % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ratio = (
            f"{r.ack_p99_ms / baseline.ack_p99_ms:.2f}x"
            if baseline and r is not baseline and r.ack_p99_ms and baseline.ack_p99_ms
            else "-"
        )
        b, p = r.bidders, r.public
        feed = (
            f"{_f(_hist_percentile(b.histogram, 0.5), 0)} / {_f(_hist_percentile(b.histogram, 0.99), 0)} "
            f"/ {_f(b.max_ms, 0)}"
            if b
            else "-"
        )
        order = f"gaps {b.gaps}, dup {b.duplicates}, missed {b.missed}" if b else "-"
        stale = (
            f"{_f(_hist_percentile(p.histogram, 0.5), 0)} / {_f(_hist_percentile(p.histogram, 0.99), 0)} "
            f"/ {_f(p.max_ms, 0)}"
            if p
            else "-"
        )
        cpu = ", ".join(f"{key} {value:.0f}" for key, value in r.cpu_pct.items())
        lines.append(
            f"| {r.scenario} | {r.load_before[0]:.2f} | {r.public_watchers:,} / {r.bidder_sockets} "
            f"| {r.offered:,} / {r.sent:,} / {r.answered:,} / {r.accepted:,} "
            f"| {_f(r.ack_p50_ms)} / {_f(r.ack_p99_ms)} | {ratio} | {feed} | {order} | {stale} "
            f"| {p.missed if p else '-'} | {cpu} |"
        )
    lines.append("")
    for r in results:
        ack_ok = (
            r.ack_p99_ms is not None
            and r.ack_p99_ms <= ACK_P99_MS
            and r.answered == r.sent
            and not r.not_sent
        )
        verdicts = [f"201 p99 <= {ACK_P99_MS:g} ms, all answered: {_verdict(ack_ok)}"]
        if baseline and r is not baseline and r.ack_p99_ms and baseline.ack_p99_ms:
            within = r.ack_p99_ms <= BASELINE_SLACK * baseline.ack_p99_ms
            verdicts.append(f"within 20 % of the baseline: {_verdict(within)}")
        if r.bidders:
            p99 = _hist_percentile(r.bidders.histogram, 0.99)
            clean = not (r.bidders.gaps or r.bidders.duplicates or r.bidders.missed)
            verdicts.append(
                f"bidders' feed p99 <= {BIDDER_FEED_P99_MS:g} ms, exact: "
                f"{_verdict(p99 is not None and p99 <= BIDDER_FEED_P99_MS and clean)}"
            )
        if r.public:
            p99 = _hist_percentile(r.public.histogram, 0.99)
            verdicts.append(
                f"public p99 <= {STALENESS_P99_MS:g} ms, none missed: "
                f"{_verdict(p99 is not None and p99 <= STALENESS_P99_MS and not r.public.missed)}"
            )
        lines.append(f"- {r.scenario}: " + "; ".join(verdicts))
        details = [
            f"rejected {r.rejected or 'none'}",
            f"errors {r.errors}",
            f"not sent {r.not_sent}",
            f"answer p99 {_f(r.answer_p99_ms)} ms",
        ]
        for w in (r.public, r.bidders):
            if w:
                details.append(
                    f"{w.name}: {w.frames:,} frames, {w.events:,} events, {w.pairs:,} of {w.expected_pairs:,} "
                    f"(socket, bid) pairs, gaps {w.gaps}, duplicates {w.duplicates}, reconnects {w.reconnects} "
                    f"{w.closes or ''}, before the reference {w.before_ref:,}, connect {w.connect_seconds:.1f} s"
                )
        if r.error_sample:
            details.append(f"first error: {r.error_sample}")
        lines.append("  " + "; ".join(details))
    return "\n".join(lines)


# ---------------------------------------------------------------- the run


async def _open_now(base_url: str, listing_id: int, hold_hours: float) -> None:
    """End the lot's registration now and open its bidding, as an operator does (中止, 恢复)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as http:
        login = await http.post("/api/v1/auth/token", json={"username": OPERATOR, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {expect(login, 200, 'operator login')['access_token']}"}
        listing = expect(await http.get(f"/api/v1/listings/{listing_id}", headers=headers), 200, "listing")
        schedule = listing["schedule"]
        expect(
            await http.post(
                f"/api/v1/listings/{listing_id}/suspend", json={"reason": "调整竞价时间"}, headers=headers
            ),
            200,
            "suspend",
        )
        opens_reg = datetime.fromisoformat(schedule["registration_opens_at"])
        closes = max(datetime.now(UTC) + timedelta(seconds=0.5), opens_reg + timedelta(seconds=1.05))
        opens = closes + timedelta(seconds=0.5)
        new = {
            "announce_at": schedule["announce_at"],
            "registration_opens_at": schedule["registration_opens_at"],
            "registration_closes_at": closes.isoformat(),
            "bidding_opens_at": opens.isoformat(),
            "bidding_closes_at": (opens + timedelta(hours=hold_hours)).isoformat(),
            "extension_seconds": schedule.get("extension_seconds", 5),
        }
        expect(
            await http.post(f"/api/v1/listings/{listing_id}/resume", json={"schedule": new}, headers=headers),
            200,
            "resume",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.crowd",
        description="The last minute of a famous auction with thousands watching (issue 19; bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--watchers", type=int, default=5000, help="public watchers")
    add(
        "--bidders",
        type=int,
        default=200,
        help="qualified bidders of the lot, who bid and (see --no-bidders-watch) watch",
    )
    add("--no-bidders-watch", dest="bidders_watch", action="store_false", help="the bidders do not watch")
    add("--rate", type=float, default=100.0, help="bids per second offered, open loop")
    add("--seconds", type=float, default=20.0, help="how long bids are offered, per scenario")
    add("--in-flight", type=int, help="bids in flight at most (default: rate x 100 ms, at least 16)")
    add("--feed-instances", type=int, default=2, help="instances serving the feed in the split scenario")
    add("--watcher-procs", type=int, default=2, help="processes holding the public watchers")
    add(
        "--feed-nice",
        type=int,
        default=0,
        help="niceness of the feed instances (10 gave the intake the CPU first, and starved the feed)",
    )
    add(
        "--crowd-cpus",
        type=lambda text: [int(cpu) for cpu in text.split(",")],
        help=(
            "CPUs (e.g. 1) for the feed instances and the watchers' processes, as if the fan-out and "
            "the crowd had cores of their own (default: every CPU, shared with the intake)"
        ),
    )
    add(
        "--intake-cpus",
        type=lambda text: [int(cpu) for cpu in text.split(",")],
        help="CPUs (e.g. 0) for the intake instance and the bidders' HTTP client (this process)",
    )
    add(
        "--watcher-nice",
        type=int,
        default=0,
        help="niceness of the watchers' processes",
    )
    add(
        "--scenario",
        action="append",
        choices=["baseline", "split", "single"],
        help="repeatable; default: baseline, split, single",
    )
    add(
        "--public-mode",
        choices=["batch", "plain"],
        default="batch",
        help="public watchers: batch=true frames or one message per event",
    )
    add(
        "--bidder-mode",
        choices=["plain", "batch"],
        default="plain",
        help="bidders' sockets: one message per event as the hall takes them, or batch=true frames",
    )
    add(
        "--compression",
        choices=["none", "deflate"],
        default="none",
        help="offer permessage-deflate as browsers do",
    )
    add("--settle", type=float, default=3.0, help="seconds between the last socket opening and the first bid")
    add("--drain", type=float, default=3.0, help="seconds after the last bid for deliveries on their way")
    add(
        "--registration-seconds",
        type=float,
        default=900,
        help="registration window (ended early once all qualify)",
    )
    add("--seed-concurrency", type=int, default=8, help="requests of the seeder at once, per lot")
    add("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis of the servers (local only)")
    add("--pg-port", type=int, default=5432, help="PostgreSQL port on 127.0.0.1 (user postgres, trust auth)")
    add("--admin-db", default="test", help="database used to CREATE/DROP the scratch database")
    add(
        "--server-env",
        action="append",
        default=[],
        metavar="EXCHANGE_X=VALUE",
        help="more settings of every instance",
    )
    add("--profile", metavar="DIR", help="py-spy the servers while bids arrive: collapsed stacks in DIR")
    add("--py-spy", default="py-spy", help="the py-spy executable (for --profile)")
    add("--keep", action="store_true", help="keep the scratch database and the server logs")
    add("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    add("--check", action="store_true", help="exit with status 1 when a target is missed")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        parser.error("only a local Redis (127.0.0.1) is used")
    scenarios = args.scenario or ["baseline", "split", "single"]
    pg = ceiling_mod.Postgres(port=args.pg_port, admin_db=args.admin_db)
    run = secrets.token_hex(3)
    prefix = f"bench-crowd-{run}"
    seed_args = argparse.Namespace(
        lots=0,
        hot_bidders=args.bidders,
        bidders_per_lot=1,
        bidders=args.bidders,
        seed_concurrency=args.seed_concurrency,
        registration_seconds=args.registration_seconds,
        hold_hours=6,
    )
    results: list[Figures] = []
    failure: str | None = None
    servers: list[Server] = []
    say(f"crowd: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {os.getloadavg()}")
    with (
        workdir(args.keep) as tmp,
        ceiling_mod.scratch_database(pg, "bench_crowd", keep=args.keep) as database,
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
            extra_env={**CHEAP_ARGON2, **dict(item.split("=", 1) for item in args.server_env)},
        )
        intake = Server(config)
        intake.log = tmp / "intake.log"
        servers.append(intake)
        feeds: list[Server] = []
        if "split" in scenarios:
            for k in range(args.feed_instances):
                feed_config = replace(
                    config, port=free_port(), extra_env={**config.extra_env, "EXCHANGE_ISSUE_DOCUMENTS": "0"}
                )
                feed = Server(feed_config)
                feed.log = tmp / f"feed-{k}.log"
                feeds.append(feed)
        servers.extend(feeds)
        say(
            f"servers: database {database}, redis prefix {prefix}, intake port {config.port}, "
            f"feed ports {[f.config.port for f in feeds]}, logs in {tmp}"
        )
        try:
            intake.start()
            intake.cli("users", "add", "--role", "operator", "--username", OPERATOR, "--password", PASSWORD)
            started = time.monotonic()
            seeded = asyncio.run(
                seed(intake.url, config.bank_secret, seed_args, run, hot_bidders=args.bidders)
            )
            say(
                f"seed: {args.bidders} bidders qualified in {time.monotonic() - started:.0f} s; opening the bidding"
            )
            asyncio.run(_open_now(intake.url, seeded.hot.listing_id, 6))
            seeded.hot.opens_at = datetime.now(UTC)
            asyncio.run(wait_open(intake.url, [seeded.hot], patience=60))
            if args.intake_cpus:
                _renice(intake.pid, 0, args.intake_cpus)
                os.sched_setaffinity(0, args.intake_cpus)  # the bidders' HTTP client (this process)
            for feed in feeds:
                feed.start()
                _renice(feed.pid, args.feed_nice, args.crowd_cpus)
            tokens = [seeded.bidders[i].token for i in seeded.hot.bidders]
            asyncio.run(current_views(intake.url, [seeded.hot.listing_id]))
            for name in scenarios:
                result = run_scenario(name, intake, feeds, seeded.hot.listing_id, tokens, args)
                results.append(result)
                say(report([result]))
                for server in servers:
                    if server.proc is not None and server.proc.poll() is not None:
                        raise BenchError(
                            f"{server.log.name}: the server died during {name}:\n{server.tail()}"
                        )
        except (BenchError, ApiError, httpx.HTTPError) as exc:
            failure = str(exc) or repr(exc)
            say(f"FAILED: {failure}")
            say(f"--- intake log (tail) ---\n{intake.tail()}")
        finally:
            for server in servers:
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
    if args.check and not _all_met(results):
        return 1
    return 0


def _all_met(results: list[Figures]) -> bool:
    return "**missed**" not in report(results)


if __name__ == "__main__":
    sys.exit(main())
