"""Batches: many jobs that start together, now or at a scheduled time, with callbacks.

    batch = Batch.create([Queue.prepare_data(send, args=(user,)) for user in users],
                         name="newsletter", scheduled_start=datetime(2030, 1, 1, 9, tzinfo=UTC),
                         on_complete=report, connection=conn)
    batch.reschedule(datetime(2030, 1, 2, 9, tzinfo=UTC)); batch.start(); batch.cancel()
    batch.refresh(); batch.counts; batch.progress; batch.get_jobs()

A scheduled batch's jobs wait in ``scheduled`` with no time of their own: one starter
entry in the store releases them all at once when the batch's time comes, so moving
or canceling the start is one change, whatever the batch's size. When every job has
ended, ``on_complete`` runs (whatever the outcome) and ``on_failure`` too if a job
failed or was stopped; each exactly once, with the batch id as its argument.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from conveyor.backends.base import CHUNK, Backend
from conveyor.clock import SYSTEM_CLOCK, Clock, to_datetime, to_timestamp
from conveyor.connection import resolve_connection
from conveyor.durations import LONGEST
from conveyor.exceptions import InvalidBatchOperation, InvalidJobError, NoSuchBatchError
from conveyor.ids import is_text, new_job_id, validate_job_id
from conveyor.job import Job
from conveyor.queue import EnqueueData, Queue, listed
from conveyor.status import TERMINAL, BatchStatus, JobStatus
from conveyor.types import BatchRecord, JobRecord

CALLBACK_REASON = "batch callback"
"""status_reason of a callback job while it waits for its batch."""

MAX_BATCH_JOBS = 10_000
"""Most jobs one batch may hold unless ``max_jobs`` says otherwise."""
HARD_MAX_BATCH_JOBS = 100_000
"""The most jobs a batch submitted over REST may hold whatever the settings (it bounds
the parsing of one request)."""


class Batch:
    """A stored batch; create one with ``Batch.create``, read one with ``Batch.fetch``."""

    def __init__(self, record: BatchRecord, connection: Backend, clock: Clock = SYSTEM_CLOCK) -> None:
        self._record = record
        self.connection = connection
        self.clock = clock
        self._counts: dict[JobStatus, int] | None = None

    # -- creating and reading -------------------------------------------------------------
    @classmethod
    def create(
        cls,
        jobs: Iterable[Job | EnqueueData],
        *,
        queue: str | Queue = "default",
        name: str | None = None,
        scheduled_start: datetime | None = None,
        on_complete: Callable[..., Any] | str | None = None,
        on_failure: Callable[..., Any] | str | None = None,
        user_id: str | None = None,
        max_jobs: int = MAX_BATCH_JOBS,
        connection: Backend | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Batch:
        """Store the batch and all its jobs in one atomic step (all or nothing).

        ``jobs`` are ``Queue.prepare_data(...)`` specs (built in ``queue``) or jobs from
        ``Job.create`` (kept in their own queue). A ``scheduled_start`` in the future
        holds them until then; none, or one already past, starts the batch at once.
        """
        if isinstance(queue, Queue):
            backend = connection if connection is not None else queue.connection
            target = Queue(queue.name, connection=backend, serializer=queue.serializer_name, clock=clock)
        else:
            backend = resolve_connection(connection)
            target = Queue(queue, connection=backend, clock=clock)
        built = _build_jobs(target, listed(jobs, "Batch.create"), max_jobs)
        now = clock.now()
        start = None if scheduled_start is None else _start_time(scheduled_start, now)
        held = start is not None and start > now
        batch_id = new_job_id()
        for job in built:
            member = job.record
            member.batch_id = batch_id
            member.user_id = member.user_id if user_id is None else user_id
            member.status = JobStatus.SCHEDULED if held else JobStatus.QUEUED
            member.scheduled_for = None
            member.created_at = member.enqueued_at = now
        callbacks = {
            kind: _callback(target, function, batch_id, user_id, now)
            for kind, function in (("complete", on_complete), ("failure", on_failure))
            if function is not None
        }
        batch = BatchRecord(
            batch_id,
            total=len(built),
            created_at=now,
            status=BatchStatus.SCHEDULED if held else BatchStatus.RUNNING,
            name=name,
            user_id=user_id,
            scheduled_start=start if held else None,
            started_at=None if held else now,
            on_complete_job=callbacks["complete"].id if "complete" in callbacks else None,
            on_failure_job=callbacks["failure"].id if "failure" in callbacks else None,
        )
        stored = backend.batch_create(batch, [job.record for job in built], list(callbacks.values()), now)
        return cls(stored, backend, clock)

    @classmethod
    def fetch(cls, batch_id: str, connection: Backend | None = None, clock: Clock = SYSTEM_CLOCK) -> Batch:
        """The stored batch with this id; NoSuchBatchError if there is none."""
        backend = resolve_connection(connection)
        (record,) = backend.batches_get([batch_id]) if is_text(batch_id) else [None]  # (as Job.fetch)
        if record is None:
            raise NoSuchBatchError(batch_id)
        return cls(record, backend, clock)

    @classmethod
    def list(
        cls,
        connection: Backend | None = None,
        *,
        user_id: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[Batch]:
        """Batches newest first, of one user or all; ``before`` a batch id to page on."""
        backend = resolve_connection(connection)
        return [cls(record, backend) for record in backend.batches_list(user_id, before, limit)]

    def refresh(self) -> None:
        """Read the batch (and its counts) again from the store."""
        (record,) = self.connection.batches_get([self.id])
        if record is None:
            raise NoSuchBatchError(self.id)
        self._record = record
        self._counts = None

    # -- acting -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start a scheduled batch now."""
        self._record = self.connection.batch_start(self.id, self.clock.now())
        self._counts = None

    def reschedule(self, scheduled_start: datetime) -> None:
        """Move the start of a batch that has not started, to a time in the future."""
        now = self.clock.now()
        at = _start_time(scheduled_start, now)
        if at <= now:
            raise InvalidJobError("a batch can only be rescheduled to a time in the future")
        self._record = self.connection.batch_reschedule(self.id, at, now)

    def cancel(self) -> int:
        """Cancel every job of the batch not yet ended (running ones are stopped); how many.

        InvalidBatchOperation once the batch has ended, also when its last jobs ended
        just before: it is then completed, with its callbacks, not canceled.
        """
        self._record, canceled = self.connection.batch_cancel(self.id, self.clock.now())
        self._counts = None
        if self._record.status is BatchStatus.COMPLETED:
            raise InvalidBatchOperation.already("cancel", self.id, BatchStatus.COMPLETED.value)
        return canceled

    # -- reading ----------------------------------------------------------------------------
    @property
    def record(self) -> BatchRecord:
        return self._record

    id = property(lambda self: self._record.id)
    name = property(lambda self: self._record.name)
    status = property(lambda self: self._record.status)
    total = property(lambda self: self._record.total)
    user_id = property(lambda self: self._record.user_id)
    on_complete_job_id = property(lambda self: self._record.on_complete_job)
    on_failure_job_id = property(lambda self: self._record.on_failure_job)

    @property
    def created_at(self) -> datetime | None:
        return to_datetime(self._record.created_at)

    @property
    def scheduled_start(self) -> datetime | None:
        return to_datetime(self._record.scheduled_start)

    @property
    def started_at(self) -> datetime | None:
        return to_datetime(self._record.started_at)

    @property
    def completed_at(self) -> datetime | None:
        return to_datetime(self._record.completed_at)

    @property
    def counts(self) -> Mapping[JobStatus, int]:
        """How many of its jobs are in each status (read once per refresh)."""
        if self._counts is None:
            self._counts = self.connection.batch_counts(self.id)
        return self._counts

    @property
    def progress(self) -> float:
        """The share of its jobs that have ended, 0.0 to 1.0. A job no longer there has
        ended (only ended jobs are deleted by retention or over REST): a completed batch
        whose results expired stays at 1.0."""
        live = sum(n for status, n in self.counts.items() if status not in TERMINAL)
        return min(1.0, max(0.0, (self.total - live) / self.total)) if self.total else 1.0

    def get_job_ids(self) -> builtins.list[str]:
        """Its jobs' ids in the order they were given (callbacks not included; jobs
        deleted since, by hand or by retention, left out)."""
        newest_first: builtins.list[str] = []
        before = None
        while page := self.connection.batch_job_ids(self.id, before, CHUNK):
            newest_first += [job_id for job_id, _ in page]
            before = page[-1][1]
        return newest_first[::-1]

    def get_jobs(self) -> builtins.list[Job]:
        """Its jobs, in the order they were given (as ``get_job_ids``)."""
        found = Job.fetch_many(self.get_job_ids(), connection=self.connection)
        return [job for job in found if job is not None]

    def __repr__(self) -> str:
        return f"<Batch {self.id} {self.status.value} {self.total} jobs>"


