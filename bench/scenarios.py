"""The scenarios of bench/bids.py (``hot``, ``spread``, ``paced``): run the load generator, report.

``drive`` splits a scenario over ``--workers`` load-generator processes, reads
the CPU the client, the server and the machine used meanwhile, and returns a
``ScenarioResult``; ``report`` is the table and the detail lines.
"""

from __future__ import annotations

import math
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from bench.loadgen import LotSpec, WorkSpec, fen, merge, run_worker
from bench.seeding import INCREMENT, SeededLot
from bench.server import machine_busy, tree_cpu

# Targets of the brief, as ratios to the pgbench ceiling of the same run.
HOT_TARGET = 0.5
SPREAD_TARGET = 0.4
P99_TARGET_MS = 50.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


@dataclass
class ScenarioResult:
    name: str
    lots: int
    clients: int
    workers: int
    strategy: str
    offered_rate: float | None
    seconds: float
    sent: int
    accepted: int
    rejected: dict[str, int]
    errors: int
    refreshes: int
    skipped: int
    late: int
    accepted_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    p99_all_ms: float | None
    client_cpu_pct: float
    server_cpu_pct: float
    machine_cpu_pct: float
    ceiling_tps: float | None = None
    error_sample: str = ""
    load_average: float = 0.0
    """1-minute load average at the end: the machine is shared, so say how busy it was."""
    sent_per_s: float = 0.0
    """Bids sent per second (in paced: what was really offered)."""
    capped: int = 0
    """paced: sends due while --paced-in-flight bids were in flight (not sent)."""
    max_in_flight: int | None = None
    """paced: the in-flight limit."""
    client_us_per_request: float | None = None
    """Client CPU per HTTP request (bids and price refreshes), microseconds."""
    connects: int = 0
    """Connections the client opened (one per closed-loop client, more after closes)."""
    resent: int = 0
    """Requests sent again after the server closed an idle keep-alive connection under them."""

    @property
    def ratio(self) -> float | None:
        return self.accepted_per_s / self.ceiling_tps if self.ceiling_tps else None

    @property
    def paced_met(self) -> bool:
        """Every answer (201 or rejection) within the p99 target, at (95 % of) the offered rate:
        an open loop that could not send its rate, or fast rejections, prove nothing."""
        return (
            self.p99_ms is not None
            and self.p99_all_ms is not None
            and max(self.p99_ms, self.p99_all_ms) <= P99_TARGET_MS
            and self.offered_rate is not None
            and self.sent_per_s >= 0.95 * self.offered_rate
        )


def lot_specs(
    lots: list[SeededLot], views: dict[int, dict[str, Any]], bidders: int | None = None
) -> list[LotSpec]:
    """The open lots with their price; ``bidders``: use only the first so many of each lot's bidders."""
    specs = []
    for lot in lots:
        view = views[lot.listing_id]
        if view.get("status") != "open" or not view.get("next_min_bid"):
            continue
        specs.append(LotSpec(lot.listing_id, INCREMENT, fen(view["next_min_bid"]), lot.bidders[:bidders]))
    return specs


