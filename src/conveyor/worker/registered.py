"""``Worker.all()`` and ``Worker.count()``: the workers registered in a store, as RQ lists
them, read-only (a Worker object is one that runs; these describe ones that do)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from conveyor.backends.base import Backend
from conveyor.clock import to_datetime
from conveyor.health import worker_is_healthy
from conveyor.job import Job
from conveyor.queue import Queue
from conveyor.types import WorkerRecord


@dataclass(frozen=True)
class RegisteredWorker:
    """A worker as its last heartbeat left it, with RQ's attribute names."""

    record: WorkerRecord
    connection: Backend

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def hostname(self) -> str:
        return self.record.hostname

    @property
    def pid(self) -> int:
        return self.record.pid

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def concurrency(self) -> int:
        return self.record.concurrency

    @property
    def successful_job_count(self) -> int:
        """Jobs it finished (every job it ended, for a worker of a conveyor that counted
        no failures apart)."""
        return self.record.jobs_done - self.record.jobs_failed

    @property
    def failed_job_count(self) -> int:
        """Jobs that failed or were stopped, each run to be retried too, as in RQ."""
        return self.record.jobs_failed

    @property
    def stopped_job_count(self) -> int:
        """Of the failed jobs, those a stop or a cancel ended (conveyor's own count: RQ has none)."""
        return self.record.jobs_stopped

    @property
    def total_working_time(self) -> float:
        """Seconds it spent running those jobs, as in RQ."""
        return self.record.working_time

    def get_state(self) -> str:
        return self.record.state

    def queue_names(self) -> list[str]:
        return list(self.record.queues)

    @property
    def queues(self) -> list[Queue]:
        """The queues it serves, in order, as RQ's ``worker.queues``."""
        return [Queue(name, connection=self.connection) for name in self.record.queues]

    @property
    def birth_date(self) -> datetime | None:
        return to_datetime(self.record.started_at)

    @property
    def last_heartbeat(self) -> datetime | None:
        return to_datetime(self.record.last_heartbeat)

    @property
    def healthy(self) -> bool:
        """Heard from within the last minute (as ``conveyor info`` and /workers say)."""
        return worker_is_healthy(self.record, time.time())

    def get_current_job_id(self) -> str | None:
        return self.record.current_job_ids[0] if self.record.current_job_ids else None

    def get_current_job(self) -> Job | None:
        """One job it runs (a worker of concurrency > 1 may run more: ``current_job_ids``)."""
        job_id = self.get_current_job_id()
        if job_id is None:
            return None
        (job,) = Job.fetch_many([job_id], connection=self.connection)
        return job

    @property
    def current_job_ids(self) -> list[str]:
        return list(self.record.current_job_ids)


def registered(connection: Backend, queue: object = None) -> list[RegisteredWorker]:
    """The registered workers, oldest first; with ``queue`` (a Queue or a name) those serving it."""
    name = getattr(queue, "name", queue)
    records = sorted(connection.workers_list(), key=lambda r: (r.started_at, r.name))
    return [RegisteredWorker(r, connection) for r in records if name is None or name in r.queues]
