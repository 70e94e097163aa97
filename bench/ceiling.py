"""The raw-SQL ceiling of a bid, measured with pgbench on a scratch database.

The transaction of /work/shared/bench (lock the auction row, insert the bid with
the next sequence number, update price, sequence and deadline, commit) run by
pgbench with prepared statements:

- hot:    ``pgbench -n -M prepared -c 8  -j 2 -T <secs> -f ceiling_hot.sql``     one lot
- spread: ``pgbench -n -M prepared -c 32 -j 2 -T <secs> -f ceiling_spread.sql``  1,000 lots

The exchange's bid throughput is judged as a ratio to these figures, measured on
the same machine in the same run (bench/bids.py imports `measure`).

The shared folder is ``../shared/bench`` from the repository root, or
``$BENCH_SHARED_DIR``, or ``--shared-dir``. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import run_command

REPO = Path(__file__).resolve().parents[1]
SHARED_ENV = "BENCH_SHARED_DIR"


@dataclass(frozen=True)
class Postgres:
    """Where the scratch databases live (trust authentication, local only)."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    admin_db: str = "test"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user)
        return env

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"


@dataclass(frozen=True)
class PgbenchResult:
    scenario: str
    clients: int
    threads: int
    seconds: float
    transactions: int
    failed: int
    tps: float
    latency_avg_ms: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None


def shared_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder with ceiling_*.sql: the argument, $BENCH_SHARED_DIR, or ../shared/bench."""
    raw = override or os.environ.get(SHARED_ENV)
    path = Path(raw) if raw else REPO.parent / "shared" / "bench"
    path = path.resolve()
    missing = [
        n for n in ("ceiling_setup.sql", "ceiling_hot.sql", "ceiling_spread.sql") if not (path / n).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"{path} lacks {', '.join(missing)} (set {SHARED_ENV} or --shared-dir)")
    return path


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(f"{tool} is not on PATH (install the PostgreSQL client tools)")
    return found


def psql(pg: Postgres, database: str, *args: str) -> str:
    command = [_require("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, *args]
    return run_command(command, f"psql {' '.join(args)} failed", env=pg.env())


def scratch_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


@contextmanager
def scratch_database(pg: Postgres, prefix: str = "bench", keep: bool = False) -> Iterator[str]:
    """A fresh, empty database that is dropped afterwards (unless `keep`)."""
    name = scratch_name(prefix)
    psql(pg, pg.admin_db, "-c", f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        if not keep:
            psql(pg, pg.admin_db, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
_TPS_OLD = re.compile(r"^tps = ([0-9.]+) \(excluding connections establishing\)", re.M)
_LAT = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
_DONE = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)


def parse_pgbench(output: str) -> tuple[float, float, int, int]:
    """(tps, average latency ms, transactions, failed) from pgbench's summary."""
    tps = _TPS.search(output) or _TPS_OLD.search(output)
    lat = _LAT.search(output)
    done = _DONE.search(output)
    if not (tps and lat and done):
        raise RuntimeError(f"cannot parse pgbench output:\n{output}")
    failed = _FAILED.search(output)
    return float(tps.group(1)), float(lat.group(1)), int(done.group(1)), int(failed.group(1)) if failed else 0


def _log_percentiles(folder: Path) -> tuple[float | None, float | None]:
    """p50 and p99 (ms) from pgbench's per-transaction logs (-l): field 3 is the latency in us."""
    latencies: list[int] = []
    for log in folder.glob("pgbench_log.*"):
        with log.open() as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]))
    if len(latencies) < 2:
        return None, None
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] / 1000, cuts[98] / 1000


def pgbench(
    pg: Postgres,
    database: str,
    script: Path,
    *,
    scenario: str,
    clients: int,
    threads: int = 2,
    seconds: float = 10,
    log_latencies: bool = True,
) -> PgbenchResult:
    with tempfile.TemporaryDirectory(prefix="pgbench-") as tmp:
        cmd = [
            _require("pgbench"),
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(max(1, round(seconds))),
            "-f",
            str(script),
        ]
        if log_latencies:
            cmd.append("-l")
        done = subprocess.run(
            [*cmd, database], env=pg.env(), cwd=tmp, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip()}\n{done.stdout}")
        tps, latency, transactions, failed = parse_pgbench(done.stdout)
        p50, p99 = _log_percentiles(Path(tmp)) if log_latencies else (None, None)
    return PgbenchResult(
        scenario, clients, threads, max(1, round(seconds)), transactions, failed, tps, latency, p50, p99
    )


