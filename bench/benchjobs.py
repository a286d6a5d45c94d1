"""Job functions for the benchmarks in this directory.

They live in an importable module (not ``__main__``) so a worker subprocess can find
them by path; run workers with this directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import time


def noop() -> None:
    """A sync job that does nothing: measures the library's own cost per job."""


async def anoop() -> None:
    """An ``async def`` job that does nothing."""


def started() -> float:
    """Return the wall-clock time at which the job began to run (for latency)."""
    return time.time()


def fail() -> None:
    """A job that raises: the failure path (traceback capture, failed registry)."""
    raise RuntimeError("planned failure")
