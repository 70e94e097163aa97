"""Document rendering: time of a one-page result announcement, and event-loop lag while rendering.

1. ``render``: median (and p90) wall time of one result announcement (成交公示,
   one A4 page, two CJK faces embedded), rendered
   - ``in-process``: ``render_pdf`` called directly (WeasyPrint's own time), and
   - ``pool``: through ``Renderer`` one at a time, as ``documents.store.issue``
     does (adds pickling and the hop to the worker process).
   Target: median <= 150 ms (pool).
2. ``lag``: a ticker task sleeps 5 ms in a loop and records how late it wakes
   up, first on an idle loop, then while 20 documents render through the pool
   (all submitted at once). Target: p99 overshoot <= 20 ms while rendering.

3. ``profile`` (``--profile``): in a spawned process like the pool's workers,
   the median of each phase of a render (template, parse and layout, PDF
   writing), the time spent subsetting the fonts, compressing the streams and
   copying font files, and cProfile's top functions by own time.

The machine may be shared: the load average is printed with the figures.

Run: ``.venv/bin/python -m bench.documents [--runs 30] [--documents 20] [--workers 2] [--profile] [--check]
[--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import multiprocessing
import os
import platform
import pstats
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from documents import samples
from documents.render import WORKER_NICENESS, PdfMetadata, Renderer, lay_out, render_html, render_pdf

TICK = 0.005
RENDER_TARGET_MS = 150.0
LAG_TARGET_MS = 20.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def reference_ms() -> float:
    """A fixed pure-Python loop, to tell a slow or busy machine from a slow renderer."""
    start = time.perf_counter()
    sum(range(10**7))
    return (time.perf_counter() - start) * 1000


def job() -> tuple[str, dict[str, Any], PdfMetadata]:
    stamp = samples.stamp("result_announcement")
    context = {"doc": samples.result_announcement(), "stamp": stamp}
    return "result_announcement.html", context, PdfMetadata(stamp.title, stamp.issued_at)


def bench_in_process(runs: int) -> list[float]:
    template, context, metadata = job()
    render_pdf(template, context, metadata)  # fonts, fontconfig, templates
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        render_pdf(template, context, metadata)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def bench_pool(renderer: Renderer, runs: int) -> list[float]:
    template, context, metadata = job()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await renderer.render(template, context, metadata)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append((time.perf_counter() - start - TICK) * 1000)


async def lag_while(work: Any) -> tuple[list[float], float]:
    stop = asyncio.Event()
    lags: list[float] = []
    tick = asyncio.create_task(ticker(stop, lags))
    await asyncio.sleep(0.05)
    lags.clear()
    start = time.perf_counter()
    await work
    elapsed = time.perf_counter() - start
    stop.set()
    await tick
    return lags, elapsed


async def bench_lag(renderer: Renderer, documents: int) -> dict[str, Any]:
    idle, _ = await lag_while(asyncio.sleep(1.0))
    template, context, metadata = job()
    busy, elapsed = await lag_while(
        asyncio.gather(*(renderer.render(template, context, metadata) for _ in range(documents)))
    )
    return {
        "idle_p50_ms": statistics.median(idle),
        "idle_p99_ms": percentile(idle, 99),
        "busy_p50_ms": statistics.median(busy),
        "busy_p99_ms": percentile(busy, 99),
        "busy_max_ms": max(busy),
        "ticks": len(busy),
        "documents": documents,
        "elapsed_s": elapsed,
        "documents_per_s": documents / elapsed,
    }


HOT_SPOTS = {  # name: (file of the function, function, cumulative rather than own time)
    "font subsetting": ("pdf/fonts.py", "_harfbuzz_subset", True),
    "stream compression": ("~", "<method 'compress' of 'zlib.Compress' objects>", False),
    "font blob copies": ("~", "<built-in method _cffi_backend.unpack>", False),
}


def profile_renders(runs: int) -> dict[str, Any]:
    """In a fresh worker-like process: phase medians, hot spots and cProfile's top functions."""
    template, context, metadata = job()
    render_pdf(template, context, metadata)  # what a pool worker's warm-up and first render load
    phases: dict[str, list[float]] = {"template": [], "layout": [], "write": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        html = render_html(template, context)
        t1 = time.perf_counter()
        document = lay_out(html)
        t2 = time.perf_counter()
        document.write_pdf()
        t3 = time.perf_counter()
        for phase, start, end in (("template", t0, t1), ("layout", t1, t2), ("write", t2, t3)):
            phases[phase].append((end - start) * 1000)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        render_pdf(template, context, metadata)
    profiler.disable()
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total: float = stats.total_tt  # type: ignore[attr-defined]
    spots = {
        name: sum(
            row[3] if cumulative else row[2]
            for (file, _, func), row in table.items()
            if func == function and file.endswith(suffix)
        )
        for name, (suffix, function, cumulative) in HOT_SPOTS.items()
    }
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    return {
        "runs": runs,
        "phase_median_ms": {k: statistics.median(v) for k, v in phases.items()},
        "profiled_ms_per_render": total * 1000 / runs,
        "hot_spot_ms_per_render": {k: v * 1000 / runs for k, v in spots.items()},
        "top": out.getvalue(),
    }


def bench_profile(runs: int) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(profile_renders, runs).result()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    reference = statistics.median(reference_ms() for _ in range(3))
    in_process = bench_in_process(args.runs)
    renderer = Renderer(workers=args.workers, timeout=60, niceness=args.niceness)
    try:
        started = time.perf_counter()
        await renderer.start()
        startup = time.perf_counter() - started
        pool = await bench_pool(renderer, args.runs)
        lag = await bench_lag(renderer, args.documents)
    finally:
        await renderer.aclose()
    figures: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "reference_loop_ms": reference,
        },
        "render": {
            "runs": args.runs,
            "in_process_median_ms": statistics.median(in_process),
            "in_process_p90_ms": percentile(in_process, 90),
            "pool_median_ms": statistics.median(pool),
            "pool_p90_ms": percentile(pool, 90),
            "pool_startup_s": startup,
            "workers": renderer.workers,
            "niceness": renderer.niceness,
        },
        "lag": lag,
    }
    if args.profile:
        figures["profile"] = bench_profile(args.runs)
    return figures


