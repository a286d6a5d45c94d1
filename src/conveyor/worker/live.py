"""What a Worker says about itself, under RQ's names: host and pid, state, counters, the
job it runs. Read from the worker's own memory (nothing is read from the store but the
job ``get_current_job()`` returns), kept as the worker runs and reported with its
heartbeats; ``Worker.all()`` gives the same names for the workers registered in a store,
as their last heartbeat left them."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from conveyor.clock import to_datetime
from conveyor.job import Job
from conveyor.status import JobStatus
from conveyor.types import RELEASED, SNOOZED, Settlement

if TYPE_CHECKING:
    from conveyor.backends.base import Backend

    from .running import Running

STARTING, IDLE, BUSY, STOPPED = "starting", "idle", "busy", "stopped"
"""A worker's states: made but not working yet, working (without or with jobs), done."""


def running_ids(held: Iterable[Running]) -> list[str]:
    """The ids of the jobs running (begun, not ended) among those held, sorted."""
    return sorted(r.record.id for r in held if r.kind != "pending" and not r.done)


class LiveState:
    """RQ's attributes of a running worker, for Worker to inherit."""

    if TYPE_CHECKING:  # what Worker provides
        backend: Backend

        def held(self) -> list[Running]: ...

    def _start_live_state(self) -> None:
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.jobs_done = 0
        """Jobs it ended, however (what its registration reports)."""
        self.successful_job_count = 0
        """Jobs that finished, as in RQ."""
        self.failed_job_count = 0
        """Jobs that failed or were stopped, each run that will be retried included, as in RQ."""
        self.stopped_job_count = 0
        """Of those, the ones a stop or a cancel ended (not conveyor's own failures: RQ has no such count)."""
        self.total_working_time = 0.0
        """Seconds spent running the jobs counted above, as in RQ."""
        self._phase = STARTING
        self._born: float | None = None
        self._heard: float | None = None

    def _count(self, settlement: Settlement, now: float) -> None:
        """Count a job's outcome as RQ's worker does (a job given back is not counted, nor is
        a snoozed run, which neither finished nor failed, but its time is)."""
        if settlement.reason == RELEASED:
            return
        if settlement.started_at is not None:
            self.total_working_time += max(0.0, now - settlement.started_at)
        if settlement.reason == SNOOZED:
            return
        self.jobs_done += 1
        if settlement.status is JobStatus.FINISHED:
            self.successful_job_count += 1
        else:
            self.failed_job_count += 1
            if settlement.status is JobStatus.STOPPED:
                self.stopped_job_count += 1

    def _begin_work(self) -> None:
        self._phase = IDLE  # busy or idle from here: get_state looks at the jobs held

    def _end_work(self) -> None:
        self._phase = STOPPED

    def _registered_at(self, now: float) -> None:
        self._born = self._heard = now

    def _heartbeat_at(self, now: float) -> None:
        self._heard = now

    @property
    def connection(self) -> Backend:
        """RQ's name for the store it works on (``backend``)."""
        return self.backend

    def refresh(self) -> None:
        """RQ's worker reads its counters back from Redis here; this one's are kept live."""

    @property
    def birth_date(self) -> datetime | None:
        """When it registered (None before ``work()``)."""
        return to_datetime(self._born)

    @property
    def last_heartbeat(self) -> datetime | None:
        """When it last told the store it is alive (None before ``work()``)."""
        return to_datetime(self._heard)

    def get_state(self) -> str:
        """'starting' before ``work()``, then 'busy' while it runs a job, else 'idle';
        'stopped' once ``work()`` has returned."""
        if self._phase != IDLE:
            return self._phase
        return BUSY if self.current_job_ids else IDLE

    @property
    def state(self) -> str:
        return self.get_state()

    @property
    def current_job_ids(self) -> list[str]:
        """The jobs it runs now, sorted (a worker of concurrency > 1 may run several)."""
        return running_ids(self.held())

    def get_current_job_id(self) -> str | None:
        """One job it runs (the first of ``current_job_ids``), else None."""
        ids = self.current_job_ids
        return ids[0] if ids else None

    def get_current_job(self) -> Job | None:
        """That job, read from the store (None if it has just ended and gone)."""
        job_id = self.get_current_job_id()
        if job_id is None:
            return None
        (job,) = Job.fetch_many([job_id], connection=self.backend)
        return job
