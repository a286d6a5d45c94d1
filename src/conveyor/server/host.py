"""The host's CPU and memory use, as GET /jobs/queue/stats reports them.

psutil's ``cpu_percent(interval=None)`` measures from the calling thread's previous
call and answers 0.0 to a thread's first: the server answers from a pool of threads, so
a fresh server said 0% CPU, and later each thread the use since its own last request.
``HostLoad`` keeps one reading for the whole app instead, started with the app.
"""

from __future__ import annotations

import threading
import time

import psutil

SHORTEST_SPAN = 0.5
"""Seconds a reading spans at least: requests closer than this (two open dashboards)
get the last figure rather than the noise of a few milliseconds."""


class HostLoad:
    """CPU use since the previous reading (at least SHORTEST_SPAN ago), whichever thread asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times = _cpu_times()
        self._at = time.monotonic()
        self._percent: float | None = None

    def cpu_percent(self) -> float:
        with self._lock:
            now = time.monotonic()
            if self._percent is not None and now - self._at < SHORTEST_SPAN:
                return self._percent
            times = _cpu_times()
            self._percent = _busy_percent(self._times, times)
            self._times, self._at = times, now
            return self._percent

    @staticmethod
    def memory_used_mb() -> float:
        return round(psutil.virtual_memory().used / 2**20, 1)


def _cpu_times() -> dict[str, float]:
    """Seconds the host's CPUs spent in each state since boot."""
    times: dict[str, float] = psutil.cpu_times()._asdict()
    return times


def _busy_percent(before: dict[str, float], after: dict[str, float]) -> float:
    """Busy share of the CPU time between two samples, as psutil.cpu_percent computes it:
    idle and I/O wait are not busy; guest time is inside user time already (Linux)."""
    spent = {state: after[state] - before[state] for state in after}
    total = sum(spent.values()) - spent.get("guest", 0.0) - spent.get("guest_nice", 0.0)
    idle = spent["idle"] + spent.get("iowait", 0.0)
    if total <= 0:
        return 0.0
    return round(min(100.0, max(0.0, (total - idle) / total * 100)), 1)