@dataclass(frozen=True)
class Ceiling:
    hot: PgbenchResult
    spread: PgbenchResult
    load_average: float = 0.0
    """1-minute load average right after pgbench: the machine may be shared."""


def measure(
    seconds: float = 10,
    *,
    pg: Postgres | None = None,
    shared: str | os.PathLike[str] | None = None,
    keep: bool = False,
    log_latencies: bool = True,
    progress: bool = True,
) -> Ceiling:
    """Set up a scratch database, run the hot and spread pgbench scenarios, drop it."""
    pg = pg or Postgres()
    folder = shared_dir(shared)
    with scratch_database(pg, "ceiling", keep=keep) as database:
        psql(pg, database, "-f", str(folder / "ceiling_setup.sql"))
        if progress:
            print(f"ceiling: database {database}, pgbench hot lot for {seconds:g} s ...", flush=True)
        hot = pgbench(
            pg,
            database,
            folder / "ceiling_hot.sql",
            scenario="hot",
            clients=8,
            seconds=seconds,
            log_latencies=log_latencies,
        )
        if progress:
            print(f"ceiling: pgbench spread over 1,000 lots for {seconds:g} s ...", flush=True)
        spread = pgbench(
            pg,
            database,
            folder / "ceiling_spread.sql",
            scenario="spread",
            clients=32,
            seconds=seconds,
            log_latencies=log_latencies,
        )
    return Ceiling(hot, spread, os.getloadavg()[0])


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(ceiling: Ceiling) -> str:
    header = (
        f"{'ceiling':<8} {'clients':>7} {'seconds':>7} {'transactions':>12} {'failed':>6} "
        f"{'tps':>9} {'avg ms':>7} {'p50 ms':>7} {'p99 ms':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in (ceiling.hot, ceiling.spread):
        lines.append(
            f"{r.scenario:<8} {r.clients:>7} {r.seconds:>7g} {r.transactions:>12,} {r.failed:>6} "
            f"{r.tps:>9,.0f} {r.latency_avg_ms:>7.2f} {_ms(r.latency_p50_ms):>7} {_ms(r.latency_p99_ms):>7}"
        )
    lines.append(f"(load average {ceiling.load_average:.1f} after pgbench, {os.cpu_count()} CPUs)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ceiling",
        description="Measure the raw-SQL ceiling of a bid with pgbench on a scratch PostgreSQL database.",
    )
    parser.add_argument("--seconds", type=float, default=10, help="pgbench -T per scenario (default 10)")
    parser.add_argument(
        "--shared-dir",
        help=f"folder with ceiling_*.sql (default: ${SHARED_ENV} or ../shared/bench from the repo root)",
    )
    parser.add_argument("--pg-host", default="127.0.0.1", help="PostgreSQL host (default 127.0.0.1)")
    parser.add_argument("--pg-port", type=int, default=5432, help="PostgreSQL port (default 5432)")
    parser.add_argument(
        "--pg-user", default="postgres", help="PostgreSQL user, trust auth (default postgres)"
    )
    parser.add_argument(
        "--admin-db", default="test", help="database to connect to for CREATE/DROP DATABASE (default test)"
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database")
    parser.add_argument("--no-latency-log", action="store_true", help="skip pgbench -l (no p50/p99)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    if args.pg_host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only a local PostgreSQL is benchmarked")

    pg = Postgres(args.pg_host, args.pg_port, args.pg_user, args.admin_db)
    ceiling = measure(
        args.seconds, pg=pg, shared=args.shared_dir, keep=args.keep, log_latencies=not args.no_latency_log
    )
    print(table(ceiling))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(asdict(ceiling), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
