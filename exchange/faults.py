"""Crash points: a process that kills itself at a named step, for the kill -9 tests.

Atomicity claims ("both legs or neither") are only worth what a crash at every step shows. A
step that matters calls :func:`crash_point` with its name; a test runs a process with
``EXCHANGE_CRASH_AT`` set to that name (read by :mod:`exchange.settings`, which arms this module
at start: :func:`arm`), and the process dies there by SIGKILL: no ``finally``, no rollback, no
flush, exactly as a power cut or the OOM killer would leave it. Unarmed (production) the call does
nothing.
"""

from __future__ import annotations

import os
import signal

__all__ = ["arm", "crash_point"]

_armed: str | None = None
"""The one step this process dies at; process-wide by nature, as the crash it stands for."""


def arm(name: str | None) -> None:
    """Die at the step ``name`` from now on (``None``: never)."""
    global _armed
    _armed = name


def crash_point(name: str) -> None:
    """SIGKILL this process if it is armed for ``name``; nothing otherwise."""
    if _armed is not None and _armed == name:
        os.kill(os.getpid(), signal.SIGKILL)
