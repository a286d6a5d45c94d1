"""Worker health as the REST API and ``conveyor info`` report it, by stated rules.

A worker is *healthy* when its last heartbeat is at most ``STALE_AFTER`` seconds old
(workers beat every third of their lease, 10 s by default). The store as a whole is:

- ``healthy``: at least one healthy worker, and no stale one;
- ``degraded``: a healthy worker and a stale one (a worker that died and is not yet
  reaped: its jobs come back when their leases run out), or no healthy worker while
  there is nothing to run (the next job would wait);
- ``unhealthy``: no healthy worker while jobs are waiting (queued, deferred or
  scheduled) or running.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from conveyor.types import WorkerRecord

STALE_AFTER = 60.0
"""Seconds without a heartbeat after which a worker counts as unhealthy."""

HealthStatus = Literal["healthy", "degraded", "unhealthy"]


def worker_is_healthy(worker: WorkerRecord, now: float) -> bool:
    return now - worker.last_heartbeat <= STALE_AFTER


def store_health(workers: Iterable[WorkerRecord], now: float, jobs_waiting_or_running: int) -> HealthStatus:
    """The store's worker health by the rules of this module's docstring."""
    health = [worker_is_healthy(worker, now) for worker in workers]
    if any(health):
        return "healthy" if all(health) else "degraded"
    return "unhealthy" if jobs_waiting_or_running else "degraded"
