"""Several ``exchange serve`` instances behind nginx, as deploy/nginx.conf runs them in production.

One scratch PostgreSQL database (created here, migrated once, dropped at the end), Redis under a
key prefix of its own (deleted at the end), one secret key and bank secret shared by every
instance, the sandbox profile. nginx is Debian's (``scripts/proxy-deps.sh`` installs it), started
by the test itself in a scratch folder with deploy/nginx.conf rendered for it (``render_nginx``),
never as the system service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from exchange.settings import DatabaseSettings
from tests.conftest import ADMIN_URL, BANK_SECRET, REDIS_URL, SECRET
from tests.support.calendar import store_invented_years
from tests.support.server import EXCHANGE, Server, base_env, free_port

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "nginx.conf"

_UPSTREAM_SERVERS = re.compile(
    r"^(?P<indent>[ \t]*)server 127\.0\.0\.1:\d+(?P<params>[^;\n]*);\n"
    r"(?:(?P=indent)server 127\.0\.0\.1:\d+[^;\n]*;\n)*",
    re.MULTILINE,
)


class ClusterError(RuntimeError):
    """The cluster could not be set up (nginx missing, an instance that does not start)."""


def nginx_executable() -> str:
    """``EXCHANGE_TEST_NGINX``, else ``nginx`` on the PATH or in /usr/sbin (outside a normal user's PATH)."""
    for candidate in (os.environ.get("EXCHANGE_TEST_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ClusterError("nginx is missing: scripts/proxy-deps.sh installs Debian's (make test runs it)")


def _sub_once(pattern: str, replacement: str, text: str, expected: int = 1) -> str:
    result, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != expected:
        raise ClusterError(f"deploy/nginx.conf: {pattern!r} found {count} times, not {expected}")
    return result


def render_nginx(template: str, folder: Path, port: int, upstreams: Sequence[int]) -> str:
    """deploy/nginx.conf for a scratch ``folder``: its files, ``port`` and the instances' ports.

    Only the lines the template's header names are rewritten, so what the test runs is what
    production runs."""
    # As root, nginx would run its workers as www-data, which cannot enter a pytest folder.
    user = "user root;" if os.geteuid() == 0 else ""
    text = _sub_once(r"^user [^;\n]+;$", user, template)
    for prefix in ("/var/log/nginx/", "/var/lib/nginx/"):
        if prefix not in text:
            raise ClusterError(f"deploy/nginx.conf names no path under {prefix}")
        text = text.replace(prefix, f"{folder}/")
    text = _sub_once(r"^pid /run/nginx\.pid;$", f"pid {folder}/nginx.pid;", text)
    text = _sub_once(r"^([ \t]*)listen 80;$", rf"\g<1>listen 127.0.0.1:{port};", text)

    def servers(match: re.Match[str]) -> str:
        return "".join(
            f"{match['indent']}server 127.0.0.1:{upstream}{match['params']};\n" for upstream in upstreams
        )

    text, count = _UPSTREAM_SERVERS.subn(servers, text)
    if count != 2:
        raise ClusterError(
            f"deploy/nginx.conf: {count} upstream server lists, not 2 (exchange, exchange_bids)"
        )
    return text


class Proxy:
    """nginx in the foreground, in a folder of its own."""

    def __init__(self, folder: Path, upstreams: Sequence[int]) -> None:
        self.folder = folder
        self.port = free_port()
        self.upstreams = list(upstreams)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    def start(self, timeout: float = 10) -> Proxy:
        nginx = nginx_executable()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "nginx.conf"
        config.write_text(render_nginx(TEMPLATE.read_text(), self.folder, self.port, self.upstreams))
        command = [nginx, "-p", str(self.folder), "-c", str(config), "-e", str(self.folder / "error.log")]
        checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True, check=False)
        if checked.returncode != 0:
            raise ClusterError(f"nginx refuses the rendered config: {checked.stderr.strip()}")
        with (self.folder / "nginx.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [*command, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ClusterError(f"nginx exited with {self.proc.returncode}: {self.errors()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    return self
            time.sleep(0.1)
        raise ClusterError(f"nginx did not answer in {timeout:g} s: {self.errors()}")

    def errors(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "error.log").read_text(errors="replace")[-2000:]
        return "(no error log)"

    def requests(self) -> list[dict[str, Any]]:
        """The access log so far, one dict per request (deploy/nginx.conf's ``exchange`` format)."""
        with contextlib.suppress(OSError):
            return [json.loads(line) for line in self.access_log.read_text().splitlines() if line]
        return []

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)  # what `nginx -s quit` sends: finish, then exit
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # a WebSocket still open keeps a quitting worker alive
            self.proc.kill()
            self.proc.wait(5)


class Cluster:
    """``size`` instances on one scratch database and Redis prefix, behind one nginx."""

    def __init__(self, folder: Path, size: int = 3, pool_size: int = 4) -> None:
        self.folder = folder
        self.database = f"exchange_failover_{os.getpid()}_{secrets.token_hex(3)}"
        self.redis_prefix = f"exchange-failover-{secrets.token_hex(4)}"
        base = ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0]
        self.database_url = f"postgresql+asyncpg://{base}/{self.database}"
        self.env = base_env(
            EXCHANGE_DATABASE_URL=self.database_url,
            EXCHANGE_REDIS_URL=REDIS_URL,
            EXCHANGE_REDIS_PREFIX=self.redis_prefix,
            EXCHANGE_SECRET_KEY=SECRET,
            EXCHANGE_BANK_SECRET=BANK_SECRET,
            EXCHANGE_PROFILE="sandbox",
            EXCHANGE_ARGON2_TIME_COST="1",
            EXCHANGE_ARGON2_MEMORY_KIB="8192",
            # three instances share two cores with the test: a small pool each, no PDFs
            EXCHANGE_DATABASE_POOL_SIZE=str(pool_size),
            EXCHANGE_ISSUE_DOCUMENTS="0",
            EXCHANGE_VAR_DIR=str(folder / "var"),
        )
        self.instances = [Server(self.env, folder, args=["--no-migrate"]) for _ in range(size)]
        self.proxy = Proxy(folder / "nginx", [i.port for i in self.instances])
        self._created = False

    @property
    def url(self) -> str:
        return self.proxy.url

    def start(self) -> Cluster:
        asyncio.run(self._create_database())
        self._created = True
        migrated = subprocess.run(
            [str(EXCHANGE), "db", "upgrade"], env=self.env, cwd=self.folder, capture_output=True, text=True
        )
        if migrated.returncode != 0:
            raise ClusterError(f"exchange db upgrade failed: {migrated.stderr[-2000:]}")
        # the chinesecalendar package ends with 2026: a sale closing now is paid for in 2027
        asyncio.run(store_invented_years(DatabaseSettings(url=self.database_url, null_pool=True)))
        with ThreadPoolExecutor(len(self.instances)) as pool:  # they start in parallel, not in turn
            list(pool.map(lambda instance: instance.start(timeout=90), self.instances))
        self.proxy.start()
        return self

    def instance_at(self, address: str) -> Server:
        """The instance behind an upstream address of the access log (``127.0.0.1:PORT``)."""
        port = int(address.rsplit(":", 1)[1])
        return next(i for i in self.instances if i.port == port)

    def stop(self) -> None:
        """Everything down and gone, whatever failed before (a failing step does not skip the rest)."""
        with contextlib.ExitStack() as steps:  # run last to first
            steps.callback(self._delete_redis_keys)
            if self._created:
                steps.callback(lambda: asyncio.run(self._drop_database()))
            steps.callback(self._stop_instances)
            steps.callback(self.proxy.stop)

    def _stop_instances(self) -> None:
        with ThreadPoolExecutor(len(self.instances)) as pool:  # each may take seconds to shut down
            list(pool.map(lambda instance: instance.stop(), self.instances))

    def _delete_redis_keys(self) -> None:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{self.redis_prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    async def _create_database(self) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()

    async def _drop_database(self) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await conn.close()
