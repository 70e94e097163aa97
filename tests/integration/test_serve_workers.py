"""``exchange serve --workers 2``: two uvicorn processes, each with its own timers and sweeps.

Bids land on either process; the auction still closes exactly once, with a
gapless event log and one closing audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support.live import bid_for, close_record, seed, wait
from tests.support.server import Server

pytestmark = pytest.mark.slow


class WorkersServer(Server):
    """``exchange serve --workers N`` in its own process group, so a kill takes the workers too."""

    own_group = True

    def __init__(self, env: dict[str, str], cwd: Path, workers: int) -> None:
        super().__init__(env, cwd, args=["--workers", str(workers)])
        self.workers = workers

    def ready(self) -> bool:
        return len(self.children()) == self.workers

    def children(self) -> list[int]:
        assert self.proc is not None
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) != self.proc.pid:
                continue
            with contextlib.suppress(OSError):  # uvicorn's workers are multiprocessing spawns
                if "spawn_main" in (stat.parent / "cmdline").read_text():
                    found.append(int(stat.parent.name))
        return found

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


async def test_two_workers_bid_and_close_once(
    env: dict[str, str], servers: list[Server], db: str, tmp_path: Path
) -> None:
    server = WorkersServer(env, tmp_path, workers=2).start(timeout=60)
    servers.append(server)
    assert len(server.children()) == 2
    listing_id, heads = seed(server.url, env, tmp_path, bidders=3, bidding_seconds=4)
    acked = await bid_for(2.0, [server.url], listing_id, heads)
    assert len(acked) >= 4
    wait(server.url, listing_id, {"closed", "failed"}, 20)
    await asyncio.sleep(2)  # both workers' sweeps pass over the closed auction again
    closes, seqs, audited = await close_record(db, listing_id)
    assert closes == 1 and audited == 1
    assert seqs == list(range(1, len(seqs) + 1))
    history = httpx.get(f"{server.url}/api/v1/auctions/{listing_id}/bids").json()
    assert {a["seq"] for a in acked} <= {b["seq"] for b in history}
    view = httpx.get(f"{server.url}/api/v1/auctions/{listing_id}").json()
    assert view["status"] == "closed" and view["current_price"] == history[-1]["amount"]
