"""Accepted bids per second through the public HTTP API, as a ratio to the raw-SQL ceiling.

What it does, in one run:

1. measures the pgbench ceiling (bench/ceiling.py) on a scratch database;
2. creates another scratch database and starts ``.venv/bin/exchange serve`` on
   127.0.0.1 with the sandbox profile, PostgreSQL and Redis (a random key prefix);
3. seeds everything through the public API (with httpx, the demo's seeder): an operator
   (``exchange users add``), a pool of enterprise bidders (``POST /auth/register``), one
   hot lot plus ``--lots`` spread lots (english, land use right), each published, applied
   to, paid for with a signed bank notice and approved, until every auction is open;
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

This module is the command line; the parts live beside it: ``server`` (the
exchange under test, CPU accounting), ``seeding`` (the lots and bidders),
``http_client`` (``HttpPool``), ``loadgen`` (the bidding clients) and
``scenarios`` (a scenario's run and the report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path

if not __package__:  # run as a script (python bench/bids.py): bench/ is on sys.path, its parent not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench import BenchError, say
from bench import ceiling as ceiling_mod
from bench.scenarios import (
    HOT_TARGET,
    P99_TARGET_MS,
    SPREAD_TARGET,
    ScenarioResult,
    drive,
    lot_specs,
    report,
    shown,
)
from bench.seeding import OPERATOR, PASSWORD, current_views, seed, wait_open
from bench.server import Server, ServerConfig, clean_redis, free_port, workdir
from exchange.demo.api import ApiError


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
                    f"{name}: {result.accepted_per_s:.0f} accepted bids/s, p99 {shown(result.p99_ms, '{:.1f}')} ms"
                    + ("" if result.ratio is None else f", {result.ratio:.2f} of the ceiling")
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
