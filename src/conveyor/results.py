"""RQ's results API (``job.latest_result()``, ``job.results()``), read from the job itself.

conveyor keeps one outcome per job, the latest (RQ keeps a stream of them): a run that
ended, as its job records it, for as long as the job is kept (``result_ttl`` for a
result, ``failure_ttl`` for a failure).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from conveyor.clock import to_datetime
from conveyor.exceptions import InvalidJobError, NoSuchJobError
from conveyor.status import JobStatus

if TYPE_CHECKING:
    from conveyor.job import Job


@dataclass(frozen=True)
class Result:
    """How a run of a job ended: its value, or the error it raised."""

    class Type(Enum):
        SUCCESSFUL = 1
        FAILED = 2
        STOPPED = 3
        RETRIED = 4

    job_id: str
    type: Type
    created_at: datetime | None  # when the run ended
    return_value: Any = None
    exc_string: str | None = None
    worker_name: str | None = None

    @property
    def id(self) -> str:
        """Unique per run: the job's id and when the run ended."""
        return f"{self.job_id}:{self.created_at.timestamp() if self.created_at else ''}"

    # RQ's class-level reads (``serializer`` taken and not needed: the job names its own)
    @classmethod
    def fetch_latest(cls, job: Job, serializer: object = None, timeout: float = 0) -> Result | None:
        """``job.latest_result(timeout)``."""
        return latest(job, timeout)

    @classmethod
    def all(cls, job: Job, serializer: object = None) -> list[Result]:
        """``job.results()``: the latest outcome only, as conveyor keeps one."""
        return job.results()

    @classmethod
    def count(cls, job: Job) -> int:
        return len(job.results())


def latest(job: Job, timeout: float = 0, *, final: bool = False) -> Result | None:
    """The job's latest outcome (None before its first run ends, or once it is gone);
    with ``timeout``, wait up to that many seconds for one, woken by the job's changes.
    A job canceled or gone has no run left to end: the wait stops there (RQ's waits
    out its timeout for nothing). ``final``: only the outcome of the job's end counts (a
    run to be retried, a snooze, are waited past); None if it has not ended by then."""
    if not (isinstance(timeout, int | float) and 0 <= timeout < math.inf):
        raise InvalidJobError(f"timeout must be a finite number of seconds, 0 or more, got {timeout!r}")
    deadline = time.monotonic() + timeout
    cursor, _ = job.connection.events_read(None, 0, 0)  # changes from here on wake the wait
    while True:
        result, over = _read(job)
        if over or (result is not None and not final):
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None if final else result
        cursor, _ = job.connection.events_read(cursor, 1000, remaining)


def _read(job: Job) -> tuple[Result | None, bool]:
    """The latest outcome, and whether no run can end any more (the job canceled or gone)."""
    try:
        job.get_status()  # reads the job again (its unsaved meta stays)
    except NoSuchJobError:
        return None, True
    record = job.record
    ended_at = to_datetime(record.ended_at)
    if record.status is JobStatus.FINISHED:
        return Result(job.id, Result.Type.SUCCESSFUL, ended_at, job.result, None, record.worker_name), True
    if record.status is JobStatus.FAILED:
        return Result(job.id, Result.Type.FAILED, ended_at, None, record.exc_info, record.worker_name), True
    if record.status is JobStatus.STOPPED:
        return Result(job.id, Result.Type.STOPPED, ended_at, None, record.exc_info, record.worker_name), True
    if record.retry_count and record.exc_info is not None:  # waiting for its next try
        return Result(job.id, Result.Type.RETRIED, ended_at, None, record.exc_info, record.worker_name), False
    return None, record.status is JobStatus.CANCELED
