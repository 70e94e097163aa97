"""A storm of closes: ``--lots`` english auctions sharing one deadline, and how late each closed.

What one run does:

1. creates a scratch database and starts ``.venv/bin/exchange serve`` on it (sandbox profile,
   PostgreSQL, Redis under a random prefix, documents on), as bench/bids.py does;
2. seeds through the public API (bench/seeding.py's seeder): a pool of bidders, ``--lots`` english
   land lots with ``--bidders-per-lot`` qualified bidders each and one probe lot; their
   registration stays open for hours, so seeding may take as long as it takes;
3. moves every lot to bidding as an operator does (中止, then 恢复 with a new schedule) with one
   shared ``bidding_closes_at`` (the deadline, ``--lead`` seconds after seeding), and places
   ``--bids-per-lot`` bids on each lot well before it (no bid extends a deadline); the probe lot
   closes an hour later;
4. from ``--quiet-seconds`` before the deadline, bids on the probe lot in an open loop
   (``--probe-rate``), and polls the database until every lot is closed, settled, and its
   after-close documents rendered (result announcement, bid record, confirmation, refund notices);
5. reads every lot's close from the database: its deadline (``closed_at``), the commit time of its
   close (``close_committed_at``, or the audit entry's time on a checkout without it), the number
   of closing events and audit entries, and reports the lateness distribution.

``--server-env PYTHONPATH=DIR`` serves another checkout (a baseline, as in bench/README.md).
Run ``.venv/bin/python -m bench.storm --help``. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import BenchError, say
from bench import ceiling as ceiling_mod
from bench.loadgen import fen
from bench.scenarios import percentile
from bench.seeding import INCREMENT, OPERATOR, PASSWORD, START_PRICE, client, listing_body
from bench.server import Server, ServerConfig, clean_redis, free_port, machine_busy, process_cpu, workdir
from exchange.demo.api import Account, ApiError, expect, problem_code
from exchange.demo.seeding import Seeder, register_bidder
from exchange.money import format_yuan

TARGET_SECONDS = 3.0
PAUSE = {"reason": "调整竞价时间"}
AFTER_CLOSE_KINDS = ("result_announcement", "bid_record")
NOTIFIED_REFUNDS = ("deposit_released", "deposit_refunded", "payment_refunded")  # documents.refund_notice


@dataclass
class Lot:
    listing_id: int
    members: list[int]
    """Indexes into the bidder pool."""


@dataclass
class Probe:
    """The open loop of bids on the probe lot, by the window the bid was sent in."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "storm": [], "after": []})
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: int = 0


# ---------------------------------------------------------------- seeding


async def seed(
    base_url: str, bank_secret: str, args: argparse.Namespace, run: str
) -> tuple[list[Account], Lot, list[Lot]]:
    async with client(base_url, args.seed_concurrency * 4, timeout=120) as http:
        operator = Account(http, OPERATOR, PASSWORD)
        await operator.login()
        seeder = Seeder(http, operator, bank_secret, txn_prefix="STORM")
        pool = max(args.bidders, args.bidders_per_lot, args.probe_bidders)
        gate = asyncio.Semaphore(4)  # Argon2 is slow on purpose

        async def register(i: int) -> Account:
            async with gate:
                return await register_bidder(
                    http, f"s{run}{i:04d}", PASSWORD, f"风暴竞买人{i}有限公司", i + 1
                )

        started = time.monotonic()
        bidders = list(await asyncio.gather(*(register(i) for i in range(pool))))
        say(f"seed: {pool} bidders registered ({time.monotonic() - started:.1f} s)")
        total, done, last = args.lots + 1, 0, time.monotonic()
        started = time.monotonic()
        lots_gate = asyncio.Semaphore(args.seed_concurrency)
        hours = timedelta(hours=2)

        async def one(index: int) -> Lot:
            nonlocal done, last
            k = args.bidders_per_lot
            members = (
                list(range(args.probe_bidders))
                if index == 0
                else sorted({(index * k + j) % pool for j in range(k)})
            )
            async with lots_gate:

                def body(lead: float) -> dict[str, Any]:
                    # registration stays open for hours: the lots move to bidding together later
                    # 资格前审: the results and the confirmation follow the close at once, with no review
                    return {**listing_body(index, 6 * 3600, hours, lead), "qualification": "pre"}

                listing = await seeder.listing(body, lead=1.5, patience=60)
                await seeder.qualify_all(listing, [bidders[i] for i in members])
            done += 1
            now = time.monotonic()
            if done == total or now - last >= 10:
                last = now
                rate = done / (now - started)
                say(f"seed: {done}/{total} lots ({rate:.1f} lots/s, ETA {(total - done) / rate:.0f} s)")
            return Lot(listing.listing_id, members)

        lots = list(await asyncio.gather(*(one(i) for i in range(total))))
        return bidders, lots[0], lots[1:]