def _build_jobs(queue: Queue, items: list[Job | EnqueueData], max_jobs: int) -> list[Job]:
    if not items:
        raise InvalidJobError("a batch needs at least one job")
    if len(items) > max_jobs:
        raise InvalidJobError(f"a batch may hold at most {max_jobs:,} jobs, got {len(items):,}")
    for item in items:
        if isinstance(item, Job):  # a Job(id) of the caller's own: its id is not checked yet
            validate_job_id(item.id)
        elif not isinstance(item, EnqueueData):
            raise InvalidJobError(
                f"Batch.create takes Queue.prepare_data(...) items or jobs from Job.create, got {type(item).__name__}"
            )
    specs = [item for item in items if isinstance(item, EnqueueData)]
    built = iter(queue._build_many(specs)) if specs else iter(())
    jobs = [next(built) if isinstance(item, EnqueueData) else item for item in items]
    for job in jobs:
        record = job.record
        if record.depends_on or record.unique_key is not None:
            raise InvalidJobError("jobs of a batch cannot have depends_on or unique_key")
        if record.status not in (JobStatus.QUEUED, JobStatus.SCHEDULED) or record.scheduled_for is not None:
            raise InvalidJobError("jobs of a batch start with the batch: no enqueue_at/enqueue_in of their own")
    return jobs


def _callback(
    queue: Queue, function: Callable[..., Any] | str, batch_id: str, user_id: str | None, now: float
) -> JobRecord:
    """The callback job, waiting (deferred) for the batch to end; it gets the batch id."""
    job = queue._build(function, (batch_id,), {}, {"user_id": user_id} if user_id else {})
    record = job.record
    record.status = JobStatus.DEFERRED
    record.status_reason = CALLBACK_REASON  # waits on its batch, not on parents: doctor leaves it be
    record.created_at = record.enqueued_at = now
    return record


def _start_time(moment: datetime, now: float) -> float:
    """A batch's start as a timestamp, at most 100 years ahead (as a job's: see durations)."""
    at = to_timestamp(moment)
    if not at <= now + LONGEST:
        raise InvalidJobError("a batch can be scheduled at most 100 years ahead")
    return at