def report(figures: dict[str, Any]) -> bool:
    r, lag, m = figures["render"], figures["lag"], figures["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["load_average"])
    print(f"python {m['python']}, {m['cpus']} CPUs, load average {load}")
    print(
        f"reference: sum(range(10**7)) takes {m['reference_loop_ms']:.0f} ms (machine speed, to compare runs)"
    )
    print(f"one-page result announcement, {r['runs']} renders each:")
    print(
        f"  in process        median {r['in_process_median_ms']:7.1f} ms   p90 {r['in_process_p90_ms']:7.1f} ms"
    )
    print(f"  through the pool  median {r['pool_median_ms']:7.1f} ms   p90 {r['pool_p90_ms']:7.1f} ms")
    print(
        f"  pool start ({r['workers']} workers, warmed, nice +{r['niceness']}): {r['pool_startup_s']:.2f} s"
    )
    print(f"event-loop lag (5 ms ticker, overshoot), {lag['documents']} documents through the pool at once:")
    print(f"  idle loop         p50 {lag['idle_p50_ms']:6.2f} ms   p99 {lag['idle_p99_ms']:6.2f} ms")
    print(
        f"  while rendering   p50 {lag['busy_p50_ms']:6.2f} ms   p99 {lag['busy_p99_ms']:6.2f} ms"
        f"   max {lag['busy_max_ms']:6.2f} ms   ({lag['ticks']} ticks)"
    )
    print(
        f"  {lag['documents']} documents in {lag['elapsed_s']:.2f} s ({lag['documents_per_s']:.1f} documents/s)"
    )
    if "profile" in figures:
        p = figures["profile"]
        phases = ", ".join(f"{k} {v:.1f}" for k, v in p["phase_median_ms"].items())
        print(f"profile in a spawned worker, {p['runs']} renders: phase medians (ms) {phases}")
        spots = ", ".join(f"{k} {v:.1f}" for k, v in p["hot_spot_ms_per_render"].items())
        print(f"  under cProfile {p['profiled_ms_per_render']:.1f} ms per render, of which (ms) {spots}")
        print(p["top"])
    render_ok = r["pool_median_ms"] <= RENDER_TARGET_MS
    lag_ok = lag["busy_p99_ms"] <= LAG_TARGET_MS
    print(
        f"targets: render median <= {RENDER_TARGET_MS:.0f} ms: {'met' if render_ok else 'MISSED'}; ", end=""
    )
    print(f"lag p99 <= {LAG_TARGET_MS:.0f} ms: {'met' if lag_ok else 'MISSED'}")
    return bool(render_ok and lag_ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30, help="renders per timing series (30)")
    parser.add_argument(
        "--documents", type=int, default=20, help="documents rendered during the lag test (20)"
    )
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: min(2, CPUs))")
    parser.add_argument(
        "--niceness",
        type=int,
        default=WORKER_NICENESS,
        help=f"added to the workers' nice value ({WORKER_NICENESS}, as the exchange does; 0 to compare)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile renders in a spawned worker process"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    ok = report(figures)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)
    if args.check and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
