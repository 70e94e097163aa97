"""The exchange under test: ``exchange serve`` on a scratch database, and where the CPU went.

The server is a subprocess of its own (``.venv/bin/exchange serve``, sandbox
profile, PostgreSQL, Redis under a random key prefix, per-run secrets), so its
CPU can be read from /proc apart from the load generator's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis.asyncio import Redis

from bench import BenchError, run_command, say
from bench import ceiling as ceiling_mod

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

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
        return run_command(
            [str(exchange_executable()), *args],
            f"exchange {' '.join(args[:2])} failed",
            env=self.config.env(),
            cwd=self.config.workdir,
        )

    def code_origin(self) -> list[str]:
        """The folders the server imports its packages from (``--server-env PYTHONPATH=DIR``)."""
        python = exchange_executable().with_name("python")
        imports = "import auctions, exchange; print(exchange.__file__); print(auctions.__file__)"
        output = run_command(
            [str(python if python.exists() else sys.executable), "-c", imports],
            "the server's code does not import",
            env=self.config.env(),
            cwd=self.config.workdir,
        )
        return [str(Path(line).parents[1]) for line in output.split()]

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
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """A scratch folder for the server's files (server.log, var/); kept with ``--keep``."""
    path = Path(tempfile.mkdtemp(prefix="bench-bids-"))
    try:
        yield path
    finally:
        if keep:
            say(f"kept {path} (server.log)")
        else:
            shutil.rmtree(path, ignore_errors=True)


async def clean_redis(url: str, prefix: str) -> int:
    """Delete the run's keys (its random prefix) from the shared Redis; how many there were."""
    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        return len(keys)
    finally:
        await redis.aclose()
