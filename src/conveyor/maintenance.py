"""Time-driven upkeep of the store, shared by workers and ``conveyor cleanup``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from conveyor.backends.base import CHUNK, Backend
from conveyor.rates import LONGEST_PERIOD
from conveyor.types import Recovery

DEFAULT_WORKER_TTL = 300.0
CRON_ENTRY_TTL = 7 * 86400.0
"""Seconds a periodic job no scheduler publishes any more (shown stale meanwhile) is kept,
with its last tick, before the maintenance pass removes it: a week, so that a scheduler
down over a weekend still shows what it ran and when."""


@dataclass
class ScheduleReport:
    """What one pass over scheduled, leased and expiring jobs did."""

    promoted: int = 0
    recovered: list[Recovery] = field(default_factory=list)
    expired: int = 0
    batches_started: int = 0
    batches_completed: list[str] = field(default_factory=list)
    unfinished: bool = False  # the time budget ran out with a backlog left


@dataclass
class CleanupReport:
    """What one maintenance pass removed."""

    purged: int = 0
    reaped_workers: list[str] = field(default_factory=list)
    reaped_cron_entries: list[str] = field(default_factory=list)
    unfinished: bool = False  # the time budget ran out with expired jobs left
    skipped: bool = False  # another worker holds the maintenance lock


BATCH_CHUNK = 10
"""Batches started or completed per step: one batch may hold 10,000 jobs."""


def run_schedule(
    backend: Backend, now: float, budget: float | None = None, *, recover_leases: bool = True
) -> ScheduleReport:
    """Promote due scheduled jobs, recover jobs whose lease expired (unless told not to),
    expire old queued jobs, each in chunks of CHUNK jobs; start batches whose time has
    come and complete those whose jobs have all ended; and let the store tidy itself.

    With a ``budget`` (seconds) a backlog is worked off over several calls, so the
    caller's heartbeats are never held up for long.
    """
    backend.store_maintain()
    deadline = None if budget is None else time.monotonic() + budget
    report = ScheduleReport()
    while True:
        promoted = backend.jobs_promote_due(now, CHUNK)
        recovered = backend.leases_recover(now, CHUNK) if recover_leases else []
        expired = backend.jobs_expire(now, CHUNK)
        started = backend.batches_start_due(now, BATCH_CHUNK)
        completed = backend.batches_complete(now, BATCH_CHUNK)
        report.promoted += promoted
        report.recovered += recovered
        report.expired += expired
        report.batches_started += started
        report.batches_completed += completed
        if max(promoted, len(recovered), expired) < CHUNK and max(started, len(completed)) < BATCH_CHUNK:
            return report
        if deadline is not None and time.monotonic() > deadline:
            report.unfinished = True
            return report


@dataclass
class DueReport:
    """What one pass over jobs and batch starts that came due did, and when the next is due."""

    promoted: int = 0
    batches_started: int = 0
    next_due: float | None = None  # None: nothing waits on a time
    unfinished: bool = False  # the time budget ran out with a backlog left


def run_due(backend: Backend, now: float, budget: float) -> DueReport:
    """Promote due scheduled jobs and start due batches, in chunks within ``budget``
    seconds, and read when the next comes due (one index read).

    The lighter half of ``run_schedule``, for a worker that wakes at a due time: the
    leases, ttl expiry and batch completion still wait for the poll interval, so an
    early pass costs the store a few index reads when another worker got there first.
    """
    deadline = time.monotonic() + budget
    report = DueReport()
    while True:
        promoted = backend.jobs_promote_due(now, CHUNK)
        started = backend.batches_start_due(now, BATCH_CHUNK)
        report.promoted += promoted
        report.batches_started += started
        if promoted < CHUNK and started < BATCH_CHUNK:
            break
        if time.monotonic() > deadline:
            report.unfinished = True
            return report
    report.next_due = backend.schedule_next_due()
    return report


PURGE_CHUNK = 250
"""Jobs deleted per transaction (about 2.5 ms on either backend here), so that other
writers, and on Redis every client, are never held up long."""


RATE_STARTS_CHUNK = 5000
"""Rates' starts dropped per transaction by the maintenance pass (an index range: a few ms)."""


