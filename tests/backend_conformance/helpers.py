"""Shared helpers of the conformance suite: building jobs, claiming, settling, snapshots.

Time is always explicit: ``NOW`` is the reference instant, and every call passes its
own ``now``. Records are always read back from the backend (``get``), never trusted
from what a write returned, so a backend that drops a field is caught.
"""

from __future__ import annotations

from typing import Any

from conveyor.backends.base import Backend
from conveyor.status import TERMINAL, TRANSITIONS, JobStatus
from conveyor.testing import make_job
from conveyor.types import CronEntryRecord, JobRecord, Settlement, WorkerRecord

NOW = 1_000_000.0
LEASE_TTL = 30.0
ALL_STATUSES: tuple[JobStatus, ...] = tuple(JobStatus)
TERMINAL_STATUSES: list[JobStatus] = [s for s in JobStatus if s in TERMINAL]
LIVE_STATUSES: list[JobStatus] = [s for s in JobStatus if s not in TERMINAL]
ALLOWED: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    (source, target) for source, targets in TRANSITIONS.items() for target in targets
)

Transition = tuple[JobStatus, JobStatus]


def put(backend: Backend, status: JobStatus = JobStatus.QUEUED, **fields: Any) -> JobRecord:
    """Store a job in ``status`` with the fields a job in that status usually has."""
    defaults: dict[str, Any] = {}
    if status is JobStatus.SCHEDULED:
        defaults["scheduled_for"] = NOW + 60
    elif status in TERMINAL:
        defaults.update(started_at=NOW - 10, ended_at=NOW - 5, keep_until=NOW + 500, worker_name="old-worker")
    return make_job(backend, status=status, now=NOW, **{**defaults, **fields})


def get(backend: Backend, job_id: str) -> JobRecord:
    """The stored record of a job that must exist."""
    (record,) = backend.jobs_get([job_id])
    assert record is not None, f"job {job_id} is missing"
    return record


def status(backend: Backend, job_id: str) -> JobStatus | None:
    """The stored status of a job, None if it does not exist."""
    (record,) = backend.jobs_get([job_id])
    return None if record is None else record.status


def claim(
    backend: Backend,
    queues: tuple[str, ...] = ("default",),
    *,
    limit: int = 10,
    worker: str = "worker-1",
    token: str = "token-1",
    now: float = NOW,
) -> list[JobRecord]:
    """Claim jobs under a lease of LEASE_TTL seconds from ``now``."""
    return backend.jobs_claim(list(queues), worker, limit, token, now + LEASE_TTL, now)


def claim_ids(backend: Backend, queues: tuple[str, ...] = ("default",), **kwargs: Any) -> list[str]:
    return [record.id for record in claim(backend, queues, **kwargs)]


def settle(
    backend: Backend,
    record: JobRecord,
    outcome: JobStatus,
    *,
    now: float = NOW,
    token: str | None = None,
    **fields: Any,
) -> bool:
    """Settle one job under its own lease token (or ``token``); whether it was applied."""
    settlement = Settlement(record.id, token if token is not None else record.lease_token or "", outcome, **fields)
    (applied,) = backend.jobs_settle([settlement], now)
    return applied


def snapshot(backend: Backend) -> dict[str, JobRecord]:
    """Every stored job, by id."""
    ids = backend.job_ids(None, ALL_STATUSES)
    return {record.id: record for record in backend.jobs_get(ids) if record is not None}


def counts_of(jobs: dict[str, JobRecord]) -> dict[str, dict[JobStatus, int]]:
    """Counts per queue and status, as Backend.counts() must give them."""
    counts: dict[str, dict[JobStatus, int]] = {}
    for record in jobs.values():
        per_queue = counts.setdefault(record.queue, {})
        per_queue[record.status] = per_queue.get(record.status, 0) + 1
    return counts


def transitions(
    before: dict[str, JobRecord], after: dict[str, JobRecord], ignore: frozenset[str] = frozenset()
) -> set[tuple[str, JobStatus, JobStatus]]:
    """The status changes between two snapshots, as (job id, old, new)."""
    return {
        (job_id, old.status, after[job_id].status)
        for job_id, old in before.items()
        if job_id in after and job_id not in ignore and old.status is not after[job_id].status
    }


def clear(backend: Backend) -> None:
    """Delete every job."""
    for job_id in backend.job_ids(None, ALL_STATUSES):
        backend.job_delete(job_id)


def worker_record(name: str = "worker-1", **fields: Any) -> WorkerRecord:
    defaults: dict[str, Any] = {
        "hostname": "host-a",
        "pid": 4242,
        "queues": ("high", "default"),
        "concurrency": 4,
        "state": "idle",
        "started_at": NOW,
        "last_heartbeat": NOW,
        "version": "1.0",
    }
    return WorkerRecord(name=name, **{**defaults, **fields})


def cron_record(name: str = "report", **fields: Any) -> CronEntryRecord:
    """A periodic job as a scheduler publishes it, last seen at NOW."""
    defaults: dict[str, Any] = {
        "schedule_kind": "cron",
        "schedule": "0 9 * * mon-fri",
        "timezone": "Europe/Paris",
        "queue": "reports",
        "job_type": "myapp.jobs.report",
        "scheduler": "host-a.42.beef",
        "hostname": "host-a",
        "pid": 42,
        "last_seen": NOW,
    }
    return CronEntryRecord(name=name, **{**defaults, **fields})
