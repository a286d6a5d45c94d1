"""Job statuses, the transitions allowed between them, and their REST names.

The state machine is data: backends, the conformance suite and the doctor all read
these tables instead of encoding the rules again.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A job's lifecycle state, with RQ's names."""

    QUEUED = "queued"
    DEFERRED = "deferred"
    SCHEDULED = "scheduled"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELED = "canceled"


TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
)
"""Statuses a job leaves only by an explicit requeue (or never, for finished)."""

WAITING: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED})
"""Statuses of a job that has not started yet."""

REQUEUEABLE: frozenset[JobStatus] = frozenset({JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.STARTED, JobStatus.CANCELED}),
    JobStatus.DEFERRED: frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.CANCELED}),
    JobStatus.SCHEDULED: frozenset({JobStatus.QUEUED, JobStatus.CANCELED}),
    JobStatus.STARTED: frozenset(
        {
            JobStatus.FINISHED,
            JobStatus.FAILED,
            JobStatus.STOPPED,
            JobStatus.QUEUED,  # retry or lease expiry
            JobStatus.SCHEDULED,  # retry with a delay
            JobStatus.CANCELED,
        }
    ),
    JobStatus.FINISHED: frozenset(),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.STOPPED: frozenset({JobStatus.QUEUED}),
    JobStatus.CANCELED: frozenset({JobStatus.QUEUED, JobStatus.DEFERRED}),  # deferred: parents unmet
}
"""For each status, the statuses a job may move to next."""

REST_NAMES: dict[JobStatus, str] = {
    JobStatus.QUEUED: "pending",
    JobStatus.DEFERRED: "pending",
    JobStatus.SCHEDULED: "scheduled",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "cancelled",
    JobStatus.CANCELED: "cancelled",
}
"""The job-API name of each library status (several map to one)."""


def can_transition(source: JobStatus, target: JobStatus) -> bool:
    """Whether the state machine allows moving a job from ``source`` to ``target``."""
    return target in TRANSITIONS[source]


class BatchStatus(StrEnum):
    """A batch's lifecycle: held until its start, running, then completed or canceled."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELED = "canceled"


BATCH_REST_NAMES: dict[BatchStatus, str] = {
    BatchStatus.SCHEDULED: "scheduled",
    BatchStatus.RUNNING: "running",
    BatchStatus.COMPLETED: "completed",
    BatchStatus.CANCELED: "cancelled",
}
