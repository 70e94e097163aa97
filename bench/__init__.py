"""Benchmarks of the exchange: the pure mechanisms, the raw-SQL ceiling, bids over HTTP.

Run them from the repository root, e.g. ``.venv/bin/python -m bench.mechanism_bench``;
see bench/README.md.
"""

import subprocess
from pathlib import Path


class BenchError(RuntimeError):
    """A benchmark cannot go on (the server, the seeding or the load generator failed)."""


def say(message: str) -> None:
    """A progress line, flushed at once: runs take minutes and are often piped to a file."""
    print(message, flush=True)


def run_command(command: list[str], failure: str, env: dict[str, str], cwd: Path | None = None) -> str:
    """The output of ``command``; ``failure`` and the end of its errors when it fails."""
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{failure}: {done.stderr.strip()[-2000:]}")
    return done.stdout