async def to_bidding(
    http: httpx.AsyncClient, operator: Account, listing_id: int, closes_at: datetime, extension: int
) -> None:
    """中止 and 恢复 with a schedule whose bidding opens in a moment and closes at ``closes_at``."""
    listing = expect(await operator.get(f"/api/v1/listings/{listing_id}"), 200, f"read {listing_id}")
    expect(await operator.post(f"/api/v1/listings/{listing_id}/suspend", json=PAUSE), 200, "suspend")
    schedule = listing["schedule"]
    registration_opens = datetime.fromisoformat(schedule["registration_opens_at"])
    now = datetime.now(UTC)
    closes = max(now + timedelta(seconds=0.5), registration_opens + timedelta(seconds=1.05))
    opens = closes + timedelta(seconds=0.5)
    moved = {
        "announce_at": schedule["announce_at"],
        "registration_opens_at": schedule["registration_opens_at"],
        "registration_closes_at": closes.isoformat(),
        "bidding_opens_at": opens.isoformat(),
        "bidding_closes_at": closes_at.isoformat(),
        "extension_seconds": extension,
    }
    resumed = await operator.post(f"/api/v1/listings/{listing_id}/resume", json={"schedule": moved})
    expect(resumed, 200, f"resume {listing_id}")
    for _ in range(600):
        view = await http.get(f"/api/v1/auctions/{listing_id}")
        if view.status_code == 200 and view.json()["status"] == "open":
            return
        await asyncio.sleep(0.2)
    raise BenchError(f"auction {listing_id} never opened")


async def bid(http: httpx.AsyncClient, bidder: Account, listing_id: int, amount: int) -> httpx.Response:
    return await http.post(
        f"/api/v1/auctions/{listing_id}/bids",
        json={"amount": format_yuan(amount)},
        headers={"Authorization": f"Bearer {bidder.token}", "Idempotency-Key": secrets.token_hex(12)},
    )


async def arm(
    base_url: str,
    bidders: list[Account],
    probe: Lot,
    lots: list[Lot],
    deadline: datetime,
    args: argparse.Namespace,
) -> Counter[str]:
    """Every lot to bidding with the shared deadline, and its bids placed; the bids' outcomes."""
    outcomes: Counter[str] = Counter()
    async with client(base_url, args.seed_concurrency * 2, timeout=120) as http:
        operator = Account(http, OPERATOR, PASSWORD)
        await operator.login()
        await to_bidding(http, operator, probe.listing_id, deadline + timedelta(hours=1), args.extension)
        # the last bid must land before the soft-close window, or it would move the deadline
        last_bid = deadline - timedelta(seconds=args.extension + 2)
        gate = asyncio.Semaphore(args.seed_concurrency)
        started, done, last = time.monotonic(), 0, time.monotonic()

        async def one(lot: Lot) -> None:
            nonlocal done, last
            async with gate:
                await to_bidding(http, operator, lot.listing_id, deadline, args.extension)
                for j in range(args.bids_per_lot):
                    if datetime.now(UTC) >= last_bid:
                        outcomes["not sent: too close to the deadline"] += 1
                        continue
                    bidder = bidders[lot.members[j % len(lot.members)]]
                    answer = await bid(http, bidder, lot.listing_id, START_PRICE + j * INCREMENT)
                    outcomes["201" if answer.status_code == 201 else problem_code(answer)] += 1
            done += 1
            now = time.monotonic()
            if done == len(lots) or now - last >= 10:
                last = now
                left = (deadline - datetime.now(UTC)).total_seconds()
                say(f"arm: {done}/{len(lots)} lots bidding ({now - started:.0f} s, deadline in {left:.0f} s)")

        await asyncio.gather(*(one(lot) for lot in lots))
    return outcomes


# ---------------------------------------------------------------- during the storm