MAINTENANCE_LOCK_TTL = 120.0
"""Seconds the maintenance lock outlives a worker that took it and then vanished."""


def run_cleanup(
    backend: Backend,
    now: float,
    worker_ttl: float = DEFAULT_WORKER_TTL,
    budget: float | None = None,
    owner: str | None = None,
) -> CleanupReport:
    """Delete jobs past their result/failure TTL, reap workers silent for ``worker_ttl``
    and periodic jobs no scheduler published for CRON_ENTRY_TTL, and drop the starts
    rates logged more than a day (the longest period) ago.

    With a ``budget`` (seconds) it stops purging when that is spent and says so, for a
    worker that must get back to its heartbeats; without one it purges everything.
    With an ``owner`` (a worker's name) it first takes the store-wide maintenance lock,
    so that one worker at a time does this work, and skips the pass if another holds
    it; without one (``conveyor cleanup``) it runs regardless. A completed pass is
    recorded as the store's ``last_cleanup``.
    """
    if owner is not None and not backend.maintenance_claim(owner, now, now + MAINTENANCE_LOCK_TTL):
        return CleanupReport(skipped=True)
    report = CleanupReport(
        reaped_workers=backend.workers_reap(now - worker_ttl),
        reaped_cron_entries=backend.cron_reap(now - CRON_ENTRY_TTL),
    )
    while backend.rate_starts_trim(now - LONGEST_PERIOD, RATE_STARTS_CHUNK) == RATE_STARTS_CHUNK:
        pass
    report.purged, report.unfinished = _purge(backend, now, budget)
    if not report.unfinished:
        backend.maintenance_done(owner or "", now)
    return report  # unfinished: the lock stays with the owner, who goes on next tick


def run_retention(backend: Backend, now: float, owner: str, budget: float) -> CleanupReport:
    """Delete the jobs that came past their result/failure TTL since the last call, in
    the worker holding the maintenance lock (taking it if free; it stays taken).

    Workers call this every poll interval, so a busy store deletes jobs about as fast
    as they expire. Left to the ten-minute maintenance pass alone, a store ending
    10,000 jobs a second piles up six million, and deleting those at once cut the soak's
    throughput to a third for three minutes.
    """
    if not backend.maintenance_claim(owner, now, now + MAINTENANCE_LOCK_TTL):
        return CleanupReport(skipped=True)
    purged, unfinished = _purge(backend, now, budget)
    return CleanupReport(purged=purged, unfinished=unfinished)


def release_lock(backend: Backend, owner: str, now: float) -> None:
    """Give up the maintenance lock if ``owner`` holds it (a worker that stops): renewed
    to run out ``now``, it is free for the other workers at once. Left held, it kept
    retention and maintenance from every other worker for MAINTENANCE_LOCK_TTL after
    each worker that stopped (one recycled by ``--max-jobs`` every few seconds starved
    them). Held by another, it is left alone."""
    backend.maintenance_claim(owner, now, now)


def _purge(backend: Backend, now: float, budget: float | None) -> tuple[int, bool]:
    """Jobs deleted, PURGE_CHUNK per transaction, and whether the budget ran out first.

    With a budget (a worker's pass) each chunk is followed by a pause as long as the
    chunk took, so claims, settles and enqueues get the store every other moment: run
    back to back, a half-second budget of chunks held them up for half a second (the
    soak's p99 went from 0.1 to 0.85 s when retention started)."""
    deadline = None if budget is None else time.monotonic() + budget
    purged = 0
    while True:
        began = time.monotonic()
        chunk = backend.jobs_purge(now, PURGE_CHUNK)
        purged += chunk
        if chunk < PURGE_CHUNK:
            return purged, False
        if deadline is not None:
            ended = time.monotonic()
            if ended > deadline:
                return purged, True
            time.sleep(min(ended - began, deadline - ended))
