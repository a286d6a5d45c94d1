"""Time-driven upkeep of the store, shared by workers and ``conveyor cleanup``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from conveyor.backends.base import CHUNK, Backend
from conveyor.types import Recovery

DEFAULT_WORKER_TTL = 300.0


@dataclass
class ScheduleReport:
    """What one pass over scheduled, leased and expiring jobs did."""

    promoted: int = 0
    recovered: list[Recovery] = field(default_factory=list)
    expired: int = 0
    unfinished: bool = False  # the time budget ran out with a backlog left


@dataclass
class CleanupReport:
    """What one maintenance pass removed."""

    purged: int = 0
    reaped_workers: list[str] = field(default_factory=list)
    unfinished: bool = False  # the time budget ran out with expired jobs left


def run_schedule(backend: Backend, now: float, budget: float | None = None) -> ScheduleReport:
    """Promote due scheduled jobs, recover jobs whose lease expired, expire old queued jobs,
    each in chunks of CHUNK jobs; and let the store tidy itself.

    With a ``budget`` (seconds) a backlog is worked off over several calls, so the
    caller's heartbeats are never held up for long.
    """
    backend.store_maintain()
    deadline = None if budget is None else time.monotonic() + budget
    report = ScheduleReport()
    while True:
        promoted = backend.jobs_promote_due(now, CHUNK)
        recovered = backend.leases_recover(now, CHUNK)
        expired = backend.jobs_expire(now, CHUNK)
        report.promoted += promoted
        report.recovered += recovered
        report.expired += expired
        if max(promoted, len(recovered), expired) < CHUNK:
            return report
        if deadline is not None and time.monotonic() > deadline:
            report.unfinished = True
            return report


PURGE_CHUNK = CHUNK
"""Jobs deleted per transaction, so other writers (heartbeats) are never held up long."""


def run_cleanup(
    backend: Backend, now: float, worker_ttl: float = DEFAULT_WORKER_TTL, budget: float | None = None
) -> CleanupReport:
    """Delete jobs past their result/failure TTL and reap workers silent for ``worker_ttl``.

    With a ``budget`` (seconds) it stops purging when that is spent and says so, for a
    worker that must get back to its heartbeats; without one it purges everything.
    """
    report = CleanupReport(reaped_workers=backend.workers_reap(now - worker_ttl))
    deadline = None if budget is None else time.monotonic() + budget
    while True:
        purged = backend.jobs_purge(now, PURGE_CHUNK)
        report.purged += purged
        if purged < PURGE_CHUNK:
            return report
        if deadline is not None and time.monotonic() > deadline:
            report.unfinished = True
            return report
