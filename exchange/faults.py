"""Crash points: a process that kills itself at a named step, for the kill -9 tests.

Atomicity claims ("both legs or neither") are only worth what a crash at every step shows. A
step that matters calls :func:`crash_point` with its name; a test sets ``EXCHANGE_CRASH_AT`` to
that name in a subprocess's environment and the process dies there by SIGKILL: no ``finally``,
no rollback, no flush, exactly as a power cut or the OOM killer would leave it. Without the
variable (production) the call does nothing.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_AT", "crash_point"]

CRASH_AT = "EXCHANGE_CRASH_AT"


def crash_point(name: str) -> None:
    """SIGKILL this process when ``EXCHANGE_CRASH_AT`` equals ``name``; nothing otherwise."""
    if os.environ.get(CRASH_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
