"""Time-driven upkeep of the store, shared by workers and ``conveyor cleanup``."""

from __future__ import annotations

from dataclasses import dataclass, field

from conveyor.backends.base import Backend
from conveyor.types import Recovery

DEFAULT_WORKER_TTL = 300.0


@dataclass
class ScheduleReport:
    """What one pass over scheduled, leased and expiring jobs did."""

    promoted: int = 0
    recovered: list[Recovery] = field(default_factory=list)
    expired: int = 0


@dataclass
class CleanupReport:
    """What one maintenance pass removed."""

    purged: int = 0
    reaped_workers: list[str] = field(default_factory=list)


def run_schedule(backend: Backend, now: float) -> ScheduleReport:
    """Promote due scheduled jobs, recover jobs whose lease expired, expire old queued jobs;
    and let the store tidy itself."""
    backend.store_maintain()
    return ScheduleReport(
        promoted=backend.jobs_promote_due(now),
        recovered=backend.leases_recover(now),
        expired=backend.jobs_expire(now),
    )


def run_cleanup(backend: Backend, now: float, worker_ttl: float = DEFAULT_WORKER_TTL) -> CleanupReport:
    """Delete jobs past their result/failure TTL and reap workers silent for ``worker_ttl``."""
    return CleanupReport(purged=backend.jobs_purge(now), reaped_workers=backend.workers_reap(now - worker_ttl))