async def probe_loop(
    base_url: str,
    bidders: list[Account],
    lot: Lot,
    rate: float,
    deadline: datetime,
    settled: asyncio.Event,
    stop: asyncio.Event,
    figures: Probe,
) -> None:
    """Open loop: a bid every 1/rate s whatever the answers, each by a bidder not in flight and not
    leading (the last to be accepted), the amounts a ladder of increments."""
    in_flight: set[int] = set()
    state = {"next": START_PRICE, "leader": -1}
    tasks: set[asyncio.Task[None]] = set()
    async with client(base_url, 32, timeout=60) as http:

        async def one(who: int, amount: int, window: str) -> None:
            in_flight.add(who)
            sent = time.monotonic()
            try:
                answer = await bid(http, bidders[who], lot.listing_id, amount)
                figures.latencies[window].append((time.monotonic() - sent) * 1000)
                if answer.status_code == 201:
                    figures.outcomes["201"] += 1
                    state["leader"] = who
                else:
                    figures.outcomes[problem_code(answer)] += 1
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        state["next"] = max(state["next"], fen(answer.json()["next_min_bid"]))
            except httpx.HTTPError as exc:
                figures.outcomes[type(exc).__name__] += 1
            finally:
                in_flight.discard(who)

        started = time.monotonic()
        sent = 0
        while not stop.is_set():
            due = started + sent / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            sent += 1
            free = [i for i in lot.members if i not in in_flight and i != state["leader"]]
            if not free:
                figures.skipped += 1
                continue
            who = free[sent % len(free)]
            amount = state["next"]
            state["next"] += INCREMENT
            window = "quiet" if datetime.now(UTC) < deadline else "after" if settled.is_set() else "storm"
            task = asyncio.create_task(one(who, amount, window))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


@dataclass
class Progress:
    closed_s: float | None = None
    settled_s: float | None = None
    documents_s: float | None = None
    documents_issued: int = 0
    documents_pending: int | None = None


async def pending_documents(conn: asyncpg.Connection, ids: list[int]) -> int:
    """After-close documents not yet issued for the storm's lots (as documents.issuing finds them)."""
    missing_results = await conn.fetchval(
        """SELECT count(*) FROM unnest($1::bigint[]) AS l(id), unnest($2::text[]) AS k(kind)
           WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.listing_id = l.id AND d.kind = k.kind)""",
        ids,
        list(AFTER_CLOSE_KINDS),
    )
    confirmations = await conn.fetchval(
        """SELECT count(*) FROM settlement_lines sl JOIN settlements s ON s.listing_id = sl.listing_id
           WHERE sl.listing_id = ANY($1::bigint[]) AND s.confirmed_at IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM documents d
                             WHERE d.key = 'confirmation:' || sl.listing_id || ':' || sl.bid_number)""",
        ids,
    )
    refunds = await conn.fetchval(
        """SELECT count(*) FROM refund_instructions r
           JOIN ledger_transactions t ON t.id = r.transaction_id
           JOIN applications a ON a.id = r.application_id
           WHERE a.listing_id = ANY($1::bigint[]) AND t.kind = ANY($2::text[])
             AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.key = 'refund_notice:' || r.id)""",
        ids,
        list(NOTIFIED_REFUNDS),
    )
    return int(missing_results) + int(confirmations) + int(refunds)


async def watch(
    dsn: str,
    ids: list[int],
    deadline: datetime,
    args: argparse.Namespace,
    settled: asyncio.Event,
    progress: Progress,
) -> None:
    """Poll until every lot is closed, settled and (with documents) its documents are issued."""
    conn = await asyncpg.connect(dsn)
    try:
        last_say = 0.0
        limit = deadline + timedelta(seconds=args.patience)
        while True:
            await asyncio.sleep(0.5)
            now = datetime.now(UTC)
            since = (now - deadline).total_seconds()
            if since < 0:
                continue
            closed = await conn.fetchval(
                "SELECT count(*) FROM auctions WHERE listing_id = ANY($1::bigint[]) "
                "AND status IN ('closed', 'failed')",
                ids,
            )
            done = await conn.fetchval(
                "SELECT count(*) FROM settlements WHERE listing_id = ANY($1::bigint[])", ids
            )
            if progress.closed_s is None and closed == len(ids):
                progress.closed_s = since
            if progress.settled_s is None and done == len(ids):
                progress.settled_s = since
                settled.set()
            pending = None
            if args.documents and progress.settled_s is not None:
                pending = await pending_documents(conn, ids)
                progress.documents_pending = pending
                if pending == 0 and progress.documents_s is None:
                    progress.documents_s = since
            if time.monotonic() - last_say >= 10:
                last_say = time.monotonic()
                say(
                    f"storm +{since:.0f} s: {closed}/{len(ids)} closed, {done} settled"
                    + ("" if pending is None else f", {pending} documents pending")
                )
            finished = progress.settled_s is not None and (
                not args.documents or progress.documents_s is not None
            )
            if finished or now > limit:
                break
        progress.documents_issued = int(
            await conn.fetchval(
                "SELECT count(*) FROM documents WHERE listing_id = ANY($1::bigint[]) AND created_at >= $2",
                ids,
                deadline,
            )
        )
    finally:
        await conn.close()


