"""The failover scene's timings: tests/integration/test_failover.py, run ``--runs`` times.

    .venv/bin/python -m bench.failover [--runs 5]

The scene is the test itself (one source): three ``exchange serve`` instances behind nginx,
bidders and watchers through the proxy, kill -9 of the instance taking the lot's bids in the
middle of the auction. Each run must pass (no acknowledged bid lost, watchers resume without a gap,
one close); its timings (test-artifacts/failover.json of that run) are printed as a table: how
long bids went unanswered, how long cut-off watchers took to reconnect, how late the close was.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import BenchError, say

REPO = Path(__file__).resolve().parents[1]
TEST = "tests/integration/test_failover.py"


def one_run(folder: Path) -> dict[str, Any]:
    env = {**os.environ, "EXCHANGE_TEST_ARTIFACTS": str(folder)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", TEST],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"the failover test failed:\n{done.stdout[-4000:]}")
    report: dict[str, Any] = json.loads((folder / "failover.json").read_text())
    return report


def row(report: dict[str, Any]) -> str:
    bids, watchers, close = report["bids"], report["watchers"], report["close"]
    reconnects = watchers["reconnect_seconds"]
    return (
        f"| {bids['acknowledged_201']} | {bids['replayed_200']} | {bids['failed_attempts']} "
        f"| {bids['unanswered_seconds'] * 1000:.0f} | {watchers['disconnected']}/{watchers['count']} "
        f"| {max(reconnects) * 1000 if reconnects else 0:.0f} "
        f"| {close['published_late_seconds'] * 1000:.0f} | {close['last_seen_late_seconds'] * 1000:.0f} "
        f"| {' '.join(f'{x:.1f}' for x in report['machine']['load_average'])} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="times to run the scene (default 3)")
    args = parser.parse_args(argv)
    reports = []
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as scratch:
        for index in range(args.runs):
            folder = Path(scratch) / f"run{index}"
            try:
                reports.append(one_run(folder))
            except BenchError as exc:
                say(str(exc))
                return 1
            say(f"run {index + 1}/{args.runs}: passed")
    say(
        "| 201 | 200 on retry | failed attempts | bids unanswered ms | watchers cut | reconnect max ms "
        "| close published late ms | close seen late (last) ms | load average |"
    )
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for report in reports:
        say(row(report))
    unanswered = [r["bids"]["unanswered_seconds"] * 1000 for r in reports]
    reconnects = [s * 1000 for r in reports for s in r["watchers"]["reconnect_seconds"]]
    late = [r["close"]["last_seen_late_seconds"] * 1000 for r in reports]
    say(
        f"median over {len(reports)} runs: bids unanswered {statistics.median(unanswered):.0f} ms, "
        f"reconnect {statistics.median(reconnects) if reconnects else 0:.0f} ms, "
        f"close seen {statistics.median(late):.0f} ms after the deadline"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
