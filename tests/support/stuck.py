"""A watchdog for test clients whose event loop does not finish closing.

Litestar's test client runs the app in a portal thread; closing it cancels the
tasks still pending and waits for all of them. A task that outlives its
cancellation would hang the test run for good (seen twice under load, not yet
reproduced alone), so the watchdog prints every pending task's stack to stderr
and cancels those already cancelled once more: the run names the culprit
instead of stalling CI.
"""

from __future__ import annotations

import asyncio
import gc
import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GRACE_SECONDS = 10.0
"""A client closes in well under a second; a stuck one (an aiosqlite close queued behind a lock wait) cost a worker a minute at 60 s, and re-cancelling frees it."""
ARTIFACTS = Path(os.environ.get("EXCHANGE_TEST_ARTIFACTS", "test-artifacts"))


def _dump_and_recancel(test: str) -> None:
    out = io.StringIO()
    out.write(f"\n=== {test}: the test client did not close within {GRACE_SECONDS:.0f} s; pending tasks:\n")
    loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]
    for task in list(asyncio.tasks._all_tasks):  # readable from another thread; only for diagnosis
        if task.done():
            continue
        out.write(f"--- {task!r}\n")
        task.print_stack(file=out)
    sys.__stderr__.write(out.getvalue())
    sys.__stderr__.flush()
    # an xdist worker's stderr reaches no one: keep the stacks with the run's other artifacts
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() else "_" for c in test)[-120:]
    (ARTIFACTS / f"stuck-{name}.txt").write_text(out.getvalue(), encoding="utf-8")
    for loop in loops:
        for task in asyncio.all_tasks(loop):
            if task.cancelling():  # cancelled once already and still running: the stuck ones
                loop.call_soon_threadsafe(task.cancel)


@contextmanager
def watchdog(test: str) -> Iterator[None]:
    timer = threading.Timer(GRACE_SECONDS, _dump_and_recancel, args=(test,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
