"""Registries: RQ's named sets of jobs, here as views over job status.

A registry is "the jobs of queue Q whose status is S", so it changes in the same
atomic step as the status and can never drift from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from conveyor import maintenance
from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock, to_datetime
from conveyor.command import requeue_job
from conveyor.connection import resolve_connection
from conveyor.exceptions import InvalidJobOperation, NoSuchJobError
from conveyor.job import Job
from conveyor.options import DEFAULT_QUEUE, validate_length, validate_position
from conveyor.status import JobStatus
from conveyor.types import JobRecord

if TYPE_CHECKING:
    from conveyor.queue import Queue


class BaseRegistry:
    """Jobs of one queue in the registry's statuses, oldest first."""

    statuses: ClassVar[tuple[JobStatus, ...]] = ()

    def __init__(
        self,
        name: str = DEFAULT_QUEUE,
        connection: Backend | None = None,
        queue: object = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        queue_name = getattr(queue, "name", None)
        self.name = queue_name if isinstance(queue_name, str) else name
        if connection is None:  # RQ's Registry(queue=q) uses the queue's connection
            connection = getattr(queue, "connection", None)
        self.connection = resolve_connection(connection)
        self.clock = clock

    def get_job_ids(self, start: int = 0, end: int = -1, desc: bool = False, cleanup: bool = True) -> list[str]:
        """Ids from position ``start`` to ``end`` inclusive (-1: to the last), oldest first
        or with ``desc`` newest first, as in RQ. ``cleanup`` is RQ's and changes nothing:
        a view holds no expired entries to drop first."""
        start, end = validate_position(start, "start"), validate_length(end, "end")
        if not desc:
            limit = -1 if end < 0 else max(0, end - start + 1)
            return self.connection.job_ids(self.name, self.statuses, offset=start, limit=limit)
        if end < 0:
            return self.connection.job_ids(self.name, self.statuses)[::-1][start:]
        newest = self.connection.job_ids_newest(self.name, self.statuses, None, end + 1)  # one read, no count
        return [job_id for job_id, _ in newest[start:]]

    def get_jobs(self, start: int = 0, end: int = -1) -> list[Job]:
        ids = self.get_job_ids(start, end)
        return [job for job in Job.fetch_many(ids, connection=self.connection) if job is not None]

    @property
    def count(self) -> int:
        return self.connection.jobs_count(self.name, self.statuses)

    def get_job_count(self, cleanup: bool = True) -> int:
        """RQ's spelling of ``count`` (``cleanup`` changes nothing, as in ``get_job_ids``)."""
        return self.count

    def __len__(self) -> int:
        return self.count

    def __contains__(self, item: object) -> bool:
        job_id = item.id if isinstance(item, Job) else item
        if not isinstance(job_id, str):
            return False
        (record,) = self.connection.jobs_get([job_id])
        return self._holds(record)

    def _holds(self, record: JobRecord | None) -> bool:
        return record is not None and record.queue == self.name and record.status in self.statuses

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def get_queue(self) -> Queue:
        from conveyor.queue import Queue  # the queue module imports this one

        return Queue(self.name, connection=self.connection)

    def get_expiration_time(self, job_or_id: Job | str) -> datetime | None:
        """When the job leaves this registry unless something else happens first (UTC): a
        started job's lease running out, an ended one's deletion past its result or
        failure TTL; None for none (kept forever, or waiting without a limit)."""
        record = self._record_in(job_or_id)
        return to_datetime(record.lease_expires_at if record.status is JobStatus.STARTED else record.keep_until)

    def remove(self, job_or_id: Job | str, delete_job: bool = False) -> None:
        """RQ's ``remove(job, delete_job=True)``: delete the job. A registry here is the
        jobs of a status, so a job leaves it only by changing status or being deleted:
        ``delete_job=False`` is refused (cancel, requeue or delete the job instead)."""
        record = self._record_in(job_or_id)
        if not delete_job:
            raise InvalidJobOperation(
                record.id, record.status.value,
                f"a job leaves {self!r} by changing status: remove(job, delete_job=True) deletes it",
            )  # fmt: skip
        Job(connection=self.connection, record=record, clock=self.clock).delete()

    def cleanup(self, timestamp: float | None = None) -> None:
        """RQ's ``cleanup()``: what a worker's maintenance does, run now for the whole
        store (a registry is a view: there is nothing of its own to tidy): jobs whose
        lease ran out at ``timestamp`` (default now) are recovered, due scheduled jobs
        promoted, jobs past their TTLs expired or deleted, silent workers reaped."""
        now = self.clock.now() if timestamp is None else timestamp
        maintenance.run_schedule(self.connection, now)
        maintenance.run_cleanup(self.connection, now)

    def _record_in(self, job_or_id: Job | str) -> JobRecord:
        """The job's record if it is in this registry, else NoSuchJobError (as RQ)."""
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        (record,) = self.connection.jobs_get([job_id])
        if record is None:
            raise NoSuchJobError(job_id)
        if not self._holds(record):  # say where it is: "not found" alone reads as gone
            elsewhere = f" of queue {record.queue!r}" if record.queue != self.name else ""
            raise NoSuchJobError(job_id, f" in {self!r}: it is a {record.status.value} job{elsewhere}")
        return record


class _RequeueableRegistry(BaseRegistry):
    def requeue(self, job_or_id: Job | str, at_front: bool | None = None) -> Job:
        """Put the job back in its queue; InvalidJobOperation if it is not in this registry.
        ``at_front`` as for ``Job.requeue``: True puts it before the jobs of its priority
        already queued, False behind them, None where the job was enqueued to go."""
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        (record,) = self.connection.jobs_get([job_id])  # one read tells both errors apart
        if record is None:
            raise NoSuchJobError(job_id)
        if not self._holds(record):
            raise InvalidJobOperation(job_id, record.status.value, f"Job {job_id} is not in {self!r}")
        return requeue_job(job_id, connection=self.connection, clock=self.clock, at_front=at_front)


class StartedJobRegistry(BaseRegistry):
    """Jobs running now, each under a worker's lease."""

    statuses = (JobStatus.STARTED,)


class FinishedJobRegistry(BaseRegistry):
    """Jobs that finished, kept for their result_ttl."""

    statuses = (JobStatus.FINISHED,)


class FailedJobRegistry(_RequeueableRegistry):
    """Jobs that failed or were stopped, kept for their failure_ttl."""

    statuses = (JobStatus.FAILED, JobStatus.STOPPED)


class CanceledJobRegistry(_RequeueableRegistry):
    """Jobs canceled before or while they ran, or expired in the queue."""

    statuses = (JobStatus.CANCELED,)


class ScheduledJobRegistry(BaseRegistry):
    """Jobs waiting for their scheduled time."""

    statuses = (JobStatus.SCHEDULED,)

    def get_scheduled_time(self, job_or_id: Job | str) -> datetime:
        """When the job is due (UTC); NoSuchJobError if it is not scheduled in this queue."""
        when = to_datetime(self._record_in(job_or_id).scheduled_for)
        assert when is not None  # a scheduled job has its time
        return when


class DeferredJobRegistry(BaseRegistry):
    """Jobs waiting for the jobs they depend on."""

    statuses = (JobStatus.DEFERRED,)