def drive(
    name: str,
    base_url: str,
    tokens: list[str],
    specs: list[LotSpec],
    *,
    seconds: float,
    clients: int,
    workers: int,
    strategy: str,
    server_pid: int,
    rate: float | None = None,
    max_in_flight: int = 256,
    ceiling_tps: float | None = None,
) -> ScenarioResult:
    workers = max(1, min(workers, len(specs)))
    parts: list[WorkSpec] = []
    for w in range(workers):
        share = specs[w::workers]
        parts.append(
            WorkSpec(
                base_url,
                tokens,
                share,
                seconds,
                max(1, clients // workers + (1 if w < clients % workers else 0)),
                strategy,
                rate=None if rate is None else rate / workers,
                max_in_flight=max(1, max_in_flight // workers),
                warm=_warm(rate, workers, max_in_flight),
                worker=w,
            )
        )
    server_cpu, (busy, total) = tree_cpu(server_pid), machine_busy()
    if workers == 1:
        results = [run_worker(parts[0])]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(run_worker, parts))
    merged = merge(results)
    server_cpu = tree_cpu(server_pid) - server_cpu
    busy2, total2 = machine_busy()
    elapsed = merged.elapsed or seconds
    requests = merged.sent + merged.refreshes
    return ScenarioResult(
        name=name,
        lots=len(specs),
        clients=clients,
        workers=workers,
        strategy=strategy,
        offered_rate=rate,
        seconds=round(elapsed, 3),
        sent=merged.sent,
        accepted=merged.accepted,
        rejected=merged.rejected,
        errors=merged.errors,
        refreshes=merged.refreshes,
        skipped=merged.skipped,
        late=merged.late,
        accepted_per_s=merged.accepted / elapsed,
        p50_ms=percentile(merged.ack_ms, 0.50),
        p99_ms=percentile(merged.ack_ms, 0.99),
        p99_all_ms=percentile(merged.all_ms, 0.99),
        client_cpu_pct=100 * merged.client_cpu / elapsed,
        server_cpu_pct=100 * server_cpu / elapsed,
        machine_cpu_pct=100 * (busy2 - busy) / (total2 - total) if total2 > total else float("nan"),
        ceiling_tps=ceiling_tps,
        error_sample=merged.error_sample,
        load_average=os.getloadavg()[0],
        sent_per_s=merged.sent / elapsed,
        capped=merged.capped,
        max_in_flight=max_in_flight if rate is not None else None,
        client_us_per_request=1e6 * merged.client_cpu / requests if requests else None,
        connects=merged.connects,
        resent=merged.resent,
    )


def _warm(rate: float | None, workers: int, max_in_flight: int) -> int:
    """Open loop: connections for the bids expected in flight at the p99 target, per worker."""
    if rate is None:
        return 1
    return min(max(1, max_in_flight // workers), max(1, math.ceil(rate / workers * P99_TARGET_MS / 1000)))


def shown(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def report(results: list[ScenarioResult]) -> str:
    header = (
        f"{'scenario':<8} {'lots':>5} {'cli':>4} {'offered/s':>9} {'accepted':>8} {'acc/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'ceiling':>7} {'ratio':>5} {'target':>11}  "
        f"{'cpu cli/srv/all %':>17}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        if r.name == "paced":
            target = f"p99<={P99_TARGET_MS:g}ms " + ("ok" if r.paced_met else "NO")
        else:
            goal = HOT_TARGET if r.name == "hot" else SPREAD_TARGET
            target = f">={goal:g} " + ("-" if r.ratio is None else ("ok" if r.ratio >= goal else "NO"))
        lines.append(
            f"{r.name:<8} {r.lots:>5} {r.clients:>4} {shown(r.offered_rate, '{:.0f}'):>9} {r.accepted:>8} "
            f"{r.accepted_per_s:>7.0f} {shown(r.p50_ms, '{:.2f}'):>7} {shown(r.p99_ms, '{:.2f}'):>7} "
            f"{shown(r.ceiling_tps, '{:.0f}'):>7} {shown(r.ratio, '{:.2f}'):>5} {target:>11}  "
            f"{r.client_cpu_pct:>5.0f}/{r.server_cpu_pct:>3.0f}/{r.machine_cpu_pct:>3.0f}"
        )
    lines.append("")
    for r in results:
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(r.rejected.items())) or "none"
        paced = (
            f", in-flight limit {r.max_in_flight} reached {r.capped}" if r.max_in_flight is not None else ""
        )
        lines.append(
            f"{r.name}: sent {r.sent} ({r.sent_per_s:.0f}/s), rejected: {rejected}; errors {r.errors}, "
            f"price refreshes {r.refreshes}, no free bidder {r.skipped}{paced}, late sends {r.late}, "
            f"p99 of all responses {shown(r.p99_all_ms, '{:.2f}')} ms, "
            f"client CPU {shown(r.client_us_per_request, '{:.0f}')} us/request, "
            f"connections {r.connects} (resent {r.resent}), load average {r.load_average:.1f}"
            + (f"; first error: {r.error_sample}" if r.error_sample else "")
        )
    return "\n".join(lines)