# ---------------------------------------------------------------- the record


@dataclass
class Closes:
    lots: int
    closed: int
    source: str
    """close_committed_at, or the audit entry's time on a checkout without the column."""
    lateness_ms: list[float]
    early: int
    deadline_moved: int
    close_events: dict[int, int]
    """How many lots had so many closing events (``closed``/``failed``): {1: N} when each closed once."""
    audited: dict[int, int]
    settled: int


async def read_closes(dsn: str, ids: list[int], deadline: datetime) -> Closes:
    conn = await asyncpg.connect(dsn)
    try:
        has_column = bool(
            await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'auctions' AND column_name = 'close_committed_at'"
            )
        )
        committed = "a.close_committed_at" if has_column else "NULL::timestamptz"
        rows = await conn.fetch(
            f"""SELECT a.listing_id, a.status, a.closed_at, {committed} AS committed,
                  (SELECT max(g.at) FROM audit_log g WHERE g.stream = 'listing:' || a.listing_id
                     AND g.action IN ('auction.closed', 'auction.failed')) AS audited_at,
                  (SELECT count(*) FROM audit_log g WHERE g.stream = 'listing:' || a.listing_id
                     AND g.action IN ('auction.closed', 'auction.failed')) AS audited,
                  (SELECT count(*) FROM auction_events e WHERE e.listing_id = a.listing_id
                     AND e.kind IN ('closed', 'failed')) AS close_events,
                  EXISTS (SELECT 1 FROM settlements s WHERE s.listing_id = a.listing_id) AS settled
                FROM auctions a WHERE a.listing_id = ANY($1::bigint[])""",
            ids,
        )
    finally:
        await conn.close()
    lateness: list[float] = []
    early = moved = 0
    for row in rows:
        if row["closed_at"] is None:
            continue
        moved += row["closed_at"] != deadline
        at = row["committed"] if has_column else row["audited_at"]
        if at is None:
            continue
        late = (at - row["closed_at"]).total_seconds() * 1000
        early += late < 0
        lateness.append(late)
    lateness.sort()
    return Closes(
        lots=len(ids),
        closed=sum(1 for r in rows if r["status"] in ("closed", "failed")),
        source="close_committed_at" if has_column else "audit entry time (no close_committed_at)",
        lateness_ms=lateness,
        early=early,
        deadline_moved=moved,
        close_events=dict(Counter(int(r["close_events"]) for r in rows)),
        audited=dict(Counter(int(r["audited"]) for r in rows)),
        settled=sum(1 for r in rows if r["settled"]),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(
    closes: Closes,
    progress: Progress,
    probe: Probe,
    label: str,
    cpu: dict[str, float],
    load: str,
) -> str:
    late = closes.lateness_ms
    within = sum(1 for v in late if 0 <= v <= TARGET_SECONDS * 1000)
    met = closes.closed == closes.lots and within == closes.lots and closes.close_events == {1: closes.lots}
    lines = [
        f"run: {label}; load average before the storm {load}",
        "",
        "| lots | closed | lateness min / p50 / p99 / max ms | within 3 s | early | closing events per lot "
        "| all closed s | all settled s | documents rendered s (issued) | target |",
        "| ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | --- | --- |",
        f"| {closes.lots} | {closes.closed} | {_ms(late[0] if late else None)} / "
        f"{_ms(percentile(late, 0.5))} / {_ms(percentile(late, 0.99))} / {_ms(late[-1] if late else None)} "
        f"| {within} | {closes.early} | {closes.close_events} | {_s(progress.closed_s)} "
        f"| {_s(progress.settled_s)} | {_s(progress.documents_s)} ({progress.documents_issued}) "
        f"| {'met' if met else '**missed**'} |",
        "",
        "| probe bids (open loop) | sent | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for window, name in (
        ("quiet", "before the deadline"),
        ("storm", "deadline -> all settled"),
        ("after", "settled -> documents done"),
    ):
        values = sorted(probe.latencies[window])
        lines.append(
            f"| {name} | {len(values)} | {_ms(percentile(values, 0.5))} | {_ms(percentile(values, 0.99))} "
            f"| {_ms(values[-1] if values else None)} |"
        )
    lines += [
        "",
        f"lateness from {closes.source}; deadline moved on {closes.deadline_moved} lots; audit closes per lot "
        f"{closes.audited}; settled {closes.settled}/{closes.lots}; documents still pending "
        f"{progress.documents_pending}",
        f"probe outcomes {dict(probe.outcomes)}, skipped (no free bidder) {probe.skipped}",
        f"CPU over the storm (deadline -> all settled): server {cpu.get('server', 0):.0f} % of a core, "
        f"machine {cpu.get('machine', 0):.0f} % of all cores",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- the run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm",
        description="A storm of closes: N english lots sharing one deadline (see bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--lots", type=int, default=1000, help="english lots sharing the deadline")
    add("--bidders", type=int, default=12, help="bidder pool the lots draw from")
    add("--bidders-per-lot", type=int, default=3, help="qualified bidders per lot")
    add("--bids-per-lot", type=int, default=3, help="bids placed on each lot before the deadline")
    add("--extension", type=int, default=5, help="soft-close extension of every lot, seconds")
    add(
        "--lead",
        type=float,
        help="seconds from the end of seeding to the deadline (default 30 + 0.15 x lots)",
    )
    add("--seed-concurrency", type=int, default=12, help="lots seeded (and armed) at the same time")
    add("--probe-rate", type=float, default=20.0, help="bids per second on the probe lot, open loop")
    add("--probe-bidders", type=int, default=6, help="qualified bidders of the probe lot")
    add("--quiet-seconds", type=float, default=10.0, help="probe bids before the deadline (the baseline)")
    add("--patience", type=float, default=1800.0, help="seconds after the deadline to wait for everything")
    add("--no-documents", dest="documents", action="store_false", help="EXCHANGE_ISSUE_DOCUMENTS=0")
    add("--py-spy", metavar="PATH", help="record the server with py-spy (raw stacks) over the storm")
    add("--py-spy-bin", help="the py-spy command (default: beside python, else on PATH)")
    add("--py-spy-seconds", type=float, default=20.0, help="how long --py-spy records from the deadline")
    add("--pool-size", type=int, help="EXCHANGE_DATABASE_POOL_SIZE of the server")
    add("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis of the server (local only)")
    add("--pg-port", type=int, default=5432, help="PostgreSQL port on 127.0.0.1 (user postgres, trust auth)")
    add("--admin-db", default="test", help="database used to CREATE/DROP the scratch database")
    add("--server-env", action="append", default=[], metavar="EXCHANGE_X=VALUE", help="more server settings")
    add("--label", default="", help="what this run is (printed with the figures)")
    add("--keep", action="store_true", help="keep the scratch database and the server log")
    add("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    add("--check", action="store_true", help="exit with status 1 when the target is missed")
    return parser


async def storm(
    server: Server,
    dsn: str,
    bidders: list[Account],
    probe_lot: Lot,
    ids: list[int],
    deadline: datetime,
    args: argparse.Namespace,
) -> tuple[Progress, Probe, dict[str, float]]:
    settled, stop = asyncio.Event(), asyncio.Event()
    progress, probe = Progress(), Probe()
    quiet_from = deadline - timedelta(seconds=args.quiet_seconds)
    await asyncio.sleep(max(0.0, (quiet_from - datetime.now(UTC)).total_seconds()))
    probing = asyncio.create_task(
        probe_loop(server.url, bidders, probe_lot, args.probe_rate, deadline, settled, stop, probe)
    )
    spy: asyncio.subprocess.Process | None = None
    await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds() - 0.5))
    if args.py_spy:
        spy = await asyncio.create_subprocess_exec(
            args.py_spy_bin or py_spy(),
            *("record", "-p", str(server.pid), "-r", "200", "-d", str(int(args.py_spy_seconds))),
            *("-f", "raw", "-o", args.py_spy, "--nonblocking"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()))
    cpu0, (busy0, total0), t0 = process_cpu(server.pid), machine_busy(), time.monotonic()
    watching = asyncio.create_task(watch(dsn, ids, deadline, args, settled, progress))
    waiting = asyncio.create_task(settled.wait())
    await asyncio.wait([waiting, watching], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    wall = time.monotonic() - t0
    cpu = {
        "server": 100 * (process_cpu(server.pid) - cpu0) / max(wall, 1e-9),
        "machine": 100 * (machine_busy()[0] - busy0) / max(machine_busy()[1] - total0, 1e-9),
    }
    await watching
    stop.set()
    await probing
    if spy is not None:
        await asyncio.wait_for(spy.wait(), args.py_spy_seconds + 30)
    return progress, probe, cpu


def py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        parser.error("only a local Redis (127.0.0.1) is used")
    if args.bids_per_lot and args.bidders_per_lot < 2:
        parser.error("a bidder cannot raise its own bid: --bidders-per-lot must be at least 2")
    pg = ceiling_mod.Postgres(port=args.pg_port, admin_db=args.admin_db)
    run = secrets.token_hex(3)
    prefix = f"bench-storm-{run}"
    failure: str | None = None
    output = ""
    payload: dict[str, Any] = {"args": vars(args)}
    with (
        workdir(args.keep) as tmp,
        ceiling_mod.scratch_database(pg, "bench_storm", keep=args.keep) as database,
    ):
        extra = dict(item.split("=", 1) for item in args.server_env)
        extra.setdefault("EXCHANGE_ISSUE_DOCUMENTS", "1" if args.documents else "0")
        config = ServerConfig(
            database=database,
            port=free_port(),
            redis_url=args.redis_url,
            redis_prefix=prefix,
            bid_rate=100_000,
            pool_size=args.pool_size,
            workdir=tmp,
            pg=pg,
            extra_env=extra,
        )
        server = Server(config)
        say(f"server: database {database}, redis prefix {prefix}, port {config.port}, log {server.log}")
        try:
            if "PYTHONPATH" in extra:
                origin = server.code_origin()
                say(f"server code from {', '.join(origin)}")
                if any(Path(o) != Path(extra["PYTHONPATH"]).resolve() for o in origin):
                    raise BenchError(f"the server does not import its code from {extra['PYTHONPATH']}")
            server.start()
            server.cli("users", "add", "--role", "operator", "--username", OPERATOR, "--password", PASSWORD)
            started = time.monotonic()
            bidders, probe_lot, lots = asyncio.run(seed(server.url, config.bank_secret, args, run))
            say(f"seed: done in {time.monotonic() - started:.0f} s")
            lead = args.lead if args.lead is not None else 30 + 0.15 * args.lots
            deadline = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
            say(f"deadline {deadline.isoformat()} ({lead:.0f} s from now) for {len(lots)} lots")
            bids = asyncio.run(arm(server.url, bidders, probe_lot, lots, deadline, args))
            say(f"arm: bids {dict(bids)}")
            if datetime.now(UTC) > deadline - timedelta(seconds=args.quiet_seconds):
                raise BenchError("arming took longer than --lead: raise it")
            with open("/proc/loadavg") as f:
                load = " ".join(f.read().split()[:3])
            dsn = pg.url(database, driver="postgresql")
            ids = [lot.listing_id for lot in lots]
            progress, probe, cpu = asyncio.run(storm(server, dsn, bidders, probe_lot, ids, deadline, args))
            closes = asyncio.run(read_closes(dsn, ids, deadline))
            output = report(closes, progress, probe, args.label or "storm", cpu, load)
            with contextlib.suppress(httpx.HTTPError):
                metrics = httpx.get(f"{server.url}/metrics", timeout=5, trust_env=False)
                if metrics.status_code == 200:
                    seen = [m for m in metrics.text.splitlines() if m.startswith("exchange_close_lateness")]
                    output += "\n/metrics: " + "; ".join(s for s in seen if "_count" in s or "_sum" in s)
            payload.update(
                closes={**asdict(closes), "lateness_ms": closes.lateness_ms},
                progress=asdict(progress),
                probe={"latencies": probe.latencies, "outcomes": dict(probe.outcomes)},
                cpu=cpu,
                load=load,
                bids=dict(bids),
            )
            if closes.early or closes.close_events != {1: len(ids)} or closes.closed != len(ids):
                failure = "not every lot closed exactly once and not early"
        except (BenchError, ApiError, httpx.HTTPError, OSError) as exc:
            failure = str(exc) or repr(exc)
            say(f"FAILED: {failure}")
            say(f"--- server log (tail) ---\n{server.tail()}")
        finally:
            server.stop()
            with contextlib.suppress(Exception):
                asyncio.run(clean_redis(args.redis_url, prefix))
    print()
    print(output)
    if args.json:
        payload["failure"] = failure
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    if failure:
        say(f"FAILED: {failure}")
        return 2
    late = payload["closes"]["lateness_ms"]
    if args.check and (not late or late[-1] > TARGET_SECONDS * 1000 or late[0] < 0):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
